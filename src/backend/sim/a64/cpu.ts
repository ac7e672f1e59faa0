/**
 * The sim's A64 CPU: an interpreter for small bare-metal arm64 guests at
 * EL1 (and EL0) with the MMU off — flat physical addressing, RAM where the
 * memory map says (0x40000000 on QEMU's `virt`), everything else MMIO —
 * plus the generic timer's system registers. It stops the way KVM_RUN does
 * on arm64 (see A64Exit in types.ts).
 *
 * Time: `instructions` counts retired instructions (an instruction that
 * takes a synchronous exception, or a fetch that aborts, counts as one;
 * taking an interrupt does not). The vCPU layer's virtual time is
 * instructions + idle ns (1 instruction = 1 ns), and the counter function
 * it gives (opts.counter) reads `instructions`, which is exact at the
 * instruction that reads CNTVCT/CNTPCT or a timer register.
 *
 * Interrupts: setIrqLine/setFiqLine are the vCPU's IRQ and FIQ inputs
 * (KVM_IRQ_LINE); they are taken between instructions while PSTATE.I (F)
 * is clear, to VBAR_EL1 + 0x080/0x100 (+0x200 with SP_ELx, +0x400 from
 * EL0). The timer does not drive the lines itself: its owner reads
 * timer.levels() (KVM's device_irq_level bits) and sets the lines through
 * its interrupt controller; opts.onTimerWrite + requestExit() let it stop
 * a run when the guest reprograms a timer.
 *
 * Deviations from hardware (none matter to the guests we run):
 *   - no MMU (SCTLR_EL1.M is stored and ignored), no caches, no alignment
 *     or SP alignment checks, no debug (BRK takes its exception; no
 *     breakpoints, watchpoints or single step), no EL2/EL3, no AArch32;
 *   - EL0 runs with EL1's privileges (system registers, cache maintenance),
 *     but exceptions from EL0 use the lower-EL vectors;
 *   - SIMD&FP: the V registers, their loads and stores (every addressing
 *     mode, pairs, literals), FMOV to/from general registers, MOVI/MVNI/
 *     ORR/BIC (immediate), the vector logical ops, DUP/INS/UMOV/SMOV
 *     (general); any other SIMD&FP instruction is UNDEFINED. CPACR_EL1.FPEN
 *     traps them (EC 0x07) as the architecture says;
 *   - not implemented, so UNDEFINED: CRC32, PAC (its hint-space
 *     instructions are NOPs), MTE, MOPS, SIMD structure loads/stores,
 *     LDAPUR/STLUR, RMIF/SETF, HLT, DCPS, SMC (no EL3);
 *   - one CPU per interpreter: the exclusive monitor is local (LDXR arms
 *     it for that address and size, STXR to the same address and size
 *     succeeds once, CLREX / exception entry / ERET clear it); SEV/SEVL set
 *     the local event register;
 *   - a load/store that straddles two regions, or a region and MMIO, is an
 *     MMIO access of the whole; executing from outside RAM takes a prefetch
 *     abort (what KVM injects), addresses at or above 2^48 an address size
 *     fault.
 */
import { A64Exec } from './exec.js';
import { EC_ILLEGAL, ESR_IL, EXC, VEC_FIQ, VEC_IRQ, loHiToBig } from './state.js';
import { sysKey, SP_EL0, SP_EL1 } from './sysregs.js';
import type { A64CpuOptions, A64Exit } from './types.js';

const BUDGET: A64Exit = Object.freeze({ kind: 'budget' });
const lo32 = (v: bigint): number => Number(BigInt.asIntN(32, v));
const hi32 = (v: bigint): number => Number(BigInt.asIntN(32, v >> 32n));

export class A64Cpu extends A64Exec {
  constructor(opts: A64CpuOptions = {}) {
    super(opts.counter);
    this.mpidr = BigInt.asUintN(64, opts.mpidr ?? 0n) | (1n << 31n);
    this.onTimerWrite = opts.onTimerWrite;
    this.reset();
  }

  /** Instructions retired so far (live during run(), for the counter). */
  get instructions(): number {
    return this.retired + this.curN;
  }

  /**
   * The state KVM_ARM_VCPU_INIT gives: PSTATE = EL1h with DAIF masked
   * (0x3c5), PC and registers zero, SCTLR_EL1 at its reset value, the other
   * system registers zero, timers off, the exclusive monitor and the event
   * register clear. Memory, the interrupt lines and `instructions` are kept.
   */
  reset(): void {
    this.x.fill(0);
    this.v.fill(0);
    this.spBank.fill(0);
    this.pc = 0;
    this.badPc = 0n;
    this.nf = this.zf = this.cf = this.vf = 0;
    this.daif = 0x3c0;
    this.el = 1;
    this.spsel = 1;
    this.il = 0;
    this.event = false;
    this.elrLo = this.elrHi = 0;
    this.spsr = 0;
    this.esr = 0;
    this.far = 0n;
    this.vbarLo = this.vbarHi = 0;
    this.cpacr = 0;
    this.sctlr = 0x00c5_0078n;
    this.sysStore.clear();
    this.monValid = false;
    this.mmioPending = -1;
    this.exitRequested = false;
    this.timer.reset();
    this.updateAttention();
  }

  // ---- the run loop ---------------------------------------------------------------------------------------

  /**
   * Runs until an exit, or until `maxInstructions` instructions retired
   * (`budget`). A pending MMIO access from the previous exit completes
   * first (and counts as one of them).
   */
  run(maxInstructions: number): A64Exit {
    let n = 0;
    this.curN = 0;
    if (this.mmioPending >= 0) {
      this.completeMmio();
      n = 1;
    }
    const max = maxInstructions;
    for (;;) {
      if (n >= max) return this.finish(n, BUDGET);
      if (this.attention !== 0) {
        this.curN = n;
        const e = this.service();
        if (e !== null) return this.finish(n, e);
      }
      const pc = this.pc;
      const off = pc - this.fBase;
      let insn: number;
      if (off >= 0 && off < this.fLen && (off & 3) === 0) insn = this.fDv.getInt32(off, true);
      else {
        this.curN = n;
        const w = this.fetchSlow(pc);
        if (w === undefined) { n++; continue; }
        insn = w;
      }
      this.curN = n;
      this.pc = pc + 4;
      const e = this.exec(insn, pc);
      if (e === null || e === EXC) { n++; continue; }
      if (e.kind === 'mmio' || e.kind === 'mmio-nisv') return this.finish(n, e); // not retired yet
      return this.finish(n + 1, e);
    }
  }

  private finish(n: number, e: A64Exit): A64Exit {
    this.retired += n;
    this.curN = 0;
    return e;
  }

  /** Between instructions: an exit request, an illegal execution state, FIQ, IRQ. */
  private service(): A64Exit | null {
    if (this.exitRequested) {
      this.exitRequested = false;
      this.updateAttention();
      return BUDGET;
    }
    if (this.il !== 0) this.takeSync((EC_ILLEGAL << 26) | ESR_IL, this.pc);
    else if (this.fiqLine && (this.daif & 0x40) === 0) this.enterException(VEC_FIQ, this.pc);
    else if (this.irqLine && (this.daif & 0x80) === 0) this.enterException(VEC_IRQ, this.pc);
    this.updateAttention();
    return null;
  }

  /** Makes run() return `budget` at the next instruction boundary (e.g. from onTimerWrite). */
  requestExit(): void {
    this.exitRequested = true;
    this.attention = 1;
  }

  // ---- interrupts -----------------------------------------------------------------------------------------

  /** The IRQ input (KVM_IRQ_LINE, type CPU, IRQ): level-sensitive, taken while PSTATE.I = 0. */
  setIrqLine(level: boolean): void {
    this.irqLine = level;
    this.updateAttention();
  }

  /** The FIQ input: taken while PSTATE.F = 0. */
  setFiqLine(level: boolean): void {
    this.fiqLine = level;
    this.updateAttention();
  }

  // ---- registers ------------------------------------------------------------------------------------------

  getX(n: number): bigint {
    checkX(n);
    return loHiToBig(this.x[2 * n]!, this.x[2 * n + 1]!);
  }

  setX(n: number, v: bigint): void {
    checkX(n);
    this.x[2 * n] = lo32(v);
    this.x[2 * n + 1] = hi32(v);
  }

  getPc(): bigint {
    return this.getPcBig();
  }

  setPc(v: bigint): void {
    this.setPcLoHi(lo32(v), hi32(v));
  }

  /** The stack pointer PSTATE selects. */
  getSp(): bigint {
    return loHiToBig(this.x[64]!, this.x[65]!);
  }

  setSp(v: bigint): void {
    this.x[64] = lo32(v);
    this.x[65] = hi32(v);
  }

  getSpEl0(): bigint { return this.readSys(SP_EL0, true)!; }
  setSpEl0(v: bigint): void { this.writeSys(SP_EL0, v, true); }
  getSpEl1(): bigint { return this.readSys(SP_EL1, true)!; }
  setSpEl1(v: bigint): void { this.writeSys(SP_EL1, v, true); }

  getElrEl1(): bigint { return loHiToBig(this.elrLo, this.elrHi); }
  setElrEl1(v: bigint): void { this.elrLo = lo32(v); this.elrHi = hi32(v); }
  getSpsrEl1(): bigint { return BigInt(this.spsr >>> 0); }
  setSpsrEl1(v: bigint): void { this.spsr = lo32(v) >>> 0; }

  /** PSTATE in SPSR format (NZCV, IL, DAIF, M[3:0]: 0x0 EL0t, 0x4 EL1t, 0x5 EL1h). */
  getPstate(): bigint {
    return BigInt(this.pstateWord());
  }

  /** Sets PSTATE; throws RangeError for a mode this CPU does not have (KVM answers EINVAL). */
  setPstate(v: bigint): void {
    const w = lo32(v) >>> 0, m = w & 0x1f;
    if (!A64Cpu.validMode(m)) throw new RangeError(`A64Cpu: PSTATE mode 0x${m.toString(16)} not supported`);
    this.setElSp(m >>> 2, m & 1);
    this.setFlagsDaif(w);
    this.updateAttention();
  }

  /** V register n (0..31) as a 128-bit value. */
  getV(n: number): bigint {
    const b = 4 * n, v = this.v;
    return (loHiToBig(v[b + 2]!, v[b + 3]!) << 64n) | loHiToBig(v[b]!, v[b + 1]!);
  }

  setV(n: number, value: bigint): void {
    const b = 4 * n;
    for (let k = 0; k < 4; k++) this.v[b + k] = Number(BigInt.asIntN(32, value >> BigInt(32 * k)));
  }

  /**
   * A system register by encoding, as KVM_GET_ONE_REG reads it (also
   * SP_EL0/SP_EL1 whatever PSTATE.SP; the timer registers by their
   * architectural encodings). Undefined: not a register of this CPU.
   */
  getSysReg(op0: number, op1: number, crn: number, crm: number, op2: number): bigint | undefined {
    return this.readSys(sysKey(op0, op1, crn, crm, op2), true);
  }

  /** KVM_SET_ONE_REG for a system register; false when it is not one this CPU has or it is read-only. */
  setSysReg(op0: number, op1: number, crn: number, crm: number, op2: number, value: bigint): boolean {
    return this.writeSys(sysKey(op0, op1, crn, crm, op2), value, true);
  }

  /** Whether an IRQ or FIQ line is high (what ends a WFI). */
  get interruptPending(): boolean {
    return this.irqLine || this.fiqLine;
  }
}

function checkX(n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > 30) throw new RangeError(`A64Cpu: X register ${n} out of range 0..30`);
}

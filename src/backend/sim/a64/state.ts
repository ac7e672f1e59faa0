/**
 * The A64 CPU's architectural state and the machinery under the
 * instructions: memory (RAM regions and MMIO), PSTATE and the banked stack
 * pointers, exception entry, and the system registers.
 *
 * Register representation: the 31 X registers live in one Int32Array as
 * (low word, high word) pairs, x[2n] and x[2n+1], signed 32-bit halves (so
 * every read is a small integer for V8). Pair 31 is the zero register: it is
 * never written, so reads of "Xn or XZR" index it directly; pair 32 holds the
 * stack pointer currently selected (SP_EL0 or SP_EL1, the other one waits in
 * `spBank`). 64-bit arithmetic works on the halves with explicit carries,
 * never on BigInt. The PC is a plain number (exact below 2^53); a branch to
 * an address at or above 2^48 (outside the 48-bit physical address space
 * the MMU-off guest can reach) parks the exact value in `badPc` and sets
 * pc = NaN, and the fetch takes an Instruction Abort.
 */
import type { A64Exit, MemoryRegionMap } from './types.js';
import { A64Timer, CNTFRQ_HZ, PTIMER, VTIMER } from './timer.js';
import * as S from './sysregs.js';

export const TWO32 = 4294967296;
const PA_LIMIT = 2 ** 48;

/** Returned by an instruction that took a synchronous exception: not an exit, the loop goes on. */
export const EXC: A64Exit = Object.freeze({ kind: 'budget' }) as A64Exit;

// ESR_ELx exception classes.
export const EC_UNKNOWN = 0x00;
export const EC_FP = 0x07;
export const EC_ILLEGAL = 0x0e;
export const EC_SVC = 0x15;
export const EC_IABT_LOW = 0x20;
export const EC_IABT_CUR = 0x21;
export const EC_PC_ALIGN = 0x22;
export const EC_DABT_LOW = 0x24;
export const EC_DABT_CUR = 0x25;
export const EC_BRK = 0x3c;
/** ESR.IL: a 32-bit instruction. */
export const ESR_IL = 1 << 25;

// Vector offsets within a group of four.
export const VEC_SYNC = 0x000;
export const VEC_IRQ = 0x080;
export const VEC_FIQ = 0x100;

interface Region { gpa: number; end: number; dv: DataView; bytes: Uint8Array; ro: boolean }

const EMPTY_DV = new DataView(new ArrayBuffer(8));

/** Number (possibly negative or above 2^32, exact integer) to a 64-bit two's complement bigint. */
export const numToBig = (v: number): bigint => BigInt.asUintN(64, BigInt(v));
export const loHiToBig = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);

export class A64State {
  /** X0..X30 as (lo, hi) int32 pairs; pair 31 is XZR (always 0), pair 32 the current SP. */
  readonly x = new Int32Array(66);
  /** V0..V31: four int32 words each, little-endian lane order. */
  readonly v = new Int32Array(128);
  /** The PC (NaN: see badPc). */
  pc = 0;
  /** The exact PC when it is at or above 2^48 (pc is NaN then). */
  badPc = 0n;
  /** Scratch: the high word of the last 64-bit helper result. */
  rhi = 0;

  // PSTATE
  nf = 0; zf = 0; cf = 0; vf = 0;
  /** PSTATE.{D,A,I,F} in their SPSR positions (bits 9:6). */
  daif = 0x3c0;
  el = 1;
  /** PSTATE.SP (meaningful at EL1; EL0 always uses SP_EL0). */
  spsel = 1;
  /** PSTATE.IL (illegal execution state). */
  il = 0;
  /** The banked stack pointer not currently selected: [SP_EL0 lo, hi, SP_EL1 lo, hi]. */
  readonly spBank = new Int32Array(4);
  /** The event register (SEV/SEVL set it, WFE consumes it). */
  event = false;

  // Exception registers.
  elrLo = 0; elrHi = 0;
  spsr = 0;
  esr = 0;
  far = 0n;
  vbarLo = 0; vbarHi = 0;
  cpacr = 0;
  sctlr = S.SCTLR_RESET;
  /** Plain read/write system registers (TTBRs, TCR, MAIR, TPIDRs, ...). */
  readonly sysStore = new Map<number, bigint>();
  mpidr = 1n << 31n;

  // The exclusive monitor.
  monValid = false;
  monAddr = 0;
  monSize = 0;

  // Interrupt lines and the run loop's attention flag.
  irqLine = false;
  fiqLine = false;
  exitRequested = false;
  /** Non-zero when the loop must look at interrupts, PSTATE.IL or an exit request before the next instruction. */
  attention = 0;

  readonly timer: A64Timer;
  /** Instructions retired before the current run(). */
  protected retired = 0;
  /** Instructions retired so far in the current run(). */
  protected curN = 0;
  protected onTimerWrite: (() => void) | undefined;

  // Memory.
  protected regions: Region[] = [];
  protected fBase = 0;
  protected fLen = 0;
  protected fDv: DataView = EMPTY_DV;
  protected dBase = 0;
  protected dEnd = 0;
  protected dRo = false;
  protected dDv: DataView = EMPTY_DV;
  protected dBytes: Uint8Array = new Uint8Array(0);

  constructor(counter: (() => bigint) | undefined) {
    this.timer = new A64Timer(counter ?? (() => BigInt(Math.floor((this.retired + this.curN) / 16))));
  }

  // ---- memory ---------------------------------------------------------------------------------------------

  setMemoryMap(regions: readonly MemoryRegionMap[]): void {
    this.regions = regions.map((r) => ({
      gpa: r.gpa, end: r.gpa + r.bytes.length, bytes: r.bytes, ro: r.readonly,
      dv: new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength),
    }));
    this.fBase = 0; this.fLen = 0; this.fDv = EMPTY_DV;
    this.dBase = 0; this.dEnd = 0; this.dRo = false; this.dDv = EMPTY_DV; this.dBytes = new Uint8Array(0);
  }

  /**
   * The offset of [address, address + size) in the cached data region (dDv,
   * dBytes), after finding and caching the region it lies in; -1 when it
   * is not RAM (MMIO, straddling regions, or a write to a readonly region);
   * -2 when the address is beyond the 48-bit physical address space.
   */
  protected ramOffset(lo: number, hi: number, size: number, write: boolean): number {
    if (hi === 0) {
      const a = lo >>> 0;
      if (a >= this.dBase && a + size <= this.dEnd && !(write && this.dRo)) return a - this.dBase;
      return this.ramSlow(a, size, write);
    }
    if ((hi >>> 0) >= 0x10000) return -2;
    return this.ramSlow((hi >>> 0) * TWO32 + (lo >>> 0), size, write);
  }

  private ramSlow(a: number, size: number, write: boolean): number {
    const rs = this.regions;
    for (let i = 0; i < rs.length; i++) {
      const r = rs[i]!;
      if (a >= r.gpa && a + size <= r.end) {
        this.dBase = r.gpa; this.dEnd = r.end; this.dRo = r.ro; this.dDv = r.dv; this.dBytes = r.bytes;
        return write && r.ro ? -1 : a - r.gpa;
      }
    }
    return -1;
  }

  /** The instruction word at `pc` outside the fetch cache, or undefined after taking the abort it causes. */
  protected fetchSlow(pc: number): number | undefined {
    if (!(pc >= 0 && pc < PA_LIMIT)) {
      const far = pc !== pc ? this.badPc : numToBig(pc);
      this.takeSync(((this.el === 0 ? EC_IABT_LOW : EC_IABT_CUR) << 26) | ESR_IL, pc, far); // IFSC 0: address size fault
      return undefined;
    }
    if (pc % 4 !== 0) {
      this.takeSync((EC_PC_ALIGN << 26) | ESR_IL, pc, numToBig(pc));
      return undefined;
    }
    for (const r of this.regions) {
      if (pc >= r.gpa && pc + 4 <= r.end) {
        if (r.gpa % 4 === 0) {
          this.fBase = r.gpa; this.fLen = r.end - r.gpa - 3; this.fDv = r.dv;
        }
        return r.dv.getInt32(pc - r.gpa, true);
      }
    }
    // Fetching from MMIO: KVM injects a prefetch abort (synchronous external abort, IFSC 0x10).
    this.takeSync(((this.el === 0 ? EC_IABT_LOW : EC_IABT_CUR) << 26) | ESR_IL | 0x10, pc, numToBig(pc));
    return undefined;
  }

  /** A Data Abort for an address beyond the physical address space (DFSC 0: address size fault, level 0). */
  protected addressSizeFault(pc: number, lo: number, hi: number, write: boolean): A64Exit {
    this.takeSync(((this.el === 0 ? EC_DABT_LOW : EC_DABT_CUR) << 26) | ESR_IL | (write ? 1 << 6 : 0), pc, loHiToBig(lo, hi));
    return EXC;
  }

  // ---- PC, PSTATE, SP -------------------------------------------------------------------------------------

  /** Sets the PC from a 64-bit value in halves. */
  protected setPcLoHi(lo: number, hi: number): void {
    const h = hi >>> 0;
    if (h < 0x10000) this.pc = h * TWO32 + (lo >>> 0);
    else {
      this.pc = NaN;
      this.badPc = loHiToBig(lo, hi);
    }
  }

  getPcBig(): bigint {
    return this.pc !== this.pc ? this.badPc : numToBig(this.pc);
  }

  /** 0 when SP_EL0 is the current SP, 1 for SP_EL1. */
  protected spIndex(): number {
    return this.el === 0 ? 0 : this.spsel;
  }

  /** Changes EL and PSTATE.SP, swapping the stack pointers as needed. */
  protected setElSp(el: number, spsel: number): void {
    const old = this.spIndex();
    this.el = el;
    this.spsel = spsel;
    const now = this.spIndex();
    if (old !== now) {
      const x = this.x, b = this.spBank;
      b[2 * old] = x[64]!; b[2 * old + 1] = x[65]!;
      x[64] = b[2 * now]!; x[65] = b[2 * now + 1]!;
    }
  }

  /** PSTATE as SPSR holds it (NZCV, IL, DAIF, M[3:0]). */
  pstateWord(): number {
    return ((this.nf << 31) | (this.zf << 30) | (this.cf << 29) | (this.vf << 28) | (this.il << 20) |
      this.daif | (this.el << 2) | (this.el === 0 ? 0 : this.spsel)) >>> 0;
  }

  /** Loads NZCV, DAIF and IL from an SPSR-format word (not the mode). */
  protected setFlagsDaif(w: number): void {
    this.nf = (w >>> 31) & 1; this.zf = (w >>> 30) & 1; this.cf = (w >>> 29) & 1; this.vf = (w >>> 28) & 1;
    this.daif = w & 0x3c0;
    this.il = (w >>> 20) & 1;
  }

  /** Whether an SPSR mode field names a state this CPU has: EL0t, EL1t, EL1h. */
  protected static validMode(m: number): boolean {
    return m === 0 || m === 4 || m === 5;
  }

  protected updateAttention(): void {
    this.attention = (this.irqLine && (this.daif & 0x80) === 0) || (this.fiqLine && (this.daif & 0x40) === 0) ||
      this.il !== 0 || this.exitRequested ? 1 : 0;
  }

  // ---- exceptions -----------------------------------------------------------------------------------------

  /**
   * Exception entry to EL1: ELR_EL1 = `ret` (a PC value, NaN meaning badPc),
   * SPSR_EL1 = PSTATE, PSTATE = EL1h with DAIF masked, PC = VBAR_EL1 + the
   * vector for the source (current EL with SP0 / SPx, or lower EL) + `vec`.
   */
  protected enterException(vec: number, ret: number): void {
    if (ret !== ret) {
      this.elrLo = Number(BigInt.asIntN(32, this.badPc));
      this.elrHi = Number(BigInt.asIntN(32, this.badPc >> 32n));
    } else {
      this.elrLo = ret | 0;
      this.elrHi = Math.floor(ret / TWO32) | 0;
    }
    this.spsr = this.pstateWord();
    const base = this.el === 0 ? 0x400 : this.spsel !== 0 ? 0x200 : 0;
    this.setElSp(1, 1);
    this.daif = 0x3c0;
    this.il = 0;
    this.monValid = false;
    const h = this.vbarHi >>> 0;
    if (h < 0x10000) this.pc = h * TWO32 + (this.vbarLo >>> 0) + base + vec;
    else {
      this.pc = NaN;
      this.badPc = BigInt.asUintN(64, loHiToBig(this.vbarLo, this.vbarHi) + BigInt(base + vec));
    }
    this.updateAttention();
  }

  /** A synchronous exception with syndrome `esr` (and FAR when given) for the instruction at `ret`. */
  protected takeSync(esr: number, ret: number, far?: bigint): void {
    this.esr = esr >>> 0;
    if (far !== undefined) this.far = far;
    this.enterException(VEC_SYNC, ret);
  }

  /** Undefined instruction at `pc`: EC 0 (unknown reason). */
  protected undef(pc: number): A64Exit {
    this.takeSync(ESR_IL, pc);
    return EXC;
  }

  /** Whether SIMD&FP instructions may run (CPACR_EL1.FPEN); when not, takes the EC 0x07 trap and returns false. */
  protected fpCheck(pc: number): boolean {
    const fpen = (this.cpacr >>> 20) & 3;
    if (fpen === 3 || (fpen === 1 && this.el === 1)) return true;
    this.takeSync((EC_FP << 26) | ESR_IL | (1 << 24) | (0xe << 20), pc); // CV = 1, COND = 0xe for AArch64
    return false;
  }

  // ---- system registers -----------------------------------------------------------------------------------

  /** Counter and timer accesses see the instructions retired so far. */
  protected timerWritten(): void {
    const f = this.onTimerWrite;
    if (f !== undefined) f();
  }

  /**
   * Reads a system register as MRS does (`fromHost`: as KVM_GET_ONE_REG,
   * which also reaches SP_EL1 and SP_EL0 whatever PSTATE.SP is). Undefined:
   * no such register here (the guest takes an Undefined exception).
   */
  readSys(key: number, fromHost = false): bigint | undefined {
    switch (key) {
      case S.MIDR_EL1: return S.MIDR_VALUE;
      case S.MPIDR_EL1: return this.mpidr;
      case S.REVIDR_EL1: return 0n;
      case S.ID_AA64PFR0_EL1: return S.ID_AA64PFR0_VALUE;
      case S.ID_AA64ISAR0_EL1: return S.ID_AA64ISAR0_VALUE;
      case S.ID_AA64MMFR0_EL1: return S.ID_AA64MMFR0_VALUE;
      case S.ID_AA64DFR0_EL1: return S.ID_AA64DFR0_VALUE;
      case S.CTR_EL0: return S.CTR_VALUE;
      case S.DCZID_EL0: return S.DCZID_VALUE;
      case S.CLIDR_EL1: return 0x0a20_0023n;
      case S.CCSIDR_EL1: return 0x700f_e01an;
      case S.SCTLR_EL1: return this.sctlr;
      case S.CPACR_EL1: return BigInt(this.cpacr >>> 0);
      case S.VBAR_EL1: return loHiToBig(this.vbarLo, this.vbarHi);
      case S.ELR_EL1: return loHiToBig(this.elrLo, this.elrHi);
      case S.SPSR_EL1: return BigInt(this.spsr >>> 0);
      case S.ESR_EL1: return BigInt(this.esr >>> 0);
      case S.FAR_EL1: return this.far;
      case S.ISR_EL1: return (this.irqLine ? 0x80n : 0n) | (this.fiqLine ? 0x40n : 0n);
      case S.SP_EL0:
        if (!fromHost && this.spIndex() === 0) return undefined;
        return this.spIndex() === 0 ? loHiToBig(this.x[64]!, this.x[65]!) : loHiToBig(this.spBank[0]!, this.spBank[1]!);
      case S.SP_EL1:
        if (!fromHost) return undefined;
        return this.spIndex() === 1 ? loHiToBig(this.x[64]!, this.x[65]!) : loHiToBig(this.spBank[2]!, this.spBank[3]!);
      case S.SPSEL: return BigInt(this.spsel);
      case S.CURRENTEL: return BigInt(this.el << 2);
      case S.DAIF: return BigInt(this.daif);
      case S.NZCV: return BigInt(((this.nf << 31) | (this.zf << 30) | (this.cf << 29) | (this.vf << 28)) >>> 0);
      case S.CNTFRQ_EL0: return BigInt(CNTFRQ_HZ);
      case S.CNTPCT_EL0: case S.CNTVCT_EL0: return this.timer.now();
      case S.CNTV_CTL_EL0: return BigInt(this.timer.readCtl(VTIMER));
      case S.CNTP_CTL_EL0: return BigInt(this.timer.readCtl(PTIMER));
      case S.CNTV_CVAL_EL0: return this.timer.readCval(VTIMER);
      case S.CNTP_CVAL_EL0: return this.timer.readCval(PTIMER);
      case S.CNTV_TVAL_EL0: return BigInt(this.timer.readTval(VTIMER) >>> 0);
      case S.CNTP_TVAL_EL0: return BigInt(this.timer.readTval(PTIMER) >>> 0);
      case S.OSLSR_EL1: return this.sysStore.get(S.OSLSR_EL1) ?? 0x8n;
      case S.OSLAR_EL1: return undefined; // write-only
      default: {
        const v = this.sysStore.get(key);
        if (v !== undefined) return v;
        if (PLAIN.has(key)) return 0n;
        // The rest of the ID register space (op0 3, op1 0, CRn 0, CRm 1..7) reads as zero.
        if ((key & 0xffc0) === 0xc000 && (key & 0x38) !== 0) return 0n;
        return undefined;
      }
    }
  }

  /** Writes a system register as MSR does (`fromHost`: as KVM_SET_ONE_REG). False: no such writable register. */
  writeSys(key: number, value: bigint, fromHost = false): boolean {
    const v = BigInt.asUintN(64, value);
    const lo = Number(BigInt.asIntN(32, v)), hi = Number(BigInt.asIntN(32, v >> 32n));
    switch (key) {
      case S.SCTLR_EL1: this.sctlr = v; return true;
      case S.CPACR_EL1: this.cpacr = lo & 0x1330_0000; return true; // TTA, FPEN, ZEN, SMEN fields kept
      case S.VBAR_EL1: this.vbarLo = lo & ~0x7ff; this.vbarHi = hi; return true;
      case S.ELR_EL1: this.elrLo = lo; this.elrHi = hi; return true;
      case S.SPSR_EL1: this.spsr = lo >>> 0; return true;
      case S.ESR_EL1: this.esr = lo >>> 0; return true;
      case S.FAR_EL1: this.far = v; return true;
      case S.SP_EL0:
        if (this.spIndex() === 0) {
          if (!fromHost) return false;
          this.x[64] = lo; this.x[65] = hi;
        } else {
          this.spBank[0] = lo; this.spBank[1] = hi;
        }
        return true;
      case S.SP_EL1:
        if (!fromHost) return false;
        if (this.spIndex() === 1) { this.x[64] = lo; this.x[65] = hi; } else { this.spBank[2] = lo; this.spBank[3] = hi; }
        return true;
      case S.SPSEL: this.setElSp(this.el, lo & 1); return true;
      case S.DAIF: this.daif = lo & 0x3c0; this.updateAttention(); return true;
      case S.NZCV: this.nf = (lo >>> 31) & 1; this.zf = (lo >>> 30) & 1; this.cf = (lo >>> 29) & 1; this.vf = (lo >>> 28) & 1; return true;
      case S.CNTV_CTL_EL0: this.timer.writeCtl(VTIMER, lo); this.timerWritten(); return true;
      case S.CNTP_CTL_EL0: this.timer.writeCtl(PTIMER, lo); this.timerWritten(); return true;
      case S.CNTV_CVAL_EL0: this.timer.writeCval(VTIMER, v); this.timerWritten(); return true;
      case S.CNTP_CVAL_EL0: this.timer.writeCval(PTIMER, v); this.timerWritten(); return true;
      case S.CNTV_TVAL_EL0: this.timer.writeTval(VTIMER, lo); this.timerWritten(); return true;
      case S.CNTP_TVAL_EL0: this.timer.writeTval(PTIMER, lo); this.timerWritten(); return true;
      case S.MPIDR_EL1:
        if (!fromHost) return false;
        this.mpidr = v | (1n << 31n);
        return true;
      case S.OSLAR_EL1: this.sysStore.set(S.OSLSR_EL1, 0x8n | ((v & 1n) << 1n)); return true;
      default:
        if (PLAIN.has(key)) {
          this.sysStore.set(key, v);
          return true;
        }
        return false;
    }
  }
}

/** Registers that are plain storage here (reset to 0). */
const PLAIN = new Set<number>([
  S.ACTLR_EL1, S.TTBR0_EL1, S.TTBR1_EL1, S.TCR_EL1, S.AFSR0_EL1, S.AFSR1_EL1, S.PAR_EL1, S.MAIR_EL1, S.AMAIR_EL1,
  S.CONTEXTIDR_EL1, S.TPIDR_EL1, S.TPIDR_EL0, S.TPIDRRO_EL0, S.CNTKCTL_EL1, S.CSSELR_EL1, S.MDSCR_EL1, S.OSDLR_EL1,
  S.FPCR, S.FPSR,
]);

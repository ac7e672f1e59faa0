/**
 * The sim's x86 CPU: the interpreter behind the simulated backend's vCPUs.
 * It executes the guest's own instructions — 32-bit protected mode (flat
 * or segmented, CPL 0, paging off) and the real-mode/16-bit forms an AP
 * trampoline needs — and stops the way KVM_RUN does:
 *
 *   - port I/O and MMIO (accesses that hit no memory region, or writes to
 *     a readonly one) exit with the access described; writes complete
 *     before the exit, reads complete on the next run() with the data the
 *     caller wrote into the exit (the instruction re-executes and the read
 *     consumes that data; see state.ts);
 *   - HLT exits with `hlt` unless an interrupt can be taken at once;
 *   - a triple fault exits with `shutdown`;
 *   - `budget` when `maxInstructions` have retired.
 *
 * Time is the retired-instruction count (`instructions`, also the TSC): a
 * run is reproducible bit for bit. A REP string instruction retires once
 * per chunk of up to 4096 iterations.
 *
 * Deviations from hardware (none matter to the guests we run):
 *   - paging: setting CR0.PG shuts the CPU down (this host's KVM resets a
 *     32-bit guest that enables paging, see DESIGN.md);
 *   - CPL 0 only; privilege changes, call/task gates and task switches #GP;
 *     no segment limit checks; no debug traps (TF, DRx); no x87/MMX/SSE
 *     (#NM if CR0.EM/TS, else #UD); BCD instructions #UD;
 *   - executing from an address outside every memory region shuts down
 *     (KVM reports an emulation failure there);
 *   - descriptor-table reads outside RAM read zeros instead of exiting;
 *   - undefined flags follow one vendor's CPUs, the one the vCPU's CPUID
 *     names (AMD's by default), see undefined-flags.ts and alu.ts.
 */
import { ABORT, CS, DS, ES, F_IF, FAULT, FS, GS, SEG_NAMES, SS, V_NMI } from './consts.js';
import { CpuFast } from './fast.js';
import type { CpuExit, CpuHooks, CpuOptions, CpuRegs, CpuSregs, InterruptSource, SegmentState } from './types.js';

const HLT: CpuExit = { kind: 'hlt' };
const SHUTDOWN: CpuExit = { kind: 'shutdown' };
const BUDGET: CpuExit = { kind: 'budget' };
const WINDOW: CpuExit = { kind: 'interrupt-window' };

const SEG_INDEX = [ES, CS, SS, DS, FS, GS] as const;

export class X86Cpu extends CpuFast {
  /** The next instruction must run before the run loop looks at anything (interrupt shadow). */
  private stepOnce = false;

  constructor(hooks: CpuHooks = {}, options: CpuOptions = {}) {
    super(hooks, options);
    this.updateModes();
  }

  // ---- state ------------------------------------------------------------------------------------------------

  getRegs(): CpuRegs {
    const r = this.r;
    return {
      rax: r[0]! >>> 0, rcx: r[1]! >>> 0, rdx: r[2]! >>> 0, rbx: r[3]! >>> 0,
      rsp: r[4]! >>> 0, rbp: r[5]! >>> 0, rsi: r[6]! >>> 0, rdi: r[7]! >>> 0,
      rip: this.eip >>> 0, rflags: this.getEflags(),
    };
  }

  setRegs(v: CpuRegs): void {
    const r = this.r;
    r[0] = v.rax; r[1] = v.rcx; r[2] = v.rdx; r[3] = v.rbx;
    r[4] = v.rsp; r[5] = v.rbp; r[6] = v.rsi; r[7] = v.rdi;
    this.eip = v.rip | 0;
    this.setEflags(v.rflags);
    this.irqCheck = true;
    this.attention = 1;
  }

  getSregs(): CpuSregs {
    const s = this.segs;
    return {
      es: { ...s[ES]! }, cs: { ...s[CS]! }, ss: { ...s[SS]! }, ds: { ...s[DS]! }, fs: { ...s[FS]! }, gs: { ...s[GS]! },
      tr: { ...this.tr }, ldt: { ...this.ldt },
      gdt: { base: this.gdtBase >>> 0, limit: this.gdtLimit }, idt: { base: this.idtBase >>> 0, limit: this.idtLimit },
      cr0: this.cr0 >>> 0, cr2: this.cr2 >>> 0, cr3: this.cr3 >>> 0, cr4: this.cr4 >>> 0, efer: this.efer >>> 0,
    };
  }

  setSregs(s: CpuSregs): void {
    for (let i = 0; i < 6; i++) {
      const seg: SegmentState = { ...s[SEG_NAMES[i]!] };
      seg.base >>>= 0;
      seg.limit >>>= 0;
      this.segs[SEG_INDEX[i]!] = seg;
      this.segBase[SEG_INDEX[i]!] = seg.base | 0;
    }
    this.tr = { ...s.tr };
    this.ldt = { ...s.ldt };
    this.gdtBase = s.gdt.base | 0;
    this.gdtLimit = s.gdt.limit & 0xffff;
    this.idtBase = s.idt.base | 0;
    this.idtLimit = s.idt.limit & 0xffff;
    this.cr0 = s.cr0 | 0;
    this.cr2 = s.cr2 | 0;
    this.cr3 = s.cr3 | 0;
    this.cr4 = s.cr4 | 0;
    this.efer = s.efer | 0;
    this.updateModes();
  }

  /** EFLAGS.IF = 1 and no interrupt shadow: an external interrupt would be taken now (KVM's ready_for_interrupt_injection). */
  get interruptsEnabled(): boolean {
    return (this.eflags & F_IF) !== 0 && !this.shadow;
  }

  /** INIT: the power-on state (registers, segments, CR0), memory untouched; the CPU stays halted until a SIPI. */
  init(): void {
    this.r.fill(0);
    this.r[2] = 0x600;
    this.eip = 0xfff0;
    this.setEflags(2);
    this.cr0 = 0x60000010; this.cr2 = 0; this.cr3 = 0; this.cr4 = 0; this.efer = 0;
    this.gdtBase = 0; this.gdtLimit = 0xffff; this.idtBase = 0; this.idtLimit = 0xffff;
    for (let i = 0; i < 6; i++) {
      const cs = i === CS;
      this.segs[i] = {
        selector: cs ? 0xf000 : 0, base: cs ? 0xffff0000 : 0, limit: 0xffff, type: cs ? 0xb : 3,
        present: 1, dpl: 0, db: 0, s: 1, l: 0, g: 0, avl: 0, unusable: 0,
      };
      this.segBase[i] = this.segs[i]!.base | 0;
    }
    this.dr.set([0, 0, 0, 0, 0xffff0ff0 | 0, 0x400, 0xffff0ff0 | 0, 0x400]);
    this.halted = true;
    this.shadow = false;
    this.nmiPending = false;
    this.nmiBlocked = false;
    this.injected.length = 0;
    this.exits.length = 0;
    this.awaiting = null;
    this.clearReplay();
    this.updateModes();
  }

  /** Startup IPI: real mode at CS = vector << 8, IP = 0 (physical vector << 12), running. */
  sipi(vector: number): void {
    this.startAt((vector & 0xff) << 12);
  }

  /** Real mode at physical `address` (16-byte aligned): CS = address >> 4, IP = 0, CR0.PE = 0, running. */
  startAt(address: number): void {
    const sel = (address >>> 4) & 0xffff;
    this.segs[CS] = { ...this.segs[CS]!, selector: sel, base: sel << 4, limit: 0xffff, db: 0 };
    this.segBase[CS] = sel << 4;
    this.cr0 &= ~1;
    this.eip = 0;
    this.halted = false;
    this.updateModes();
  }

  // ---- interrupts ------------------------------------------------------------------------------------------

  /** The interrupt controller asked at instruction boundaries after requestInterruptCheck(). */
  setInterruptSource(src: InterruptSource | null): void {
    this.source = src;
    this.requestInterruptCheck();
  }

  /** Asks the CPU to consult its interrupt source at the next instruction boundary. */
  requestInterruptCheck(): void {
    this.irqCheck = true;
    this.attention = 1;
  }

  /** KVM_INTERRUPT: queues an external interrupt, delivered when IF = 1. */
  injectInterrupt(vector: number): void {
    this.injected.push(vector & 0xff);
    this.requestInterruptCheck();
  }

  /** KVM_NMI: vector 2, not masked by IF (blocked from one NMI's delivery to the next IRET). */
  injectNmi(): void {
    this.nmiPending = true;
    this.requestInterruptCheck();
  }

  /** KVM's request_interrupt_window: while set, run() exits with `interrupt-window` whenever IF = 1 and no shadow. */
  requestInterruptWindow(on: boolean): void {
    this.windowRequested = on;
    this.attention = 1;
  }

  /** Delivers an NMI or an external interrupt if one can be taken now. */
  private takeInterrupt(): boolean {
    if (this.nmiPending && !this.nmiBlocked) {
      this.nmiPending = false;
      this.nmiBlocked = true;
      this.deliverExternal(V_NMI);
      return true;
    }
    if (!this.irqCheck) return false;
    if ((this.eflags & F_IF) === 0) {
      this.irqCheck = false; // IF going 0 -> 1 (STI, POPF, IRET, setRegs) asks again
      return false;
    }
    let vector = -1;
    if (this.injected.length > 0) vector = this.injected.shift()!;
    else if (this.source !== null && this.source.hasInterrupt()) vector = this.source.acknowledge() & 0xff;
    if (vector < 0) {
      this.irqCheck = false;
      return false;
    }
    this.deliverExternal(vector);
    return true;
  }

  private deliverExternal(vector: number): void {
    this.halted = false;
    this.start = this.eip;
    try {
      this.deliver(vector, -1, this.eip, false);
    } catch (e) {
      if (e !== FAULT) throw e;
      this.raiseException(this.faultVector, this.faultCode);
    }
    this.irqCheck = true; // there may be more
    this.attention = 1;
  }

  // ---- the run loop --------------------------------------------------------------------------------------------

  /** Runs until an exit, or until `maxInstructions` instructions retired (`budget`). */
  run(maxInstructions: number): CpuExit {
    if (this.exits.length > 0) return this.exits.shift()!;
    if (this.shutdownState) return SHUTDOWN;
    let n = 0;
    const max = maxInstructions;
    if (this.awaiting !== null) {
      // Complete the instruction that exited for a read, before interrupts or anything else.
      this.completeRead();
      const e = this.stepSafely(n);
      if (e === null) {
        n++;
        this.clearReplay();
      } else if (e !== false) return this.finish(n, e);
    }
    for (;;) {
      if (this.stepOnce) {
        if (n >= max) return this.finish(n, BUDGET); // the shadowed instruction runs first next time
        this.stepOnce = false;
        const e = this.stepSafely(n);
        if (e === null) n++;
        else if (e !== false) return this.finish(n, e);
        continue;
      }
      if (this.attention !== 0) {
        const e = this.service();
        if (e !== null) return this.finish(n, e);
        if (this.stepOnce) continue;
      }
      if (n >= max) return this.finish(n, BUDGET);
      if (this.flat) {
        n = this.runFast(n, max);
        const t = this.pendingThrow;
        if (t !== null) {
          this.pendingThrow = null;
          const e = this.onThrow(t);
          if (e !== null) return this.finish(n, e);
        }
      } else {
        const e = this.stepSafely(n);
        if (e === null) n++;
        else if (e !== false) return this.finish(n, e);
      }
    }
  }

  private finish(n: number, e: CpuExit): CpuExit {
    this.instructions += n;
    this.curN = 0;
    return e;
  }

  /** One instruction through the general decoder: null if it retired, false if it faulted (delivered), or an exit. */
  private stepSafely(n: number): CpuExit | null | false {
    this.curN = n;
    try {
      this.stepGeneral();
      return null;
    } catch (e) {
      const x = this.onThrow(e);
      return x === null ? false : x;
    }
  }

  /** An instruction did not retire: deliver its exception, or return the read exit it stopped at. */
  private onThrow(e: unknown): CpuExit | null {
    if (e === ABORT) {
      this.eip = this.start;
      return this.exits.shift()!;
    }
    if (e !== FAULT) throw e;
    this.eip = this.start;
    this.clearReplay();
    this.awaiting = null;
    if (!this.shutdownState) this.raiseException(this.faultVector, this.faultCode);
    this.attention = 1;
    return this.shutdownState ? SHUTDOWN : null;
  }

  /** Between instructions: pending exits, shutdown, the interrupt shadow, interrupts, HLT, the interrupt window. */
  private service(): CpuExit | null {
    this.attention = 0;
    if (this.exits.length > 0) {
      this.clearReplay();
      this.attention = 1;
      return this.exits.shift()!;
    }
    this.wdone = 0;
    this.wskip = 0;
    if (this.shutdownState) {
      this.attention = 1;
      return SHUTDOWN;
    }
    if (this.shadow) {
      this.shadow = false;
      this.stepOnce = true;
      this.attention = 1;
      return null;
    }
    if (this.irqCheck || this.nmiPending) this.takeInterrupt();
    if (this.shutdownState) {
      this.attention = 1;
      return SHUTDOWN;
    }
    if (this.halted) {
      this.attention = 1;
      return HLT;
    }
    if (this.irqCheck || (this.nmiPending && !this.nmiBlocked)) this.attention = 1;
    if (this.windowRequested && (this.eflags & F_IF) !== 0) {
      this.attention = 1;
      return WINDOW;
    }
    return null;
  }
}

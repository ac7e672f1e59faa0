/**
 * The sim's vCPU: the interpreter plus the kernel's part of KVM_RUN
 * (ioeventfds are claimed before an exit reaches userspace, immediate_exit
 * for kicks, the exit shapes of struct kvm_run).
 */
import { BackendError, InvalidArgumentError } from '../../errors.js';
import type { CpuidEntry, MpState, Vcpu, VcpuExit, X86Regs, X86Segment, X86Sregs } from '../types.js';
import { X86Cpu, type CpuExit, type SegmentState } from './x86/index.js';
import { cpuidLookup, simCpuidTable, undefinedFlagsModelForCpuid } from './cpuid.js';
import type { SimVm } from './vm.js';
import { APIC_BASE, APIC_SIZE, type ApicSlot } from './split-irqchip.js';

/** Instructions per interpreter slice; after one, run() returns `intr` (as if a signal interrupted KVM_RUN). */
const SLICE = 1 << 20;
/**
 * The slice when the VM has several vCPUs: the round-robin quantum. Short
 * enough that a CPU spinning on a flag another CPU sets, or on an IPI,
 * waits a fraction of a millisecond, long enough to amortise the switch.
 */
const SMP_SLICE = 1 << 14;

const REG_NAMES = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi'] as const;

function toSegment(s: SegmentState): X86Segment {
  return {
    base: BigInt(s.base >>> 0), limit: s.limit >>> 0, selector: s.selector, type: s.type, present: s.present,
    dpl: s.dpl, db: s.db, s: s.s, l: s.l, g: s.g, avl: s.avl, unusable: s.unusable,
  };
}

function fromSegment(s: X86Segment): SegmentState {
  return {
    base: Number(BigInt.asUintN(32, s.base)), limit: s.limit >>> 0, selector: s.selector, type: s.type, present: s.present,
    dpl: s.dpl, db: s.db, s: s.s, l: s.l, g: s.g, avl: s.avl, unusable: s.unusable,
  };
}

export class SimVcpu implements Vcpu {
  readonly cpu: X86Cpu;
  private memoryGeneration = -1;
  private kickPending = false;
  private isClosed = false;
  private cpuid: readonly CpuidEntry[] = simCpuidTable();
  private mpState: MpState = 'runnable';
  /** This vCPU's local APIC when the VM has the split irqchip (the in-kernel half). */
  readonly apic: ApicSlot | null = null;
  /** Virtual nanoseconds spent halted (time = retired instructions + idle; 1 instruction = 1 ns). */
  private idle = 0;

  constructor(private readonly vm: SimVm, readonly id: number) {
    this.cpu = new X86Cpu({
      cpuid: (leaf, subleaf) => cpuidLookup(this.cpuid, leaf, subleaf),
    });
    if (vm.irqchip) {
      this.apic = vm.irqchip.attach(id, {
        kick: () => this.cpu.requestInterruptCheck(),
        special: (kind, vector) => this.special(kind, vector),
      });
      const lapic = this.apic.lapic;
      this.cpu.setInterruptSource({ hasInterrupt: () => lapic.hasInterrupt(), acknowledge: () => lapic.acknowledge() });
      // With an in-kernel LAPIC, KVM starts every vCPU but the BSP waiting for INIT/SIPI.
      if (id !== 0) this.mpState = 'uninitialized';
    }
  }

  private get now(): number { return this.cpu.instructions + this.idle; }

  private special(kind: 'nmi' | 'init' | 'sipi' | 'extint', vector: number): void {
    switch (kind) {
      case 'nmi': this.cpu.injectNmi(); return;
      case 'init': this.mpState = 'init-received'; return;
      case 'sipi':
        if (this.mpState !== 'init-received') return;
        this.cpu.sipi(vector);
        this.mpState = 'runnable';
        return;
      case 'extint': return; // the userspace PIC injects with KVM_INTERRUPT
    }
  }

  /** A port/MMIO access the in-kernel LAPIC claims; returns an exit to report, or null to keep running. */
  private apicAccess(e: { isWrite: boolean; address: number; size: number; data: Uint8Array }): VcpuExit | null {
    const apic = this.apic!;
    const off = e.address - APIC_BASE;
    // The timer's current count (and an expiry) as of this instruction, not of the slice's start.
    apic.lapic.advance(this.now);
    if (e.isWrite) {
      let v = 0;
      for (let i = Math.min(e.size, 4) - 1; i >= 0; i--) v = v * 256 + e.data[i]!;
      apic.lapic.write(off & ~3, v);
      this.cpu.requestInterruptCheck();
      if (this.windowWanted) this.updateWindow(); // an LVT0 write may open or close the ExtINT window
      if (apic.pendingEoiExit >= 0) {
        const vector = apic.pendingEoiExit;
        apic.pendingEoiExit = -1;
        return { kind: 'ioapic-eoi', vector };
      }
      return null;
    }
    const v = apic.lapic.read(off & ~3);
    for (let i = 0; i < e.size; i++) e.data[i] = (v >>> (8 * i)) & 0xff;
    return null;
  }

  get closed(): boolean { return this.isClosed; }
  get instructionsRetired(): number { return this.cpu.instructions; }

  private syncMemory(): void {
    if (this.memoryGeneration === this.vm.memoryGeneration) return;
    this.memoryGeneration = this.vm.memoryGeneration;
    this.cpu.setMemoryMap(this.vm.memorySlots().map((s) => ({ gpa: s.gpa, bytes: s.bytes, readonly: (s.flags & 2) !== 0 })));
  }

  /** runOnThread() was called: like KVM's, the vCPU now belongs to its "thread" and run() is refused. */
  private onThread = false;

  run(): VcpuExit {
    if (this.onThread) throw new InvalidArgumentError(`vCPU ${this.id} runs on its own thread: use runOnThread()`);
    return this.runSlice();
  }

  private runSlice(): VcpuExit {
    if (this.isClosed) throw new BackendError('EBADF', 'KVM_RUN', `vCPU ${this.id} is closed`);
    if (this.kickPending) {
      this.kickPending = false;
      return { kind: 'intr' };
    }
    this.syncMemory();
    if (this.mpState === 'uninitialized' || this.mpState === 'init-received') {
      // KVM blocks such a vCPU in KVM_RUN until a SIPI; the sim cannot block: report a signal-like return.
      return { kind: 'intr' };
    }
    const lapic = this.apic?.lapic;
    // A slice is virtual time, halts included: a guest that halts between timer interrupts returns
    // too, so a VMM serving events on this thread (the only way an outside interrupt arrives) gets a turn.
    // After a halt jumps to the timer, the timer's interrupt runs before the slice may end: a run()
    // that retired nothing would tell the VMM this vCPU cannot make progress.
    const sliceEnd = this.now + (this.vm.liveVcpus > 1 ? SMP_SLICE : SLICE);
    let woke = false;
    for (;;) {
      let budget = sliceEnd - this.now;
      if (budget <= 0) {
        if (!woke) {
          this.kickPending = false;
          return { kind: 'intr' };
        }
        budget = 1;
      }
      woke = false;
      if (lapic) {
        lapic.advance(this.now);
        if (lapic.hasInterrupt()) this.cpu.requestInterruptCheck();
        const deadline = lapic.nextDeadline();
        if (deadline !== Infinity) budget = Math.max(1, Math.min(budget, deadline - this.now));
      }
      const e: CpuExit = this.cpu.run(budget);
      switch (e.kind) {
        case 'budget':
          // A slice ran out: return like KVM_RUN interrupted by a signal, so a VMM serving
          // events on the same thread gets to run (a spinning guest makes no other exit).
          this.kickPending = false;
          return { kind: 'intr' };
        case 'io':
          if (e.direction === 'out') {
            if (this.vm.matchIoeventfd('pio', e.port, e.data)) continue;
            return { kind: 'io-out', port: e.port, size: e.size, count: e.count, data: e.data };
          }
          return { kind: 'io-in', port: e.port, size: e.size, count: e.count, data: e.data };
        case 'mmio':
          if (this.apic && e.address >= APIC_BASE && e.address < APIC_BASE + APIC_SIZE) {
            const x = this.apicAccess(e);
            if (x) return x;
            continue;
          }
          if (e.isWrite) {
            if (this.vm.matchIoeventfd('mmio', e.address, e.data)) continue;
            return { kind: 'mmio-write', address: e.address, size: e.size, data: e.data };
          }
          return { kind: 'mmio-read', address: e.address, size: e.size, data: e.data };
        case 'hlt':
          if (!lapic) return { kind: 'hlt' };
          {
            // The in-kernel LAPIC keeps a halted vCPU inside KVM_RUN until an interrupt: jump virtual time to the timer.
            const deadline = lapic.nextDeadline();
            if (deadline === Infinity) return { kind: 'intr' };
            this.idle += Math.max(0, deadline - this.now);
            woke = true;
            continue;
          }
        case 'shutdown':
          return { kind: 'shutdown' };
        case 'interrupt-window':
          return { kind: 'irq-window-open' };
        default: {
          const never: never = e;
          throw new Error(`unhandled interpreter exit ${JSON.stringify(never)}`);
        }
      }
    }
  }

  /** The sim has no threads: one slice (or up to the next exit), resolved at once. */
  runOnThread(): Promise<VcpuExit> {
    this.onThread = true;
    // The executor runs now, synchronously: a throw becomes the rejection.
    return new Promise((resolve) => resolve(this.runSlice()));
  }

  kick(): void { this.kickPending = true; }

  armVcpuInit(): void { throw new BackendError('EINVAL', 'KVM_ARM_VCPU_INIT', 'an x86 vCPU'); }
  getOneReg(): bigint { throw new BackendError('EINVAL', 'KVM_GET_ONE_REG', 'the sim\'s x86 vCPU has no ONE_REG registers'); }
  setOneReg(): void { throw new BackendError('EINVAL', 'KVM_SET_ONE_REG', 'the sim\'s x86 vCPU has no ONE_REG registers'); }
  getRegList(): bigint[] { throw new BackendError('EINVAL', 'KVM_GET_REG_LIST', 'the sim\'s x86 vCPU has no ONE_REG registers'); }
  readonly deviceIrqLevel = 0;

  getRegs(): X86Regs {
    const r = this.cpu.getRegs();
    const out = {
      r8: 0n, r9: 0n, r10: 0n, r11: 0n, r12: 0n, r13: 0n, r14: 0n, r15: 0n,
      rip: BigInt(r.rip >>> 0), rflags: BigInt(r.rflags >>> 0),
    } as X86Regs;
    for (const n of REG_NAMES) out[n] = BigInt(r[n] >>> 0);
    return out;
  }

  setRegs(regs: X86Regs): void {
    const n32 = (v: bigint): number => Number(BigInt.asUintN(32, v));
    this.cpu.setRegs({
      rax: n32(regs.rax), rcx: n32(regs.rcx), rdx: n32(regs.rdx), rbx: n32(regs.rbx),
      rsp: n32(regs.rsp), rbp: n32(regs.rbp), rsi: n32(regs.rsi), rdi: n32(regs.rdi),
      rip: n32(regs.rip), rflags: n32(regs.rflags),
    });
  }

  getSregs(): X86Sregs {
    const s = this.cpu.getSregs();
    return {
      cs: toSegment(s.cs), ds: toSegment(s.ds), es: toSegment(s.es), fs: toSegment(s.fs), gs: toSegment(s.gs),
      ss: toSegment(s.ss), tr: toSegment(s.tr), ldt: toSegment(s.ldt),
      gdt: { base: BigInt(s.gdt.base >>> 0), limit: s.gdt.limit }, idt: { base: BigInt(s.idt.base >>> 0), limit: s.idt.limit },
      cr0: BigInt(s.cr0 >>> 0), cr2: BigInt(s.cr2 >>> 0), cr3: BigInt(s.cr3 >>> 0), cr4: BigInt(s.cr4 >>> 0), cr8: 0n,
      efer: BigInt(s.efer >>> 0), apicBase: 0xfee0_0900n, interruptBitmap: [0n, 0n, 0n, 0n],
    };
  }

  setSregs(s: X86Sregs): void {
    const n32 = (v: bigint): number => Number(BigInt.asUintN(32, v));
    this.cpu.setSregs({
      cs: fromSegment(s.cs), ds: fromSegment(s.ds), es: fromSegment(s.es), fs: fromSegment(s.fs), gs: fromSegment(s.gs),
      ss: fromSegment(s.ss), tr: fromSegment(s.tr), ldt: fromSegment(s.ldt),
      gdt: { base: n32(s.gdt.base), limit: s.gdt.limit }, idt: { base: n32(s.idt.base), limit: s.idt.limit },
      cr0: n32(s.cr0), cr2: n32(s.cr2), cr3: n32(s.cr3), cr4: n32(s.cr4), efer: n32(s.efer),
    });
  }

  setCpuid(entries: readonly CpuidEntry[]): void {
    if (entries.length > 256) throw new BackendError('E2BIG', 'KVM_SET_CPUID2', `${entries.length} entries exceed 256`);
    this.cpuid = entries.map((e) => ({ ...e }));
    // The CPU the guest is told it runs on decides the undefined flags it sees (picked once, here).
    this.cpu.setUndefinedFlagsModel(undefinedFlagsModelForCpuid(this.cpuid));
  }

  interrupt(vector: number): void {
    if (!Number.isInteger(vector) || vector < 0 || vector > 255) throw new BackendError('EINVAL', 'KVM_INTERRUPT', `vector ${vector}`);
    // With the in-kernel LAPIC KVM holds one pending_external_vector and refuses a second.
    if (this.apic && this.cpu.injected.length > 0) throw new BackendError('EEXIST', 'KVM_INTERRUPT', 'an external interrupt is already pending');
    // With the in-kernel LAPIC this is ExtINT (KVM's pending_external_vector): taken once IF = 1 and
    // LINT0 accepts ExtINT; the VMM injects only when readyForInterruptInjection said so.
    this.cpu.injectInterrupt(vector);
  }

  private windowWanted = false;

  setRequestInterruptWindow(on: boolean): void {
    this.windowWanted = on;
    this.updateWindow();
  }

  /** The interpreter's window exit, gated like KVM's on the LAPIC accepting ExtINT. */
  private updateWindow(): void {
    this.cpu.requestInterruptWindow(this.windowWanted && this.acceptsExtInt());
  }

  /** kvm_apic_accept_pic_intr: LINT0 unmasked in ExtINT mode (always, without an in-kernel LAPIC). */
  private acceptsExtInt(): boolean {
    if (!this.apic) return true;
    const lvt0 = this.apic.lapic.read(0x350);
    return (lvt0 & 0x1_0000) === 0 && ((lvt0 >>> 8) & 7) === 7;
  }

  get readyForInterruptInjection(): boolean {
    // KVM: IF = 1, no shadow, no external vector still pending, and LINT0 accepting ExtINT.
    return this.cpu.interruptsEnabled && this.cpu.injected.length === 0 && this.acceptsExtInt();
  }

  getMpState(): MpState { return this.cpu.halted && this.mpState === 'runnable' ? 'halted' : this.mpState; }
  setMpState(state: MpState): void { this.mpState = state; }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.vm.vcpuClosed();
    if (this.apic) this.vm.irqchip?.detach(this.id);
  }
}

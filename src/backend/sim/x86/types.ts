/** Public shapes of the sim's x86 interpreter (see cpu.ts for the behaviour). */

/** A segment register's hidden cache, named as KVM's struct kvm_segment names it. */
export interface SegmentState {
  selector: number; base: number; limit: number; type: number;
  present: number; dpl: number; db: number; s: number; l: number; g: number; avl: number; unusable: number;
}

/** The general registers (kvm_regs subset), all unsigned 32-bit numbers. */
export interface CpuRegs {
  rax: number; rcx: number; rdx: number; rbx: number; rsp: number; rbp: number; rsi: number; rdi: number;
  rip: number; rflags: number;
}

/** The system registers (kvm_sregs subset), all unsigned 32-bit numbers. */
export interface CpuSregs {
  cs: SegmentState; ds: SegmentState; es: SegmentState; fs: SegmentState; gs: SegmentState; ss: SegmentState;
  tr: SegmentState; ldt: SegmentState;
  gdt: { base: number; limit: number }; idt: { base: number; limit: number };
  cr0: number; cr2: number; cr3: number; cr4: number; efer: number;
}

/** One memory slot: guest physical address, its bytes, and KVM_MEM_READONLY. */
export interface MemoryRegionMap { gpa: number; bytes: Uint8Array; readonly: boolean }

/**
 * What run() returns: the shapes of KVM's exits. `data` of `io` and `mmio`
 * exits is a view into a buffer the CPU reuses: for `in` and MMIO reads the
 * caller writes the answer there (little-endian) before the next run().
 */
export type CpuExit =
  | { kind: 'io'; direction: 'in' | 'out'; port: number; size: 1 | 2 | 4; count: number; data: Uint8Array }
  | { kind: 'mmio'; isWrite: boolean; address: number; size: number; data: Uint8Array }
  | { kind: 'hlt' }
  | { kind: 'shutdown' }
  | { kind: 'budget' }
  | { kind: 'interrupt-window' };

export type CpuExitKind = CpuExit['kind'];

export interface CpuidResult { eax: number; ebx: number; ecx: number; edx: number }

/** What the CPU asks its environment for. */
export interface CpuHooks {
  /** CPUID (default: every leaf reads as zeros). */
  cpuid?(leaf: number, subleaf: number): CpuidResult;
  /** RDMSR: the value, or undefined when the hook does not know the MSR (built-ins, then #GP). */
  rdmsr?(msr: number): bigint | undefined;
  /** WRMSR: true if accepted; false when the hook does not know the MSR (built-ins, then #GP). */
  wrmsr?(msr: number, value: bigint): boolean;
}

export interface CpuOptions {
  /**
   * Use the flat-32-bit fast path (default true). Turning it off runs every
   * instruction through the general decoder; tests run both ways and must
   * see the same results.
   */
  fastPath?: boolean;
}

/** The interrupt controller the CPU asks at instruction boundaries (the sim's LAPIC). */
export interface InterruptSource {
  hasInterrupt(): boolean;
  /** Acknowledges the highest-priority interrupt and returns its vector. */
  acknowledge(): number;
}

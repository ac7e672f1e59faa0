/** Public shapes of the sim's x86 interpreter. */

/** A segment register's hidden cache, as KVM's struct kvm_segment names it. */
export interface SegmentState {
  selector: number; base: number; limit: number; type: number;
  present: number; dpl: number; db: number; s: number; l: number; g: number; avl: number; unusable: number;
}

export interface CpuRegs {
  rax: number; rcx: number; rdx: number; rbx: number; rsp: number; rbp: number; rsi: number; rdi: number;
  rip: number; rflags: number;
}

export interface CpuSregs {
  cs: SegmentState; ds: SegmentState; es: SegmentState; fs: SegmentState; gs: SegmentState; ss: SegmentState;
  tr: SegmentState; ldt: SegmentState;
  gdt: { base: number; limit: number }; idt: { base: number; limit: number };
  cr0: number; cr2: number; cr3: number; cr4: number; efer: number;
}

export interface MemoryRegionMap { gpa: number; bytes: Uint8Array; readonly: boolean }

/** What the interpreter returns from run(): the shapes of KVM's exits. */
export type CpuExit =
  | { kind: 'io'; direction: 'in' | 'out'; port: number; size: 1 | 2 | 4; count: number; data: Uint8Array }
  | { kind: 'mmio'; isWrite: boolean; address: number; size: number; data: Uint8Array }
  | { kind: 'hlt' }
  | { kind: 'shutdown' }
  | { kind: 'budget' }
  | { kind: 'interrupt-window' };

export interface CpuHooks {
  cpuid(leaf: number, subleaf: number): { eax: number; ebx: number; ecx: number; edx: number };
  /** RDMSR: the value, or undefined for #GP. */
  rdmsr?(msr: number): bigint | undefined;
  /** WRMSR: true if accepted, false for #GP. */
  wrmsr?(msr: number, value: bigint): boolean;
}

/** The interrupt controller the CPU asks at instruction boundaries (the sim's LAPIC). */
export interface InterruptSource {
  hasInterrupt(): boolean;
  /** Acknowledges the highest-priority interrupt and returns its vector. */
  acknowledge(): number;
}

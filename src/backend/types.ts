/**
 * The backend contract: hypervisor → VM → vCPU, guest memory, eventfds,
 * GSI routes, irqfds, ioeventfds, MSI signalling and IRQ lines.
 *
 * Two implementations: `kvm` (the native addon over /dev/kvm) and `sim`
 * (pure TypeScript: a model of the kernel side that also executes the
 * guest's instructions). Everything above this file is backend-agnostic.
 * Names and semantics follow the KVM API; where a method wraps one ioctl
 * its doc comment names it.
 */
import type { DriveEnd, ExitServer } from './driver.js';
import type { Ringer, RingerOptions } from './ringer.js';
import type { KvmCpuidEntry, KvmRegs, KvmSregs, KvmSegment, KvmDtable } from '../native/binding.js';

export type BackendKind = 'kvm' | 'sim';
/** The guest architecture of a VM. KVM runs the host's; the sim runs either. */
export type Arch = 'x86_64' | 'arm64';

/** `struct kvm_vcpu_init`: the target (KVM_ARM_PREFERRED_TARGET's) and the feature bitmap as u32 words. */
export interface ArmVcpuInit { target: number; features: number[] }

export type X86Regs = KvmRegs;
export type X86Sregs = KvmSregs;
export type X86Segment = KvmSegment;
export type X86Dtable = KvmDtable;
export type CpuidEntry = KvmCpuidEntry;

/** Capabilities by their KVM names (`KVM_CHECK_EXTENSION`). */
export type Capability =
  | 'KVM_CAP_IRQCHIP' | 'KVM_CAP_USER_MEMORY' | 'KVM_CAP_SET_TSS_ADDR' | 'KVM_CAP_IRQ_ROUTING'
  | 'KVM_CAP_IRQFD' | 'KVM_CAP_IOEVENTFD' | 'KVM_CAP_SIGNAL_MSI' | 'KVM_CAP_SPLIT_IRQCHIP'
  | 'KVM_CAP_IMMEDIATE_EXIT' | 'KVM_CAP_SYNC_REGS' | 'KVM_CAP_NR_VCPUS' | 'KVM_CAP_MAX_VCPUS'
  | 'KVM_CAP_NR_MEMSLOTS' | 'KVM_CAP_IRQFD_RESAMPLE' | 'KVM_CAP_X2APIC_API' | 'KVM_CAP_MP_STATE'
  | 'KVM_CAP_IOEVENTFD_ANY_LENGTH' | 'KVM_CAP_EXT_CPUID'
  | 'KVM_CAP_ARM_USER_IRQ' | 'KVM_CAP_ARM_PSCI_0_2' | 'KVM_CAP_ONE_REG';

/**
 * A decoded exit (`kvm_run->exit_reason` plus its union member). Switch on
 * `kind` exhaustively. `data` of io/mmio exits is a view into the exit's
 * buffer: for `io-in`/`mmio-read` the VMM writes the answer into it before
 * the next `run()`, exactly as with KVM. An exit object is valid until the
 * next `run()` of its vCPU (the KVM backend reuses them: no allocation on
 * the exit path).
 */
export type VcpuExit =
  | { kind: 'io-out'; port: number; size: 1 | 2 | 4; count: number; data: Uint8Array }
  | { kind: 'io-in'; port: number; size: 1 | 2 | 4; count: number; data: Uint8Array }
  | { kind: 'mmio-write'; address: number; size: number; data: Uint8Array }
  | { kind: 'mmio-read'; address: number; size: number; data: Uint8Array }
  | { kind: 'hlt' }
  | { kind: 'shutdown' }
  /**
   * KVM_RUN came back with EINTR/EAGAIN (a kick, a signal, immediate_exit,
   * arm64's user-IRQ level report). `kicked: false` says it was not kick()
   * (immediate_exit was clear): KVM's own return, or a signal; absent means
   * a kick may have caused it.
   */
  | { kind: 'intr'; kicked?: boolean }
  | { kind: 'irq-window-open' }
  | { kind: 'ioapic-eoi'; vector: number }
  | { kind: 'fail-entry'; hardwareEntryFailureReason: bigint; cpu: number }
  | { kind: 'internal-error'; suberror: number; data: bigint[] }
  | { kind: 'system-event'; type: number; data: bigint[] }
  | { kind: 'debug' }
  | { kind: 'unknown'; exitReason: number };

export type VcpuExitKind = VcpuExit['kind'];

/** `KVM_MP_STATE_*` by name. */
export type MpState = 'runnable' | 'uninitialized' | 'init-received' | 'halted' | 'sipi-received'
  /** arm64: powered off (KVM_ARM_VCPU_POWER_OFF, PSCI CPU_OFF) until PSCI CPU_ON. */
  | 'stopped';

/** Guest RAM owned by the VMM process, mappable into a VM as a memory slot. */
export interface GuestMemory {
  readonly size: number;
  /** The whole allocation, zero copy (an external ArrayBuffer on KVM). */
  readonly bytes: Uint8Array;
  /** Unmaps the memory; later access to `bytes` sees a detached buffer. Idempotent. */
  close(): void;
}

/** `struct kvm_userspace_memory_region`; `memorySize` 0 deletes the slot. */
export interface MemoryRegion {
  slot: number;
  flags?: number;
  guestPhysAddr: number;
  memorySize: number;
  memory: GuestMemory | null;
  /** Offset of the region inside `memory` (page aligned). */
  memoryOffset?: number;
}

/** An eventfd (a real one on KVM; a counter with the same semantics on the sim). */
export interface EventFd {
  /** The file descriptor (KVM) or a unique id (sim). */
  readonly fd: number;
  /** write(2): adds `value` to the counter. */
  write(value?: number): void;
  /** Non-blocking read(2): the counter (and resets it), or null if it is zero. */
  read(): bigint | null;
  close(): void;
  readonly closed: boolean;
}

/** One entry of the GSI routing table (`struct kvm_irq_routing_entry`). */
export type GsiRoute =
  | { gsi: number; type: 'irqchip'; irqchip: number; pin: number }
  | { gsi: number; type: 'msi'; addressLo: number; addressHi: number; data: number; devid?: number };

export interface IrqfdArgs {
  eventfd: EventFd;
  gsi: number;
  /** KVM_IRQFD_FLAG_RESAMPLE with this eventfd (refused by the kernel in split-irqchip mode). */
  resample?: EventFd;
}

export interface IoeventfdArgs {
  eventfd: EventFd;
  space: 'pio' | 'mmio';
  address: number;
  /** 1, 2, 4 or 8; 0 = any length (MMIO only, KVM_CAP_IOEVENTFD_ANY_LENGTH). */
  length: 0 | 1 | 2 | 4 | 8;
  datamatch?: bigint;
}

export interface Msi { addressLo: number; addressHi: number; data: number; devid?: number }

export interface Hypervisor {
  readonly kind: BackendKind;
  /** The architecture createVm() gives by default (KVM: the host's, the only one it can run). */
  readonly arch: Arch;
  /** KVM_CHECK_EXTENSION on the system fd. */
  checkExtension(cap: Capability): number;
  /** KVM_GET_SUPPORTED_CPUID */
  supportedCpuid(): CpuidEntry[];
  /**
   * KVM_CREATE_VM. `arch` other than the host's: the KVM backend throws
   * ERR_VMM_BACKEND_UNAVAILABLE; the sim builds either.
   */
  createVm(opts?: { arch?: Arch }): Vm;
  close(): void;
}

export interface Vm {
  readonly kind: BackendKind;
  readonly arch: Arch;
  /** KVM_CHECK_EXTENSION on the VM fd. */
  checkExtension(cap: Capability): number;
  /** KVM_ENABLE_CAP on the VM fd. */
  enableCap(cap: Capability, args?: number[]): void;
  /** Allocates (mmaps) guest memory that can then be mapped with setUserMemoryRegion. */
  allocateMemory(size: number): GuestMemory;
  /** KVM_SET_USER_MEMORY_REGION */
  setUserMemoryRegion(region: MemoryRegion): void;
  /** KVM_SET_TSS_ADDR (x86; required on Intel VMX hosts before running). */
  setTssAddr(address: number): void;
  /** KVM_CREATE_VCPU */
  createVcpu(id: number): Vcpu;
  /** eventfd(2), non-blocking and close-on-exec. */
  createEventFd(initial?: number): EventFd;
  /** KVM_SET_GSI_ROUTING: replaces the whole table. */
  setGsiRouting(routes: readonly GsiRoute[]): void;
  /** KVM_IRQFD (assign). */
  irqfd(args: IrqfdArgs): void;
  /** KVM_IRQFD with KVM_IRQFD_FLAG_DEASSIGN. */
  irqfdDeassign(args: { eventfd: EventFd; gsi: number }): void;
  /** KVM_IOEVENTFD (assign). */
  ioeventfd(args: IoeventfdArgs): void;
  /** KVM_IOEVENTFD with KVM_IOEVENTFD_FLAG_DEASSIGN. */
  ioeventfdDeassign(args: IoeventfdArgs): void;
  /** KVM_SIGNAL_MSI: how many vCPUs took it; 0 when none did (blocked by the guest, or no LAPIC matched the destination). */
  signalMsi(msi: Msi): number;
  /** KVM_IRQ_LINE_STATUS */
  irqLine(irq: number, level: boolean): number;
  /**
   * KVM_IRQ_LINE. On arm64 without an in-kernel GIC the only kind that works
   * is type CPU (src/backend/arm64.ts armIrqCpu): a vCPU's IRQ or FIQ input;
   * SPI/PPI types need a vGIC (ENXIO).
   */
  setIrqLine(irq: number, level: boolean): void;
  /** KVM_ARM_PREFERRED_TARGET (arm64; EINVAL-like BackendError on x86). */
  armPreferredTarget(): ArmVcpuInit;
  /**
   * Calls `onReadable` on this JS thread after each write to `eventfd`
   * (the VMM then reads it). `kick` lists vCPUs to bring out of KVM_RUN at
   * once, from the watcher thread, so an event signalled by another thread or
   * process reaches a busy or halted vCPU. Returns the unwatch function.
   */
  watchEventFd(eventfd: EventFd, onReadable: () => void, kick?: readonly Vcpu[]): () => void;
  /**
   * Calls `fn` after each batch of watchEventFd callbacks: the watches one
   * kick or one wake-up found readable together, served one after another.
   * A watcher that defers work while serving (the irqfd cache's route pushes
   * for the fills of a burst) does it there, once for the batch. Returns the
   * unregister function.
   */
  onWatchesServed(fn: () => void): () => void;
  /**
   * Kicks `kick` out of KVM_RUN whenever the caller's `fd` (a pipe, a
   * terminal, a socket) becomes readable, so that this thread's event loop
   * gets to read it even while a vCPU it runs is halted inside KVM_RUN
   * (stdin for the UART, say). The fd is not read: Node's own stream reads it.
   * A regular file cannot be watched (EPERM): read it up front instead.
   * The sim runs its vCPUs in slices and yields, so it needs no kick.
   * Returns the unwatch function.
   */
  kickOnReadable(fd: number, kick: readonly Vcpu[]): () => void;
  /**
   * A load generator: rings `eventfds` round robin from outside this thread
   * (KVM: a worker writing duplicates of them; the sim: timers between its
   * slices), `count` times, one every `intervalNs` (src/backend/ringer.ts).
   * Stopped by close() at the latest.
   */
  ringEventFds(eventfds: readonly EventFd[], opts: RingerOptions): Ringer;
  /**
   * Runs `vcpus` with this backend's schedule until `server.stopping()`
   * (src/backend/driver.ts): on KVM one vCPU enters KVM_RUN on this thread
   * (the fastest exit path), several -- or one when `threads` asks -- each
   * on a thread of its own; the sim runs them round robin on this thread,
   * deterministically. Resolves `idle` when no vCPU can run and
   * `server.mayWake()` says nothing may wake one.
   */
  runVcpus(vcpus: readonly Vcpu[], server: ExitServer, opts?: { threads?: boolean }): Promise<DriveEnd>;
  /** runVcpus without the event loop, where the backend can (KVM: one vCPU; several throw ERR_INVALID_ARG). */
  runVcpusSync(vcpus: readonly Vcpu[], server: ExitServer): DriveEnd;
  /** Whether runVcpus puts these vCPUs on threads of their own (then this thread's event loop stays free). */
  runsOnThreads(count: number, opts?: { threads?: boolean }): boolean;
  close(): void;
}

export interface Vcpu {
  readonly id: number;
  /** KVM_RUN until the next exit, decoded, on the calling thread. */
  run(): VcpuExit;
  /**
   * KVM_RUN on the vCPU's own thread, the exit decoded on the calling JS
   * thread when it comes back; the event loop runs meanwhile. This is how
   * several vCPUs run at once (KVM: a native thread per vCPU that only
   * enters KVM_RUN; the sim: one slice, run at once). After the first call
   * the vCPU belongs to its thread: run() is refused. One call at a time.
   */
  runOnThread(): Promise<VcpuExit>;
  /** Brings the vCPU out of run() from another thread or a signal (immediate_exit + signal). */
  kick(): void;
  /** KVM_GET_REGS */
  getRegs(): X86Regs;
  /** KVM_SET_REGS */
  setRegs(regs: X86Regs): void;
  /** KVM_GET_SREGS */
  getSregs(): X86Sregs;
  /** KVM_SET_SREGS */
  setSregs(sregs: X86Sregs): void;
  /** KVM_SET_CPUID2 */
  setCpuid(entries: readonly CpuidEntry[]): void;
  /** KVM_INTERRUPT: queue an external interrupt vector (userspace irqchip / ExtINT). */
  interrupt(vector: number): void;
  /**
   * kvm_run->request_interrupt_window: while on, KVM_RUN comes back with
   * `irq-window-open` as soon as an interrupt() would be taken (IF = 1, no
   * interrupt shadow, and with the in-kernel LAPIC its LINT0 accepting
   * ExtINT).
   */
  setRequestInterruptWindow(on: boolean): void;
  /** kvm_run->ready_for_interrupt_injection as of the last exit: an interrupt() now is taken at the next entry. */
  readonly readyForInterruptInjection: boolean;
  /** KVM_GET_MP_STATE */
  getMpState(): MpState;
  /** KVM_SET_MP_STATE */
  setMpState(state: MpState): void;
  /** KVM_ARM_VCPU_INIT (arm64): once, before the first run. */
  armVcpuInit(init: ArmVcpuInit): void;
  /** KVM_GET_ONE_REG (ids: src/backend/arm64.ts). */
  getOneReg(id: bigint): bigint;
  /** KVM_SET_ONE_REG */
  setOneReg(id: bigint, value: bigint): void;
  /** KVM_GET_REG_LIST */
  getRegList(): bigint[];
  /**
   * arm64, KVM_CAP_ARM_USER_IRQ: `kvm_run->s.regs.device_irq_level` as of the
   * last exit, whatever the exit was (bit 0 vtimer, 1 ptimer, 2 PMU). 0 on x86.
   */
  readonly deviceIrqLevel: number;
  /** Instructions retired (sim only; KVM cannot tell, returns undefined). */
  readonly instructionsRetired: number | undefined;
  close(): void;
}

/**
 * The one module that loads the native addon (`build/Release/kvm.node`).
 *
 * Every export is one ioctl or one syscall, named after it, with no policy:
 * argument checking, errno-carrying errors and nothing else. Errors thrown by
 * the addon are plain `Error`s with `errno` (positive number), `code`
 * (`'EINVAL'`), `syscall` (the ioctl or syscall name, e.g. `'KVM_IRQFD'`)
 * and, for argument mistakes, `code: 'ERR_INVALID_ARG'` and no errno.
 *
 * Override the path with `TSVMM_NATIVE=/path/to/kvm.node`.
 */
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { isMainThread, Worker } from 'node:worker_threads';

const PATCHED = Symbol.for('tsvmm.terminateKicksVcpus');
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One general-purpose register file (`struct kvm_regs`). */
export interface KvmRegs {
  rax: bigint; rbx: bigint; rcx: bigint; rdx: bigint;
  rsi: bigint; rdi: bigint; rsp: bigint; rbp: bigint;
  r8: bigint; r9: bigint; r10: bigint; r11: bigint;
  r12: bigint; r13: bigint; r14: bigint; r15: bigint;
  rip: bigint; rflags: bigint;
}

/** `struct kvm_segment`. */
export interface KvmSegment {
  base: bigint; limit: number; selector: number; type: number;
  present: number; dpl: number; db: number; s: number; l: number; g: number; avl: number;
  unusable: number;
}

/** `struct kvm_dtable`. */
export interface KvmDtable { base: bigint; limit: number }

/** `struct kvm_sregs`. */
export interface KvmSregs {
  cs: KvmSegment; ds: KvmSegment; es: KvmSegment; fs: KvmSegment; gs: KvmSegment; ss: KvmSegment;
  tr: KvmSegment; ldt: KvmSegment;
  gdt: KvmDtable; idt: KvmDtable;
  cr0: bigint; cr2: bigint; cr3: bigint; cr4: bigint; cr8: bigint;
  efer: bigint; apicBase: bigint;
  /** `interrupt_bitmap`, 4 × u64. */
  interruptBitmap: bigint[];
}

/** `struct kvm_cpuid_entry2`. */
export interface KvmCpuidEntry {
  function: number; index: number; flags: number;
  eax: number; ebx: number; ecx: number; edx: number;
}

/** `struct kvm_irq_routing_entry` (irqchip or MSI). */
export type KvmRoutingEntry =
  | { gsi: number; type: 'irqchip'; flags?: number; irqchip: number; pin: number }
  | { gsi: number; type: 'msi'; flags?: number; addressLo: number; addressHi: number; data: number; devid?: number };

/** `struct kvm_ioeventfd`. `len` 0 means "any length" (MMIO only). */
export interface KvmIoeventfd {
  addr: bigint | number; len: number; eventfd: EventfdHandle;
  /** KVM_IOEVENTFD_FLAG_* (datamatch 1, pio 2, deassign 4). */
  flags: number;
  datamatch?: bigint | number;
}

/**
 * Byte offsets of `struct kvm_run` fields and of the structs reachable from
 * it, computed with `offsetof` in `native/layout.cc` and guarded there by
 * `static_assert`s. TypeScript never retypes these numbers.
 */
export interface KvmLayout {
  kvm_run: {
    size: number;
    request_interrupt_window: number; immediate_exit: number; exit_reason: number;
    ready_for_interrupt_injection: number; if_flag: number; flags: number;
    cr8: number; apic_base: number;
    /** union start */
    exit_union: number;
    io_direction: number; io_size: number; io_port: number; io_count: number; io_data_offset: number;
    mmio_phys_addr: number; mmio_data: number; mmio_len: number; mmio_is_write: number;
    fail_entry_hardware_entry_failure_reason: number; fail_entry_cpu: number;
    internal_suberror: number; internal_ndata: number; internal_data: number;
    system_event_type: number; system_event_ndata: number; system_event_data: number;
    eoi_vector: number;
    kvm_valid_regs: number; kvm_dirty_regs: number;
    /** `s.regs` (struct kvm_sync_regs) */
    sync_regs: number;
  };
  /** The host architecture the addon was built for (which of the arch-specific parts below exist). */
  arch: 'x86_64' | 'arm64';
  /**
   * Offsets inside struct kvm_sync_regs: on x86 `regs`/`sregs`/`events`; on
   * arm64 `device_irq_level` (the user-IRQ levels, KVM_CAP_ARM_USER_IRQ).
   */
  kvm_sync_regs: { regs: number; sregs: number; events: number; size: number; device_irq_level?: number };
  /** Offsets inside struct kvm_regs (each u64). x86 builds only, like kvm_sregs and kvm_segment. */
  kvm_regs: Record<'rax' | 'rbx' | 'rcx' | 'rdx' | 'rsi' | 'rdi' | 'rsp' | 'rbp' | 'r8' | 'r9' | 'r10' | 'r11' | 'r12' | 'r13' | 'r14' | 'r15' | 'rip' | 'rflags' | 'size', number>;
  /** Offsets inside struct kvm_sregs. */
  kvm_sregs: Record<'cs' | 'ds' | 'es' | 'fs' | 'gs' | 'ss' | 'tr' | 'ldt' | 'gdt' | 'idt' | 'cr0' | 'cr2' | 'cr3' | 'cr4' | 'cr8' | 'efer' | 'apic_base' | 'interrupt_bitmap' | 'size', number>;
  /** Offsets inside struct kvm_segment. */
  kvm_segment: Record<'base' | 'limit' | 'selector' | 'type' | 'present' | 'dpl' | 'db' | 's' | 'l' | 'g' | 'avl' | 'unusable' | 'size', number>;
}

/** Numeric constants from the kernel headers the addon was built against. */
export interface KvmConstants {
  KVM_API_VERSION: number;
  // exit reasons
  KVM_EXIT_UNKNOWN: number; KVM_EXIT_EXCEPTION: number; KVM_EXIT_IO: number; KVM_EXIT_HYPERCALL: number;
  KVM_EXIT_DEBUG: number; KVM_EXIT_HLT: number; KVM_EXIT_MMIO: number; KVM_EXIT_IRQ_WINDOW_OPEN: number;
  KVM_EXIT_SHUTDOWN: number; KVM_EXIT_FAIL_ENTRY: number; KVM_EXIT_INTR: number; KVM_EXIT_SET_TPR: number;
  KVM_EXIT_TPR_ACCESS: number; KVM_EXIT_NMI: number; KVM_EXIT_INTERNAL_ERROR: number;
  KVM_EXIT_SYSTEM_EVENT: number; KVM_EXIT_IOAPIC_EOI: number;
  KVM_EXIT_IO_IN: number; KVM_EXIT_IO_OUT: number;
  // capabilities
  KVM_CAP_IRQCHIP: number; KVM_CAP_USER_MEMORY: number; KVM_CAP_SET_TSS_ADDR: number;
  KVM_CAP_IRQ_ROUTING: number; KVM_CAP_IRQFD: number; KVM_CAP_IOEVENTFD: number;
  KVM_CAP_SIGNAL_MSI: number; KVM_CAP_SPLIT_IRQCHIP: number; KVM_CAP_IMMEDIATE_EXIT: number;
  KVM_CAP_SYNC_REGS: number; KVM_CAP_NR_VCPUS: number; KVM_CAP_MAX_VCPUS: number;
  KVM_CAP_NR_MEMSLOTS: number; KVM_CAP_IRQFD_RESAMPLE: number; KVM_CAP_X2APIC_API: number;
  KVM_CAP_MP_STATE: number; KVM_CAP_IOEVENTFD_ANY_LENGTH: number; KVM_CAP_EXT_CPUID: number;
  // flags
  KVM_MEM_LOG_DIRTY_PAGES: number; KVM_MEM_READONLY: number;
  KVM_IRQFD_FLAG_DEASSIGN: number; KVM_IRQFD_FLAG_RESAMPLE: number;
  KVM_IOEVENTFD_FLAG_DATAMATCH: number; KVM_IOEVENTFD_FLAG_PIO: number; KVM_IOEVENTFD_FLAG_DEASSIGN: number;
  KVM_IRQ_ROUTING_IRQCHIP: number; KVM_IRQ_ROUTING_MSI: number; KVM_MSI_VALID_DEVID: number;
  KVM_SYNC_X86_REGS: number; KVM_SYNC_X86_SREGS: number; KVM_SYNC_X86_EVENTS: number;
  KVM_MP_STATE_RUNNABLE: number; KVM_MP_STATE_UNINITIALIZED: number; KVM_MP_STATE_INIT_RECEIVED: number;
  KVM_MP_STATE_HALTED: number; KVM_MP_STATE_SIPI_RECEIVED: number; KVM_MP_STATE_STOPPED: number;
  EFD_CLOEXEC: number; EFD_NONBLOCK: number; EFD_SEMAPHORE: number;
  // arm64 (generic header constants; the KVM_ARM_* ones exist on arm64 builds only)
  KVM_CAP_ARM_USER_IRQ: number; KVM_CAP_ARM_PSCI_0_2: number; KVM_CAP_ONE_REG: number; KVM_CAP_ARM_NISV_TO_USER: number;
  KVM_SYSTEM_EVENT_SHUTDOWN: number; KVM_SYSTEM_EVENT_RESET: number; KVM_EXIT_ARM_NISV: number;
  KVM_ARM_VCPU_POWER_OFF?: number; KVM_ARM_VCPU_PSCI_0_2?: number; KVM_ARM_VCPU_PMU_V3?: number;
  KVM_ARM_IRQ_TYPE_SHIFT?: number; KVM_ARM_IRQ_VCPU_SHIFT?: number; KVM_ARM_IRQ_NUM_SHIFT?: number;
  KVM_ARM_IRQ_TYPE_CPU?: number; KVM_ARM_IRQ_TYPE_SPI?: number; KVM_ARM_IRQ_TYPE_PPI?: number;
  KVM_ARM_IRQ_CPU_IRQ?: number; KVM_ARM_IRQ_CPU_FIQ?: number;
  KVM_ARM_DEV_EL1_VTIMER?: number; KVM_ARM_DEV_EL1_PTIMER?: number; KVM_ARM_DEV_PMU?: number;
}

/**
 * An fd the addon owns. JavaScript never holds a bare file descriptor: it
 * holds one of these, made by the addon and accepted only by the exports of
 * its own kind, so a closed, reused, foreign or forged number cannot reach
 * an ioctl. `close()` is explicit and idempotent; a handle dropped without
 * it is closed when collected (a backstop: the `kvm` backend closes
 * explicitly and warns when its FinalizationRegistry finds one dropped).
 */
export interface NativeHandle<K extends HandleKind = HandleKind> {
  readonly kind: K;
  /** The fd number, for diagnostics and for handing to another process; -1 once closed. */
  readonly fd: number;
  readonly closed: boolean;
  close(): void;
}
export type HandleKind = 'kvm' | 'vm' | 'vcpu' | 'eventfd' | 'poller' | 'file' | 'thread';
export type KvmHandle = NativeHandle<'kvm'>;
export type VmHandle = NativeHandle<'vm'>;
export type VcpuHandle = NativeHandle<'vcpu'>;
export type EventfdHandle = NativeHandle<'eventfd'>;
export type PollerHandle = NativeHandle<'poller'>;
export type FileHandle = NativeHandle<'file'>;
export type ThreadHandle = NativeHandle<'thread'>;

/**
 * The addon's exports. Each doc line names the ioctl or syscall it wraps.
 * Errors: `errno`/`code`/`syscall` for a failed syscall (a closed handle is
 * EBADF naming the ioctl), `code: 'ERR_INVALID_ARG'` for an argument of the
 * wrong type or outside its field's range (nothing is truncated).
 */
export interface NativeBinding {
  readonly layout: KvmLayout;
  readonly constants: KvmConstants;
  /** N-API version the addon was built for. */
  readonly napiVersion: number;

  /** open("/dev/kvm", O_RDWR | O_CLOEXEC), checked with KVM_GET_API_VERSION. Throws ENOENT/EACCES etc. */
  openKvm(path?: string): KvmHandle;
  /** KVM_GET_API_VERSION */
  getApiVersion(kvm: KvmHandle): number;
  /** KVM_CHECK_EXTENSION on the system fd or a VM fd. */
  checkExtension(fd: KvmHandle | VmHandle, cap: number): number;
  /** KVM_GET_VCPU_MMAP_SIZE */
  getVcpuMmapSize(kvm: KvmHandle): number;
  /** KVM_CREATE_VM (machine type, 0 on x86). The VM's vCPUs map exactly KVM_GET_VCPU_MMAP_SIZE bytes of kvm_run. */
  createVm(kvm: KvmHandle, type: number): VmHandle;

  /** mmap(MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE) of `size` bytes, as an external ArrayBuffer. */
  mmapAnonymous(size: number): ArrayBuffer;
  /**
   * munmap of a buffer from mmapAnonymous: detaches the ArrayBuffer first. Idempotent.
   * Refused (`code: 'ERR_MAPPING_IN_USE'`) while a memory slot of any VM points into it.
   */
  munmap(buffer: ArrayBuffer): void;
  /**
   * KVM_SET_USER_MEMORY_REGION. `buffer` must come from mmapAnonymous;
   * the region is `buffer[bufferOffset, bufferOffset + memorySize)`. The VM
   * keeps the mapping alive for as long as the slot exists (and its vCPUs
   * live). memorySize 0 deletes the slot (buffer may then be null).
   */
  setUserMemoryRegion(vm: VmHandle, slot: number, flags: number, guestPhysAddr: bigint | number,
    memorySize: bigint | number, buffer: ArrayBuffer | null, bufferOffset: number): void;

  /** KVM_CREATE_VCPU, and the mmap of its kvm_run area. */
  createVcpu(vm: VmHandle, vcpuId: number): VcpuHandle;
  /** The vCPU's kvm_run area (the same ArrayBuffer every call; detached when the vCPU closes). */
  vcpuRunBuffer(vcpu: VcpuHandle): ArrayBuffer;
  /**
   * KVM_RUN. Returns 0, or -EINTR / -EAGAIN (as negative numbers, not thrown:
   * they are the normal way out after a kick or a user-IRQ level change).
   * Any other failure throws; a second thread entering KVM_RUN with a vCPU
   * already inside throws `ERR_VCPU_BUSY`. The calling thread is what kick()
   * signals while, and only while, it is inside.
   */
  run(vcpu: VcpuHandle): number;
  /**
   * run() bound to one vCPU, for the exit path: `vcpuRunner(v)()` is `run(v)`
   * without the per-call check of the handle (done once, here). It keeps no
   * fd alive: after the vCPU's close() it throws EBADF like run().
   */
  vcpuRunner(vcpu: VcpuHandle): () => number;
  /**
   * Kick a vCPU out of KVM_RUN from any thread: sets kvm_run->immediate_exit = 1
   * and signals the thread inside KVM_RUN, if any (so a kick between two runs
   * makes the next one return -EINTR at once). Userspace clears immediate_exit.
   */
  kick(vcpu: VcpuHandle): void;
  /**
   * A native thread of the vCPU's own that enters KVM_RUN when told to
   * (native/vcpu-thread.cc): control block through vcpuThreadControl, RUN
   * stored there, vcpuThreadWake when the thread sleeps; `onExit` is called
   * on this JS thread after an exit JS waits for. close() stops and joins it
   * (kicking it out of KVM_RUN); so does the environment's teardown.
   */
  vcpuThreadCreate(vcpu: VcpuHandle, onExit: () => void): ThreadHandle;
  /** The thread's control block: 16 int32 slots (STATE, RESULT, ERR, SLEEPING, WAITING, ...). */
  vcpuThreadControl(thread: ThreadHandle): ArrayBuffer;
  /** Wakes the thread from its futex sleep on STATE. */
  vcpuThreadWake(thread: ThreadHandle): void;
  /** Whether a pending onExit keeps the event loop alive (on while JS waits). */
  vcpuThreadRef(thread: ThreadHandle, ref: boolean): void;
  /** A number another thread passes to attachVcpu (never reused in this process). */
  vcpuShareId(vcpu: VcpuHandle): number;
  /**
   * A handle to the vCPU with that share id, in the calling thread's environment
   * (a vCPU worker): it can run() and kick(); its close() only lets go.
   */
  attachVcpu(shareId: number): VcpuHandle;
  /** Kicks every vCPU of the process and makes their later runs return -EINTR at once (process exit). */
  stopAllVcpus(): number;
  /** Kicks every vCPU of the process (each run in flight returns -EINTR once). */
  kickAllVcpus(): number;
  /** stopAllVcpus for the vCPUs the calling thread's environment created (a worker that runs a VMM, at its exit). */
  stopOwnVcpus(): number;
  /** KVM_GET_REGS */
  getRegs(vcpu: VcpuHandle): KvmRegs;
  /** KVM_SET_REGS */
  setRegs(vcpu: VcpuHandle, regs: KvmRegs): void;
  /** KVM_GET_SREGS */
  getSregs(vcpu: VcpuHandle): KvmSregs;
  /** KVM_SET_SREGS (each segment field checked against its range: selector 16 bits, type 4, dpl 2, flags 1). */
  setSregs(vcpu: VcpuHandle, sregs: KvmSregs): void;
  /** KVM_GET_ONE_REG: a register of up to 64 bits by its KVM id (sizes above 64 bits: ERR_INVALID_ARG). */
  getOneReg(vcpu: VcpuHandle, id: bigint): bigint;
  /** KVM_SET_ONE_REG (a value wider than the id's size: ERR_INVALID_ARG). */
  setOneReg(vcpu: VcpuHandle, id: bigint, value: bigint): void;
  /** KVM_GET_REG_LIST: every register id the vCPU has. */
  getRegList(vcpu: VcpuHandle): bigint[];
  /** KVM_ARM_PREFERRED_TARGET (arm64 builds only). */
  armPreferredTarget?(vm: VmHandle): { target: number; features: number[] };
  /** KVM_ARM_VCPU_INIT (arm64 builds only): target and the feature bitmap as up to 7 u32 words. */
  armVcpuInit?(vcpu: VcpuHandle, target: number, features: number[]): void;
  /** KVM_GET_SUPPORTED_CPUID (system fd). */
  getSupportedCpuid?(kvm: KvmHandle): KvmCpuidEntry[];
  /** KVM_SET_CPUID2 */
  setCpuid2(vcpu: VcpuHandle, entries: KvmCpuidEntry[]): void;
  /** KVM_ENABLE_CAP (VM or vCPU); args up to 4 u64. */
  enableCap(fd: VmHandle | VcpuHandle, cap: number, flags: number, args: (bigint | number)[]): void;
  /** KVM_SET_GSI_ROUTING (replaces the whole table). */
  setGsiRouting(vm: VmHandle, entries: KvmRoutingEntry[]): void;
  /** KVM_IRQFD. flags: KVM_IRQFD_FLAG_DEASSIGN / _RESAMPLE; resampleEventfd used with RESAMPLE. */
  irqfd(vm: VmHandle, eventfd: EventfdHandle, gsi: number, flags: number, resampleEventfd: EventfdHandle | null): void;
  /** KVM_IOEVENTFD */
  ioeventfd(vm: VmHandle, args: KvmIoeventfd): void;
  /** KVM_SIGNAL_MSI: returns the ioctl's result (> 0 delivered, 0 blocked by the guest). */
  signalMsi(vm: VmHandle, addressLo: number, addressHi: number, data: number, flags: number, devid: number): number;
  /** KVM_IRQ_LINE_STATUS: returns the status field. */
  irqLine(vm: VmHandle, irq: number, level: number): number;
  /** KVM_IRQ_LINE (arm64 drives a vCPU's IRQ/FIQ input with it: type CPU in bits 31:24, vCPU 23:16, 0 IRQ / 1 FIQ). */
  irqLineNoStatus(vm: VmHandle, irq: number, level: number): void;
  /** KVM_INTERRUPT (userspace PIC / ExtINT injection). */
  interrupt(vcpu: VcpuHandle, irq: number): void;
  /** KVM_GET_MP_STATE */
  getMpState(vcpu: VcpuHandle): number;
  /** KVM_SET_MP_STATE */
  setMpState(vcpu: VcpuHandle, state: number): void;
  /** KVM_SET_TSS_ADDR */
  setTssAddr(vm: VmHandle, addr: number): void;
  /** KVM_SET_IDENTITY_MAP_ADDR */
  setIdentityMapAddr(vm: VmHandle, addr: bigint | number): void;

  /** eventfd(2); flags are EFD_* bits. Always non-blocking (EFD_NONBLOCK is added): no call may sleep on a JS thread. */
  eventfd(initval: number, flags: number): EventfdHandle;
  /** read(2) of an eventfd: the counter as a bigint, or null when it would block (EAGAIN). */
  eventfdRead(eventfd: EventfdHandle): bigint | null;
  /** write(2) of an eventfd. */
  eventfdWrite(eventfd: EventfdHandle, value: bigint | number): void;

  /**
   * An epoll watcher. `callback(token)` runs on the JS thread that created
   * the poller whenever a watched eventfd becomes readable (edge-triggered:
   * once per write). A watch that kicks vCPUs (see pollerAdd) is watched by
   * a thread of the poller's, which kicks them itself, so an event reaches a
   * vCPU halted inside KVM_RUN on a busy JS thread, and then calls back
   * through a thread-safe function. A watch that kicks nobody is polled by
   * the JS thread's own event loop, which calls back directly (one wake-up
   * instead of two; microtasks run after each call). A callback that throws
   * is an uncaught exception; the tokens after it still come. The poller
   * holds its callback only through the handle, so a callback that reaches
   * the handle does not keep it alive. close() stops and joins the thread
   * and takes the watch off the event loop.
   */
  pollerCreate(callback: (token: number) => void): PollerHandle;
  /**
   * epoll_ctl(ADD, EPOLLIN|EPOLLET) of an eventfd or a file handle; `kickVcpus` are kicked from the
   * watcher thread on readiness (with none, the event loop watches it: see pollerCreate). EEXIST if
   * already watched; EPERM for a regular file (epoll cannot watch one).
   */
  pollerAdd(poller: PollerHandle, eventfd: EventfdHandle | FileHandle, token: number, kickVcpus: VcpuHandle[]): void;
  /** epoll_ctl(DEL). ENOENT if not watched. */
  pollerRemove(poller: PollerHandle, eventfd: EventfdHandle | FileHandle): void;
  /**
   * The tokens of kicking watches that became readable and were not yet
   * called back, each once, in order; they will not be called back. For the JS thread a kick just
   * brought out of KVM_RUN: it serves them at once instead of through a trip
   * around the event loop. A closed poller gives [].
   */
  pollerTake(poller: PollerHandle): number[];
  /** fcntl(F_DUPFD_CLOEXEC): a file handle owning a duplicate of `fd` (e.g. stdin), for a poller to watch. */
  dupFd(fd: number): FileHandle;
}

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

let cached: NativeBinding | null | undefined;
let cachedPath: string | undefined;
let loadError: Error | undefined;

function candidatePaths(): string[] {
  const env = process.env['TSVMM_NATIVE'];
  if (env) return [env];
  // src/native/binding.ts and dist/native/binding.js are both two levels below the root.
  const root = join(here, '..', '..');
  return [join(root, 'build', 'Release', 'kvm.node'), join(root, 'build', 'Debug', 'kvm.node')];
}

/**
 * A copy of `o` (numbers, and objects of numbers, nested) with fast properties. The objects the
 * addon builds with one napi_set_named_property per field (kvm_run's 31 offsets, the 67 constants)
 * are in V8's dictionary mode, so every `layout.kvm_run.io_port` on the exit path was a hash
 * lookup. `Object.fromEntries` builds one with a hidden class, so loads from it are inline-cached
 * (checked with %HasFastProperties: a loop of keyed stores did not get one). Frozen, as the addon's
 * facts are.
 */
function fastCopy<T extends object>(o: T): T {
  return Object.freeze(Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v !== null && typeof v === 'object' ? fastCopy(v as object) : v]))) as T;
}

/**
 * Once per loaded addon: `layout` and `constants` become fast-property copies
 * (fastCopy), handles get `Symbol.dispose` (for `using`), and the
 * main thread stops every vCPU when the process exits -- by process.exit(),
 * an uncaught exception or the end of the script (a worker, its own). Node joins every worker
 * before the process ends, and a vCPU worker sleeping in KVM_RUN on a halted
 * guest would otherwise hold that join, and the process, forever.
 */
function prepare(b: NativeBinding & { NativeHandle: { prototype: object } }): NativeBinding {
  Object.assign(b, { layout: fastCopy(b.layout), constants: fastCopy(b.constants) });
  const proto = b.NativeHandle.prototype as Record<symbol, unknown> & { close(): void };
  const dispose = (Symbol as { dispose?: symbol }).dispose;
  if (dispose && !(dispose in proto)) {
    Object.defineProperty(proto, dispose, { value: function (this: { close(): void }) { this.close(); } });
  }
  // In a worker that runs a VMM of its own, its exit (process.exit() there, or the end of its script)
  // stops the vCPUs it created, whose threads it is about to join.
  process.once('exit', () => (isMainThread ? b.stopAllVcpus() : b.stopOwnVcpus()));
  // worker.terminate() asks V8 to stop the worker's JavaScript, which a thread
  // inside KVM_RUN never runs: once the request stands, every vCPU is kicked,
  // and the one on that worker comes back to JavaScript and ends there (the
  // others see one -EINTR, an 'intr' exit, and go on).
  const workerProto = Worker.prototype as Worker & { [PATCHED]?: true };
  if (!workerProto[PATCHED]) {
    const terminate = workerProto.terminate;
    Object.defineProperty(workerProto, PATCHED, { value: true });
    workerProto.terminate = function (this: Worker) {
      const done = terminate.call(this);
      b.kickAllVcpus();
      return done;
    };
  }
  return b;
}

/** Why `npm install` did not build the addon (scripts/install-native.mjs leaves the reason), if it said. */
function notBuiltReason(): string | undefined {
  if (process.env['TSVMM_NATIVE']) return undefined;
  try {
    return `native addon not built: ${readFileSync(join(here, '..', '..', 'build', 'native-unavailable.txt'), 'utf8').trim()}`;
  } catch {
    return undefined;
  }
}

/** The addon, or null when it is not built / cannot load on this platform. */
export function tryLoadBinding(): NativeBinding | null {
  if (cached !== undefined) return cached;
  for (const p of candidatePaths()) {
    if (!existsSync(p)) continue;
    try {
      cached = prepare(require(p) as NativeBinding & { NativeHandle: { prototype: object } });
      cachedPath = p;
      return cached;
    } catch (e) {
      loadError = e as Error;
    }
  }
  loadError ??= new Error(notBuiltReason() ?? `native addon not found (looked in ${candidatePaths().join(', ')}); run npm install`);
  cached = null;
  return null;
}

/** The file the addon was loaded from (vCPU threads load the same one), or undefined if it is not loaded. */
export function bindingPath(): string | undefined {
  tryLoadBinding();
  return cachedPath;
}

/** The addon; throws when it cannot be loaded. */
export function loadBinding(): NativeBinding {
  const b = tryLoadBinding();
  if (!b) throw loadError ?? new Error('native addon unavailable');
  return b;
}

/** Why KVM is not usable here, or null when /dev/kvm opens and reports API version 12. */
export function kvmUnavailableReason(): string | null {
  const b = tryLoadBinding();
  if (!b) return `native addon not loaded: ${loadError?.message ?? 'unknown'}`;
  let kvm: KvmHandle | undefined;
  try {
    kvm = b.openKvm();
    const v = b.getApiVersion(kvm);
    if (v !== b.constants.KVM_API_VERSION) return `KVM API version ${v}, expected ${b.constants.KVM_API_VERSION}`;
    return null;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return `/dev/kvm cannot be opened (${err.code ?? err.message})`;
  } finally {
    kvm?.close();
  }
}

/** True when /dev/kvm opens and the addon loads. */
export function isKvmAvailable(): boolean {
  return kvmUnavailableReason() === null;
}

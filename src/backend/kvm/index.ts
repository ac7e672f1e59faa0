/**
 * The `kvm` backend: the backend contract over the native addon.
 * Thin: argument shaping, fd lifetime and exit decoding; no policy.
 */
import {
  loadBinding, type EventfdHandle, type HandleKind, type NativeBinding, type NativeHandle, type PollerHandle,
  type VcpuHandle, type VmHandle,
} from '../../native/binding.js';
import { VcpuThread } from './vcpu-thread.js';
import { WatchBatches } from '../watch-batches.js';
import { checkRingerOptions, threadRinger, type Ringer, type RingerOptions } from '../ringer.js';
import { BackendError, BackendUnavailableError, ClosedError, InvalidArgumentError } from '../../errors.js';
import { KvmRunView } from './exits.js';
import { driveOnThisThread, driveOnThisThreadSync, driveOnThreads, type DriveEnd, type ExitServer } from '../driver.js';
import type {
  Capability, CpuidEntry, EventFd, GsiRoute, GuestMemory, Hypervisor, IoeventfdArgs, IrqfdArgs,
  MemoryRegion, MpState, Msi, Vcpu, VcpuExit, Vm, X86Regs, X86Sregs, Arch, ArmVcpuInit,
} from '../types.js';

const MP_STATES: MpState[] = ['runnable', 'uninitialized', 'init-received', 'halted', 'sipi-received', 'stopped'];

function mpStateNumber(b: NativeBinding, s: MpState): number {
  const c = b.constants;
  switch (s) {
    case 'runnable': return c.KVM_MP_STATE_RUNNABLE;
    case 'uninitialized': return c.KVM_MP_STATE_UNINITIALIZED;
    case 'init-received': return c.KVM_MP_STATE_INIT_RECEIVED;
    case 'halted': return c.KVM_MP_STATE_HALTED;
    case 'sipi-received': return c.KVM_MP_STATE_SIPI_RECEIVED;
    case 'stopped': return c.KVM_MP_STATE_STOPPED;
  }
}

const INTR_KICKED: VcpuExit = Object.freeze({ kind: 'intr', kicked: true });
const INTR_NOT_KICKED: VcpuExit = Object.freeze({ kind: 'intr', kicked: false });

function capNumber(b: NativeBinding, cap: Capability): number {
  const n = (b.constants as unknown as Record<string, number | undefined>)[cap];
  if (n === undefined) throw new InvalidArgumentError(`unknown capability ${cap}`);
  return n;
}

/**
 * The backstop for handles dropped without close(): the collector closes
 * them, and says so, naming the kind. Never the plan: every owner closes
 * explicitly (a VM closes its vCPUs, eventfds' owners close them).
 */
const dropped = new FinalizationRegistry<{ h: NativeHandle; what: string }>(({ h, what }) => {
  if (h.closed) return;
  h.close();
  process.emitWarning(`${what} was garbage-collected without close(); closed now (close it explicitly)`, {
    type: 'TsvmmHandleLeak', code: 'TSVMM_UNCLOSED_HANDLE',
  });
});

/** A native handle with an explicit, idempotent close, and the collector as a backstop. */
class Owned<K extends HandleKind> {
  private isClosed = false;
  constructor(private readonly h: NativeHandle<K>, readonly what: string) {
    dropped.register(this, { h, what }, this);
  }
  /** The live handle; ERR_VMM_CLOSED once closed. */
  get handle(): NativeHandle<K> {
    if (this.isClosed) throw new ClosedError(this.what);
    return this.h;
  }
  /** Without a native call: only close() below closes the handle while this object lives. */
  get closed(): boolean { return this.isClosed; }
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    dropped.unregister(this);
    this.h.close();
  }
}

export class KvmEventFd implements EventFd {
  private readonly h: Owned<'eventfd'>;
  constructor(private readonly b: NativeBinding, initial = 0) {
    const c = b.constants;
    this.h = new Owned(b.eventfd(initial, c.EFD_CLOEXEC | c.EFD_NONBLOCK), 'eventfd');
  }
  /** The native handle (for the addon's calls). */
  get handle(): EventfdHandle { return this.h.handle; }
  get fd(): number { return this.h.handle.fd; }
  get closed(): boolean { return this.h.closed; }
  write(value = 1): void { this.b.eventfdWrite(this.h.handle, value); }
  read(): bigint | null { return this.b.eventfdRead(this.h.handle); }
  close(): void { this.h.close(); }
}

class KvmGuestMemory implements GuestMemory {
  readonly buffer: ArrayBuffer;
  readonly bytes: Uint8Array;
  private open = true;
  constructor(private readonly b: NativeBinding, readonly size: number) {
    this.buffer = b.mmapAnonymous(size);
    this.bytes = new Uint8Array(this.buffer);
  }
  /**
   * Unmaps, unless a memory slot still points into the buffer: the addon
   * refuses that (ERR_MAPPING_IN_USE), since KVM would keep the address.
   */
  close(): void {
    if (this.open) {
      this.b.munmap(this.buffer);
      this.open = false;
    }
  }
  /**
   * For a VM's close(): unmaps if nothing refers to the memory any more, else
   * leaves it to the addon, which unmaps when the last slot goes (a vCPU still
   * on its way out of KVM_RUN on its thread keeps the kernel VM, and so its
   * slots, alive a moment longer).
   */
  release(): void {
    try {
      this.close();
    } catch (e) {
      if ((e as { code?: string }).code !== 'ERR_MAPPING_IN_USE') throw e;
    }
  }
}

export class KvmHypervisor implements Hypervisor {
  readonly kind = 'kvm' as const;
  private readonly h: Owned<'kvm'>;
  readonly binding: NativeBinding;

  constructor(path?: string) {
    this.binding = loadBinding();
    this.h = new Owned(this.binding.openKvm(path), '/dev/kvm');
    try {
      const v = this.binding.getApiVersion(this.h.handle);
      if (v !== this.binding.constants.KVM_API_VERSION) {
        throw new InvalidArgumentError(`KVM API version ${v}, expected ${this.binding.constants.KVM_API_VERSION}`);
      }
    } catch (e) {
      this.h.close();
      throw e;
    }
  }

  /** The host's architecture: the addon is built for it. */
  get arch(): Arch { return this.binding.layout.arch; }
  checkExtension(cap: Capability): number { return this.binding.checkExtension(this.h.handle, capNumber(this.binding, cap)); }
  supportedCpuid(): CpuidEntry[] {
    if (!this.binding.getSupportedCpuid) throw new BackendError('EINVAL', 'KVM_GET_SUPPORTED_CPUID', `no CPUID on ${this.arch}`);
    return this.binding.getSupportedCpuid(this.h.handle);
  }
  createVm(opts: { arch?: Arch } = {}): KvmVm {
    if (opts.arch !== undefined && opts.arch !== this.arch) {
      throw new BackendUnavailableError(`KVM on this ${this.arch} host cannot run an ${opts.arch} guest (the sim backend can)`);
    }
    return new KvmVm(this, new Owned(this.binding.createVm(this.h.handle, 0), 'VM'));
  }
  close(): void { this.h.close(); }
}

export class KvmVm implements Vm {
  readonly kind = 'kvm' as const;
  get arch(): Arch { return this.hypervisor.arch; }
  private readonly b: NativeBinding;
  private readonly vcpus = new Set<KvmVcpu>();
  private readonly memories = new Set<KvmGuestMemory>();

  constructor(readonly hypervisor: KvmHypervisor, private readonly h: Owned<'vm'>) {
    this.b = hypervisor.binding;
  }

  get fd(): number { return this.h.handle.fd; }
  /** The native handle (for the addon's calls, as KvmVcpu.handle). */
  get handle(): VmHandle { return this.h.handle; }
  checkExtension(cap: Capability): number { return this.b.checkExtension(this.h.handle, capNumber(this.b, cap)); }
  enableCap(cap: Capability, args: number[] = []): void { this.b.enableCap(this.h.handle, capNumber(this.b, cap), 0, args); }

  allocateMemory(size: number): GuestMemory {
    const m = new KvmGuestMemory(this.b, size);
    this.memories.add(m);
    return m;
  }

  setUserMemoryRegion(r: MemoryRegion): void {
    let buffer: ArrayBuffer | null = null;
    if (r.memory) {
      if (!(r.memory instanceof KvmGuestMemory)) throw new InvalidArgumentError('memory must come from this backend\'s allocateMemory()');
      buffer = r.memory.buffer;
    }
    this.b.setUserMemoryRegion(this.h.handle, r.slot, r.flags ?? 0, r.guestPhysAddr, r.memorySize, buffer, r.memoryOffset ?? 0);
  }

  setTssAddr(address: number): void { this.b.setTssAddr(this.h.handle, address); }
  setIrqLine(irq: number, level: boolean): void { this.b.irqLineNoStatus(this.h.handle, irq, level ? 1 : 0); }
  armPreferredTarget(): ArmVcpuInit {
    if (!this.b.armPreferredTarget) throw new BackendError('EINVAL', 'KVM_ARM_PREFERRED_TARGET', `not an arm64 host (${this.arch})`);
    return this.b.armPreferredTarget(this.h.handle);
  }

  createVcpu(id: number): KvmVcpu {
    const v = new KvmVcpu(this.b, new Owned(this.b.createVcpu(this.h.handle, id), `vCPU ${id}`), id);
    this.vcpus.add(v);
    return v;
  }

  createEventFd(initial = 0): EventFd { return new KvmEventFd(this.b, initial); }

  setGsiRouting(routes: readonly GsiRoute[]): void {
    const c = this.b.constants;
    this.b.setGsiRouting(this.h.handle, routes.map((r) => r.type === 'irqchip'
      ? { gsi: r.gsi, type: 'irqchip' as const, irqchip: r.irqchip, pin: r.pin }
      : {
        gsi: r.gsi, type: 'msi' as const, addressLo: r.addressLo, addressHi: r.addressHi, data: r.data,
        flags: r.devid === undefined ? 0 : c.KVM_MSI_VALID_DEVID, devid: r.devid ?? 0,
      }));
  }

  irqfd(a: IrqfdArgs): void {
    const c = this.b.constants;
    this.b.irqfd(this.h.handle, eventfdHandle(a.eventfd), a.gsi, a.resample ? c.KVM_IRQFD_FLAG_RESAMPLE : 0,
      a.resample ? eventfdHandle(a.resample) : null);
  }

  irqfdDeassign(a: { eventfd: EventFd; gsi: number }): void {
    this.b.irqfd(this.h.handle, eventfdHandle(a.eventfd), a.gsi, this.b.constants.KVM_IRQFD_FLAG_DEASSIGN, null);
  }

  private ioeventfdCall(a: IoeventfdArgs, deassign: boolean): void {
    const c = this.b.constants;
    let flags = 0;
    if (a.space === 'pio') flags |= c.KVM_IOEVENTFD_FLAG_PIO;
    if (a.datamatch !== undefined) flags |= c.KVM_IOEVENTFD_FLAG_DATAMATCH;
    if (deassign) flags |= c.KVM_IOEVENTFD_FLAG_DEASSIGN;
    this.b.ioeventfd(this.h.handle, { addr: a.address, len: a.length, eventfd: eventfdHandle(a.eventfd), flags, datamatch: a.datamatch ?? 0n });
  }

  ioeventfd(a: IoeventfdArgs): void { this.ioeventfdCall(a, false); }
  ioeventfdDeassign(a: IoeventfdArgs): void { this.ioeventfdCall(a, true); }

  signalMsi(m: Msi): number {
    const c = this.b.constants;
    try {
      return this.b.signalMsi(this.h.handle, m.addressLo, m.addressHi, m.data, m.devid === undefined ? 0 : c.KVM_MSI_VALID_DEVID, m.devid ?? 0);
    } catch (e) {
      // x86 KVM's slow delivery path (no vCPU yet, or an APIC map disabled by a guest mixing APIC
      // modes) returns -1 when no LAPIC matched the destination: that is "accepted by none", as the
      // fast path's 0 is, and must not throw out of a device's delivery (a guest can cause it).
      if ((e as { code?: unknown }).code === 'EPERM') return 0;
      throw e;
    }
  }

  irqLine(irq: number, level: boolean): number { return this.b.irqLine(this.h.handle, irq, level ? 1 : 0); }

  private poller: PollerHandle | null = null;
  private readonly watches = new Map<number, () => void>();
  private readonly batches = new WatchBatches();
  /** Tokens of kickOnReadable's fds: Node reads those, so serving them needs the event loop. */
  private readonly fileTokens = new Set<number>();
  private nextToken = 1;

  /**
   * After a kick brought a vCPU on this thread out of KVM_RUN: serves the
   * watches the poller found readable now (pollerTake), instead of through a
   * trip around the event loop. True when there were some and all are
   * served; false when there was none (the kick came from elsewhere) or one
   * needs the event loop (a watched fd that Node reads).
   */
  private serveWatchesNow(): boolean {
    if (!this.poller) return false;
    const tokens = this.b.pollerTake(this.poller);
    if (tokens.length === 0) return false;
    const loop = tokens.some((t) => this.fileTokens.has(t));
    this.batches.run(tokens.map((t) => () => this.watches.get(t)?.()));
    return !loop;
  }

  onWatchesServed(fn: () => void): () => void { return this.batches.add(fn); }

  /** A batch end is queued for the check phase of this turn of the event loop. */
  private batchEndQueued = false;

  /**
   * A token the poller called back with, on the event loop: its watch runs
   * now. The batch is every token this wake-up of the event loop brings
   * (the addon calls back once per token, all in the poll phase), so its end
   * runs once, in the check phase that follows.
   */
  private serveToken(token: number): void {
    if (!this.batchEndQueued) {
      this.batchEndQueued = true;
      setImmediate(() => {
        this.batchEndQueued = false;
        if (!this.h.closed) this.batches.run([]);
      });
    }
    this.watches.get(token)?.();
  }

  watchEventFd(eventfd: EventFd, onReadable: () => void, kick: readonly Vcpu[] = []): () => void {
    if (!(eventfd instanceof KvmEventFd)) throw new InvalidArgumentError('eventfd must come from this backend');
    const kickHandles = vcpuHandles(kick);
    const efd = eventfd.handle;
    // The callback reaches this VM, which holds the poller: the addon holds callbacks weakly, so the
    // cycle stays collectable.
    this.poller ??= this.b.pollerCreate((token) => this.serveToken(token));
    const token = this.nextToken++;
    this.b.pollerAdd(this.poller, efd, token, kickHandles);
    this.watches.set(token, onReadable);
    const poller = this.poller;
    return () => {
      if (!this.watches.delete(token)) return;
      if (this.poller === poller && !poller.closed) this.b.pollerRemove(poller, efd);
    };
  }

  kickOnReadable(fd: number, kick: readonly Vcpu[]): () => void {
    const kickHandles = vcpuHandles(kick);
    const file = new Owned(this.b.dupFd(fd), `watch of fd ${fd}`);
    this.files.add(file);
    try {
      this.poller ??= this.b.pollerCreate((token) => this.serveToken(token));
      const token = this.nextToken++;
      this.b.pollerAdd(this.poller, file.handle, token, kickHandles);
      const poller = this.poller;
      // Nothing to do on this thread: the kick already brought the vCPU out, and Node reads the fd.
      this.watches.set(token, () => {});
      this.fileTokens.add(token);
      return () => {
        if (!this.watches.delete(token)) return;
        this.fileTokens.delete(token);
        if (this.poller === poller && !poller.closed && !file.closed) this.b.pollerRemove(poller, file.handle);
        file.close();
        this.files.delete(file);
      };
    } catch (e) {
      file.close();
      this.files.delete(file);
      throw e;
    }
  }

  /** The duplicated fds kickOnReadable watches; closed with the VM. */
  private readonly files = new Set<Owned<'file'>>();

  runVcpus(vcpus: readonly Vcpu[], server: ExitServer, opts: { threads?: boolean } = {}): Promise<DriveEnd> {
    return this.runsOnThreads(vcpus.length, opts) ? driveOnThreads(vcpus, server) : driveOnThisThread(vcpus[0]!, server, () => this.serveWatchesNow());
  }

  runVcpusSync(vcpus: readonly Vcpu[], server: ExitServer): DriveEnd {
    if (vcpus.length !== 1) {
      throw new InvalidArgumentError(`${vcpus.length} vCPUs on KVM each run on a thread of their own: use runAsync() / runVcpus()`);
    }
    return driveOnThisThreadSync(vcpus[0]!, server);
  }

  runsOnThreads(count: number, opts: { threads?: boolean } = {}): boolean { return count > 1 || opts.threads === true; }

  private readonly ringers = new Set<Ringer>();

  ringEventFds(eventfds: readonly EventFd[], opts: RingerOptions): Ringer {
    checkRingerOptions(eventfds, opts);
    const dups = eventfds.map((e) => {
      if (!(e instanceof KvmEventFd) || e.closed) throw new InvalidArgumentError('ringEventFds takes open eventfds of this backend');
      return new Owned(this.b.dupFd(e.fd), 'ringer eventfd');
    });
    const r = threadRinger(dups.map((d) => d.handle.fd), opts, () => { for (const d of dups) d.close(); });
    this.ringers.add(r);
    void r.finished.then(() => this.ringers.delete(r));
    return r;
  }

  /**
   * Closes the poller, every vCPU, the VM fd and the memory this VM created.
   * Idempotent. The addon keeps the memory mapped for as long as the kernel
   * VM may still reach it (a vCPU on its way out of KVM_RUN on its thread).
   */
  close(): void {
    for (const r of this.ringers) r.stop();
    this.ringers.clear();
    if (this.poller) {
      this.poller.close();
      this.poller = null;
      this.watches.clear();
    }
    for (const f of this.files) f.close();
    this.files.clear();
    for (const v of this.vcpus) v.close();
    this.vcpus.clear();
    this.h.close();
    for (const m of this.memories) m.release();
    this.memories.clear();
  }
}

export class KvmVcpu implements Vcpu {
  readonly runView: KvmRunView;
  /** The native handle, kept apart from `h` for the exit path (one property load, no checks: the addon checks). */
  private readonly native: VcpuHandle;
  /** KVM_RUN on this vCPU, the handle checked once (NativeBinding.vcpuRunner). */
  private readonly runNative: () => number;

  constructor(private readonly b: NativeBinding, private readonly h: Owned<'vcpu'>, readonly id: number) {
    this.native = h.handle;
    this.runNative = b.vcpuRunner(this.native);
    this.runView = new KvmRunView(b.vcpuRunBuffer(this.native), b.layout, b.constants);
  }

  get fd(): number { return this.h.handle.fd; }
  /** The native handle (for the addon's calls). */
  get handle(): VcpuHandle { return this.h.handle; }
  readonly instructionsRetired = undefined;

  run(): VcpuExit {
    if (this.h.closed) throw new ClosedError(`vCPU ${this.id}`);
    if (this.thread) throw new InvalidArgumentError(`vCPU ${this.id} runs on its own thread: use runOnThread()`);
    return this.decode(this.runNative());
  }

  private thread: VcpuThread | null = null;

  async runOnThread(): Promise<VcpuExit> {
    if (this.h.closed) throw new ClosedError(`vCPU ${this.id}`);
    this.thread ??= new VcpuThread(this.b, this.native, `vcpu${this.id}`);
    let r: number;
    try {
      r = await this.thread.run();
    } catch (e) {
      // Closed meanwhile, before its thread entered KVM_RUN (the addon then refuses with EBADF).
      if (this.h.closed) return { kind: 'intr' };
      throw e;
    }
    // Closed meanwhile (the close kicked it out): kvm_run is gone, and there is nothing to serve.
    if (this.h.closed) return { kind: 'intr' };
    return this.decode(r);
  }

  private decode(r: number): VcpuExit {
    if (r < 0) {
      // immediate_exit set: a kick did its job; clear it so the next run enters the guest. Clear: KVM
      // returned on its own (arm64's user-IRQ exit when a timer level changes) or a signal came.
      const kicked = this.runView.immediateExit !== 0;
      this.runView.immediateExit = 0;
      return kicked ? INTR_KICKED : INTR_NOT_KICKED;
    }
    return this.runView.decode();
  }

  kick(): void { if (!this.h.closed) this.b.kick(this.native); }
  armVcpuInit(init: ArmVcpuInit): void {
    if (!this.b.armVcpuInit) throw new BackendError('EINVAL', 'KVM_ARM_VCPU_INIT', 'not an arm64 host');
    this.b.armVcpuInit(this.h.handle, init.target, init.features);
  }
  getOneReg(id: bigint): bigint { return this.b.getOneReg(this.h.handle, id); }
  setOneReg(id: bigint, value: bigint): void { this.b.setOneReg(this.h.handle, id, value); }
  getRegList(): bigint[] { return this.b.getRegList(this.h.handle); }
  get deviceIrqLevel(): number { return this.runView.deviceIrqLevel; }
  getRegs(): X86Regs { return this.b.getRegs(this.h.handle); }
  setRegs(regs: X86Regs): void { this.b.setRegs(this.h.handle, regs); }
  getSregs(): X86Sregs { return this.b.getSregs(this.h.handle); }
  setSregs(sregs: X86Sregs): void { this.b.setSregs(this.h.handle, sregs); }
  setCpuid(entries: readonly CpuidEntry[]): void { this.b.setCpuid2(this.h.handle, [...entries]); }
  interrupt(vector: number): void { this.b.interrupt(this.h.handle, vector); }
  setRequestInterruptWindow(on: boolean): void { this.runView.requestInterruptWindow = on ? 1 : 0; }
  get readyForInterruptInjection(): boolean { return this.runView.readyForInterruptInjection; }

  getMpState(): MpState {
    const n = this.b.getMpState(this.h.handle);
    const c = this.b.constants;
    const byNumber: Record<number, MpState> = {
      [c.KVM_MP_STATE_RUNNABLE]: 'runnable', [c.KVM_MP_STATE_UNINITIALIZED]: 'uninitialized',
      [c.KVM_MP_STATE_INIT_RECEIVED]: 'init-received', [c.KVM_MP_STATE_HALTED]: 'halted',
      [c.KVM_MP_STATE_SIPI_RECEIVED]: 'sipi-received', [c.KVM_MP_STATE_STOPPED]: 'stopped',
    };
    const s = byNumber[n];
    if (!s) throw new InvalidArgumentError(`KVM_GET_MP_STATE returned unknown state ${n}`);
    return s;
  }

  setMpState(state: MpState): void {
    if (!MP_STATES.includes(state)) throw new InvalidArgumentError(`unknown MP state ${String(state)}`);
    this.b.setMpState(this.h.handle, mpStateNumber(this.b, state));
  }

  /**
   * Closes the vCPU: its thread, if it has one, is kicked out of KVM_RUN and
   * joined first; then the kvm_run buffer is detached and unmapped and the fd
   * closed.
   */
  close(): void {
    if (this.h.closed) return;
    this.thread?.stop();
    this.h.close();
  }
}

/** The native handle of one of this backend's eventfds. */
function eventfdHandle(e: EventFd): EventfdHandle {
  if (!(e instanceof KvmEventFd)) throw new InvalidArgumentError('eventfd must come from this backend');
  return e.handle;
}

/** The native handles of this backend's vCPUs (for the poller's kick lists). */
function vcpuHandles(vcpus: readonly Vcpu[]): VcpuHandle[] {
  return vcpus.map((v) => {
    if (!(v instanceof KvmVcpu)) throw new InvalidArgumentError('kick vCPUs must come from this backend');
    return v.handle;
  });
}

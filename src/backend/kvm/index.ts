/**
 * The `kvm` backend: the backend contract over the native addon.
 * Thin: argument shaping, fd lifetime and exit decoding; no policy.
 */
import { bindingPath, loadBinding, type NativeBinding, type PollerHandle } from '../../native/binding.js';
import { VcpuThread } from './vcpu-thread.js';
import { ClosedError, InvalidArgumentError } from '../../errors.js';
import { KvmRunView } from './exits.js';
import type {
  Capability, CpuidEntry, EventFd, GsiRoute, GuestMemory, Hypervisor, IoeventfdArgs, IrqfdArgs,
  MemoryRegion, MpState, Msi, Vcpu, VcpuExit, Vm, X86Regs, X86Sregs,
} from '../types.js';

const MP_STATES: MpState[] = ['runnable', 'uninitialized', 'init-received', 'halted', 'sipi-received'];

function mpStateNumber(b: NativeBinding, s: MpState): number {
  const c = b.constants;
  switch (s) {
    case 'runnable': return c.KVM_MP_STATE_RUNNABLE;
    case 'uninitialized': return c.KVM_MP_STATE_UNINITIALIZED;
    case 'init-received': return c.KVM_MP_STATE_INIT_RECEIVED;
    case 'halted': return c.KVM_MP_STATE_HALTED;
    case 'sipi-received': return c.KVM_MP_STATE_SIPI_RECEIVED;
  }
}

function capNumber(b: NativeBinding, cap: Capability): number {
  const n = (b.constants as unknown as Record<string, number | undefined>)[cap];
  if (n === undefined) throw new InvalidArgumentError(`unknown capability ${cap}`);
  return n;
}

/** A file descriptor with an explicit, idempotent close. */
class Fd {
  private value: number;
  constructor(private readonly b: NativeBinding, fd: number, private readonly what: string) { this.value = fd; }
  get fd(): number {
    if (this.value < 0) throw new ClosedError(this.what);
    return this.value;
  }
  get closed(): boolean { return this.value < 0; }
  close(): void {
    if (this.value >= 0) {
      const fd = this.value;
      this.value = -1;
      this.b.close(fd);
    }
  }
}

export class KvmEventFd implements EventFd {
  private readonly h: Fd;
  constructor(private readonly b: NativeBinding, initial = 0) {
    const c = b.constants;
    this.h = new Fd(b, b.eventfd(initial, c.EFD_CLOEXEC | c.EFD_NONBLOCK), 'eventfd');
  }
  get fd(): number { return this.h.fd; }
  get closed(): boolean { return this.h.closed; }
  write(value = 1): void { this.b.eventfdWrite(this.h.fd, value); }
  read(): bigint | null { return this.b.eventfdRead(this.h.fd); }
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
  close(): void {
    if (this.open) {
      this.open = false;
      this.b.munmap(this.buffer);
    }
  }
}

export class KvmHypervisor implements Hypervisor {
  readonly kind = 'kvm' as const;
  private readonly h: Fd;
  readonly binding: NativeBinding;
  readonly vcpuMmapSize: number;

  constructor(path?: string) {
    this.binding = loadBinding();
    this.h = new Fd(this.binding, this.binding.openKvm(path), '/dev/kvm');
    try {
      const v = this.binding.getApiVersion(this.h.fd);
      if (v !== this.binding.constants.KVM_API_VERSION) {
        throw new InvalidArgumentError(`KVM API version ${v}, expected ${this.binding.constants.KVM_API_VERSION}`);
      }
      this.vcpuMmapSize = this.binding.getVcpuMmapSize(this.h.fd);
    } catch (e) {
      this.h.close();
      throw e;
    }
  }

  checkExtension(cap: Capability): number { return this.binding.checkExtension(this.h.fd, capNumber(this.binding, cap)); }
  supportedCpuid(): CpuidEntry[] { return this.binding.getSupportedCpuid(this.h.fd); }
  createVm(): KvmVm { return new KvmVm(this, this.binding.createVm(this.h.fd, 0)); }
  close(): void { this.h.close(); }
}

export class KvmVm implements Vm {
  readonly kind = 'kvm' as const;
  private readonly h: Fd;
  private readonly b: NativeBinding;
  private readonly vcpus = new Set<KvmVcpu>();
  private readonly memories = new Set<KvmGuestMemory>();

  constructor(readonly hypervisor: KvmHypervisor, fd: number) {
    this.b = hypervisor.binding;
    this.h = new Fd(this.b, fd, 'VM');
  }

  get fd(): number { return this.h.fd; }
  checkExtension(cap: Capability): number { return this.b.checkExtension(this.h.fd, capNumber(this.b, cap)); }
  enableCap(cap: Capability, args: number[] = []): void { this.b.enableCap(this.h.fd, capNumber(this.b, cap), 0, args); }

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
    this.b.setUserMemoryRegion(this.h.fd, r.slot, r.flags ?? 0, r.guestPhysAddr, r.memorySize, buffer, r.memoryOffset ?? 0);
  }

  setTssAddr(address: number): void { this.b.setTssAddr(this.h.fd, address); }

  createVcpu(id: number): KvmVcpu {
    const v = new KvmVcpu(this.b, this.b.createVcpu(this.h.fd, id), id, this.hypervisor.vcpuMmapSize);
    this.vcpus.add(v);
    return v;
  }

  createEventFd(initial = 0): EventFd { return new KvmEventFd(this.b, initial); }

  setGsiRouting(routes: readonly GsiRoute[]): void {
    const c = this.b.constants;
    this.b.setGsiRouting(this.h.fd, routes.map((r) => r.type === 'irqchip'
      ? { gsi: r.gsi, type: 'irqchip' as const, irqchip: r.irqchip, pin: r.pin }
      : {
        gsi: r.gsi, type: 'msi' as const, addressLo: r.addressLo, addressHi: r.addressHi, data: r.data,
        flags: r.devid === undefined ? 0 : c.KVM_MSI_VALID_DEVID, devid: r.devid ?? 0,
      }));
  }

  irqfd(a: IrqfdArgs): void {
    const c = this.b.constants;
    this.b.irqfd(this.h.fd, a.eventfd.fd, a.gsi, a.resample ? c.KVM_IRQFD_FLAG_RESAMPLE : 0, a.resample ? a.resample.fd : 0);
  }

  irqfdDeassign(a: { eventfd: EventFd; gsi: number }): void {
    this.b.irqfd(this.h.fd, a.eventfd.fd, a.gsi, this.b.constants.KVM_IRQFD_FLAG_DEASSIGN, 0);
  }

  private ioeventfdCall(a: IoeventfdArgs, deassign: boolean): void {
    const c = this.b.constants;
    let flags = 0;
    if (a.space === 'pio') flags |= c.KVM_IOEVENTFD_FLAG_PIO;
    if (a.datamatch !== undefined) flags |= c.KVM_IOEVENTFD_FLAG_DATAMATCH;
    if (deassign) flags |= c.KVM_IOEVENTFD_FLAG_DEASSIGN;
    this.b.ioeventfd(this.h.fd, { addr: a.address, len: a.length, fd: a.eventfd.fd, flags, datamatch: a.datamatch ?? 0n });
  }

  ioeventfd(a: IoeventfdArgs): void { this.ioeventfdCall(a, false); }
  ioeventfdDeassign(a: IoeventfdArgs): void { this.ioeventfdCall(a, true); }

  signalMsi(m: Msi): number {
    const c = this.b.constants;
    return this.b.signalMsi(this.h.fd, m.addressLo, m.addressHi, m.data, m.devid === undefined ? 0 : c.KVM_MSI_VALID_DEVID, m.devid ?? 0);
  }

  irqLine(irq: number, level: boolean): number { return this.b.irqLine(this.h.fd, irq, level ? 1 : 0); }

  private poller: PollerHandle | null = null;
  private readonly watches = new Map<number, () => void>();
  private nextToken = 1;

  watchEventFd(eventfd: EventFd, onReadable: () => void, kick: readonly Vcpu[] = []): () => void {
    if (!(eventfd instanceof KvmEventFd)) throw new InvalidArgumentError('eventfd must come from this backend');
    this.poller ??= this.b.pollerCreate((token) => this.watches.get(token)?.());
    const token = this.nextToken++;
    const fd = eventfd.fd;
    const kickFds = kick.map((v) => {
      if (!(v instanceof KvmVcpu)) throw new InvalidArgumentError('kick vCPUs must come from this backend');
      return v.fd;
    });
    this.watches.set(token, onReadable);
    this.b.pollerAdd(this.poller, fd, token, kickFds);
    const poller = this.poller;
    return () => {
      if (!this.watches.delete(token)) return;
      if (this.poller === poller && !eventfd.closed) this.b.pollerRemove(poller, fd);
    };
  }

  /** Closes every vCPU and memory this VM created, then the VM fd. Idempotent. */
  close(): void {
    if (this.poller) {
      this.b.pollerClose(this.poller);
      this.poller = null;
      this.watches.clear();
    }
    for (const v of this.vcpus) v.close();
    this.vcpus.clear();
    this.h.close();
    for (const m of this.memories) m.close();
    this.memories.clear();
  }
}

export class KvmVcpu implements Vcpu {
  private readonly h: Fd;
  private readonly runBuffer: ArrayBuffer;
  readonly runView: KvmRunView;
  private readonly vcpuFd: number;

  constructor(private readonly b: NativeBinding, fd: number, readonly id: number, mmapSize: number) {
    this.h = new Fd(b, fd, `vCPU ${id}`);
    this.vcpuFd = fd;
    try {
      this.runBuffer = b.mmapVcpu(fd, mmapSize);
    } catch (e) {
      this.h.close();
      throw e;
    }
    this.runView = new KvmRunView(this.runBuffer, b.layout, b.constants);
  }

  get fd(): number { return this.h.fd; }
  readonly instructionsRetired = undefined;

  run(): VcpuExit {
    if (this.h.closed) throw new ClosedError(`vCPU ${this.id}`);
    if (this.thread) throw new InvalidArgumentError(`vCPU ${this.id} runs on its own thread: use runOnThread()`);
    return this.decode(this.b.run(this.vcpuFd));
  }

  private thread: VcpuThread | null = null;

  async runOnThread(): Promise<VcpuExit> {
    if (this.h.closed) throw new ClosedError(`vCPU ${this.id}`);
    if (!this.thread) {
      const addon = bindingPath();
      if (!addon) throw new InvalidArgumentError('the native addon is not loaded');
      this.thread = new VcpuThread(addon, this.vcpuFd, `vcpu${this.id}`);
    }
    const r = await this.thread.run();
    return this.decode(r);
  }

  private decode(r: number): VcpuExit {
    if (r < 0) {
      // A kick: immediate_exit did its job; clear it so the next run enters the guest.
      this.runView.immediateExit = 0;
      return { kind: 'intr' };
    }
    return this.runView.decode();
  }

  kick(): void { if (!this.h.closed) this.b.kick(this.vcpuFd); }
  getRegs(): X86Regs { return this.b.getRegs(this.h.fd); }
  setRegs(regs: X86Regs): void { this.b.setRegs(this.h.fd, regs); }
  getSregs(): X86Sregs { return this.b.getSregs(this.h.fd); }
  setSregs(sregs: X86Sregs): void { this.b.setSregs(this.h.fd, sregs); }
  setCpuid(entries: readonly CpuidEntry[]): void { this.b.setCpuid2(this.h.fd, [...entries]); }
  interrupt(vector: number): void { this.b.interrupt(this.h.fd, vector); }
  setRequestInterruptWindow(on: boolean): void { this.runView.requestInterruptWindow = on ? 1 : 0; }
  get readyForInterruptInjection(): boolean { return this.runView.readyForInterruptInjection; }

  getMpState(): MpState {
    const n = this.b.getMpState(this.h.fd);
    const c = this.b.constants;
    const byNumber: Record<number, MpState> = {
      [c.KVM_MP_STATE_RUNNABLE]: 'runnable', [c.KVM_MP_STATE_UNINITIALIZED]: 'uninitialized',
      [c.KVM_MP_STATE_INIT_RECEIVED]: 'init-received', [c.KVM_MP_STATE_HALTED]: 'halted',
      [c.KVM_MP_STATE_SIPI_RECEIVED]: 'sipi-received',
    };
    const s = byNumber[n];
    if (!s) throw new InvalidArgumentError(`KVM_GET_MP_STATE returned unknown state ${n}`);
    return s;
  }

  setMpState(state: MpState): void {
    if (!MP_STATES.includes(state)) throw new InvalidArgumentError(`unknown MP state ${String(state)}`);
    this.b.setMpState(this.h.fd, mpStateNumber(this.b, state));
  }

  close(): void {
    if (this.h.closed || this.closing) return;
    const finish = (): void => {
      this.b.munmap(this.runBuffer);
      this.h.close();
    };
    if (this.thread) {
      // The fd is closed only once its thread can no longer enter KVM_RUN with that number.
      this.closing = true;
      this.thread.stop(() => this.b.kick(this.vcpuFd), finish);
      return;
    }
    finish();
  }

  private closing = false;
}

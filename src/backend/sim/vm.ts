/**
 * The sim's VM: the kernel-side bookkeeping of a KVM VM in TypeScript —
 * memory slots, the GSI routing table, irqfds and ioeventfds — with the
 * validation errors the kernel gives (errno names and the ioctl in
 * `syscall`). Interrupt delivery goes through `SimVm.irqchip`, the
 * LAPICs of split-irqchip mode, once KVM_CAP_SPLIT_IRQCHIP is enabled.
 */
import { BackendError, InvalidArgumentError, MappingInUseError } from '../../errors.js';
import type {
  Arch, ArmVcpuInit, Capability, EventFd, GsiRoute, GuestMemory, IoeventfdArgs, IrqfdArgs, MemoryRegion, Msi, Vcpu, Vm,
} from '../types.js';
import { SimEventFd } from './eventfd.js';
import { SimVcpu } from './vcpu.js';
import { SimA64Vcpu, SIM_ARM_TARGET } from './a64-vcpu.js';
import { decodeArmIrq, KVM_ARM_IRQ_TYPE_CPU, KVM_ARM_IRQ_CPU_FIQ } from '../arm64.js';
import { simCapability } from './caps.js';
import { SimSplitIrqchip } from './split-irqchip.js';
import { driveRoundRobin, driveRoundRobinSync, type DriveEnd, type ExitServer } from '../driver.js';
import { checkRingerOptions, timerRinger, type Ringer, type RingerOptions } from '../ringer.js';
import { WatchBatches } from '../watch-batches.js';

export const PAGE_SIZE = 4096;
/** KVM_USER_MEM_SLOTS on x86. */
export const MAX_MEMSLOTS = 32764;
/** KVM_MAX_IRQ_ROUTES */
export const MAX_IRQ_ROUTES = 4096;
const KVM_MEM_LOG_DIRTY_PAGES = 1;
const KVM_MEM_READONLY = 2;

export class SimGuestMemory implements GuestMemory {
  readonly bytes: Uint8Array;
  private open = true;
  /** Memory slots that point into this allocation (SimVm keeps the count, as the addon does for KVM). */
  slotRefs = 0;
  constructor(readonly size: number) {
    this.bytes = new Uint8Array(new ArrayBuffer(size));
  }
  get isOpen(): boolean { return this.open; }
  /** As the addon's munmap: refused while a memory slot points into the allocation. */
  close(): void {
    if (!this.open) return;
    if (this.slotRefs > 0) {
      throw new MappingInUseError(`munmap refused: ${this.slotRefs} memory slot(s) still point into this memory; delete the slot (memorySize 0) or close the VM first`);
    }
    this.open = false;
  }
}

export interface MemSlot {
  slot: number;
  flags: number;
  gpa: number;
  size: number;
  memory: SimGuestMemory;
  offset: number;
  /** The slot's bytes (a view into `memory`). */
  bytes: Uint8Array;
}

interface Ioeventfd {
  eventfd: SimEventFd;
  space: 'pio' | 'mmio';
  address: number;
  length: number;
  datamatch: bigint | undefined;
}

export class SimVm implements Vm {
  readonly kind = 'sim' as const;
  private readonly slots = new Map<number, MemSlot>();
  private readonly vcpus: (SimVcpu | SimA64Vcpu)[] = [];

  /** x86_64: the 32-bit interpreter and the split irqchip's LAPICs; arm64: the A64 interpreter, no vGIC. */
  constructor(readonly arch: Arch = 'x86_64') {}
  private routes: GsiRoute[] = [];
  private readonly irqfds = new Map<SimEventFd, { gsi: number; waiter: (fd: SimEventFd) => void }>();
  private readonly ioeventfds: Ioeventfd[] = [];
  private readonly memories = new Set<SimGuestMemory>();
  private isClosed = false;
  /** KVM_CAP_SPLIT_IRQCHIP's args[0] once enabled (the number of IOAPIC GSIs). */
  splitIrqchipPins: number | undefined;
  /** The in-kernel half of the split irqchip (the LAPICs), once enabled. */
  irqchip: SimSplitIrqchip | null = null;
  /** Bumped on every memory-slot change so vCPUs refresh their memory map. */
  memoryGeneration = 0;

  private check(syscall: string): void {
    if (this.isClosed) throw new BackendError('EBADF', syscall, 'VM is closed');
  }

  checkExtension(cap: Capability): number { return simCapability(cap, this.arch); }

  enableCap(cap: Capability, args: number[] = []): void {
    this.check('KVM_ENABLE_CAP');
    if (cap !== 'KVM_CAP_SPLIT_IRQCHIP' || this.arch !== 'x86_64') {
      throw new BackendError('EINVAL', 'KVM_ENABLE_CAP', `capability ${cap} cannot be enabled on the sim's VM`);
    }
    const pins = args[0] ?? 0;
    // The kernel's order of checks: pin count, existing irqchip, existing vCPUs (both EEXIST).
    if (pins > MAX_IRQ_ROUTES) throw new BackendError('EINVAL', 'KVM_ENABLE_CAP', `${pins} IOAPIC pins exceed ${MAX_IRQ_ROUTES}`);
    if (this.splitIrqchipPins !== undefined) throw new BackendError('EEXIST', 'KVM_ENABLE_CAP', 'an irqchip already exists');
    if (this.vcpus.length > 0) throw new BackendError('EEXIST', 'KVM_ENABLE_CAP', 'split irqchip must be enabled before any vCPU is created');
    this.splitIrqchipPins = pins;
    this.irqchip = new SimSplitIrqchip({ ioapicPins: pins, gsiRoutes: () => this.routes });
  }

  allocateMemory(size: number): GuestMemory {
    if (!Number.isSafeInteger(size) || size <= 0) throw new InvalidArgumentError(`memory size must be a positive integer, got ${size}`);
    const m = new SimGuestMemory(size);
    this.memories.add(m);
    return m;
  }

  setUserMemoryRegion(r: MemoryRegion): void {
    const S = 'KVM_SET_USER_MEMORY_REGION';
    this.check(S);
    const flags = r.flags ?? 0;
    const offset = r.memoryOffset ?? 0;
    if (flags & ~(KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY)) throw new BackendError('EINVAL', S, `unknown flags 0x${flags.toString(16)}`);
    if (!Number.isInteger(r.slot) || r.slot < 0 || r.slot >= MAX_MEMSLOTS) throw new BackendError('EINVAL', S, `slot ${r.slot} out of range`);
    if (r.memorySize % PAGE_SIZE || r.guestPhysAddr % PAGE_SIZE || offset % PAGE_SIZE) {
      throw new BackendError('EINVAL', S, 'guest_phys_addr, memory_size and userspace_addr must be page aligned');
    }
    if (r.guestPhysAddr + r.memorySize > 2 ** 52) throw new BackendError('EINVAL', S, 'region beyond the guest physical address space');
    const old = this.slots.get(r.slot);
    if (r.memorySize === 0) {
      if (!old) throw new BackendError('EINVAL', S, `slot ${r.slot} does not exist`);
      this.slots.delete(r.slot);
      old.memory.slotRefs--;
      this.memoryGeneration++;
      return;
    }
    if (!(r.memory instanceof SimGuestMemory) || !r.memory.isOpen) {
      throw new InvalidArgumentError('memory must be open memory from this backend\'s allocateMemory()');
    }
    if (offset + r.memorySize > r.memory.size) {
      throw new InvalidArgumentError(`region [${offset}, ${offset + r.memorySize}) exceeds the ${r.memory.size}-byte allocation`);
    }
    if (old) {
      if (old.memory !== r.memory || old.offset !== offset || old.size !== r.memorySize || ((old.flags ^ flags) & KVM_MEM_READONLY)) {
        throw new BackendError('EINVAL', S, `slot ${r.slot} exists: only its flags or guest address may change`);
      }
    }
    for (const s of this.slots.values()) {
      if (s.slot === r.slot) continue;
      if (r.guestPhysAddr < s.gpa + s.size && s.gpa < r.guestPhysAddr + r.memorySize) {
        throw new BackendError('EEXIST', S, `region overlaps slot ${s.slot}`);
      }
    }
    if (old) old.memory.slotRefs--;
    r.memory.slotRefs++;
    this.slots.set(r.slot, {
      slot: r.slot, flags, gpa: r.guestPhysAddr, size: r.memorySize, memory: r.memory, offset,
      bytes: r.memory.bytes.subarray(offset, offset + r.memorySize),
    });
    this.memoryGeneration++;
  }

  /** The memory slots, for the vCPUs' memory maps. */
  memorySlots(): MemSlot[] { return [...this.slots.values()].sort((a, b) => a.gpa - b.gpa); }

  setTssAddr(address: number): void {
    this.check('KVM_SET_TSS_ADDR');
    if (address > 0xffff_ffff - 3 * PAGE_SIZE) throw new BackendError('EINVAL', 'KVM_SET_TSS_ADDR', 'TSS address beyond 4 GiB');
  }

  /** vCPUs created and not closed (kept as a count: every run() of every vCPU reads it). */
  liveVcpus = 0;

  /** A vCPU of this VM was closed. */
  vcpuClosed(): void { this.liveVcpus--; }

  createVcpu(id: number): SimVcpu | SimA64Vcpu {
    const S = 'KVM_CREATE_VCPU';
    this.check(S);
    if (!Number.isInteger(id) || id < 0 || id >= simCapability('KVM_CAP_MAX_VCPUS', this.arch)) throw new BackendError('EINVAL', S, `vCPU id ${id} out of range`);
    if (this.vcpus.some((v) => v.id === id && !v.closed)) throw new BackendError('EEXIST', S, `vCPU ${id} exists`);
    const v = this.arch === 'arm64' ? new SimA64Vcpu(this, id, this.vcpus.length) : new SimVcpu(this, id);
    this.vcpus.push(v);
    this.liveVcpus++;
    return v;
  }

  createEventFd(initial = 0): EventFd { return new SimEventFd(initial); }

  setGsiRouting(routes: readonly GsiRoute[]): void {
    const S = 'KVM_SET_GSI_ROUTING';
    this.check(S);
    if (this.splitIrqchipPins === undefined) throw new BackendError('EINVAL', S, 'no in-kernel irqchip');
    if (routes.length > MAX_IRQ_ROUTES) throw new BackendError('EINVAL', S, `${routes.length} entries exceed ${MAX_IRQ_ROUTES}`);
    const seen = new Set<number>();
    for (const r of routes) {
      if (!Number.isInteger(r.gsi) || r.gsi < 0 || r.gsi >= MAX_IRQ_ROUTES) throw new BackendError('EINVAL', S, `GSI ${r.gsi} out of range`);
      if (r.type === 'irqchip') throw new BackendError('EINVAL', S, 'irqchip routes are refused in split-irqchip mode');
      if (r.devid !== undefined) throw new BackendError('EINVAL', S, 'x86 MSI routes take no device ID');
      if (seen.has(r.gsi)) throw new BackendError('EINVAL', S, `GSI ${r.gsi} has two MSI routes`);
      seen.add(r.gsi);
    }
    this.routes = routes.map((r) => ({ ...r }));
  }

  /** The current routing table (a copy). */
  gsiRoutes(): GsiRoute[] { return this.routes.map((r) => ({ ...r })); }

  private deliverGsi(gsi: number): void {
    if (!this.irqchip) return;
    for (const r of this.routes) {
      if (r.gsi === gsi && r.type === 'msi') this.irqchip.deliverMsi(r);
    }
  }

  irqfd(a: IrqfdArgs): void {
    const S = 'KVM_IRQFD';
    this.check(S);
    const fd = a.eventfd;
    if (!(fd instanceof SimEventFd) || fd.closed) throw new BackendError('EBADF', S, 'not an open eventfd');
    if (this.splitIrqchipPins === undefined) throw new BackendError('EINVAL', S, 'no in-kernel irqchip');
    if (a.resample) throw new BackendError('EINVAL', S, 'resample irqfds need the full in-kernel irqchip, not split mode');
    if (this.irqfds.has(fd)) throw new BackendError('EBUSY', S, `eventfd ${fd.fd} already has an irqfd`);
    const gsi = a.gsi;
    const waiter = (e: SimEventFd): void => {
      if (e.consume() > 0n) this.deliverGsi(gsi);
    };
    this.irqfds.set(fd, { gsi, waiter });
    fd.waiters.add(waiter);
    // The kernel polls the eventfd at assignment: a pending count fires at once.
    if (fd.peek() > 0n) waiter(fd);
  }

  irqfdDeassign(a: { eventfd: EventFd; gsi: number }): void {
    const S = 'KVM_IRQFD';
    this.check(S);
    const fd = a.eventfd;
    if (!(fd instanceof SimEventFd) || fd.closed) throw new BackendError('EBADF', S, 'not an open eventfd');
    const entry = this.irqfds.get(fd);
    // The kernel deassigns every irqfd matching (eventfd, gsi) and returns 0 even when none does.
    if (entry && entry.gsi === a.gsi) {
      fd.waiters.delete(entry.waiter);
      this.irqfds.delete(fd);
    }
  }

  private ioeventfdCheck(a: IoeventfdArgs): SimEventFd {
    const S = 'KVM_IOEVENTFD';
    this.check(S);
    if (!(a.eventfd instanceof SimEventFd) || a.eventfd.closed) throw new BackendError('EBADF', S, 'not an open eventfd');
    if (![0, 1, 2, 4, 8].includes(a.length)) throw new BackendError('EINVAL', S, `length ${a.length}`);
    if (a.length === 0 && (a.space === 'pio' || a.datamatch !== undefined)) {
      throw new BackendError('EINVAL', S, 'length 0 is for MMIO without datamatch only');
    }
    if (a.address + a.length < a.address || (a.space === 'pio' && a.address + a.length > 0x10000)) {
      throw new BackendError('EINVAL', S, 'address range wraps');
    }
    return a.eventfd;
  }

  private sameIoeventfd(e: Ioeventfd, a: IoeventfdArgs): boolean {
    return e.space === a.space && e.address === a.address && e.length === a.length
      && (e.datamatch === undefined || a.datamatch === undefined || e.datamatch === a.datamatch);
  }

  ioeventfd(a: IoeventfdArgs): void {
    const fd = this.ioeventfdCheck(a);
    if (this.ioeventfds.some((e) => this.sameIoeventfd(e, a))) throw new BackendError('EEXIST', 'KVM_IOEVENTFD', 'an ioeventfd already covers this access');
    this.ioeventfds.push({ eventfd: fd, space: a.space, address: a.address, length: a.length, datamatch: a.datamatch });
  }

  ioeventfdDeassign(a: IoeventfdArgs): void {
    const fd = this.ioeventfdCheck(a);
    const i = this.ioeventfds.findIndex((e) => e.eventfd === fd && e.space === a.space && e.address === a.address
      && e.length === a.length && e.datamatch === a.datamatch);
    if (i < 0) throw new BackendError('ENOENT', 'KVM_IOEVENTFD', 'no such ioeventfd');
    this.ioeventfds.splice(i, 1);
  }

  /** True (and the eventfd signalled) when a guest write is claimed by an ioeventfd. */
  matchIoeventfd(space: 'pio' | 'mmio', address: number, data: Uint8Array): boolean {
    if (this.ioeventfds.length === 0) return false;
    for (const e of this.ioeventfds) {
      if (e.space !== space || e.address !== address) continue;
      if (e.length !== 0 && e.length !== data.length) continue;
      if (e.datamatch !== undefined) {
        let v = 0n;
        for (let i = data.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[i]!);
        if (v !== e.datamatch) continue;
      }
      e.eventfd.write(1);
      return true;
    }
    return false;
  }

  signalMsi(m: Msi): number {
    const S = 'KVM_SIGNAL_MSI';
    this.check(S);
    for (const [k, v] of [['addressLo', m.addressLo], ['addressHi', m.addressHi], ['data', m.data]] as const) {
      if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw new InvalidArgumentError(`${k} must be an integer in 0..2^32-1`);
    }
    if (this.splitIrqchipPins === undefined) throw new BackendError('EINVAL', S, 'no in-kernel irqchip');
    return this.irqchip ? this.irqchip.deliverMsi(m) : 0;
  }

  irqLine(irq: number, level: boolean): number {
    const S = 'KVM_IRQ_LINE_STATUS';
    this.check(S);
    if (this.splitIrqchipPins === undefined) throw new BackendError('ENXIO', S, 'no in-kernel irqchip');
    if (!level) return 0;
    let delivered = -1;
    for (const r of this.routes) {
      if (r.gsi === irq && r.type === 'msi') delivered = Math.max(delivered, 0) + (this.irqchip ? this.irqchip.deliverMsi(r) : 0);
    }
    return delivered;
  }

  setIrqLine(irq: number, level: boolean): void {
    const S = 'KVM_IRQ_LINE';
    this.check(S);
    if (this.arch === 'x86_64') {
      this.irqLine(irq, level);
      return;
    }
    // arm64 without a vGIC: only a vCPU's own IRQ/FIQ input (kvm_vm_ioctl_irq_line's checks and errnos).
    const { type, vcpu, num } = decodeArmIrq(irq);
    if (type !== KVM_ARM_IRQ_TYPE_CPU) throw new BackendError('ENXIO', S, `irq type ${type} needs an in-kernel GIC`);
    const target = this.vcpus.find((v): v is SimA64Vcpu => v instanceof SimA64Vcpu && v.index === vcpu && !v.closed);
    if (!target) throw new BackendError('EINVAL', S, `no vCPU with index ${vcpu}`);
    if (num > KVM_ARM_IRQ_CPU_FIQ) throw new BackendError('EINVAL', S, `CPU irq number ${num}`);
    target.setInputLine(num === KVM_ARM_IRQ_CPU_FIQ ? 'fiq' : 'irq', level);
  }

  armPreferredTarget(): ArmVcpuInit {
    const S = 'KVM_ARM_PREFERRED_TARGET';
    this.check(S);
    if (this.arch !== 'arm64') throw new BackendError('EINVAL', S, 'an x86 VM');
    return { target: SIM_ARM_TARGET, features: [0, 0, 0, 0, 0, 0, 0] };
  }

  /** A vCPU of this VM by its MPIDR affinity (PSCI CPU_ON's target), or undefined. */
  a64VcpuByMpidr(mpidr: number): SimA64Vcpu | undefined {
    return this.vcpus.find((v): v is SimA64Vcpu => v instanceof SimA64Vcpu && !v.closed && v.mpidrAffinity === mpidr);
  }

  /** Round robin on this thread, whatever the count: deterministic (threads would not be). */
  runVcpus(vcpus: readonly Vcpu[], server: ExitServer): Promise<DriveEnd> { return driveRoundRobin(vcpus, server); }
  runVcpusSync(vcpus: readonly Vcpu[], server: ExitServer): DriveEnd { return driveRoundRobinSync(vcpus, server); }
  runsOnThreads(): boolean { return false; }

  kickOnReadable(fd: number, _kick: readonly Vcpu[]): () => void {
    if (!Number.isInteger(fd) || fd < 0) throw new BackendError('EBADF', 'epoll_ctl', `fd ${fd} is not a file descriptor`);
    // The sim's vCPUs run on this thread in slices and yield to the event loop between them.
    return () => {};
  }

  private readonly ringers = new Set<Ringer>();
  private readonly batches = new WatchBatches();
  private readonly readyWatches = new Set<() => void>();
  private batchQueued = false;

  ringEventFds(eventfds: readonly EventFd[], opts: RingerOptions): Ringer {
    this.check('ringEventFds');
    checkRingerOptions(eventfds, opts);
    for (const e of eventfds) if (!(e instanceof SimEventFd) || e.closed) throw new InvalidArgumentError('ringEventFds takes open eventfds of this backend');
    const r = timerRinger(eventfds, opts);
    this.ringers.add(r);
    void r.finished.then(() => this.ringers.delete(r));
    return r;
  }

  watchEventFd(eventfd: EventFd, onReadable: () => void, kick: readonly Vcpu[] = []): () => void {
    if (!(eventfd instanceof SimEventFd) || eventfd.closed) throw new BackendError('EBADF', 'epoll_ctl', 'not an open eventfd');
    const serve = (): void => onReadable();
    // Like the poller thread: kick at once, call back later on the JS thread, every watch that became
    // readable meanwhile in one batch (a watch once however often it was written).
    const cb = (): void => {
      for (const v of kick) v.kick();
      this.readyWatches.add(serve);
      if (this.batchQueued) return;
      this.batchQueued = true;
      queueMicrotask(() => this.serveReadyWatches());
    };
    eventfd.readable.add(cb);
    return () => {
      eventfd.readable.delete(cb);
      this.readyWatches.delete(serve);
    };
  }

  /** One wake-up's batch: the ready watches in the order they became ready, then onWatchesServed's functions. */
  private serveReadyWatches(): void {
    this.batchQueued = false;
    if (this.isClosed) return;
    const batch = [...this.readyWatches];
    this.readyWatches.clear();
    this.batches.run(batch);
  }

  onWatchesServed(fn: () => void): () => void { return this.batches.add(fn); }

  get closed(): boolean { return this.isClosed; }

  close(): void {
    if (this.isClosed) return;
    for (const r of this.ringers) r.stop();
    this.ringers.clear();
    for (const v of this.vcpus) v.close();
    for (const [fd, e] of this.irqfds) fd.waiters.delete(e.waiter);
    this.irqfds.clear();
    this.ioeventfds.length = 0;
    for (const s of this.slots.values()) s.memory.slotRefs--;
    this.slots.clear();
    for (const m of this.memories) m.close();
    this.isClosed = true;
  }
}

/**
 * The doorbell device on the machine's PCI bus (issue 8): 1..2048 MSI-X
 * vectors, each backed by an eventfd. Whoever holds a vector's eventfd
 * (another thread, another process, the guest through the RING registers,
 * the library API) rings it; the VM's irqfd cache serves the eventfd --
 * in userspace until the translation is cached, in the kernel after.
 *
 * Configuration space: 1234:d00b, class 0xff0000 (unclassified), no INTx.
 * BAR0 (32-bit memory, 64 KiB): the MSI-X table at 0 and the PBA at 0x8000.
 * BAR2 (32-bit memory, 4 KiB): the registers of src/devices/doorbell.ts.
 * MSI-X capability at 0x40.
 */
import type { EventFd, Vm } from '../backend/types.js';
import type { Ringer } from '../backend/ringer.js';
import {
  DoorbellRegs, DOORBELL_DEVICE_ID, DOORBELL_MAX_VECTORS, DOORBELL_REGS_SIZE, DOORBELL_VENDOR_ID,
} from '../devices/doorbell.js';
import { InvalidArgumentError } from '../errors.js';
import type { CacheHandle, IrqfdCache } from '../irq/irqfd-cache.js';
import { CMD_MEMORY, PciFunction } from '../pci/function.js';
import { MsixCapability } from '../pci/msi.js';
import type { BusDevice, MmioBus } from './bus.js';

export const DOORBELL_BAR0_SIZE = 0x1_0000;
const PBA_OFFSET = 0x8000;

export interface DoorbellPciDeps {
  vm: Pick<Vm, 'createEventFd' | 'ringEventFds'>;
  mmio: MmioBus;
  cache: IrqfdCache;
  /** bus << 8 | device << 3 | function: the requester ID of its MSIs. */
  sourceId: number;
  vectors: number;
  /** Names the device in traces: 'doorbell0'. */
  name: string;
  onGuestError?(what: string): void;
}

export class DoorbellPci {
  readonly fn: PciFunction;
  readonly msix: MsixCapability;
  readonly regs: DoorbellRegs;
  private readonly eventfds: EventFd[] = [];
  private readonly handles: CacheHandle[] = [];
  private readonly bar0: BusDevice;
  private readonly bar2: BusDevice;
  /** Rings made through `ring()` and the registers. */
  private ownRings = 0;
  private readonly loads: Ringer[] = [];
  /** Load generators asked for before the guest turned MSI-X on: they start when it does. */
  private readonly waitingLoads: { rate: number; count: number }[] = [];
  /** An eventfd was handed out: rings may come from writers we do not count. */
  exported = false;
  private closed = false;

  constructor(private readonly deps: DoorbellPciDeps) {
    const n = deps.vectors;
    if (!Number.isInteger(n) || n < 1 || n > DOORBELL_MAX_VECTORS) throw new InvalidArgumentError(`doorbell vectors must be 1..${DOORBELL_MAX_VECTORS}, got ${n}`);
    this.msix = new MsixCapability({ offset: 0x40, vectors: n, tableBar: 0, tableOffset: 0, pbaBar: 0, pbaOffset: PBA_OFFSET }, {
      send: (v, m) => deps.cache.deliver(this.handles[v]!, m),
      busMaster: () => this.fn.busMaster,
      onEntryChanged: (v) => deps.cache.entryChanged(this.handles[v]!),
      onMaskChanged: (v) => {
        this.sendableChanged(v);
        if (v === null) this.startWaitingLoads();
      },
      ...(deps.onGuestError ? { onGuestError: deps.onGuestError } : {}),
    });
    this.regs = new DoorbellRegs(n, {
      ring: (v) => this.ring(v),
      load: () => this.loads.filter((l) => !l.done).length + this.waitingLoads.length,
      ...(deps.onGuestError ? { onGuestError: deps.onGuestError } : {}),
    });
    this.bar0 = {
      read: (off, size) => (off >= PBA_OFFSET ? this.msix.pbaRead(off - PBA_OFFSET, size) : this.msix.tableRead(off, size)),
      write: (off, size, v) => {
        if (off >= PBA_OFFSET) deps.onGuestError?.(`write to the MSI-X PBA at 0x${(off - PBA_OFFSET).toString(16)} (read-only)`);
        else this.msix.tableWrite(off, size, v);
      },
    };
    this.bar2 = { read: (off, size) => this.regs.read(off, size), write: (off, size, v) => this.regs.write(off, size, v) };
    this.fn = new PciFunction({
      vendorId: DOORBELL_VENDOR_ID, deviceId: DOORBELL_DEVICE_ID, classCode: 0xff_00_00, revision: 1,
      subsystemVendorId: DOORBELL_VENDOR_ID, subsystemId: DOORBELL_DEVICE_ID, interruptPin: 0,
      bars: [{ kind: 'mem32', size: DOORBELL_BAR0_SIZE }, undefined, { kind: 'mem32', size: DOORBELL_REGS_SIZE }],
      capabilities: [this.msix],
    }, {
      onBar: (i, m) => {
        const dev = i === 0 ? this.bar0 : this.bar2;
        deps.mmio.unregister(dev);
        if (m) deps.mmio.register(m.base, m.size, dev, `${deps.name}-bar${i}`);
      },
      onCommand: () => {
        // Bus mastering gates every vector's MSI writes (and the irqfds behind them).
        this.sendableChanged(null);
        if (this.fn.busMaster) this.msix.deliverPending();
      },
      ...(deps.onGuestError ? { onGuestError: deps.onGuestError } : {}),
    });
    for (let v = 0; v < n; v++) {
      const eventfd = deps.vm.createEventFd();
      this.eventfds.push(eventfd);
      this.handles.push(deps.cache.add({
        eventfd, sourceId: deps.sourceId, label: `${deps.name}.${v}`,
        message: () => (this.msix.enabled && !this.msix.masked(v) && this.fn.busMaster ? this.msix.message(v) : null),
        fire: () => this.msix.fire(v),
      }));
    }
  }

  /** Vector `n`'s eventfd, for a writer outside the VMM (a thread, a process): the VMM no longer knows every ring. */
  eventfd(n: number): EventFd {
    this.checkVector(n);
    this.exported = true;
    return this.eventfds[n]!;
  }

  /** Rings vector `n` from this thread (an eventfd write, as any other writer's). */
  ring(n: number): void {
    this.checkVector(n);
    this.ownRings++;
    this.eventfds[n]!.write(1);
  }

  /** Eventfd writes this process made: ring(), the registers and the load generators. */
  get rings(): number { return this.loads.reduce((a, l) => a + l.rings, this.ownRings); }

  /**
   * A load generator on every vector (--doorbell-load): `count` rings round
   * robin from another thread, `rate` per second (0: as fast as it can). It
   * starts once the guest has turned MSI-X on, as traffic to a real device
   * starts once its driver is up: before that the device cannot signal, and
   * a storm begun at power-on would be dropped ring by ring while the guest
   * programs its table (on a slow host, all of it). Meanwhile it counts in
   * the LOAD register as ringing.
   */
  startLoad(opts: { rate: number; count: number }): void {
    if (!Number.isFinite(opts.rate) || opts.rate < 0) throw new InvalidArgumentError(`doorbell load rate ${opts.rate}: rings per second, 0 for as fast as possible`);
    this.waitingLoads.push({ rate: opts.rate, count: opts.count });
    this.startWaitingLoads();
  }

  /** Whether a load generator is still ringing (or waits for MSI-X to start). */
  get loading(): boolean { return this.waitingLoads.length > 0 || this.loads.some((l) => !l.done); }

  private startWaitingLoads(): void {
    if (this.closed || !this.msix.enabled) return;
    for (const o of this.waitingLoads.splice(0)) {
      this.loads.push(this.deps.vm.ringEventFds(this.eventfds, { count: o.count, intervalNs: o.rate > 0 ? 1e9 / o.rate : 0 }));
    }
  }

  /** What firmware would have done: BAR0 at `base`, BAR2 right after it, memory decode on. */
  firmwareSetup(base: number): void {
    this.fn.assignBar(0, base);
    this.fn.assignBar(2, base + DOORBELL_BAR0_SIZE);
    this.fn.setCommand(CMD_MEMORY);
  }

  /** Leaves the cache and closes every eventfd. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.waitingLoads.length = 0;
    for (const l of this.loads) l.stop();
    for (const h of this.handles) this.deps.cache.remove(h);
    for (const e of this.eventfds) e.close();
  }

  private sendableChanged(v: number | null): void {
    if (this.closed) return;
    if (v !== null) { this.deps.cache.sendableChanged(this.handles[v]!); return; }
    for (const h of this.handles) this.deps.cache.sendableChanged(h);
  }

  private checkVector(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n >= this.deps.vectors) throw new InvalidArgumentError(`doorbell vector ${n} is outside 0..${this.deps.vectors - 1}`);
  }
}

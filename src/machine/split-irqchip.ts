/**
 * The userspace half of KVM's split irqchip, wired to a VM: the IOAPIC
 * model at 0xfec00000, its 24 GSIs' MSI routes through the routing
 * manager, and KVM_EXIT_IOAPIC_EOI back into the model. The IOAPIC is one
 * MSI source among others: every delivery goes through the VM's irqfd
 * cache, owned here with the routing table it shares -- translated at
 * delivery time (faults recorded only then), sent with KVM_SIGNAL_MSI,
 * counted and traced as a PCI device's are. Backend-agnostic: the same
 * wiring drives KVM and the sim.
 *
 * Ordering (DESIGN.md, kernel contracts 2 and 5): a route the IOAPIC
 * recomputes is pushed before any delivery, so KVM's EOI-exit scan and the
 * destination always come from the current RTE; deliveries use the MSI
 * built from the current RTE, never a route that may lag. Pushes happen
 * only there (and once at start), batching every RTE write since the last
 * delivery into one KVM_SET_GSI_ROUTING.
 */
import type { Msi, Vm } from '../backend/types.js';
import { IrqfdCache, type CacheHandle, type InterruptTranslator, type IrqfdCacheOptions } from '../irq/irqfd-cache.js';
import { GsiRoutingManager } from '../irq/gsi-routing.js';
import { Ioapic, IOAPIC_PINS } from '../irqchip/ioapic.js';
import { rteToMsi, type MsiMessage } from '../irqchip/rte.js';
import { trace } from '../trace/events.js';
import { EventfdIrqLine, type IrqLine, type LineKind } from '../irq/line.js';
import type { EventFd, Vcpu } from '../backend/types.js';
import type { MmioBus } from './bus.js';

export const IOAPIC_BASE = 0xfec0_0000;

export interface SplitIrqchipOptions {
  vm: Pick<Vm, 'enableCap' | 'setGsiRouting' | 'irqfd' | 'irqfdDeassign' | 'signalMsi' | 'checkExtension'>
    & Pick<Vm, 'watchEventFd'> & Partial<Pick<Vm, 'createEventFd'>>;
  mmio: MmioBus;
  /** Also told of every pin's resample (the IOAPIC's EOI of a level pin); the lines here get theirs anyway. */
  onResample?: (pin: number) => void;
  /**
   * The interrupt-remapping unit the IOAPIC's messages go through (VT-d), as
   * the IOAPIC's requester `sourceId`. Absent: none.
   */
  translator?: InterruptTranslator;
  sourceId?: number;
  /** The VM id the trace events carry (default 0). */
  vmId?: number;
  /** How the irqfd cache every delivery goes through behaves: its policy (default lazy), the vCPUs its watches kick. */
  irqCache?: Pick<IrqfdCacheOptions, 'policy' | 'kick' | 'x2apicApi'>;
}

/** The route of a pin whose message does not translate: edge, vector 0, so KVM's EOI scan ignores it. */
const NO_ROUTE: Msi = { addressLo: 0xfee0_0000, addressHi: 0, data: 0 };

export class SplitIrqchip {
  readonly ioapic: Ioapic;
  readonly routing: GsiRoutingManager;
  /**
   * The VM's irqfd cache: the pins' deliveries and the edge lines' entries
   * (addLine's note), and the PCI devices' MSIs. Its stats count them all.
   */
  readonly cache: IrqfdCache;
  /** The 8259 pair, when the machine has one: ISA lines 0..15 (but the cascade, 2) reach it too, as on a PC. */
  private pic: { setIrq(n: number, level: boolean): void } | null = null;
  /** Eventfd-backed input lines, by pin: this irqchip serves their triggers and signals their resamples. */
  private readonly lines = new Map<number, IrqLine>();
  private readonly vmId: number;
  private readonly sourceId: number;
  /** Each pin's source name in the cache's events and errors. */
  private readonly labels = Array.from({ length: IOAPIC_PINS }, (_, pin) => `ioapic.pin${pin}`);
  /** The cached edge line whose trigger is being served in userspace now: its delivery goes through the cache. */
  private firing: CachedEdgeLine | null = null;

  /** Enables KVM_CAP_SPLIT_IRQCHIP: call before any vCPU exists. */
  static enable(vm: Pick<Vm, 'enableCap'>): void {
    vm.enableCap('KVM_CAP_SPLIT_IRQCHIP', [IOAPIC_PINS]);
  }

  constructor(private readonly opts: SplitIrqchipOptions) {
    const vm = opts.vm;
    this.vmId = opts.vmId ?? 0;
    this.sourceId = opts.sourceId ?? 0;
    this.routing = new GsiRoutingManager(vm, { reserved: IOAPIC_PINS, maxRoutes: vm.checkExtension('KVM_CAP_IRQ_ROUTING'), vmId: this.vmId });
    this.cache = new IrqfdCache({
      ...opts.irqCache, vm, routing: this.routing, vmId: this.vmId,
      ...(opts.translator ? { translator: opts.translator } : {}),
    });
    this.ioapic = new Ioapic({
      updateRoute: (pin, msi) => {
        this.routing.set(pin, { type: 'msi', ...this.routeFor(msi) });
        const line = this.lines.get(pin);
        if (line instanceof CachedEdgeLine) line.rteChanged();
      },
      deliver: (pin, msi) => this.deliver(pin, msi),
      resample: (pin) => {
        this.lines.get(pin)?.resampled();
        opts.onResample?.(pin);
      },
      onGuestError: (what) => trace('vmm:device:guest-error', { vm: this.vmId, device: 'ioapic', what }),
    }, this.vmId);
    this.ioapic.publishRoutes();
    this.routing.commit();
    opts.mmio.register(IOAPIC_BASE, 0x1000, {
      read: (off, size) => this.ioapic.read(off, size),
      // Route changes are pushed lazily, right before the next delivery: KVM needs a pin's route only
      // to deliver through it (we signal MSIs ourselves) and to know which vectors need an EOI exit,
      // which matters only once an interrupt with that vector was delivered — after its push. So a
      // guest reprogramming RTEs costs at most one KVM_SET_GSI_ROUTING per delivery, never per write.
      write: (off, size, value) => this.ioapic.write(off, size, value),
    }, 'ioapic');
  }

  /** What KVM's route for a pin holds: the translated message (its vector and trigger mode drive KVM's EOI exits). */
  private routeFor(msi: MsiMessage): Msi {
    const t = this.opts.translator?.translate(msi, this.opts.sourceId ?? 0, false);
    if (!t) return { ...msi };
    return t.ok ? t.msi : NO_ROUTE;
  }

  /** The remapping unit changed what the pins' messages translate to: every pin's route again (pushed at the next delivery). */
  retranslate(): void {
    this.ioapic.publishRoutes();
  }

  /**
   * The IOAPIC delivers `pin`: the route first (a no-op when unchanged), then
   * the interrupt from the current RTE through the cache, which translates
   * it now, sends it and traces it (vmm:irq:deliver, source 'ioapic.pinN').
   * A cached edge line's trigger served in userspace is its entry's delivery
   * and, lazy, fills it while the pin may be cached; anything else (a device
   * model's line, a level pin, an ISA pin the 8259 hears) is a plain send.
   */
  private deliver(pin: number, msi: MsiMessage): void {
    this.routing.commit();
    const cached = this.firing;
    if (cached !== null && cached.pin === pin && this.cacheableMessage(pin) !== null) this.cache.deliver(cached.handle, msi);
    else this.cache.sendMsi(msi, this.sourceId, this.labels[pin]!);
  }

  /** Attaches the 8259 pair: from then on ISA lines fan out to it too. */
  attachPic(pic: { setIrq(n: number, level: boolean): void }): void { this.pic = pic; }

  /** The message a cached edge line on `pin` may send now, or null (masked, level, or an ISA pin the 8259 also hears). */
  cacheableMessage(pin: number): MsiMessage | null {
    const r = this.ioapic.rte(pin);
    if (r.masked || r.level || (this.pic && pin < 16)) return null;
    return rteToMsi(r);
  }

  /** The current RTE's message of `pin`, whatever its mask (what a cached entry's route is compared with). */
  rteMessage(pin: number): MsiMessage { return rteToMsi(this.ioapic.rte(pin)); }

  /** A cached edge line's trigger served in userspace: the pulse, its delivery through the cache. */
  pulseCached(line: CachedEdgeLine): void {
    this.firing = line;
    try {
      this.setIrq(line.pin, true);
      this.setIrq(line.pin, false);
    } finally {
      this.firing = null;
    }
  }

  /**
   * An input line (devices and eventfd lines drive these): the IOAPIC pin of
   * the same number and, for ISA IRQs but the cascade, the 8259's. The one
   * fan-out every source goes through.
   */
  setIrq(pin: number, level: boolean): void {
    this.ioapic.setIrq(pin, level);
    if (this.pic && pin < 16 && pin !== 2) this.pic.setIrq(pin, level);
  }

  /**
   * An eventfd-backed input line on `pin`, owned here: any thread or process
   * that writes `line.trigger` asserts it. Closed by closeLines().
   *
   * An edge line is an irqfd-cache entry, as a device's MSI-X vector is.
   * While the pin's RTE is unmasked and edge (and, for an ISA pin, no 8259
   * listens), its cookie is the pin's translated message: lazy caches it at
   * the first trigger, and a ring then never leaves the kernel. Reprogramming
   * the RTE invalidates the entry; masking it, or switching it to level,
   * takes the irqfd out until it may send again; an interrupt-entry-cache
   * invalidation of its IRTE detaches it as any other.
   *
   * A level line stays in userspace: remote IRR and the resample need the
   * EOI here. The poller kicks `kick` so its event is served at once, and the
   * IOAPIC's EOI of the pin signals `line.resample` (KVM's resample irqfd
   * does not exist in split mode).
   */
  addLine(pin: number, kind: LineKind, kick: readonly Vcpu[] = []): IrqLine {
    const vm = this.opts.vm;
    if (!vm.createEventFd) throw new Error('this irqchip\'s VM cannot make eventfds');
    const line = kind === 'edge'
      ? new CachedEdgeLine(vm.createEventFd(), this, pin, this.cache, this.sourceId)
      : new EventfdIrqLine(vm as { createEventFd(initial?: number): EventFd; watchEventFd: Vm['watchEventFd'] }, this, pin, kind, kick);
    this.lines.set(pin, line);
    return line;
  }

  hasLine(pin: number): boolean { return this.lines.has(pin); }
  get lineCount(): number { return this.lines.size; }

  /** Closes every eventfd line (their eventfds and watches). */
  closeLines(): void {
    for (const l of this.lines.values()) l.close();
    this.lines.clear();
  }

  /** KVM_EXIT_IOAPIC_EOI: the guest EOId `vector` on a vCPU (a redelivery pushes routes first). */
  eoi(vector: number): void {
    this.ioapic.eoi(vector);
  }
}

const sameMessage = (a: MsiMessage, b: MsiMessage): boolean => a.addressLo === b.addressLo && a.addressHi === b.addressHi && a.data === b.data;

/**
 * An edge line on an IOAPIC pin served as an irqfd-cache entry (see
 * SplitIrqchip.attachCache). The cache watches `trigger` while the entry is
 * not in the kernel and calls `fire` for what it reads: a pulse on the pin,
 * delivered through the cache. `triggers` counts those; hits are the
 * kernel's.
 */
export class CachedEdgeLine implements IrqLine {
  readonly trigger: EventFd;
  readonly resample = null;
  readonly kind = 'edge';
  readonly level = false;
  readonly handle: CacheHandle;
  triggers = 0;
  private raw: MsiMessage;
  private sendable: boolean;
  private closed = false;

  constructor(trigger: EventFd, private readonly chip: SplitIrqchip, readonly pin: number, private readonly cache: IrqfdCache, sourceId: number) {
    this.trigger = trigger;
    this.raw = chip.rteMessage(pin);
    this.sendable = chip.cacheableMessage(pin) !== null;
    try {
      this.handle = cache.add({
        eventfd: trigger, sourceId, label: `ioapic.pin${pin}`,
        message: () => chip.cacheableMessage(pin),
        fire: () => {
          this.triggers++;
          chip.pulseCached(this);
        },
      });
    } catch (e) {
      trigger.close();
      throw e;
    }
  }

  /** The pin's RTE was written: a new message invalidates the entry; a new mask or trigger mode moves the irqfd in or out. */
  rteChanged(): void {
    if (this.closed) return;
    const raw = this.chip.rteMessage(this.pin);
    const sendable = this.chip.cacheableMessage(this.pin) !== null;
    if (!sameMessage(raw, this.raw)) {
      this.raw = raw;
      this.cache.entryChanged(this.handle);
    }
    if (sendable !== this.sendable) {
      this.sendable = sendable;
      this.cache.sendableChanged(this.handle);
    }
  }

  resampled(): void {}

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cache.remove(this.handle);
    this.trigger.close();
  }
}

/**
 * The userspace half of KVM's split irqchip, wired to a VM: the IOAPIC
 * model at 0xfec00000, its 24 GSIs' MSI routes through the routing
 * manager, deliveries with KVM_SIGNAL_MSI, and KVM_EXIT_IOAPIC_EOI back
 * into the model. Backend-agnostic: the same wiring drives KVM and the sim.
 *
 * Ordering (DESIGN.md, kernel contracts 2 and 5): a route the IOAPIC
 * recomputes is pushed before any delivery, so KVM's EOI-exit scan and the
 * destination always come from the current RTE; deliveries use the MSI
 * built from the current RTE, never a route that may lag. Pushes happen
 * only there (and once at start), batching every RTE write since the last
 * delivery into one KVM_SET_GSI_ROUTING.
 */
import type { Msi, Vm } from '../backend/types.js';
import type { InterruptTranslator } from '../irq/irqfd-cache.js';
import { GsiRoutingManager } from '../irq/gsi-routing.js';
import { Ioapic, IOAPIC_PINS } from '../irqchip/ioapic.js';
import type { MsiMessage } from '../irqchip/rte.js';
import { trace } from '../trace/events.js';
import { EventfdIrqLine, type LineKind } from '../irq/line.js';
import type { EventFd, Vcpu } from '../backend/types.js';
import type { MmioBus } from './bus.js';

export const IOAPIC_BASE = 0xfec0_0000;

export interface SplitIrqchipOptions {
  vm: Pick<Vm, 'enableCap' | 'setGsiRouting' | 'irqfd' | 'irqfdDeassign' | 'signalMsi' | 'checkExtension'>
    & Partial<Pick<Vm, 'createEventFd' | 'watchEventFd'>>;
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
}

/** The route of a pin whose message does not translate: edge, vector 0, so KVM's EOI scan ignores it. */
const NO_ROUTE: Msi = { addressLo: 0xfee0_0000, addressHi: 0, data: 0 };

export class SplitIrqchip {
  readonly ioapic: Ioapic;
  readonly routing: GsiRoutingManager;
  /** MSIs sent with KVM_SIGNAL_MSI that no vCPU accepted. */
  undelivered = 0;
  /** Deliveries the remapping unit blocked. */
  faults = 0;
  /** The 8259 pair, when the machine has one: ISA lines 0..15 (but the cascade, 2) reach it too, as on a PC. */
  private pic: { setIrq(n: number, level: boolean): void } | null = null;
  /** Eventfd-backed input lines, by pin: this irqchip serves their triggers and signals their resamples. */
  private readonly lines = new Map<number, EventfdIrqLine>();
  private readonly vmId: number;

  /** Enables KVM_CAP_SPLIT_IRQCHIP: call before any vCPU exists. */
  static enable(vm: Pick<Vm, 'enableCap'>): void {
    vm.enableCap('KVM_CAP_SPLIT_IRQCHIP', [IOAPIC_PINS]);
  }

  constructor(private readonly opts: SplitIrqchipOptions) {
    const vm = opts.vm;
    this.vmId = opts.vmId ?? 0;
    this.routing = new GsiRoutingManager(vm, { reserved: IOAPIC_PINS, maxRoutes: vm.checkExtension('KVM_CAP_IRQ_ROUTING'), vmId: this.vmId });
    this.ioapic = new Ioapic({
      updateRoute: (pin, msi) => this.routing.set(pin, { type: 'msi', ...this.routeFor(msi) }),
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

  private deliver(pin: number, msi: MsiMessage): void {
    // Route first (a no-op when unchanged), then the interrupt from the current RTE, translated now.
    this.routing.commit();
    let out: MsiMessage = msi;
    if (this.opts.translator) {
      const t = this.opts.translator.translate(msi, this.opts.sourceId ?? 0, true);
      if (!t.ok) {
        this.faults++;
        trace('vmm:ioapic:deliver', { vm: this.vmId, pin, vector: msi.data & 0xff, destination: -1, accepted: -1 });
        return;
      }
      out = t.msi;
    }
    const n = this.opts.vm.signalMsi(out);
    if (n === 0) this.undelivered++;
    trace('vmm:ioapic:deliver', { vm: this.vmId, pin, vector: out.data & 0xff, destination: (out.addressLo >>> 12) & 0xff, accepted: n });
  }

  /** Attaches the 8259 pair: from then on ISA lines fan out to it too. */
  attachPic(pic: { setIrq(n: number, level: boolean): void }): void { this.pic = pic; }

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
   * that writes `line.trigger` asserts it (the poller kicks `kick` so the
   * event is served at once), and for a level line the IOAPIC's EOI of the
   * pin signals `line.resample` (KVM's resample irqfd does not exist in
   * split mode). Closed by closeLines().
   */
  addLine(pin: number, kind: LineKind, kick: readonly Vcpu[] = []): EventfdIrqLine {
    const vm = this.opts.vm;
    if (!vm.createEventFd || !vm.watchEventFd) throw new Error('this irqchip\'s VM cannot make eventfds');
    const line = new EventfdIrqLine(vm as { createEventFd(initial?: number): EventFd; watchEventFd: Vm['watchEventFd'] }, this, pin, kind, kick);
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

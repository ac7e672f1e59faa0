/**
 * The in-kernel half of KVM's split irqchip, for the sim: one local APIC
 * per vCPU, MSI delivery (KVM_SIGNAL_MSI, irqfds, routes) and IPIs
 * between them, and the EOI exits KVM would produce — exactly for the
 * vectors that a scan of the IOAPIC GSIs' MSI routes marks as
 * level-triggered for that vCPU (arch/x86/kvm's ioapic_handled_vectors).
 */
import type { GsiRoute, Msi } from '../types.js';
import { DM_LOWEST, Lapic, type IpiMessage } from '../../irqchip/lapic.js';
import { parseMsi } from '../../irqchip/rte.js';

export const APIC_BASE = 0xfee0_0000;
export const APIC_SIZE = 0x1000;

export interface SplitIrqchipHost {
  /** The number of GSIs reserved for the userspace IOAPIC (KVM_ENABLE_CAP args[0]). */
  readonly ioapicPins: number;
  /** The routing table as last set. */
  gsiRoutes(): readonly GsiRoute[];
}

export interface ApicSlot {
  lapic: Lapic;
  /** An EOI exit waiting to be reported by the vCPU's next exit. */
  pendingEoiExit: number;
  /** Tells the vCPU to look at its interrupt source. */
  kick(): void;
  special(kind: 'nmi' | 'init' | 'sipi' | 'extint', vector: number): void;
}

export class SimSplitIrqchip {
  private readonly apics = new Map<number, ApicSlot>();

  constructor(private readonly host: SplitIrqchipHost) {}

  /** Creates the LAPIC of vCPU `id`. */
  attach(id: number, vcpu: { kick(): void; special(kind: 'nmi' | 'init' | 'sipi' | 'extint', vector: number): void }): ApicSlot {
    const slot: ApicSlot = {
      lapic: undefined as unknown as Lapic,
      pendingEoiExit: -1,
      kick: () => vcpu.kick(),
      special: (k, v) => vcpu.special(k, v),
    };
    slot.lapic = new Lapic(id, {
      eoi: (vector) => {
        if (this.handledVectors(slot.lapic).has(vector)) slot.pendingEoiExit = vector;
      },
      ipi: (m) => this.ipi(m),
      special: (k, v) => slot.special(k, v),
    });
    this.apics.set(id, slot);
    return slot;
  }

  detach(id: number): void { this.apics.delete(id); }

  /** Vectors whose EOI KVM reports to userspace for this LAPIC: level MSI routes of the IOAPIC GSIs that target it. */
  handledVectors(lapic: Lapic): Set<number> {
    const out = new Set<number>();
    for (const r of this.host.gsiRoutes()) {
      if (r.type !== 'msi' || r.gsi >= this.host.ioapicPins) continue;
      const m = parseMsi(r);
      if (m.level && lapic.matches(m.destination, m.destLogical)) out.add(m.vector);
    }
    return out;
  }

  private targets(destination: number, logical: boolean, lowest: boolean, vector: number): ApicSlot[] {
    const all = [...this.apics.entries()].sort((a, b) => a[0] - b[0]).map(([, s]) => s);
    const matching = all.filter((s) => s.lapic.matches(destination, logical));
    // Lowest priority: one of the matching APICs, chosen by vector hashing as KVM does by default.
    if (lowest && matching.length > 1) return [matching[vector % matching.length]!];
    return matching;
  }

  /** Delivers an MSI; returns how many LAPICs accepted it (KVM_SIGNAL_MSI's return value). */
  deliverMsi(msi: Msi): number {
    if (((msi.addressLo & 0xfff0_0000) >>> 0) !== APIC_BASE) return 0;
    const m = parseMsi(msi);
    const slots = this.targets(m.destination, m.destLogical, m.deliveryMode === DM_LOWEST || m.redirectionHint, m.vector);
    for (const s of slots) {
      s.lapic.accept(m.deliveryMode, m.vector, m.level);
      s.kick();
    }
    return slots.length;
  }

  private ipi(m: IpiMessage): void {
    let slots: ApicSlot[];
    switch (m.shorthand) {
      case 1: slots = [this.apics.get(m.source)!].filter(Boolean); break;
      case 2: slots = [...this.apics.values()]; break;
      case 3: slots = [...this.apics.entries()].filter(([id]) => id !== m.source).map(([, s]) => s); break;
      default: slots = this.targets(m.destination, m.destLogical, m.deliveryMode === DM_LOWEST, m.vector);
    }
    for (const s of slots) {
      // INIT de-assert (level, assert clear) is a no-op on modern CPUs.
      if (m.deliveryMode === 5 && m.level && !m.assert) continue;
      s.lapic.accept(m.deliveryMode, m.vector, m.level);
      s.kick();
    }
  }
}

/**
 * The 82093AA I/O APIC redirection table entry (datasheet §3.2.4) and its
 * translation to an MSI (Intel SDM vol. 3 §11.11: MSI address/data format).
 * Pure functions; call sites use the named fields, never shifts.
 */

export const DELIVERY_FIXED = 0b000;
export const DELIVERY_LOWEST_PRIORITY = 0b001;
export const DELIVERY_SMI = 0b010;
export const DELIVERY_NMI = 0b100;
export const DELIVERY_INIT = 0b101;
export const DELIVERY_EXTINT = 0b111;

export interface Rte {
  /** Bits 7:0. */
  vector: number;
  /** Bits 10:8: fixed, lowest priority, SMI, NMI, INIT, ExtINT. */
  deliveryMode: number;
  /** Bit 11: 0 physical, 1 logical. */
  destLogical: boolean;
  /** Bit 12 (read-only): send pending. Always 0 here: delivery is immediate. */
  deliveryStatus: boolean;
  /** Bit 13: 0 active high, 1 active low. */
  activeLow: boolean;
  /** Bit 14 (read-only): remote IRR, set on level delivery, cleared by the EOI of the vector. */
  remoteIrr: boolean;
  /** Bit 15: 0 edge, 1 level. */
  level: boolean;
  /** Bit 16. */
  masked: boolean;
  /** Bits 63:56: APIC ID (physical) or logical destination set. */
  destination: number;
  /**
   * Bits 55:48, the ICH I/O APIC's Extended Destination ID: sent as MSI
   * address bits 11:4. Bits 55:49 carry destination bits 14:8 (KVM's
   * extended destination ID); bit 48 is the interrupt format, and with it
   * set the RTE is in VT-d's remappable format (spec §5.1.5.1): bits 63:49
   * and 11 are the interrupt index, which land in the MSI's handle.
   */
  extendedDestination: number;
}

/** The reset value of every RTE: masked, everything else 0. */
export const RTE_RESET_LO = 1 << 16;

export function parseRte(lo: number, hi: number): Rte {
  return {
    vector: lo & 0xff,
    deliveryMode: (lo >>> 8) & 0b111,
    destLogical: ((lo >>> 11) & 1) === 1,
    deliveryStatus: ((lo >>> 12) & 1) === 1,
    activeLow: ((lo >>> 13) & 1) === 1,
    remoteIrr: ((lo >>> 14) & 1) === 1,
    level: ((lo >>> 15) & 1) === 1,
    masked: ((lo >>> 16) & 1) === 1,
    destination: (hi >>> 24) & 0xff,
    extendedDestination: (hi >>> 16) & 0xff,
  };
}

export function encodeRte(r: Rte): { lo: number; hi: number } {
  const lo = (r.vector & 0xff)
    | ((r.deliveryMode & 0b111) << 8)
    | (Number(r.destLogical) << 11)
    | (Number(r.deliveryStatus) << 12)
    | (Number(r.activeLow) << 13)
    | (Number(r.remoteIrr) << 14)
    | (Number(r.level) << 15)
    | (Number(r.masked) << 16);
  return { lo: lo >>> 0, hi: (((r.destination & 0xff) << 24) | ((r.extendedDestination & 0xff) << 16)) >>> 0 };
}

export interface MsiMessage { addressLo: number; addressHi: number; data: number }

/** MSI address bits: 0xFEE in 31:20, destination ID 19:12, redirection hint 3, destination mode 2. */
export const MSI_ADDRESS_BASE = 0xfee0_0000;

/**
 * The MSI an IOAPIC pin sends for this RTE (the ICH I/O APIC's rule:
 * address 19:12 from RTE 63:56, 11:4 from 55:48, 2 from the destination
 * mode; a remappable-format RTE thus sends a remappable-format message
 * naming its interrupt index). The redirection hint is set for
 * lowest-priority delivery (as the IOAPIC does on the APIC bus); data bit 15
 * is the trigger mode (what KVM scans to know which vectors need an EOI
 * exit) and bit 14 the level-assert bit, always 1 for an assertion.
 */
export function rteToMsi(r: Rte): MsiMessage {
  const addressLo = (MSI_ADDRESS_BASE
    | ((r.destination & 0xff) << 12)
    | ((r.extendedDestination & 0xff) << 4)
    | (Number(r.deliveryMode === DELIVERY_LOWEST_PRIORITY) << 3)
    | (Number(r.destLogical) << 2)) >>> 0;
  const data = (r.vector & 0xff) | ((r.deliveryMode & 0b111) << 8) | (1 << 14) | (Number(r.level) << 15);
  return { addressLo, addressHi: 0, data };
}

/** Decodes an x86 MSI (for the sim's LAPIC and for tests). */
export function parseMsi(m: MsiMessage): {
  destination: number; destLogical: boolean; redirectionHint: boolean;
  vector: number; deliveryMode: number; level: boolean; assert: boolean;
} {
  return {
    destination: (m.addressLo >>> 12) & 0xff,
    redirectionHint: ((m.addressLo >>> 3) & 1) === 1,
    destLogical: ((m.addressLo >>> 2) & 1) === 1,
    vector: m.data & 0xff,
    deliveryMode: (m.data >>> 8) & 0b111,
    assert: ((m.data >>> 14) & 1) === 1,
    level: ((m.data >>> 15) & 1) === 1,
  };
}

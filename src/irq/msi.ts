/**
 * The x86 MSI message, both formats, as pure functions (issue 8's MSI
 * model; the IOAPIC's own RTE → MSI translation is in irqchip/rte.ts).
 *
 * Compatibility format (Intel SDM vol. 3 §11.11.1/2; VT-d spec §5.1.2.1):
 *   address 31:20  0xFEE
 *           19:12  destination ID (8 bits)
 *           11:5   extended destination ID: destination bits 14:8, when the
 *                  guest was told it may use them (KVM_FEATURE_MSI_EXT_DEST_ID)
 *           4      interrupt format: 0 here
 *           3      redirection hint (RH)
 *           2      destination mode (DM): 0 physical, 1 logical
 *   address_hi     0, or (with KVM's x2APIC API) destination bits 31:8 in 31:8
 *   data    7:0    vector, 10:8 delivery mode, 14 level (assert), 15 trigger mode
 *
 * Remappable format (VT-d spec §5.1.5.2, "Interrupt Requests in Remappable
 * Format"):
 *   address 31:20  0xFEE
 *           19:5   handle[14:0]
 *           4      interrupt format: 1
 *           3      SHV (subhandle valid)
 *           2      handle[15]
 *   data    15:0   subhandle, used only when SHV (the IRTE index is then
 *                  handle + subhandle)
 */

export interface MsiMessage { addressLo: number; addressHi: number; data: number }

/** A compatibility-format message, decoded. */
export interface CompatMsi {
  format: 'compat';
  /** The full destination ID: 8 bits, plus bits 14:8 from the extended destination ID, plus 31:8 from address_hi. */
  destination: number;
  redirectionHint: boolean;
  destLogical: boolean;
  vector: number;
  deliveryMode: number;
  level: boolean;
  assert: boolean;
}

/** A remappable-format message, decoded: the IRTE it names. */
export interface RemappableMsi {
  format: 'remappable';
  handle: number;
  /** SHV: the subhandle (data 15:0) is added to the handle. */
  subhandleValid: boolean;
  subhandle: number;
  /** The interrupt-remapping table index this message selects. */
  index: number;
}

export type DecodedMsi = CompatMsi | RemappableMsi;

export const MSI_ADDRESS_BASE = 0xfee0_0000;
const ADDRESS_MASK = 0xfff0_0000;
const FORMAT_REMAPPABLE = 1 << 4;

/** Whether a device's write is an interrupt: its 64-bit address is in 0x0000_0000_FEEx_xxxx (anything else is DMA). */
export function isMsiAddress(m: MsiMessage): boolean {
  return m.addressHi === 0 && ((m.addressLo & ADDRESS_MASK) >>> 0) === MSI_ADDRESS_BASE;
}

export function decodeMsi(m: MsiMessage): DecodedMsi {
  const lo = m.addressLo >>> 0;
  if (lo & FORMAT_REMAPPABLE) {
    const handle = ((lo >>> 5) & 0x7fff) | (((lo >>> 2) & 1) << 15);
    const subhandleValid = ((lo >>> 3) & 1) === 1;
    const subhandle = m.data & 0xffff;
    return { format: 'remappable', handle, subhandleValid, subhandle, index: subhandleValid ? (handle + subhandle) >>> 0 : handle };
  }
  return {
    format: 'compat',
    destination: (((m.addressHi >>> 8) << 8) | (((lo >>> 5) & 0x7f) << 8) | ((lo >>> 12) & 0xff)) >>> 0,
    redirectionHint: ((lo >>> 3) & 1) === 1,
    destLogical: ((lo >>> 2) & 1) === 1,
    vector: m.data & 0xff,
    deliveryMode: (m.data >>> 8) & 0b111,
    assert: ((m.data >>> 14) & 1) === 1,
    level: ((m.data >>> 15) & 1) === 1,
  };
}

/** A compatibility-format message; destinations above 0xff use the extended destination ID (up to 0x7fff). */
export function encodeCompatMsi(c: Omit<CompatMsi, 'format'>): MsiMessage {
  if (!Number.isInteger(c.destination) || c.destination < 0 || c.destination > 0x7fff) {
    throw new RangeError(`destination ${c.destination} does not fit the compatibility format (0..0x7fff)`);
  }
  const addressLo = (MSI_ADDRESS_BASE
    | ((c.destination & 0xff) << 12)
    | (((c.destination >>> 8) & 0x7f) << 5)
    | (Number(c.redirectionHint) << 3)
    | (Number(c.destLogical) << 2)) >>> 0;
  const data = (c.vector & 0xff) | ((c.deliveryMode & 0b111) << 8) | (Number(c.assert) << 14) | (Number(c.level) << 15);
  return { addressLo, addressHi: 0, data };
}

/** A remappable-format message naming IRTE `handle` (and `subhandle` when SHV). */
export function encodeRemappableMsi(handle: number, subhandle?: number): MsiMessage {
  if (!Number.isInteger(handle) || handle < 0 || handle > 0xffff) throw new RangeError(`handle ${handle} is outside 0..0xffff`);
  if (subhandle !== undefined && (!Number.isInteger(subhandle) || subhandle < 0 || subhandle > 0xffff)) {
    throw new RangeError(`subhandle ${subhandle} is outside 0..0xffff`);
  }
  const addressLo = (MSI_ADDRESS_BASE
    | ((handle & 0x7fff) << 5)
    | FORMAT_REMAPPABLE
    | (Number(subhandle !== undefined) << 3)
    | (((handle >>> 15) & 1) << 2)) >>> 0;
  return { addressLo, addressHi: 0, data: subhandle ?? 0 };
}

/**
 * The message as KVM takes it with KVM_CAP_X2APIC_API (DESIGN.md, contract 9):
 * a compatibility-format message whose high address word is zero has its
 * extended destination ID (address bits 11:5) moved to address_hi bits 14:8,
 * where KVM reads destination bits 31:8. Remappable messages and messages
 * that already carry a high word pass unchanged.
 */
export function toKvmX2apicMsi(m: MsiMessage): MsiMessage {
  const lo = m.addressLo >>> 0;
  if (lo & FORMAT_REMAPPABLE || m.addressHi !== 0) return { ...m };
  const ext = (lo >>> 5) & 0x7f;
  return { addressLo: (lo & ~(0x7f << 5)) >>> 0, addressHi: (ext << 8) >>> 0, data: m.data };
}

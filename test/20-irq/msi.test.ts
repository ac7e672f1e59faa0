/**
 * The MSI message model: compatibility and remappable formats, the
 * extended destination ID, and KVM's x2APIC form (DESIGN.md contract 9).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeMsi, encodeCompatMsi, encodeRemappableMsi, isMsiAddress, toKvmX2apicMsi } from '../../src/irq/msi.js';
import { parseMsi, parseRte, rteToMsi } from '../../src/irqchip/rte.js';

describe('compatibility format', () => {
  it.each([
    // address, data → destination, RH, DM, vector, delivery mode, level, assert
    [0xfee0_0000, 0x0000_0030, 0x00, false, false, 0x30, 0, false, false],
    [0xfee0_1000, 0x0000_4041, 0x01, false, false, 0x41, 0, false, true],
    [0xfeef_f00c, 0x0000_c1ff, 0xff, true, true, 0xff, 1, true, true],
    // extended destination ID: address bits 11:5 are destination bits 14:8
    [0xfee0_1020, 0x0000_0050, 0x101, false, false, 0x50, 0, false, false],
    [0xfeef_ffe0, 0x0000_0050, 0x7fff, false, false, 0x50, 0, false, false],
  ])('0x%s / 0x%s', (addressLo, data, destination, redirectionHint, destLogical, vector, deliveryMode, level, assert) => {
    expect(decodeMsi({ addressLo, addressHi: 0, data })).toEqual({
      format: 'compat', destination, redirectionHint, destLogical, vector, deliveryMode, level, assert,
    });
  });

  it('encode and decode are inverse for every field combination', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 0x7fff }), fc.boolean(), fc.boolean(), fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 7 }), fc.boolean(), fc.boolean(),
      (destination, redirectionHint, destLogical, vector, deliveryMode, level, assert) => {
        const c = { destination, redirectionHint, destLogical, vector, deliveryMode, level, assert };
        expect(decodeMsi(encodeCompatMsi(c))).toEqual({ format: 'compat', ...c });
      }));
  });

  it('agrees with the IOAPIC\'s own RTE translation (an 8-bit destination, no extension)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 0, max: 0xff }), (lo, dest) => {
      const msi = rteToMsi(parseRte(lo >>> 0, (dest << 24) >>> 0));
      const a = decodeMsi(msi);
      const b = parseMsi(msi);
      expect(a).toEqual({ format: 'compat', ...b });
    }));
  });

  it('an RTE in VT-d\'s remappable format (bit 48) sends the remappable message naming its index (63:49, and 15 from bit 11)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xff }), fc.boolean(), (index, vector, level) => {
      const lo = (vector | (((index >>> 15) & 1) << 11) | (Number(level) << 15)) >>> 0;
      const hi = ((((index & 0x7fff) << 17) | (1 << 16)) >>> 0);
      const d = decodeMsi(rteToMsi(parseRte(lo, hi)));
      expect(d).toMatchObject({ format: 'remappable', index, subhandleValid: false });
    }));
  });

  it('refuses a destination the format cannot carry', () => {
    expect(() => encodeCompatMsi({ destination: 0x8000, redirectionHint: false, destLogical: false, vector: 1, deliveryMode: 0, level: false, assert: true }))
      .toThrow(RangeError);
  });
});

describe('remappable format (VT-d §5.1.5.2)', () => {
  it.each([
    // address, data → handle, SHV, subhandle, index
    [0xfee0_0010, 0x0000, 0, false, 0, 0],
    [0xfee0_0030, 0x0000, 1, false, 0, 1],
    [0xfeef_fff0, 0x1234, 0x7fff, false, 0x1234, 0x7fff],
    [0xfee0_0014, 0x0000, 0x8000, false, 0, 0x8000], // bit 2 is handle[15]
    [0xfee0_0058, 0x0003, 2, true, 3, 5], //              SHV: index = handle + subhandle
  ])('0x%s / 0x%s', (addressLo, data, handle, subhandleValid, subhandle, index) => {
    expect(decodeMsi({ addressLo, addressHi: 0, data })).toEqual({ format: 'remappable', handle, subhandleValid, subhandle, index });
  });

  it('encode and decode are inverse', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffff }), fc.option(fc.integer({ min: 0, max: 0xffff }), { nil: undefined }), (handle, sub) => {
      const d = decodeMsi(encodeRemappableMsi(handle, sub));
      expect(d).toEqual({
        format: 'remappable', handle, subhandleValid: sub !== undefined, subhandle: sub ?? 0, index: sub !== undefined ? handle + sub : handle,
      });
    }));
    expect(() => encodeRemappableMsi(0x10000)).toThrow(RangeError);
    expect(() => encodeRemappableMsi(1, -1)).toThrow(RangeError);
  });
});

describe('KVM x2APIC form (KVM_CAP_X2APIC_API)', () => {
  it('moves the extended destination ID to address_hi 14:8, where KVM reads destination 31:8', () => {
    const m = encodeCompatMsi({ destination: 0x1ab, redirectionHint: false, destLogical: false, vector: 0x40, deliveryMode: 0, level: false, assert: true });
    const k = toKvmX2apicMsi(m);
    expect(k).toEqual({ addressLo: 0xfee_ab000, addressHi: 0x100, data: m.data });
    // KVM's decode: destination = address_hi 31:8 | address_lo 19:12.
    expect(((k.addressHi & 0xffff_ff00) | ((k.addressLo >>> 12) & 0xff)) >>> 0).toBe(0x1ab);
    expect(decodeMsi(k)).toMatchObject({ format: 'compat', destination: 0x1ab });
  });

  it('leaves remappable messages and messages with a high word alone', () => {
    const r = encodeRemappableMsi(7);
    expect(toKvmX2apicMsi(r)).toEqual(r);
    const hi = { addressLo: 0xfee0_1020, addressHi: 0x200, data: 0x41 };
    expect(toKvmX2apicMsi(hi)).toEqual(hi);
  });
});

describe('interrupt or DMA', () => {
  it.each([
    [0xfee0_0000, 0, true],
    [0xfeef_ffff, 0, true],
    [0xfef0_0000, 0, false],
    [0xfedf_ffff, 0, false],
    [0xfee0_0000, 1, false],
  ])('0x%s:%s is an interrupt: %s', (addressLo, addressHi, yes) => {
    expect(isMsiAddress({ addressLo, addressHi, data: 0 })).toBe(yes);
  });
});

/**
 * The VT-d model alone, over a RAM array and recording outputs: the
 * registers as QEMU 7.2's intel-iommu presents them, interrupt remapping
 * with every fault reason (recorded only when delivering, FPD honoured,
 * overflow), the fault event and its mask, queued invalidation (IEC ranges,
 * wait descriptors, a bad descriptor's IQE), and DMA remapping through
 * root, context and second-level tables.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FaultReason, GCMD_CFI, GCMD_IRE, GCMD_QIE, GCMD_SIRTP, GCMD_SRTP, GCMD_TE, VtdUnit,
  VTD_CAP, VTD_ECAP, VTD_FECTL, VTD_FEADDR, VTD_FEDATA, VTD_FRCD, VTD_FSTS, VTD_GCMD, VTD_GSTS, VTD_ICS, VTD_IECTL,
  VTD_IEDATA, VTD_IEADDR, VTD_IQA, VTD_IQH, VTD_IQT, VTD_IRTA, VTD_RTADDR, VTD_VER, FSTS_IQE, FSTS_PFO, FSTS_PPF,
} from '../../src/iommu/vtd.js';
import { encodeCompatMsi, encodeRemappableMsi, type MsiMessage } from '../../src/irq/msi.js';

const IRT = 0x1_0000;
const QUEUE = 0x2_0000;
const STATUS = 0x3_0000;
const ROOT = 0x4_0000;

function rig(opts: { intremap?: boolean } = {}) {
  const ram = new Uint8Array(16 << 20);
  const view = new DataView(ram.buffer);
  const sent: MsiMessage[] = [];
  const iec: [number, number, boolean][] = [];
  const errors: string[] = [];
  let remapChanges = 0;
  const u = new VtdUnit({
    mem: {
      read: (a, n) => (a + n <= ram.length ? ram.slice(a, a + n) : null),
      write: (a, b) => { if (a + b.length > ram.length) return false; ram.set(b, a); return true; },
    },
    sendMsi: (m) => sent.push(m),
    onIecInvalidate: (f, l, g) => iec.push([f, l, g]),
    onRemappingChanged: () => { remapChanges++; },
    onGuestError: (w) => errors.push(w),
  }, opts);
  const q = (addr: number, lo: number, hi: number): void => { view.setUint32(addr, lo, true); view.setUint32(addr + 4, hi, true); };
  /** IRTE `i`: present, vector, xAPIC destination, trigger, plus raw extra low bits and source validation. */
  const irte = (i: number, e: { vector: number; dest?: number; level?: boolean; fpd?: boolean; present?: boolean; lowExtra?: number; sid?: number; sq?: number; svt?: number }): void => {
    const lo = ((e.present === false ? 0 : 1) | (e.fpd ? 2 : 0) | (e.level ? 1 << 4 : 0) | (e.vector << 16) | (e.lowExtra ?? 0)) >>> 0;
    q(IRT + i * 16, lo, ((e.dest ?? 0) << 8) >>> 0);
    q(IRT + i * 16 + 8, ((e.sid ?? 0) | ((e.sq ?? 0) << 16) | ((e.svt ?? 0) << 18)) >>> 0, 0);
  };
  const cmd = (bits: number): void => u.write(VTD_GCMD, 4, (u.read(VTD_GSTS, 4) & ~(GCMD_SRTP | GCMD_SIRTP) | bits) >>> 0);
  const enableIr = (sizeField = 7): void => {
    u.write(VTD_IRTA, 4, IRT | sizeField);
    u.write(VTD_IRTA + 4, 4, 0);
    cmd(GCMD_SIRTP);
    cmd(GCMD_IRE);
  };
  return { u, ram, view, q, sent, iec, errors, irte, cmd, enableIr, remapChanges: () => remapChanges };
}

const compat = (vector: number, dest = 0): MsiMessage => encodeCompatMsi({ destination: dest, redirectionHint: false, destLogical: false, vector, deliveryMode: 0, level: false, assert: false });

describe('VT-d registers', () => {
  it('version, capabilities and extended capabilities as QEMU 7.2 reports them', () => {
    const { u } = rig();
    expect(u.read(VTD_VER, 4)).toBe(0x10);
    const cap = BigInt(u.read(VTD_CAP, 4)) | (BigInt(u.read(VTD_CAP + 4, 4)) << 32n);
    expect(cap & 7n).toBe(6n); // ND: 16-bit domain IDs
    expect((cap >> 8n) & 0x1fn).toBe(0x2n); // SAGAW: 39-bit, 3-level
    expect((cap >> 16n) & 0x3fn).toBe(38n); // MGAW
    expect(((cap >> 24n) & 0x3ffn) * 16n).toBe(0x220n); // FRO
    expect((cap >> 34n) & 0xfn).toBe(0x3n); // SLLPS: 2 MiB and 1 GiB
    expect((cap >> 39n) & 1n).toBe(1n); // PSI
    expect((cap >> 40n) & 0xffn).toBe(0n); // NFR - 1
    expect((cap >> 48n) & 0x3fn).toBe(18n); // MAMV
    const ecap = u.read(VTD_ECAP, 4);
    expect(ecap & 0b1011110).toBe(0b1001010); // QI, IR, PT; no DT, no EIM
    expect(((ecap >>> 8) & 0x3ff) * 16).toBe(0xf0); // IRO
    expect(rig({ intremap: false }).u.read(VTD_ECAP, 4) & 8).toBe(0);
  });

  it('global commands set their status bits; IRE needs a table, TE a root table; a narrow access is a guest error', () => {
    const { u, cmd, errors, remapChanges } = rig();
    cmd(GCMD_IRE);
    expect(u.read(VTD_GSTS, 4)).toBe(0);
    cmd(GCMD_TE);
    expect(u.read(VTD_GSTS, 4)).toBe(0);
    expect(errors).toEqual([expect.stringContaining('IRE before'), expect.stringContaining('TE before')]);
    u.write(VTD_RTADDR, 4, ROOT);
    cmd(GCMD_SRTP);
    cmd(GCMD_TE);
    cmd(GCMD_SIRTP);
    cmd(GCMD_IRE);
    cmd(GCMD_CFI);
    expect(u.read(VTD_GSTS, 4) >>> 0).toBe((GCMD_TE | GCMD_SRTP | GCMD_SIRTP | GCMD_IRE | GCMD_CFI) >>> 0);
    expect(remapChanges()).toBe(3); // SIRTP, IRE, CFI
    u.write(VTD_GCMD, 4, 0); // everything off at once
    expect(u.read(VTD_GSTS, 4) >>> 0).toBe((GCMD_SRTP | GCMD_SIRTP) >>> 0);
    expect(u.read(VTD_GCMD, 2)).toBe(0xffff);
    expect(errors.at(-1)).toContain('2-byte read');
  });
});

describe('VT-d interrupt remapping', () => {
  it('translates a remappable message through its IRTE (vector, destination, trigger, subhandle)', () => {
    const { u, irte, enableIr } = rig();
    irte(5, { vector: 0x61, dest: 3, level: true });
    irte(9, { vector: 0x62, dest: 1 });
    enableIr();
    expect(u.translate(encodeRemappableMsi(5), 0x18, true)).toEqual({ ok: true, irte: 5, msi: { addressLo: 0xfee0_3000, addressHi: 0, data: 0xc061 } });
    expect(u.translate(encodeRemappableMsi(4, 5), 0x18, true)).toEqual({ ok: true, irte: 9, msi: { addressLo: 0xfee0_1000, addressHi: 0, data: 0x4062 } });
  });

  it('with remapping off, every message passes unchanged', () => {
    const { u } = rig();
    expect(u.translate(compat(0x40), 0x18, true)).toEqual({ ok: true, irte: null, msi: compat(0x40) });
  });

  it.each([
    ['index beyond the table', FaultReason.IR_INDEX_BEYOND_TABLE, 300, {}],
    ['entry not present', FaultReason.IR_ENTRY_NOT_PRESENT, 3, { present: false }],
    ['reserved bits', FaultReason.IR_ENTRY_RESERVED, 3, { lowExtra: 1 << 13 }],
    ['posted mode (not offered)', FaultReason.IR_ENTRY_RESERVED, 3, { lowExtra: 1 << 15 }],
    ['source-id mismatch', FaultReason.IR_SOURCE_ID, 3, { sid: 0x20, svt: 1 }],
    ['requester bus outside the range', FaultReason.IR_SOURCE_ID, 3, { sid: 0x0203, svt: 2 }],
  ] as const)('%s: the fault recorded with the index and the source, the fault event sent', (_what, reason, index, e) => {
    const { u, irte, enableIr, sent } = rig();
    irte(3, { vector: 0x70, ...e });
    enableIr();
    u.write(VTD_FEDATA, 4, 0x55);
    u.write(VTD_FEADDR, 4, 0xfee0_0000);
    u.write(VTD_FECTL, 4, 0);
    expect(u.translate(encodeRemappableMsi(index), 0x18, false).ok).toBe(false);
    expect(u.read(VTD_FSTS, 4)).toBe(0); // a speculative translation records nothing
    expect(u.translate(encodeRemappableMsi(index), 0x18, true).ok).toBe(false);
    expect(u.recordedFault).toEqual({ reason, sourceId: 0x18, info: index * 2 ** 48, read: false });
    expect(u.read(VTD_FSTS, 4) & FSTS_PPF).toBe(FSTS_PPF);
    expect(u.read(VTD_FRCD + 12, 4) >>> 0).toBe((0x8000_0000 | reason) >>> 0);
    expect(u.read(VTD_FRCD + 6, 2)).toBe(0xffff); // narrow: a guest error
    expect(u.read(VTD_FRCD + 4, 4) >>> 16).toBe(index);
    expect(sent).toEqual([{ addressLo: 0xfee0_0000, addressHi: 0, data: 0x55 }]);
  });

  it('source validation with a qualifier ignores the function bits it names', () => {
    const { u, irte, enableIr } = rig();
    irte(1, { vector: 0x70, sid: 0x18, sq: 3, svt: 1 });
    enableIr();
    expect(u.translate(encodeRemappableMsi(1), 0x1f, true).ok).toBe(true);
    expect(u.translate(encodeRemappableMsi(1), 0x20, true).ok).toBe(false);
  });

  it('FPD suppresses the recording, not the blocking', () => {
    const { u, irte, enableIr } = rig();
    irte(2, { vector: 0x70, present: false, fpd: true });
    enableIr();
    expect(u.translate(encodeRemappableMsi(2), 0x18, true).ok).toBe(false);
    expect(u.recordedFault).toBeNull();
    expect(u.read(VTD_FSTS, 4)).toBe(0);
  });

  it('compatibility-format interrupts are blocked (0x25) until CFI allows them', () => {
    const { u, enableIr, cmd } = rig();
    enableIr();
    expect(u.translate(compat(0x41), 0x18, true).ok).toBe(false);
    expect(u.recordedFault?.reason).toBe(FaultReason.IR_COMPAT_BLOCKED);
    cmd(GCMD_CFI);
    expect(u.translate(compat(0x41), 0x18, true)).toEqual({ ok: true, irte: null, msi: compat(0x41) });
  });

  it('a masked fault event stays pending and goes out at unmask; a second fault overflows (PFO) until F is cleared', () => {
    const { u, enableIr, sent } = rig();
    enableIr(0); // 2 entries
    u.write(VTD_FEDATA, 4, 0x66);
    u.write(VTD_FEADDR, 4, 0xfee0_0000);
    u.translate(encodeRemappableMsi(7), 0x18, true);
    expect(u.read(VTD_FECTL, 4) >>> 0).toBe(0xc000_0000); // IM and IP
    expect(sent).toEqual([]);
    u.translate(encodeRemappableMsi(8), 0x18, true);
    expect(u.read(VTD_FSTS, 4) & (FSTS_PFO | FSTS_PPF)).toBe(FSTS_PFO | FSTS_PPF);
    expect(u.recordedFault?.info).toBe(7 * 2 ** 48);
    u.write(VTD_FECTL, 4, 0);
    expect(sent).toHaveLength(1);
    u.write(VTD_FRCD + 12, 4, 0x8000_0000);
    u.write(VTD_FSTS, 4, FSTS_PFO);
    expect(u.read(VTD_FSTS, 4)).toBe(0);
    u.translate(encodeRemappableMsi(9), 0x18, true);
    expect(u.recordedFault?.info).toBe(9 * 2 ** 48);
    expect(sent).toHaveLength(2);
  });
});

describe('VT-d queued invalidation', () => {
  function queue() {
    const r = rig();
    r.u.write(VTD_IQA, 4, QUEUE); // one page: 256 descriptors
    r.cmd(GCMD_QIE);
    let tail = 0;
    const post = (lo: number, lo1: number, hi: number, hi1 = 0): void => {
      r.q(QUEUE + tail * 16, lo, lo1);
      r.q(QUEUE + tail * 16 + 8, hi, hi1);
      tail++;
    };
    const go = (): void => r.u.write(VTD_IQT, 4, tail << 4);
    return { ...r, post, go };
  }

  it('interrupt-entry-cache invalidations: index-selective ranges (index mask) and global', () => {
    const { post, go, iec, u } = queue();
    post(0x4 | 0x10, 5, 0); // index 5, mask 0
    post(0x4 | 0x10 | (3 << 27), 21, 0); // index 21, mask 3: 16..23
    post(0x4, 0, 0); // global
    go();
    expect(iec).toEqual([[5, 5, false], [16, 23, false], [0, 0xffff, true]]);
    expect(u.read(VTD_IQH, 4)).toBe(3 << 4);
  });

  it('a wait descriptor writes its status and raises the invalidation event (or leaves it pending while masked)', () => {
    const { post, go, view, u, sent } = queue();
    u.write(VTD_IEDATA, 4, 0x77);
    u.write(VTD_IEADDR, 4, 0xfee0_0000);
    post(0x5 | (1 << 5), 0xcafe, STATUS);
    post(0x5 | (1 << 4), 0, 0);
    go();
    expect(view.getUint32(STATUS, true)).toBe(0xcafe);
    expect(u.read(VTD_ICS, 4)).toBe(1);
    expect(u.read(VTD_IECTL, 4) >>> 0).toBe(0xc000_0000);
    expect(sent).toEqual([]);
    u.write(VTD_IECTL, 4, 0);
    expect(sent).toEqual([{ addressLo: 0xfee0_0000, addressHi: 0, data: 0x77 }]);
  });

  it('a bad descriptor raises IQE and stops the queue on it; fixed and cleared, the queue moves on', () => {
    const { post, go, u, iec, q } = queue();
    post(0x4 | 0x10, 1, 0);
    post(0x9, 0, 0); // type 9: not a descriptor here
    post(0x4 | 0x10, 2, 0);
    go();
    expect(u.read(VTD_FSTS, 4) & FSTS_IQE).toBe(FSTS_IQE);
    expect(u.read(VTD_IQH, 4)).toBe(1 << 4);
    expect(iec).toEqual([[1, 1, false]]);
    q(QUEUE + 16, 0x4 | 0x10, 7);
    u.write(VTD_FSTS, 4, FSTS_IQE);
    expect(iec).toEqual([[1, 1, false], [7, 7, false], [2, 2, false]]);
  });
});

describe('VT-d DMA remapping', () => {
  /** Root → context for 00:03.0 → PML3 → PML2 → PT: 0x100000 → 0x200000 read/write, 0x101000 read-only, and a 2 MiB page at 0x40000000. */
  function tables(ctxLo = 0) {
    const r = rig();
    const CTX = 0x5_0000, L3 = 0x6_0000, L2 = 0x7_0000, L1 = 0x8_0000;
    r.q(ROOT, CTX | 1, 0);
    r.q(CTX + 0x18 * 16, (L3 | 1 | ctxLo) >>> 0, 0);
    r.q(CTX + 0x18 * 16 + 8, 1 | (1 << 8), 0); // AW 39-bit, domain 1
    r.q(L3, L2 | 3, 0);
    r.q(L3 + 8, L2 + 0x1000 | 3, 0); // 1 GiB .. 2 GiB
    r.q(L2, L1 | 3, 0);
    r.q(L2 + 0x1000, 0x0060_0000 | 0x80 | 3, 0); // 2 MiB page at 0x40000000 → 0x600000
    r.q(L1 + 0x100 * 8, 0x20_0000 | 3, 0);
    r.q(L1 + 0x101 * 8, 0x20_1000 | 1, 0);
    r.u.write(VTD_RTADDR, 4, ROOT);
    r.cmd(GCMD_SRTP);
    r.cmd(GCMD_TE);
    return r;
  }

  it('walks root, context and second-level tables, 4 KiB and 2 MiB pages', () => {
    const { u } = tables();
    expect(u.translateDma(0x18, 0x10_0123, true)).toEqual({ ok: true, address: 0x20_0123 });
    expect(u.translateDma(0x18, 0x10_1fff, false)).toEqual({ ok: true, address: 0x20_1fff });
    expect(u.translateDma(0x18, 0x4012_3456, false)).toEqual({ ok: true, address: 0x72_3456 });
  });

  it.each([
    ['write to a read-only page', 0x18, 0x10_1000, true, FaultReason.WRITE],
    ['read of an unmapped page', 0x18, 0x10_2000, false, FaultReason.READ],
    ['beyond the 39-bit address width', 0x18, 2 ** 40, false, FaultReason.ADDRESS_BEYOND_MGAW],
    ['a device without a context entry', 0x20, 0x10_0000, false, FaultReason.CONTEXT_ENTRY_NOT_PRESENT],
    ['a bus without a root entry', 0x118, 0x10_0000, false, FaultReason.ROOT_ENTRY_NOT_PRESENT],
  ] as const)('%s faults and is recorded with its reason, the page and the direction', (_w, sid, addr, write, reason) => {
    const { u } = tables();
    expect(u.translateDma(sid, addr, write)).toEqual({ ok: false, reason });
    expect(u.recordedFault).toEqual({ reason, sourceId: sid, info: addr - (addr % 4096), read: !write });
  });

  it('pass-through contexts and translation off pass addresses unchanged; a context\'s FPD suppresses recording', () => {
    expect(tables(2 << 2).u.translateDma(0x18, 0x12_3456, true)).toEqual({ ok: true, address: 0x12_3456 });
    expect(rig().u.translateDma(0x18, 0x12_3456, true)).toEqual({ ok: true, address: 0x12_3456 });
    const { u } = tables(2);
    expect(u.translateDma(0x18, 0x10_2000, false).ok).toBe(false);
    expect(u.recordedFault).toBeNull();
  });
});

describe('VT-d under random guest behaviour', () => {
  it('random register accesses, random tables and queue contents, random translations: nothing throws, the status stays well-formed', () => {
    const offsets = [0x00, 0x08, 0x0c, 0x10, 0x14, 0x18, 0x1c, 0x20, 0x24, 0x28, 0x2c, 0x34, 0x38, 0x3c, 0x40, 0x44,
      0x80, 0x84, 0x88, 0x8c, 0x90, 0x94, 0x9c, 0xa0, 0xa4, 0xa8, 0xac, 0xb8, 0xbc, 0xf0, 0xf4, 0xf8, 0xfc, 0x220, 0x224, 0x228, 0x22c, 0x300, 0xffc];
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(99), fc.nat(offsets.length - 1), fc.nat(0xffff_ffff), fc.nat(0xffff_ffff), fc.nat(0xffff)), { minLength: 50, maxLength: 400 }), (ops) => {
      const { u, view, errors } = rig();
      for (const [kind, oi, a, b, c] of ops) {
        const off = offsets[oi]!;
        if (kind < 30) u.read(off, kind % 10 === 0 ? 2 : 4);
        else if (kind < 55) u.write(off, kind % 11 === 0 ? 1 : 4, a);
        else if (kind < 65) u.write(VTD_GCMD, 4, [GCMD_TE, GCMD_SRTP, GCMD_QIE, GCMD_IRE, GCMD_SIRTP, GCMD_CFI, 0][b % 7]! | (a & GCMD_TE));
        else if (kind < 80) view.setUint32((a % (16 << 20)) & ~3, b, true); // scribble over RAM (tables, queue)
        else if (kind < 90) u.translate({ addressLo: (0xfee0_0000 | (a & 0xffff8)) >>> 0, addressHi: b % 4 === 0 ? b : 0, data: c }, c, (a & 1) === 1);
        else u.translateDma(c, a * 2 ** (b % 9), (b & 1) === 1);
        const fsts = u.read(VTD_FSTS, 4);
        expect(fsts & ~0x0000_ff73).toBe(0);
        expect(u.read(VTD_GSTS, 4) & ~(GCMD_TE | GCMD_SRTP | GCMD_QIE | GCMD_IRE | GCMD_SIRTP | GCMD_CFI)).toBe(0);
        expect(u.read(VTD_IQH, 4) >>> 4).toBeLessThan(256 * 128);
      }
      expect(errors.every((e) => typeof e === 'string')).toBe(true);
    }), { seed: 20261201, numRuns: 200 });
  });
});

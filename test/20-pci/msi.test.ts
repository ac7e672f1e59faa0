/**
 * MSI and MSI-X capabilities: registers, masking and pending, the message
 * each vector sends, and what tells an irqfd cache that an entry changed.
 * Every test asserts the exact list of sends.
 */
import { describe, expect, it } from 'vitest';
import { MsiCapability, MsixCapability, type MsiOutputs, type MsiSpec, type MsixSpec } from '../../src/pci/msi.js';
import { PciFunction } from '../../src/pci/function.js';

function recorder(master = true) {
  const log: string[] = [];
  let busMaster = master;
  const out: MsiOutputs = {
    send: (n, m) => log.push(`send ${n} ${m.addressHi.toString(16)}:${m.addressLo.toString(16)}=${m.data.toString(16)}`),
    busMaster: () => busMaster,
    onEntryChanged: (n) => log.push(`changed ${n}`),
    onGuestError: (w) => log.push(`error ${w}`),
  };
  return { log, out, setBusMaster: (v: boolean) => { busMaster = v; } };
}

const MSI64_PVM: MsiSpec = { offset: 0x50, vectors: 4, is64: true, perVectorMask: true };

describe('MSI capability (PCI 3.0 §6.8.1)', () => {
  it.each([
    [{ is64: false, perVectorMask: false }, 10, 0x08],
    [{ is64: true, perVectorMask: false }, 14, 0x0c],
    [{ is64: false, perVectorMask: true }, 20, 0x08],
    [{ is64: true, perVectorMask: true }, 24, 0x0c],
  ])('%o: %i bytes, data at +0x%s', (variant, length, dataAt) => {
    const c = new MsiCapability({ offset: 0x50, vectors: 8, ...variant }, recorder().out);
    expect(c.length).toBe(length);
    c.write(dataAt, 2, 0x4041);
    expect(c.read(dataAt, 2)).toBe(0x4041);
    // Message Control: MMC = log2(8) = 3 in bits 3:1, 64-bit in 7, per-vector masking in 8.
    expect(c.read(2, 2)).toBe((3 << 1) | (Number(variant.is64) << 7) | (Number(variant.perVectorMask) << 8));
  });

  it('sends nothing until enabled; then vector n carries n in the low data bits of the enabled count', () => {
    const r = recorder();
    const c = new MsiCapability(MSI64_PVM, r.out);
    c.fire(0);
    c.write(4, 4, 0xfee0_1003); //  bits 1:0 read as 0
    c.write(8, 4, 0);
    c.write(0xc, 2, 0x4060);
    expect(c.read(4, 4)).toBe(0xfee0_1000);
    c.write(2, 2, 1 | (2 << 4)); // enable, 4 vectors
    c.fire(0);
    c.fire(3);
    c.fire(4); //                  beyond the enabled count: nothing
    // The address and the data changed (the upper address was written with what it held): every vector's message changed twice.
    expect(r.log).toEqual(['changed 0', 'changed 1', 'changed 2', 'changed 3', 'changed 0', 'changed 1', 'changed 2', 'changed 3',
      'send 0 0:fee01000=4060', 'send 3 0:fee01000=4063']);
  });

  it('Multiple Message Enable above what the function asked for is clamped', () => {
    const r = recorder();
    const c = new MsiCapability({ offset: 0x50, vectors: 2, is64: false, perVectorMask: false }, r.out);
    c.write(2, 2, 1 | (5 << 4));
    expect(c.enabledVectors).toBe(2);
    c.fire(1);
    expect(r.log).toEqual(['send 1 0:0=1']);
  });

  it('per-vector masking: a masked vector is pending, its unmask sends it once; pending bits are read-only', () => {
    const r = recorder();
    const c = new MsiCapability(MSI64_PVM, r.out);
    c.write(4, 4, 0xfee0_0000);
    c.write(0xc, 2, 0x50);
    c.write(2, 2, 1 | (2 << 4));
    r.log.length = 0;
    c.write(0x10, 4, 0b0110); //   mask vectors 1 and 2
    c.fire(1);
    c.fire(1);
    c.fire(0);
    expect(c.read(0x14, 4)).toBe(0b0010);
    c.write(0x14, 4, 0); //         read-only
    expect(c.read(0x14, 4)).toBe(0b0010);
    c.write(0x10, 4, 0b0100); //   unmask 1
    expect(r.log).toEqual(['send 0 0:fee00000=50', 'send 1 0:fee00000=51']);
    expect(c.pendingBits).toBe(0);
    c.write(0x10, 4, 0xffff_ffff);
    expect(c.read(0x10, 4)).toBe(0xf); // bits beyond the 4 requested vectors read 0
  });

  it('without bus mastering nothing goes out', () => {
    const r = recorder(false);
    const c = new MsiCapability(MSI64_PVM, r.out);
    c.write(2, 2, 1);
    c.fire(0);
    expect(r.log).toEqual([]);
  });

  it('in a PCI function: the list links it, the function forwards its registers', () => {
    const r = recorder();
    const cap = new MsiCapability(MSI64_PVM, r.out);
    const f = new PciFunction({ vendorId: 1, deviceId: 2, classCode: 0, capabilities: [cap] });
    expect(f.read(0x34, 1)).toBe(0x50);
    expect(f.read(0x50, 4) & 0xffff).toBe(0x0005);
    f.write(0x54, 4, 0xfee0_2000);
    expect(cap.message(0).addressLo).toBe(0xfee0_2000);
  });

  it('snapshot → restore: same registers and the same pending bits', () => {
    const r = recorder();
    const c = new MsiCapability(MSI64_PVM, r.out);
    c.write(4, 4, 0xfee0_0000);
    c.write(2, 2, 1 | (2 << 4));
    c.write(0x10, 4, 1);
    c.fire(0);
    const s = JSON.parse(JSON.stringify(c.snapshot()));
    const d = MsiCapability.restore(MSI64_PVM, s, r.out);
    for (let at = 2; at < d.length; at += 2) expect(d.read(at, 2)).toBe(c.read(at, 2));
    expect(() => MsiCapability.restore(MSI64_PVM, { ...s, data: 0x10000 }, r.out)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => new MsiCapability({ ...MSI64_PVM, vectors: 3 }, r.out)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
  });
});

const MSIX: MsixSpec = { offset: 0x60, vectors: 3, tableBar: 1, tableOffset: 0x0, pbaBar: 1, pbaOffset: 0x800 };

function programEntry(c: MsixCapability, n: number, addressLo: number, data: number, masked: boolean): void {
  c.tableWrite(n * 16, 4, addressLo);
  c.tableWrite(n * 16 + 4, 4, 0);
  c.tableWrite(n * 16 + 8, 4, data);
  c.tableWrite(n * 16 + 12, 4, masked ? 1 : 0);
}

describe('MSI-X capability (PCI 3.0 §6.8.2)', () => {
  it('capability registers: table size N-1, table and PBA BIR/offset; only enable and function mask are writable', () => {
    const c = new MsixCapability({ ...MSIX, vectors: 2048, pbaOffset: 0x8000 }, recorder().out);
    expect(c.read(2, 2)).toBe(2047);
    expect(c.read(4, 4)).toBe(0x0000_0001);
    expect(c.read(8, 4)).toBe(0x0000_8001);
    c.write(2, 2, 0xffff);
    expect(c.read(2, 2)).toBe(0xc000 | 2047);
    c.write(4, 4, 0x1234);
    expect(c.read(4, 4)).toBe(1);
    expect(c.pbaSize).toBe(256);
  });

  it('entries come out of reset masked: a fire is pending in the PBA until the entry is unmasked', () => {
    const r = recorder();
    const c = new MsixCapability(MSIX, r.out);
    c.write(3, 1, 0x80); //  enable
    c.fire(2);
    expect(r.log).toEqual([]);
    expect(c.pbaRead(0, 4)).toBe(0b100);
    programEntry(c, 2, 0xfee0_0000, 0x42, true);
    programEntry(c, 2, 0xfee0_0000, 0x42, false);
    // Address and data written: two reprogrammings; the unmask is none, and sends the pending vector.
    expect(r.log).toEqual(['changed 2', 'changed 2', 'send 2 0:fee00000=42']);
    expect(c.pbaRead(0, 4)).toBe(0);
  });

  it('the function mask holds every vector; clearing it sends what is pending, in vector order', () => {
    const r = recorder();
    const c = new MsixCapability(MSIX, r.out);
    programEntry(c, 0, 0xfee0_1000, 0x30, false);
    programEntry(c, 1, 0xfee0_2000, 0x31, false);
    r.log.length = 0;
    c.write(3, 1, 0xc0); //  enable + function mask
    c.fire(1);
    c.fire(0);
    expect(r.log).toEqual([]);
    c.write(3, 1, 0x80);
    expect(r.log).toEqual(['send 0 0:fee01000=30', 'send 1 0:fee02000=31']);
  });

  it('disabled: a fire is dropped, not held; masking and unmasking never count as reprogramming', () => {
    const r = recorder();
    const c = new MsixCapability(MSIX, r.out);
    programEntry(c, 0, 0xfee0_0000, 0x50, false);
    r.log.length = 0;
    c.fire(0);
    c.tableWrite(12, 4, 1);
    c.tableWrite(12, 4, 0);
    c.write(3, 1, 0x80);
    expect(r.log).toEqual([]);
    c.tableWrite(8, 4, 0x50); //  the same data: no change
    c.tableWrite(8, 4, 0x51);
    expect(r.log).toEqual(['changed 0']);
  });

  it('table accesses other than aligned dwords, and PBA writes, are guest errors: all ones, nothing changed', () => {
    const r = recorder();
    const c = new MsixCapability(MSIX, r.out);
    expect(c.tableRead(2, 2)).toBe(0xffff);
    expect(c.tableRead(0x30, 4)).toBe(0xffff_ffff); // past the 3 entries
    c.tableWrite(1, 4, 0);
    expect(c.pbaRead(1, 4)).toBe(0xffff_ffff);
    expect(r.log.filter((l) => l.startsWith('error'))).toHaveLength(4);
    expect(c.tableRead(12, 4)).toBe(1); // still masked
  });

  it('snapshot → restore: the table, the pending bits and the control come back; malformed states are refused', () => {
    const r = recorder();
    const c = new MsixCapability(MSIX, r.out);
    programEntry(c, 1, 0xfee0_3000, 0x77, true);
    c.write(3, 1, 0x80);
    c.fire(1);
    const s = JSON.parse(JSON.stringify(c.snapshot()));
    const d = MsixCapability.restore(MSIX, s, r.out);
    expect(d.read(0, 12)).toBe(c.read(0, 12));
    for (let at = 0; at < d.tableSize; at += 4) expect(d.tableRead(at, 4)).toBe(c.tableRead(at, 4));
    expect(d.pbaRead(0, 4)).toBe(0b10);
    expect(() => MsixCapability.restore(MSIX, { ...s, pending: [0b1000] }, r.out)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => MsixCapability.restore(MSIX, { ...s, table: [1] }, r.out)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => new MsixCapability({ ...MSIX, vectors: 2049 }, r.out)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => new MsixCapability({ ...MSIX, pbaOffset: 4 }, r.out)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
  });
});

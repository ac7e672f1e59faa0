/**
 * PCI configuration space: mechanism #1 on bus 0, the Q35 host bridge, the
 * type-0 header's writable bits, the BAR sizing protocol, decode gating,
 * capability lists, INTx, and snapshot/restore.
 */
import { describe, expect, it } from 'vitest';
import { PciFunction, CMD_BUS_MASTER, CMD_INTX_DISABLE, CMD_IO, CMD_MEMORY, type BarMapping, type CapabilityRegion, type PciFunctionSpec } from '../../src/pci/function.js';
import { PciHost } from '../../src/pci/host.js';

const addr = (dev: number, fn: number, reg: number, bus = 0): number => (0x8000_0000 | (bus << 16) | (dev << 11) | (fn << 8) | reg) >>> 0;

function cfg(host: PciHost, dev: number, reg: number, size = 4, fn = 0): number {
  host.ports.write(0, 4, addr(dev, fn, reg & 0xfc));
  return host.ports.read(4 + (reg & 3), size);
}

function cfgWrite(host: PciHost, dev: number, reg: number, value: number, size = 4): void {
  host.ports.write(0, 4, addr(dev, 0, reg & 0xfc));
  host.ports.write(4 + (reg & 3), size, value);
}

const EDU_LIKE: PciFunctionSpec = {
  vendorId: 0x1234, deviceId: 0x11e8, classCode: 0x00ff_00, revision: 0x10, interruptPin: 1,
  bars: [{ kind: 'mem32', size: 0x10_0000 }, { kind: 'io', size: 0x20 }, { kind: 'mem64', size: 0x4000, prefetchable: true }],
};

describe('configuration mechanism #1', () => {
  it('reads the Q35 host bridge at 00:00.0 by dword, word and byte', () => {
    const host = new PciHost();
    expect(cfg(host, 0, 0x00)).toBe(0x29c0_8086);
    expect(cfg(host, 0, 0x00, 2)).toBe(0x8086);
    expect(cfg(host, 0, 0x02, 2)).toBe(0x29c0);
    expect(cfg(host, 0, 0x03, 1)).toBe(0x29);
    expect(cfg(host, 0, 0x08) >>> 8).toBe(0x06_00_00); // host bridge class
    expect(cfg(host, 0, 0x0e, 1)).toBe(0x00); //            header type 0, single function
  });

  it('CONFIG_ADDRESS latches dword writes only, reads back without bits 30:24 and 1:0', () => {
    const host = new PciHost();
    host.ports.write(0, 4, 0xffff_ffff);
    expect(host.ports.read(0, 4)).toBe(0x80ff_fffc);
    host.ports.write(1, 1, 0x12); // 0xcf9: not CONFIG_ADDRESS
    expect(host.ports.read(0, 4)).toBe(0x80ff_fffc);
    expect(host.ports.read(1, 1)).toBe(0xff);
  });

  it('disabled, another bus, an empty slot: all ones, writes dropped (master abort)', () => {
    const host = new PciHost();
    host.ports.write(0, 4, 0x0000_0000);
    expect(host.ports.read(4, 4)).toBe(0xffff_ffff);
    host.ports.write(0, 4, addr(0, 0, 0, 1));
    expect(host.ports.read(4, 4)).toBe(0xffff_ffff);
    expect(cfg(host, 5, 0)).toBe(0xffff_ffff);
    expect(cfg(host, 5, 0, 1)).toBe(0xff);
    cfgWrite(host, 5, 0x04, 0x7);
    expect(cfg(host, 5, 0x04)).toBe(0xffff_ffff);
  });

  it('an unaligned CONFIG_DATA access is a counted guest error, never a throw', () => {
    const errors: string[] = [];
    const host = new PciHost({ onGuestError: (w) => errors.push(w) });
    host.ports.write(0, 4, addr(0, 0, 0));
    expect(host.ports.read(5, 2)).toBe(0xffff);
    expect(host.guestErrors).toBe(1);
    expect(errors[0]).toContain('unaligned');
  });

  it('a plugged function answers at its slot; a taken slot is refused', () => {
    const host = new PciHost();
    host.plug(3, new PciFunction(EDU_LIKE));
    expect(cfg(host, 3, 0)).toBe(0x11e8_1234);
    expect(cfg(host, 3, 0x3c) >>> 8 & 0xff).toBe(1); // INTA#
    expect(() => host.plug(3, new PciFunction(EDU_LIKE))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => host.plug(32, new PciFunction(EDU_LIKE))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
  });
});

describe('PCIe ECAM', () => {
  const at = (bus: number, dev: number, fn: number, reg: number): number => (bus << 20) | (dev << 15) | (fn << 12) | reg;

  it('reads and writes the same registers as mechanism #1, at every width', () => {
    const host = new PciHost();
    expect(host.ecam.read(at(0, 0, 0, 0), 4)).toBe(0x29c0_8086);
    expect(host.ecam.read(at(0, 0, 0, 2), 2)).toBe(0x29c0);
    expect(host.ecam.read(at(0, 0, 0, 0x0b), 1)).toBe(0x06);
    host.ecam.write(at(0, 0, 0, 0x3c), 1, 0x5a);
    host.ports.write(0, 4, 0x8000_003c);
    expect(host.ports.read(4, 1)).toBe(0x5a);
  });

  it('another bus, an empty slot, a conventional function\'s extended space: all ones, writes dropped', () => {
    const host = new PciHost();
    expect(host.ecam.read(at(1, 0, 0, 0), 4)).toBe(0xffff_ffff);
    expect(host.ecam.read(at(0, 5, 0, 0), 2)).toBe(0xffff);
    expect(host.ecam.read(at(0, 0, 0, 0x100), 4)).toBe(0xffff_ffff);
    const line = host.ecam.read(at(0, 0, 0, 0x3c), 1);
    host.ecam.write(at(0, 0, 0, 0x13c), 1, line ^ 0x77); // not the interrupt line at 0x3c
    expect(host.ecam.read(at(0, 0, 0, 0x3c), 1)).toBe(line);
  });

  it('a misaligned or odd-sized access is a counted guest error: all ones, nothing written, no throw', () => {
    const errors: string[] = [];
    const host = new PciHost({ onGuestError: (w) => errors.push(w) });
    expect(host.ecam.read(at(0, 0, 0, 1), 4)).toBe(0xffff_ffff);
    expect(host.ecam.read(at(0, 0, 0, 0), 8)).toBe(0xffff_ffff);
    const before = host.ecam.read(at(0, 0, 0, 0x3c), 4);
    host.ecam.write(at(0, 0, 0, 0x3d), 2, 0x1234);
    expect(host.ecam.read(at(0, 0, 0, 0x3c), 4)).toBe(before);
    expect(errors).toHaveLength(3);
    expect(host.guestErrors).toBe(3);
  });
});

describe('type-0 header', () => {
  it('BAR sizing: all ones written, the size mask and type bits read back', () => {
    const f = new PciFunction(EDU_LIKE);
    for (const i of [0, 1, 2, 3]) f.write(0x10 + 4 * i, 4, 0xffff_ffff);
    expect(f.read(0x10, 4)).toBe(0xfff0_0000); //            1 MiB, 32-bit memory
    expect(f.read(0x14, 4)).toBe(0xffff_ffe1); //            32 ports, I/O
    expect(f.read(0x18, 4)).toBe(0xffff_c00c); //            16 KiB, 64-bit, prefetchable
    expect(f.read(0x1c, 4)).toBe(0xffff_ffff); //            its upper half
    expect(f.read(0x20, 4)).toBe(0); //                      unimplemented
  });

  it('the command register gates decode: onBar reports each window on, moved and off', () => {
    const events: [number, BarMapping | null][] = [];
    const f = new PciFunction(EDU_LIKE, { onBar: (i, m) => events.push([i, m]) });
    f.write(0x10, 4, 0xfe00_0000);
    f.write(0x14, 4, 0xc000);
    expect(events).toEqual([]); //                            no decode yet
    f.write(0x04, 2, CMD_MEMORY | CMD_IO);
    expect(events).toEqual([[0, { kind: 'mem32', base: 0xfe00_0000, size: 0x10_0000 }], [1, { kind: 'io', base: 0xc000, size: 0x20 }]]);
    events.length = 0;
    f.write(0x10, 4, 0xfe10_0000);
    expect(events).toEqual([[0, { kind: 'mem32', base: 0xfe10_0000, size: 0x10_0000 }]]);
    events.length = 0;
    f.write(0x04, 2, CMD_IO);
    expect(events).toEqual([[0, null]]);
    expect(f.barMapping(1)).toEqual({ kind: 'io', base: 0xc000, size: 0x20 });
  });

  it('a BAR being sized decodes nothing, even with decode on', () => {
    const events: [number, BarMapping | null][] = [];
    const f = new PciFunction(EDU_LIKE, { onBar: (i, m) => events.push([i, m]) });
    f.assignBar(0, 0xfe00_0000);
    f.setCommand(CMD_MEMORY);
    f.write(0x10, 4, 0xffff_ffff);
    expect(events.at(-1)).toEqual([0, null]);
    f.write(0x10, 4, 0xfe00_0000);
    expect(events.at(-1)).toEqual([0, { kind: 'mem32', base: 0xfe00_0000, size: 0x10_0000 }]);
  });

  it('a 64-bit BAR places its window from both halves', () => {
    const f = new PciFunction(EDU_LIKE);
    f.write(0x18, 4, 0x8000_0000);
    f.write(0x1c, 4, 0x1);
    f.setCommand(CMD_MEMORY);
    expect(f.barMapping(2)).toEqual({ kind: 'mem64', base: 0x1_8000_0000, size: 0x4000 });
  });

  it('read-only registers ignore writes; the command keeps only implemented bits; interrupt line is writable, the pin is not', () => {
    const f = new PciFunction(EDU_LIKE);
    f.write(0x00, 4, 0xdead_beef);
    expect(f.read(0x00, 4)).toBe(0x11e8_1234);
    f.write(0x04, 2, 0xffff);
    expect(f.read(0x04, 2)).toBe(CMD_IO | CMD_MEMORY | CMD_BUS_MASTER | (1 << 6) | (1 << 8) | CMD_INTX_DISABLE);
    f.write(0x3c, 2, 0x040b);
    expect(f.read(0x3c, 2)).toBe(0x010b);
    f.write(0x08, 4, 0);
    expect(f.read(0x08, 4)).toBe(0x00ff_0010);
  });

  it('INTx: status bit 3 follows the device, the pin is gated by INTx disable', () => {
    const f = new PciFunction(EDU_LIKE);
    f.setIntx(true);
    expect(f.read(0x06, 2) & 0x8).toBe(0x8);
    expect(f.intxOut).toBe(true);
    f.write(0x04, 2, CMD_INTX_DISABLE);
    expect(f.intxOut).toBe(false);
    expect(f.read(0x06, 2) & 0x8).toBe(0x8); // status still says the device wants it
  });

  it('capability list: status bit 4, the pointer, IDs and next pointers in address order, bodies from their owners', () => {
    const writes: string[] = [];
    const cap = (offset: number, id: number, length: number): CapabilityRegion => ({
      offset, id, length,
      read: (o) => (o === 2 ? id + 0x40 : 0),
      write: (o, s, v) => { writes.push(`${id}@${o}/${s}=${v}`); },
    });
    const f = new PciFunction({ ...EDU_LIKE, capabilities: [cap(0x50, 0x11, 12), cap(0x40, 0x05, 16)] });
    expect(f.read(0x06, 2) & 0x10).toBe(0x10);
    expect(f.read(0x34, 1)).toBe(0x40);
    expect(f.read(0x40, 2)).toBe(0x5005); //  MSI, next at 0x50
    expect(f.read(0x50, 2)).toBe(0x0011); //  MSI-X, end of list
    expect(f.read(0x42, 1)).toBe(0x45);
    f.write(0x42, 2, 0x81);
    f.write(0x40, 1, 0x99); //                 the ID and next bytes are read-only
    expect(writes).toEqual(['5@2/2=129']);
    expect(new PciFunction(EDU_LIKE).read(0x06, 2) & 0x10).toBe(0);
  });

  it('out-of-range and misaligned accesses are guest errors: all ones, nothing written, no throw', () => {
    const errors: string[] = [];
    const f = new PciFunction(EDU_LIKE, { onGuestError: (w) => errors.push(w) });
    expect(f.read(0xff, 2)).toBe(0xffff);
    expect(f.read(0x101, 1)).toBe(0xff);
    expect(f.read(0x11, 4)).toBe(0xffff_ffff);
    f.write(0x05, 4, 0xffff_ffff);
    expect(f.read(0x04, 2)).toBe(0);
    expect(errors).toHaveLength(4);
  });

  it('refuses impossible BARs and capabilities when built (a VMM bug, not a guest one)', () => {
    expect(() => new PciFunction({ ...EDU_LIKE, bars: [{ kind: 'mem32', size: 0x3000 }] })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => new PciFunction({ ...EDU_LIKE, bars: [{ kind: 'io', size: 512 }] })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => new PciFunction({ ...EDU_LIKE, bars: [undefined, undefined, undefined, undefined, undefined, { kind: 'mem64', size: 0x1000 }] }))
      .toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => new PciFunction({ ...EDU_LIKE, capabilities: [{ offset: 0x3c, id: 5, length: 8, read: () => 0, write: () => {} }] }))
      .toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
  });

  it('snapshot → restore gives the same registers and the same decode', () => {
    const f = new PciFunction(EDU_LIKE);
    f.assignBar(0, 0xfe00_0000);
    f.assignBar(1, 0xc040);
    f.setCommand(CMD_MEMORY | CMD_IO | CMD_BUS_MASTER);
    f.write(0x0c, 1, 0x10);
    f.setInterruptLine(11);
    const s = JSON.parse(JSON.stringify(f.snapshot()));
    const events: number[] = [];
    const g = PciFunction.restore(EDU_LIKE, s, { onBar: (i) => events.push(i) });
    for (let at = 0; at < 0x40; at += 4) expect(g.read(at, 4)).toBe(f.read(at, 4));
    expect(g.barMapping(0)).toEqual(f.barMapping(0));
    expect(events).toEqual([0, 1]);
    expect(() => PciFunction.restore(EDU_LIKE, { ...s, command: -1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => PciFunction.restore(EDU_LIKE, { ...s, version: 2 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
  });
});

import { describe, expect, it } from 'vitest';
import { DebugExit } from '../../src/devices/debug-exit.js';
import { FwCfg, FW_CFG_DATA, FW_CFG_SELECTOR } from '../../src/devices/fw-cfg.js';
import { PcTestdevIoport, PcTestdevIrq } from '../../src/devices/pc-testdev.js';

describe('isa-debug-exit', () => {
  it.each([[0, 1], [1, 3], [0x7f, 0xff], [0x80, 1], [0x12345, 0x8b]])('value %i exits with status %i, (v << 1) | 1 mod 256', (v, status) => {
    const seen: number[] = [];
    new DebugExit({ onExit: (s) => seen.push(s) }).write(0, 4, v);
    expect(seen).toEqual([status]);
  });
  it('reads as all ones', () => {
    const d = new DebugExit({ onExit: () => {} });
    expect(d.read(0, 1)).toBe(0xff);
    expect(d.read(0, 4)).toBe(0xffff_ffff);
  });
});

describe('fw_cfg', () => {
  const readItem = (f: FwCfg, key: number, n: number): number[] => {
    f.write(FW_CFG_SELECTOR, 2, key);
    return Array.from({ length: n }, () => f.read(FW_CFG_DATA, 1));
  };
  it('signature, RAM size, CPU counts; reads past the end are 0', () => {
    const f = new FwCfg({ ramSize: 64 << 20, cpus: 3, maxCpus: 8 });
    expect(String.fromCharCode(...readItem(f, 0, 4))).toBe('QEMU');
    expect(readItem(f, 3, 8)).toEqual([0, 0, 0, 4, 0, 0, 0, 0]);
    expect(readItem(f, 5, 3)).toEqual([3, 0, 0]);
    expect(readItem(f, 0x0f, 2)).toEqual([8, 0]);
    expect(readItem(f, 0x77, 2)).toEqual([0, 0]);
  });
});

describe('pc-testdev', () => {
  it('a byte write to 0x2000+n sets IOAPIC line n to (value != 0)', () => {
    const calls: [number, boolean][] = [];
    const d = new PcTestdevIrq({ setIrq: (n, l) => calls.push([n, l]) });
    d.write(4, 1, 1);
    d.write(4, 1, 0);
    d.write(23, 1, 7);
    d.write(24, 1, 1);
    expect(calls).toEqual([[4, true], [4, false], [23, true]]);
    expect(d.guestErrors).toBe(1);
  });
  it('port 0xe0 reads back the last write at 1, 2 and 4 bytes', () => {
    const d = new PcTestdevIoport();
    d.write(0, 4, 0x12345678);
    expect(d.read(0, 4)).toBe(0x12345678);
    expect(d.read(0, 2)).toBe(0x5678);
    expect(d.read(0, 1)).toBe(0x78);
    d.write(0, 1, 0xaa);
    expect(d.read(0, 4)).toBe(0x123456aa);
  });
});

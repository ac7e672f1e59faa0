/**
 * What the device fuzzer (fuzz-devices.ts) found, one behaviour per test,
 * each with the run that found it (seed 466980 = 0x72024, the seed of
 * devices.test.ts, before the fix), so the behaviour stays pinned even if
 * the generators change.
 */
import { describe, expect, it } from 'vitest';
import { DebugExit } from '../../src/devices/debug-exit.js';
import { FwCfg, FW_CFG_DATA, FW_CFG_SELECTOR } from '../../src/devices/fw-cfg.js';
import { RecordingIrqLine } from '../../src/devices/irq.js';
import { PcTestdevIoport, PcTestdevIrq } from '../../src/devices/pc-testdev.js';
import { Uart16550 } from '../../src/devices/uart16550.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { Ioapic, IOEOI, IOREDTBL, IOREGSEL, IOWIN } from '../../src/irqchip/ioapic.js';
import { APIC_ESR, APIC_ICR_HIGH, APIC_LDR, APIC_LVT_ERROR, APIC_LVT_TIMER, APIC_SVR, APIC_TIMER_DIVIDE, APIC_TIMER_INITIAL, Lapic } from '../../src/irqchip/lapic.js';
import { Pic8259Pair } from '../../src/irqchip/pic8259.js';

const LEVEL = 1 << 15;
const MASK = 1 << 16;
const RIRR = 1 << 14;

function ioapic() {
  const delivered: number[] = [];
  const resampled: number[] = [];
  const a = new Ioapic({ updateRoute: () => {}, deliver: (pin) => delivered.push(pin), resample: (pin) => resampled.push(pin) });
  const rte = (pin: number, lo: number, hi?: number): void => {
    if (hi !== undefined) {
      a.write(IOREGSEL, 4, IOREDTBL + 2 * pin + 1);
      a.write(IOWIN, 4, hi);
    }
    a.write(IOREGSEL, 4, IOREDTBL + 2 * pin);
    a.write(IOWIN, 4, lo);
  };
  return { a, rte, delivered, resampled };
}

function lapic() {
  const a = new Lapic(0, { eoi: () => {}, ipi: () => {} });
  a.write(APIC_SVR, 0x1ff);
  return a;
}

describe('IOAPIC', () => {
  it('a byte or word write to IOWIN changes no RTE (82093AA: dword accesses; QEMU ignores others) — step 100', () => {
    const { a, rte, delivered } = ioapic();
    rte(0, 0x30 | LEVEL | MASK);
    a.setIrq(0, true);
    a.write(IOREGSEL, 4, IOREDTBL);
    a.write(IOWIN, 1, 0x31); // the low byte alone: acting on it would unmask the pin
    a.write(IOWIN, 2, 0x31);
    expect(a.read(IOWIN, 4)).toBe(0x30 | LEVEL | MASK);
    expect(a.read(IOWIN, 1)).toBe(0);
    expect(delivered).toEqual([]);
    expect(a.guestErrors).toBe(3);
  });

  it('a narrow write to the EOI register ends nothing', () => {
    const { a, rte, resampled } = ioapic();
    rte(2, 0x32 | LEVEL);
    a.setIrq(2, true);
    a.write(IOEOI, 1, 0x32);
    expect(resampled).toEqual([]);
    a.write(IOEOI, 4, 0x32);
    expect(resampled).toEqual([2]);
  });

  it('RTE words stay unsigned 32-bit values through delivery and EOI, so restore accepts its own snapshot — step 17', () => {
    const { a, rte } = ioapic();
    rte(3, (0x8000_0000 | 0x33 | LEVEL) >>> 0, 0xff00_0000); // a reserved bit 31 set by the guest; destination 0xff
    a.setIrq(3, true);
    const s = a.snapshot();
    expect(s.rteLo[3]).toBe((0x8000_0000 | 0x33 | LEVEL | RIRR) >>> 0);
    expect(s.rteHi[3]).toBe(0xff00_0000);
    expect(Ioapic.restore(JSON.parse(JSON.stringify(s)), { updateRoute: () => {}, deliver: () => {}, resample: () => {} }).snapshot()).toEqual(s);
    a.eoi(0x33);
    expect(a.snapshot().rteLo[3]).toBeGreaterThan(0);
  });
});

describe('local APIC', () => {
  it('an illegal vector in LVT Error is recorded in ESR, not recursed into — step 12878 (stack overflow)', () => {
    const a = lapic();
    a.write(APIC_LVT_ERROR, 0x05);
    expect(() => a.acceptFixed(0x03, false)).not.toThrow();
    a.write(APIC_ESR, 0);
    expect(a.read(APIC_ESR)).toBe(1 << 6); // receive illegal vector
    expect(a.hasInterrupt()).toBe(false);
  });

  it('LDR and ICR high read back as unsigned 32-bit values — step 270', () => {
    const a = lapic();
    a.write(APIC_LDR, 0xa5ff_ffff);
    a.write(APIC_ICR_HIGH, 0xff00_0000);
    expect(a.read(APIC_LDR)).toBe(0xa500_0000);
    expect(a.read(APIC_ICR_HIGH)).toBe(0xff00_0000);
  });

  it('a 1-tick periodic timer across a 2^40-tick jump fires once, at once, and reloads on its period', () => {
    const a = lapic();
    a.write(APIC_TIMER_DIVIDE, 0b1011); // divide by 1
    a.write(APIC_LVT_TIMER, 0x40 | (1 << 17));
    a.write(APIC_TIMER_INITIAL, 1);
    const t0 = performance.now();
    a.advance(2 ** 40); // a loop per expired period (the code before) would take 2^40 iterations here
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(a.nextDeadline()).toBe(2 ** 40 + 1);
    expect(a.acknowledge()).toBe(0x40);
    expect(a.hasInterrupt()).toBe(false);
  });
});

describe('8259A pair', () => {
  it('special mask mode: an IR in service is not requested again, other levels are — step 1355', () => {
    const intr = new RecordingIrqLine();
    const pic = new Pic8259Pair({ intr });
    pic.write('master', 0, 0x11); // ICW1
    pic.write('master', 1, 0x20); // ICW2: vectors 0x20..0x27
    pic.write('master', 1, 0x04); // ICW3: slave on IR2
    pic.write('master', 1, 0x01); // ICW4: 8086 mode
    pic.write('master', 0, 0x68); // OCW3: set special mask mode
    pic.setIrq(3, true);
    expect(pic.acknowledge()).toBe(0x23);
    pic.setIrq(3, false);
    pic.setIrq(3, true); // a new edge while IR3 is in service
    expect(pic.intr).toBe(false);
    pic.setIrq(5, true); // a lower level: enabled in special mask mode
    expect(pic.acknowledge()).toBe(0x25);
  });
});

describe('fw_cfg', () => {
  it('selector bit 15 picks the architecture-local key space (0x8000 is not the signature); bit 14 is ignored — step 11', () => {
    const f = new FwCfg({ ramSize: 1 << 20, cpus: 1, maxCpus: 1 });
    const read = (key: number): number[] => {
      f.write(FW_CFG_SELECTOR, 2, key);
      return Array.from({ length: 4 }, () => f.read(FW_CFG_DATA, 1));
    };
    expect(read(0x8000)).toEqual([0, 0, 0, 0]);
    expect(String.fromCharCode(...read(0x4000))).toBe('QEMU');
  });
});

describe('pc-testdev port 0xe0', () => {
  it('a write at offsets 1..3 replaces only the bytes it covers — step 3', () => {
    const d = new PcTestdevIoport();
    d.write(0, 4, 0x1234_5678);
    d.write(1, 1, 0xaa);
    expect(d.read(0, 4)).toBe(0x1234_aa78);
    expect(d.read(1, 1)).toBe(0xaa);
    d.write(2, 4, 0xbbcc_ddee); // past the register's end: the bytes that fit
    expect(d.read(0, 4)).toBe(0xddee_aa78);
  });

  it('offsets outside the 4-byte register are guest errors: reads all ones, writes dropped — step 2', () => {
    const d = new PcTestdevIoport();
    d.write(0, 4, 0x1234_5678);
    d.write(4, 1, 0);
    expect(d.read(4, 2)).toBe(0xffff);
    expect(d.read(0, 4)).toBe(0x1234_5678);
    expect(d.guestErrors).toBe(2);
  });
});

describe('snapshot/restore: named, versioned plain state; malformed states are refused', () => {
  const cfg = { ramSize: 64 << 20, cpus: 2, maxCpus: 4 };
  type Case = { name: string; make: () => { snapshot(): object }; restore: (s: never) => { snapshot(): object }; broken?: (s: never) => unknown };
  const cases: Case[] = [
    {
      name: 'fw_cfg', make: () => { const f = new FwCfg(cfg); f.write(FW_CFG_SELECTOR, 2, 3); f.read(FW_CFG_DATA, 1); return f; },
      restore: (s) => FwCfg.restore(s, cfg), broken: (s: object) => ({ ...s, offset: 9 }), // past the end of the 8-byte RAM size
    },
    {
      name: 'pc-testdev port 0xe0', make: () => { const d = new PcTestdevIoport(); d.write(0, 4, 0xdead_beef); return d; },
      restore: (s) => PcTestdevIoport.restore(s), broken: (s: object) => ({ ...s, value: 2 ** 32 }),
    },
    { name: 'pc-testdev IRQ block', make: () => new PcTestdevIrq({ setIrq: () => {} }), restore: (s) => PcTestdevIrq.restore(s, { setIrq: () => {} }) },
    { name: 'isa-debug-exit', make: () => new DebugExit({ onExit: () => {} }), restore: (s) => DebugExit.restore(s, { onExit: () => {} }) },
    {
      name: '8259 pair',
      make: () => { const p = new Pic8259Pair({ intr: new RecordingIrqLine() }); p.write('master', 0, 0x11); p.write('master', 1, 0x20); return p; },
      restore: (s) => Pic8259Pair.restore(s, { intr: new RecordingIrqLine() }),
      broken: (s: { master: object }) => ({ ...s, master: { ...s.master, isr: 0x100 } }),
    },
    {
      name: 'UART', make: () => new Uart16550({ irq: new RecordingIrqLine(), tx: () => {} }),
      restore: (s) => Uart16550.restore(s, { irq: new RecordingIrqLine(), tx: () => {} }), broken: (s: object) => ({ ...s, rx: [1, 2] }), // two bytes without a FIFO
    },
  ];

  it.each(cases)('$name: restore(JSON of snapshot()) snapshots equal; a wrong version or a bad field throws ERR_INVALID_ARG', ({ make, restore, broken }) => {
    const s = make().snapshot();
    expect(restore(JSON.parse(JSON.stringify(s)) as never).snapshot()).toEqual(s);
    for (const bad of [{ ...s, version: 2 }, null, 'state', ...(broken ? [broken(s as never)] : [])]) {
      let thrown: unknown;
      try {
        restore(bad as never);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(InvalidArgumentError);
      expect((thrown as InvalidArgumentError).code).toBe('ERR_INVALID_ARG');
    }
  });
});

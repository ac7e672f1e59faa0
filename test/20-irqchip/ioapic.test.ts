/**
 * The userspace IOAPIC under recording outputs: exact lists of route
 * updates, deliveries and resamples.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Ioapic, IOREGSEL, IOWIN, IOEOI, IOREDTBL, type IoapicOutputs } from '../../src/irqchip/ioapic.js';
import { encodeRte, parseRte, rteToMsi, type MsiMessage, type Rte } from '../../src/irqchip/rte.js';

type Ev = { ev: 'route' | 'deliver'; pin: number; dest: number; vector: number; level: boolean } | { ev: 'resample'; pin: number };

function recording(): { out: IoapicOutputs; events: Ev[] } {
  const events: Ev[] = [];
  const m = (ev: 'route' | 'deliver', pin: number, msi: MsiMessage): Ev => ({
    ev, pin, dest: (msi.addressLo >>> 12) & 0xff, vector: msi.data & 0xff, level: ((msi.data >>> 15) & 1) === 1,
  });
  return {
    events,
    out: {
      updateRoute: (pin, msi) => events.push(m('route', pin, msi)),
      deliver: (pin, msi) => events.push(m('deliver', pin, msi)),
      resample: (pin) => events.push({ ev: 'resample', pin }),
    },
  };
}

function writeRte(a: Ioapic, pin: number, lo: number, hi?: number): void {
  if (hi !== undefined) {
    a.write(IOREGSEL, 4, IOREDTBL + 2 * pin + 1);
    a.write(IOWIN, 4, hi);
  }
  a.write(IOREGSEL, 4, IOREDTBL + 2 * pin);
  a.write(IOWIN, 4, lo);
}

function readRte(a: Ioapic, pin: number): number {
  a.write(IOREGSEL, 4, IOREDTBL + 2 * pin);
  return a.read(IOWIN, 4);
}

const LEVEL = 1 << 15;
const MASK = 1 << 16;
const RIRR = 1 << 14;

describe('RTE encoding', () => {
  it('round-trips every field (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0x1ffff }), fc.integer({ min: 0, max: 255 }), (lo, dest) => {
      const r = parseRte(lo, dest << 24);
      expect(encodeRte(r)).toEqual({ lo, hi: (dest << 24) >>> 0 });
    }));
  });

  it.each([
    [{ vector: 0x31, deliveryMode: 0, destLogical: false, level: false, destination: 2 }, 0xfee0_2000, 0x4031],
    [{ vector: 0x41, deliveryMode: 0, destLogical: false, level: true, destination: 0 }, 0xfee0_0000, 0xc041],
    [{ vector: 0x51, deliveryMode: 1, destLogical: true, level: true, destination: 0x0f }, 0xfee0_f00c, 0xc151],
    [{ vector: 0x00, deliveryMode: 4, destLogical: false, level: false, destination: 1 }, 0xfee0_1000, 0x4400],
    // The ICH I/O APIC's extended destination (RTE 55:48) lands in address 11:4: destination bits 14:8 ...
    [{ vector: 0x61, deliveryMode: 0, destLogical: false, level: false, destination: 0x34, extendedDestination: 0x02 }, 0xfee3_4020, 0x4061],
    // ... and with bit 48 set, VT-d's remappable format: index 63:49 (here 0x1234 << 1 | 1 = the format bit).
    [{ vector: 0x62, deliveryMode: 0, destLogical: false, level: true, destination: 0x24, extendedDestination: 0x69 }, 0xfee2_4690, 0xc062],
  ])('rteToMsi(%o) = address %s data %s', (fields, addressLo, data) => {
    const r: Rte = { deliveryStatus: false, activeLow: false, remoteIrr: false, masked: false, extendedDestination: 0, ...fields };
    expect(rteToMsi(r)).toEqual({ addressLo, addressHi: 0, data });
  });
});

describe('IOAPIC registers', () => {
  it('VER reports version 0x20 and 23 as the maximum redirection entry; ID is writable in bits 27:24', () => {
    const { out } = recording();
    const a = new Ioapic(out);
    a.write(IOREGSEL, 4, 1);
    expect(a.read(IOWIN, 4)).toBe(0x0017_0020);
    a.write(IOREGSEL, 4, 0);
    a.write(IOWIN, 4, 0xffff_ffff);
    expect(a.read(IOWIN, 4)).toBe(0x0f00_0000);
  });

  it('RTEs reset masked; remote IRR and delivery status are read-only', () => {
    const { out } = recording();
    const a = new Ioapic(out);
    expect(readRte(a, 23)).toBe(MASK);
    writeRte(a, 3, 0x30 | LEVEL | RIRR | (1 << 12));
    expect(readRte(a, 3)).toBe(0x30 | LEVEL);
  });

  it('pin 24 does not exist: its register index is a guest error, not a crash', () => {
    const { out } = recording();
    const a = new Ioapic(out);
    a.write(IOREGSEL, 4, IOREDTBL + 48);
    a.write(IOWIN, 4, 0x30);
    expect(a.read(IOWIN, 4)).toBe(0);
    a.setIrq(24, true);
    expect(a.guestErrors).toBe(3);
  });
});

describe('IOAPIC delivery', () => {
  it('edge: one delivery per rising edge', () => {
    const { out, events } = recording();
    const a = new Ioapic(out);
    writeRte(a, 1, 0x31, 1 << 24);
    events.length = 0;
    a.setIrq(1, true);
    a.setIrq(1, true);
    a.setIrq(1, false);
    a.setIrq(1, true);
    expect(events).toEqual([
      { ev: 'deliver', pin: 1, dest: 1, vector: 0x31, level: false },
      { ev: 'deliver', pin: 1, dest: 1, vector: 0x31, level: false },
    ]);
  });

  it('edge on a masked pin is dropped, not delivered at unmask', () => {
    const { out, events } = recording();
    const a = new Ioapic(out);
    writeRte(a, 1, 0x31 | MASK);
    a.setIrq(1, true);
    a.setIrq(1, false);
    events.length = 0;
    writeRte(a, 1, 0x31);
    expect(events).toEqual([{ ev: 'route', pin: 1, dest: 0, vector: 0x31, level: false }]);
  });

  it('level: delivered once, remote IRR set, coalesced until EOI, redelivered at EOI while high', () => {
    const { out, events } = recording();
    const a = new Ioapic(out);
    writeRte(a, 4, 0x41 | LEVEL);
    events.length = 0;
    a.setIrq(4, true);
    a.setIrq(4, true);
    expect(readRte(a, 4) & RIRR).toBe(RIRR);
    a.eoi(0x41);
    a.setIrq(4, false);
    a.eoi(0x41);
    expect(events).toEqual([
      { ev: 'deliver', pin: 4, dest: 0, vector: 0x41, level: true },
      { ev: 'resample', pin: 4 },
      { ev: 'deliver', pin: 4, dest: 0, vector: 0x41, level: true },
      { ev: 'resample', pin: 4 },
    ]);
    expect(readRte(a, 4) & RIRR).toBe(0);
  });

  it('level: masked while asserted is delivered at unmask', () => {
    const { out, events } = recording();
    const a = new Ioapic(out);
    writeRte(a, 5, 0x45 | LEVEL | MASK);
    a.setIrq(5, true);
    events.length = 0;
    writeRte(a, 5, 0x45 | LEVEL);
    expect(events).toEqual([
      { ev: 'route', pin: 5, dest: 0, vector: 0x45, level: true },
      { ev: 'deliver', pin: 5, dest: 0, vector: 0x45, level: true },
    ]);
  });

  it('the EOI register (0x40) ends the level interrupt like a LAPIC EOI broadcast', () => {
    const { out, events } = recording();
    const a = new Ioapic(out);
    writeRte(a, 6, 0x46 | LEVEL);
    a.setIrq(6, true);
    a.setIrq(6, false);
    events.length = 0;
    a.write(IOEOI, 4, 0x46);
    expect(events).toEqual([{ ev: 'resample', pin: 6 }]);
    expect(readRte(a, 6) & RIRR).toBe(0);
  });

  it('seed 002: migrating a pending level interrupt pushes the new route before redelivering to the new CPU', () => {
    const { out, events } = recording();
    const a = new Ioapic(out);
    writeRte(a, 11, 0x3b | LEVEL, 2 << 24); // to CPU 2
    a.setIrq(11, true); // delivered to CPU 2
    writeRte(a, 11, 0x3b | LEVEL | MASK); // guest masks
    a.eoi(0x3b); // handler's EOI while the line stays high: masked, no redelivery
    events.length = 0;
    writeRte(a, 11, 0x3b | LEVEL | MASK, 0 << 24); // retarget to CPU 0: high word, then low word
    writeRte(a, 11, 0x3b | LEVEL); // unmask
    expect(events).toEqual([
      { ev: 'route', pin: 11, dest: 0, vector: 0x3b, level: true },
      { ev: 'route', pin: 11, dest: 0, vector: 0x3b, level: true },
      { ev: 'route', pin: 11, dest: 0, vector: 0x3b, level: true },
      { ev: 'deliver', pin: 11, dest: 0, vector: 0x3b, level: true },
    ]);
  });

  it('single-write variant: vector and unmask in one low-word write deliver the new vector after its route', () => {
    const { out, events } = recording();
    const a = new Ioapic(out);
    writeRte(a, 9, 0x39 | LEVEL | MASK, 2 << 24);
    a.setIrq(9, true);
    events.length = 0;
    writeRte(a, 9, 0x59 | LEVEL);
    expect(events).toEqual([
      { ev: 'route', pin: 9, dest: 2, vector: 0x59, level: true },
      { ev: 'deliver', pin: 9, dest: 2, vector: 0x59, level: true },
    ]);
  });

  it('property: no delivery ever uses an MSI other than the one the current RTE gives, and its route came first', () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant('rte' as const), pin: fc.nat(3), lo: fc.integer({ min: 0, max: 0x1ffff }), hi: fc.nat(3) }),
      fc.record({ k: fc.constant('line' as const), pin: fc.nat(3), level: fc.boolean() }),
      fc.record({ k: fc.constant('eoi' as const), vector: fc.integer({ min: 0, max: 255 }) }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
      const routes = new Map<number, string>();
      const a: Ioapic = new Ioapic({
        updateRoute: (pin, msi) => { routes.set(pin, JSON.stringify(msi)); },
        deliver: (pin, msi) => {
          const s = JSON.stringify(msi);
          expect(s).toBe(JSON.stringify(rteToMsi(a.rte(pin))));
          expect(routes.get(pin)).toBe(s);
        },
        resample: () => {},
      });
      a.publishRoutes();
      for (const o of ops) {
        if (o.k === 'rte') writeRte(a, o.pin, o.lo, o.hi << 24);
        else if (o.k === 'line') a.setIrq(o.pin, o.level);
        else a.eoi(o.vector);
      }
    }));
  });

  it('snapshot → restore gives the same future outputs', () => {
    const r1 = recording();
    const a = new Ioapic(r1.out);
    writeRte(a, 4, 0x41 | LEVEL, 1 << 24);
    a.setIrq(4, true);
    const b = Ioapic.restore(a.snapshot(), recording().out);
    const r2 = recording();
    const b2 = Ioapic.restore(b.snapshot(), r2.out);
    r1.events.length = 0;
    a.eoi(0x41);
    b2.eoi(0x41);
    expect(r2.events).toEqual(r1.events);
  });
});

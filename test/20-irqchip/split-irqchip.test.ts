/**
 * The split-irqchip wiring under a recording VM: the exact order of route
 * pushes and MSIs, and EOI exits fed back into the IOAPIC.
 */
import diagnostics_channel from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import type { GsiRoute, Msi } from '../../src/backend/types.js';
import { MmioBus } from '../../src/machine/bus.js';
import { IOAPIC_BASE, SplitIrqchip } from '../../src/machine/split-irqchip.js';

function rig(opts: Partial<ConstructorParameters<typeof SplitIrqchip>[0]> = {}) {
  const log: string[] = [];
  const vm = {
    enableCap: () => {},
    checkExtension: () => 4096,
    setGsiRouting: (t: readonly GsiRoute[]) => {
      const show = t.filter((r) => r.type === 'msi' && (r.data & 0xff) !== 0)
        .map((r) => (r.type === 'msi' ? `${r.gsi}:${(r.data & 0xff).toString(16)}@${(r.addressLo >>> 12) & 0xff}${r.data & 0x8000 ? 'L' : ''}` : ''));
      log.push(`push [${show.join(' ')}]`);
    },
    irqfd: () => {},
    irqfdDeassign: () => {},
    signalMsi: (m: Msi) => { log.push(`msi ${(m.data & 0xff).toString(16)}@${(m.addressLo >>> 12) & 0xff}`); return 1; },
    watchEventFd: () => () => {},
  };
  const mmio = new MmioBus();
  const resamples: number[] = [];
  const chip = new SplitIrqchip({ vm, mmio, onResample: (p) => resamples.push(p), ...opts });
  const rte = (pin: number, lo: number, hi = 0): void => {
    mmio.write(IOAPIC_BASE, 4, 0x10 + 2 * pin + 1);
    mmio.write(IOAPIC_BASE + 0x10, 4, hi);
    mmio.write(IOAPIC_BASE, 4, 0x10 + 2 * pin);
    mmio.write(IOAPIC_BASE + 0x10, 4, lo);
  };
  return { chip, log, rte, resamples, mmio };
}

describe('split irqchip wiring', () => {
  it('publishes all 24 routes in one push at start', () => {
    const { chip, log } = rig();
    expect(log).toEqual(['push []']);
    expect(chip.routing.pushes).toBe(1);
  });

  it('RTE writes push nothing by themselves; the next delivery pushes them all in one table, then the MSI', () => {
    const { chip, log, rte } = rig();
    log.length = 0;
    rte(4, 0x8041, 1 << 24); // level, vector 0x41, to APIC 1
    rte(5, 0x0052, 0); // edge, vector 0x52
    rte(4, 0x8041, 1 << 24); // the same value again
    expect(log).toEqual([]);
    chip.setIrq(5, true);
    expect(log).toEqual(['push [4:41@1L 5:52@0]', 'msi 52@0']);
    chip.setIrq(5, false);
    chip.setIrq(5, true);
    expect(log).toEqual(['push [4:41@1L 5:52@0]', 'msi 52@0', 'msi 52@0']); // unchanged table: no push
    expect(chip.routing.pushes).toBe(2);
  });

  it('seed 002: retargeting a pending level interrupt pushes the new route before the MSI to the new CPU', () => {
    const { chip, log, rte } = rig();
    rte(11, 0x803b, 2 << 24);
    chip.setIrq(11, true); // delivered to CPU 2
    rte(11, 0x1803b, 2 << 24); // mask
    chip.eoi(0x3b); // EOI while masked and still asserted: no redelivery
    log.length = 0;
    rte(11, 0x1803b, 0); // retarget to CPU 0 (still masked)
    rte(11, 0x803b, 0); // unmask: redelivery
    expect(log).toEqual(['push [11:3b@0L]', 'msi 3b@0']); // the retarget and unmask: one push, before the MSI
  });

  it('an EOI exit clears remote IRR and resamples; a still-high line is delivered again', () => {
    const { chip, log, rte, resamples } = rig();
    rte(4, 0x8041);
    chip.setIrq(4, true);
    log.length = 0;
    chip.eoi(0x41);
    expect(resamples).toEqual([4]);
    expect(log).toEqual(['msi 41@0']);
    chip.setIrq(4, false);
    chip.eoi(0x41);
    expect(log).toEqual(['msi 41@0']);
  });
});

describe('split irqchip: the IOAPIC as one MSI source among others', () => {
  it('every pin\'s delivery goes through the cache: translated then (faults recorded only then), counted, traced with its source', () => {
    const asked: [number, number, boolean][] = [];
    const translator = {
      translate: (m: { addressLo: number; addressHi: number; data: number }, sourceId: number, now: boolean) => {
        asked.push([m.data & 0xff, sourceId, now]);
        if ((m.data & 0xff) === 0x47) return { ok: false as const, reason: 'not-present' };
        return { ok: true as const, msi: (m.data & 0xff) === 0x52 ? { ...m, data: (m.data & ~0xff) | 0x62 } : { ...m }, irte: null };
      },
    };
    const { chip, log, rte } = rig({ translator, sourceId: 0xf0f8 });
    const events: unknown[] = [];
    const fn = (m: unknown): void => { const { vm: _vm, ...rest } = m as { vm: number }; events.push(rest); };
    diagnostics_channel.subscribe('vmm:irq:deliver', fn);
    try {
      rte(5, 0x0052, 1 << 24); // edge, a device model's line
      rte(7, 0x8047); // level, a vector the remapping unit blocks
      asked.length = 0;
      log.length = 0;
      chip.setIrq(5, true);
      chip.setIrq(7, true);
    } finally {
      diagnostics_channel.unsubscribe('vmm:irq:deliver', fn);
    }
    // Routes carry the speculative translation (no fault recorded; pin 7's none); the deliveries the one made now.
    expect(log).toEqual(['push [5:62@1]', 'msi 62@1']);
    expect(asked).toEqual([[0x52, 0xf0f8, true], [0x47, 0xf0f8, true]]);
    expect(events).toEqual([
      { source: 'ioapic.pin5', vector: 0x62, destination: 1, path: 'miss', accepted: 1 },
      { source: 'ioapic.pin7', vector: 0x47, destination: -1, path: 'fault', accepted: 0 },
    ]);
    expect(chip.cache.stats).toMatchObject({ deliveries: 1, faults: 1, undelivered: 0, fills: 0, misses: 0 });
  });
});

describe('split irqchip: one fan-out for every input line', () => {
  it('ISA lines reach the 8259 too (not the cascade, not the PCI pins), eventfd lines included', () => {
    const { chip } = rig();
    const pic: [number, boolean][] = [];
    chip.attachPic({ setIrq: (n, l) => pic.push([n, l]) });
    chip.setIrq(4, true);
    chip.setIrq(2, true);
    chip.setIrq(17, true);
    expect(pic).toEqual([[4, true]]);
    // An eventfd line owned by the irqchip: its trigger, served, drives the same fan-out.
    let watched: (() => void) | null = null;
    let counter = 0n;
    const fd = { fd: 9, closed: false, write: (v = 1) => { counter += BigInt(v); }, read: () => { const c = counter; counter = 0n; return c === 0n ? null : c; }, close() {} };
    const vm2 = { ...rigVm(), createEventFd: () => ({ ...fd }), watchEventFd: (_e: unknown, cb: () => void) => { watched = cb; return () => {}; } };
    const chip2 = new SplitIrqchip({ vm: vm2, mmio: new MmioBus() });
    const pic2: [number, boolean][] = [];
    chip2.attachPic({ setIrq: (n, l) => pic2.push([n, l]) });
    const line = chip2.addLine(6, 'edge');
    line.trigger.write(1);
    watched!();
    expect(pic2).toEqual([[6, true], [6, false]]);
    expect(chip2.lineCount).toBe(1);
    chip2.closeLines();
    expect(chip2.lineCount).toBe(0);
  });
});

function rigVm() {
  return {
    enableCap: () => {}, checkExtension: () => 4096, setGsiRouting: () => {}, irqfd: () => {}, irqfdDeassign: () => {},
    signalMsi: () => 1, watchEventFd: () => () => {},
  };
}

describe('split irqchip: edge lines as irqfd-cache entries', () => {
  async function cachedRig(pic: boolean) {
    const { SimHypervisor } = await import('../../src/backend/sim/index.js');
    const hv = new SimHypervisor();
    const vm = hv.createVm();
    SplitIrqchip.enable(vm);
    const mmio = new MmioBus();
    const chip = new SplitIrqchip({ vm, mmio });
    if (pic) chip.attachPic({ setIrq: () => {} });
    const cache = chip.cache;
    expect(cache.policy).toBe('lazy');
    const rte = (pin: number, lo: number): void => {
      mmio.write(IOAPIC_BASE, 4, 0x10 + 2 * pin);
      mmio.write(IOAPIC_BASE + 0x10, 4, lo);
    };
    const ring = async (line: { trigger: { write(v?: number): void } }): Promise<void> => {
      line.trigger.write(1);
      await new Promise((r) => setImmediate(r));
    };
    return { hv, chip, cache, rte, ring };
  }

  it('is cached only while its RTE is unmasked and edge; masking keeps the route, a new vector invalidates it', async () => {
    const { hv, chip, cache, rte, ring } = await cachedRig(false);
    const line = chip.addLine(16, 'edge');
    const h = (line as unknown as { handle: { cached: boolean } }).handle;
    await ring(line); // masked at reset: read in userspace, the edge lost, nothing cached
    expect([cache.stats.ringsInUserspace, cache.stats.deliveries, h.cached]).toEqual([1, 0, false]);
    rte(16, 0x41);
    await ring(line); // the first ring: a miss, delivered, then cached
    expect([cache.stats.ringsInUserspace, cache.stats.deliveries, cache.stats.fills, h.cached]).toEqual([2, 1, 1, true]);
    await ring(line); // a hit: the sim's kernel consumed it
    expect(cache.stats.ringsInUserspace).toBe(2);
    const pushes = cache.stats.routePushes;
    const invalidations = cache.stats.invalidations; // 1: programming vector 0x41 changed the reset RTE's message
    rte(16, 0x10041); // masked: out of the kernel, the route kept
    expect(h.cached).toBe(false);
    rte(16, 0x41); // unmasked again: back, no push, no invalidation
    expect([h.cached, cache.stats.routePushes, cache.stats.invalidations]).toEqual([true, pushes, invalidations]);
    rte(16, 0x42); // a new vector: invalidated
    expect([h.cached, cache.stats.invalidations]).toEqual([false, invalidations + 1]);
    rte(16, 0x8042); // level: served in userspace for good (remote IRR, EOI)
    await ring(line);
    expect(h.cached).toBe(false);
    line.close();
    expect(line.trigger.closed).toBe(true);
    hv.close();
  });

  it('an ISA pin the 8259 also hears is never cached', async () => {
    const { hv, chip, cache, rte, ring } = await cachedRig(true);
    const line = chip.addLine(4, 'edge');
    rte(4, 0x43);
    await ring(line);
    await ring(line);
    expect([cache.stats.ringsInUserspace, cache.stats.deliveries, cache.stats.fills]).toEqual([2, 2, 0]);
    line.close();
    hv.close();
  });
});

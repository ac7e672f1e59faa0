/**
 * The GSI routing manager under a recording VM: the exact list of pushes
 * and irqfd calls, the ordering rules, and a property test over random
 * operation sequences.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EventFd, GsiRoute } from '../../src/backend/types.js';
import { GsiRoutingManager } from '../../src/irq/gsi-routing.js';

type Call = { op: 'push'; table: GsiRoute[] } | { op: 'irqfd' | 'deassign'; gsi: number; fd: number };

function recorder() {
  const calls: Call[] = [];
  const vm = {
    setGsiRouting: (t: readonly GsiRoute[]) => { calls.push({ op: 'push', table: t.map((r) => ({ ...r })) }); },
    irqfd: (a: { eventfd: EventFd; gsi: number }) => { calls.push({ op: 'irqfd', gsi: a.gsi, fd: a.eventfd.fd }); },
    irqfdDeassign: (a: { eventfd: EventFd; gsi: number }) => { calls.push({ op: 'deassign', gsi: a.gsi, fd: a.eventfd.fd }); },
  };
  return { calls, vm };
}

const fakeFd = (fd: number): EventFd => ({ fd, write() {}, read: () => null, close() {}, closed: false });
const msi = (data: number) => ({ type: 'msi' as const, addressLo: 0xfee0_0000, addressHi: 0, data });

describe('GSI routing manager', () => {
  it('allocates lazily above the reserved IOAPIC range, lowest free first, and reuses released GSIs', () => {
    const { vm, calls } = recorder();
    const m = new GsiRoutingManager(vm, { reserved: 24, maxRoutes: 4096 });
    expect(calls).toEqual([]);
    expect([m.allocate(), m.allocate(), m.allocate()]).toEqual([24, 25, 26]);
    m.release(25);
    expect(m.allocate()).toBe(25);
    expect(m.allocate()).toBe(27);
    expect(m.allocatedCount).toBe(4);
  });

  it('5000 allocate/release cycles do not exhaust the pool', () => {
    const { vm } = recorder();
    const m = new GsiRoutingManager(vm, { reserved: 24, maxRoutes: 64 });
    for (let i = 0; i < 5000; i++) m.release(m.allocate());
    expect(m.allocatedCount).toBe(0);
  });

  it('the cap from KVM_CAP_IRQ_ROUTING is enforced with ERR_GSI_EXHAUSTED', () => {
    const { vm } = recorder();
    const m = new GsiRoutingManager(vm, { reserved: 24, maxRoutes: 26 });
    m.allocate();
    m.allocate();
    expect(() => m.allocate()).toThrow(expect.objectContaining({ code: 'ERR_GSI_EXHAUSTED' }));
  });

  it('batches changes into one push and skips a commit that changes nothing', () => {
    const { vm, calls } = recorder();
    const m = new GsiRoutingManager(vm, { reserved: 24, maxRoutes: 4096 });
    m.set(2, msi(0x32));
    m.set(1, msi(0x31));
    expect(m.commit()).toBe(true);
    expect(m.commit()).toBe(false);
    m.set(1, msi(0x31)); // same value
    expect(m.commit()).toBe(false);
    expect(calls).toEqual([{ op: 'push', table: [{ gsi: 1, ...msi(0x31) }, { gsi: 2, ...msi(0x32) }] }]);
    expect(m.pushes).toBe(1);
  });

  it('route before irqfd: attach commits the staged route first; no route is an error', () => {
    const { vm, calls } = recorder();
    const m = new GsiRoutingManager(vm, { reserved: 24, maxRoutes: 4096 });
    const g = m.allocate();
    expect(() => m.attachIrqfd(g, fakeFd(7))).toThrow(expect.objectContaining({ code: 'ERR_GSI_STATE' }));
    m.set(g, msi(0x40));
    m.attachIrqfd(g, fakeFd(7));
    expect(calls).toEqual([{ op: 'push', table: [{ gsi: g, ...msi(0x40) }] }, { op: 'irqfd', gsi: g, fd: 7 }]);
  });

  it('irqfd before route removal: release deassigns the irqfd, then the push drops the route', () => {
    const { vm, calls } = recorder();
    const m = new GsiRoutingManager(vm, { reserved: 24, maxRoutes: 4096 });
    const g = m.allocate();
    m.set(g, msi(0x40));
    m.attachIrqfd(g, fakeFd(7));
    calls.length = 0;
    m.release(g);
    m.commit();
    expect(calls).toEqual([{ op: 'deassign', gsi: g, fd: 7 }, { op: 'push', table: [] }]);
  });

  it('using an unallocated GSI is an error with a stable code', () => {
    const { vm } = recorder();
    const m = new GsiRoutingManager(vm, { reserved: 24, maxRoutes: 4096 });
    expect(() => m.set(30, msi(1))).toThrow(expect.objectContaining({ code: 'ERR_GSI_STATE' }));
    expect(() => m.release(30)).toThrow(expect.objectContaining({ code: 'ERR_GSI_STATE' }));
    expect(() => m.set(5000, msi(1))).toThrow(expect.objectContaining({ code: 'ERR_GSI_STATE' }));
  });

  it('property: pushes happen only for changed tables; irqfds never exist without a pushed route; no GSI leaks', () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant('alloc' as const) }),
      fc.record({ k: fc.constant('release' as const), i: fc.nat(20) }),
      fc.record({ k: fc.constant('set' as const), i: fc.nat(20), data: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ k: fc.constant('attach' as const), i: fc.nat(20) }),
      fc.record({ k: fc.constant('commit' as const) }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const { vm, calls } = recorder();
      const m = new GsiRoutingManager(vm, { reserved: 4, maxRoutes: 16 });
      const live: number[] = [];
      let fd = 100;
      let lastPushed: string | undefined;
      for (const o of ops) {
        const before = calls.length;
        try {
          if (o.k === 'alloc') live.push(m.allocate());
          else if (o.k === 'release' && live.length) m.release(live.splice(o.i % live.length, 1)[0]!);
          else if (o.k === 'set' && live.length) m.set(live[o.i % live.length]!, msi(o.data));
          else if (o.k === 'attach' && live.length) {
            const g = live[o.i % live.length]!;
            if (m.get(g)) m.attachIrqfd(g, fakeFd(fd++));
          } else if (o.k === 'commit') m.commit();
        } catch (e) {
          if ((e as { code?: string }).code !== 'ERR_GSI_EXHAUSTED') throw e;
        }
        // Every push differs from the previous one.
        for (const c of calls.slice(before)) {
          if (c.op === 'push') {
            const s = JSON.stringify(c.table);
            expect(s).not.toBe(lastPushed);
            lastPushed = s;
          }
        }
      }
      // Replay: an irqfd is only ever assigned to a GSI present in the last pushed table,
      // and a push never drops a GSI that still has an irqfd.
      const attached = new Map<number, number>();
      let table = new Set<number>();
      for (const c of calls) {
        if (c.op === 'push') {
          table = new Set(c.table.map((r) => r.gsi));
          for (const [g, n] of attached) if (n > 0) expect(table.has(g)).toBe(true);
        } else if (c.op === 'irqfd') {
          expect(table.has(c.gsi)).toBe(true);
          attached.set(c.gsi, (attached.get(c.gsi) ?? 0) + 1);
        } else attached.set(c.gsi, (attached.get(c.gsi) ?? 0) - 1);
      }
      expect(m.allocatedCount).toBe(live.length);
    }));
  });
});

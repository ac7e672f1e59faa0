/**
 * The irqfd cache over a recording fake of the kernel side (routes, irqfds,
 * eventfd counters with the irqfd's consumption, the poller's watches) and
 * a fake remapping table: the exact list of kernel calls and deliveries
 * for each policy, the invalidation and masking rules, faults only at
 * delivery, nothing lost across a detach; and a property test over random
 * interleavings of rings, reprogramming, invalidations and masks.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EventFd, GsiRoute, Msi } from '../../src/backend/types.js';
import { SimHypervisor } from '../../src/backend/sim/index.js';
import { GsiRoutingManager } from '../../src/irq/gsi-routing.js';
import { IrqfdCache, type CacheHandle, type InterruptTranslator, type IrqCachePolicy } from '../../src/irq/irqfd-cache.js';
import { decodeMsi, encodeCompatMsi, encodeRemappableMsi, type MsiMessage } from '../../src/irq/msi.js';

class FakeFd implements EventFd {
  count = 0n;
  closed = false;
  constructor(readonly fd: number) {}
  write(v = 1): void { this.count += BigInt(v); }
  read(): bigint | null {
    if (this.count === 0n) return null;
    const v = this.count;
    this.count = 0n;
    return v;
  }
  close(): void { this.closed = true; }
}

interface Delivery { vector: number; path: 'irqfd' | 'signal' }

/** The kernel side: a routing table, irqfds that consume their eventfd, and the poller's watches (run by `flush`). */
class FakeKernel {
  readonly log: string[] = [];
  readonly delivered: Delivery[] = [];
  private routes = new Map<number, GsiRoute>();
  private readonly irqfds = new Map<FakeFd, number>();
  private readonly watches = new Map<FakeFd, () => void>();
  private readonly ready = new Set<FakeFd>();

  setGsiRouting(t: readonly GsiRoute[]): void {
    this.log.push(`push ${t.length}`);
    this.routes = new Map(t.map((r) => [r.gsi, { ...r }]));
  }

  irqfd(a: { eventfd: EventFd; gsi: number }): void {
    const fd = a.eventfd as FakeFd;
    if (!this.routes.has(a.gsi)) throw new Error(`irqfd on GSI ${a.gsi} without a route`);
    if (this.irqfds.has(fd)) throw new Error('EBUSY');
    this.log.push(`irqfd ${a.gsi}`);
    this.irqfds.set(fd, a.gsi);
    this.consume(fd); // the kernel polls the eventfd at assignment
  }

  irqfdDeassign(a: { eventfd: EventFd; gsi: number }): void {
    this.log.push(`deassign ${a.gsi}`);
    if (this.irqfds.get(a.eventfd as FakeFd) === a.gsi) this.irqfds.delete(a.eventfd as FakeFd);
  }

  signalMsi(m: Msi): number {
    this.log.push(`signal ${m.data & 0xff}`);
    this.delivered.push({ vector: m.data & 0xff, path: 'signal' });
    return 1;
  }

  watchEventFd(fd: EventFd, cb: () => void): () => void {
    this.watches.set(fd as FakeFd, cb);
    return () => { this.watches.delete(fd as FakeFd); };
  }

  /** Another thread writes the eventfd. */
  ring(fd: FakeFd): void {
    fd.write(1);
    if (!this.consume(fd) && this.watches.has(fd)) this.ready.add(fd);
  }

  /**
   * A write whose irqfd wake-up has not run yet: the event sits in the
   * counter (until `settle`) -- what a detach may find there.
   */
  ringLate(fd: FakeFd): void {
    fd.write(1);
    if (!this.irqfds.has(fd) && this.watches.has(fd)) this.ready.add(fd);
  }

  /** The late wake-ups run. */
  settle(): void {
    for (const fd of this.irqfds.keys()) this.consume(fd);
  }

  private consume(fd: FakeFd): boolean {
    const gsi = this.irqfds.get(fd);
    if (gsi === undefined || fd.count === 0n) return false;
    fd.count = 0n;
    const r = this.routes.get(gsi)!;
    if (r.type !== 'msi') throw new Error('not an MSI route');
    this.delivered.push({ vector: r.data & 0xff, path: 'irqfd' });
    return true;
  }

  /** The poller's callbacks run on the JS thread. */
  flush(): void {
    for (const fd of [...this.ready]) {
      this.ready.delete(fd);
      this.watches.get(fd)?.();
    }
  }

  attached(fd: FakeFd): boolean { return this.irqfds.has(fd); }
}

/** A fake interrupt-remapping table: IRTE index → vector (absent: not present). */
class FakeRemapper implements InterruptTranslator {
  readonly irte = new Map<number, number>();
  readonly calls: { index: number; deliverNow: boolean }[] = [];
  /** IRTE indexes of the interrupts blocked at delivery. */
  readonly faulted: number[] = [];
  translate(m: MsiMessage, _sid: number, deliverNow: boolean) {
    const d = decodeMsi(m);
    if (d.format === 'compat') return { ok: true as const, msi: { ...m }, irte: null };
    this.calls.push({ index: d.index, deliverNow });
    const vector = this.irte.get(d.index);
    if (vector === undefined) {
      if (deliverNow) this.faulted.push(d.index);
      return { ok: false as const, reason: `IRTE ${d.index} not present` };
    }
    return { ok: true as const, msi: compat(vector), irte: d.index };
  }
}

const compat = (vector: number): MsiMessage => encodeCompatMsi({ destination: 0, redirectionHint: false, destLogical: false, vector, deliveryMode: 0, level: false, assert: false });

/** One MSI-X vector of a device: fires (sends or latches pending), masks, is reprogrammed. */
class Vec {
  masked = false;
  pending = false;
  h!: CacheHandle;
  constructor(private readonly cache: IrqfdCache, readonly fd: FakeFd, public msg: MsiMessage, n: number) {
    this.h = cache.add({
      eventfd: fd, sourceId: 0x18, label: `v${n}`,
      message: () => (this.masked ? null : this.msg),
      fire: () => this.fire(),
    });
  }
  fire(): void {
    if (this.masked) this.pending = true;
    else this.cache.deliver(this.h, this.msg);
  }
  setMask(masked: boolean): void {
    this.masked = masked;
    if (!masked && this.pending) {
      this.pending = false;
      this.cache.deliver(this.h, this.msg);
    }
    this.cache.sendableChanged(this.h);
  }
  program(msg: MsiMessage): void {
    this.msg = msg;
    this.cache.entryChanged(this.h);
  }
}

function rig(policy: IrqCachePolicy, vectors: number, remap?: FakeRemapper) {
  const k = new FakeKernel();
  const routing = new GsiRoutingManager(k, { reserved: 24, maxRoutes: 4096 });
  const cache = new IrqfdCache({ vm: k, routing, policy, ...(remap ? { translator: remap } : {}) });
  const vecs: Vec[] = [];
  for (let n = 0; n < vectors; n++) vecs.push(new Vec(cache, new FakeFd(100 + n), remap ? encodeRemappableMsi(n) : compat(0x40 + n), n));
  return { k, cache, vecs, routing };
}

describe('irqfd cache, lazy', () => {
  it('the first ring is served in userspace and fills; the next stays in the kernel', () => {
    const { k, cache, vecs } = rig('lazy', 2);
    expect(k.log).toEqual([]);
    k.ring(vecs[0]!.fd);
    k.flush();
    expect(k.log).toEqual(['signal 64', 'push 1', 'irqfd 24']);
    k.ring(vecs[0]!.fd);
    k.flush();
    expect(k.log.slice(3)).toEqual([]);
    expect(k.delivered).toEqual([{ vector: 64, path: 'signal' }, { vector: 64, path: 'irqfd' }]);
    expect(cache.stats).toMatchObject({ misses: 1, ringsInUserspace: 1, deliveries: 1, fills: 1, attaches: 1, routePushes: 1, detaches: 0 });
    expect(vecs[0]!.h.cached).toBe(true);
    expect(vecs[1]!.h.cached).toBe(false);
  });

  it('reprogramming a vector detaches only it, pushes nothing, and the next ring delivers the new message', () => {
    const { k, cache, vecs } = rig('lazy', 2);
    for (const v of vecs) { k.ring(v.fd); k.flush(); }
    k.log.length = 0;
    vecs[1]!.program(compat(0x77));
    expect(k.log).toEqual(['deassign 25']);
    k.ring(vecs[1]!.fd);
    k.ring(vecs[0]!.fd);
    k.flush();
    expect(k.log).toEqual(['deassign 25', 'signal 119', 'push 2', 'irqfd 25']);
    expect(k.delivered.slice(-2)).toEqual([{ vector: 64, path: 'irqfd' }, { vector: 119, path: 'signal' }]);
    expect(cache.stats.invalidations).toBe(1);
  });

  it('an IRTE range invalidation detaches exactly the entries cached through that range, with no route push', () => {
    const remap = new FakeRemapper();
    for (let i = 0; i < 8; i++) remap.irte.set(i, 0x50 + i);
    const { k, cache, vecs } = rig('lazy', 8, remap);
    for (const v of vecs) { k.ring(v.fd); k.flush(); }
    expect(cache.cachedCount).toBe(8);
    k.log.length = 0;
    cache.invalidateIrteRange(2, 4);
    expect(k.log).toEqual(['deassign 26', 'deassign 27', 'deassign 28']);
    expect(vecs.map((v) => v.h.cached)).toEqual([true, true, false, false, false, true, true, true]);
    // The IRTE changed meanwhile: the next ring takes the new vector, never the old.
    remap.irte.set(3, 0x99);
    k.ring(vecs[3]!.fd);
    k.flush();
    expect(k.delivered.at(-1)).toEqual({ vector: 0x99, path: 'signal' });
    expect(k.log.slice(3)).toEqual(['signal 153', 'push 8', 'irqfd 27']); // one push of the whole table (8 routes)
    k.ring(vecs[3]!.fd);
    expect(k.delivered.at(-1)).toEqual({ vector: 0x99, path: 'irqfd' });
  });

  it('a global invalidation detaches every remapped entry', () => {
    const remap = new FakeRemapper();
    for (let i = 0; i < 4; i++) remap.irte.set(i, 0x50 + i);
    const { k, cache, vecs } = rig('lazy', 4, remap);
    for (const v of vecs) { k.ring(v.fd); k.flush(); }
    cache.invalidateAll();
    expect(cache.cachedCount).toBe(0);
    expect(cache.stats).toMatchObject({ detaches: 4, invalidations: 1, routePushes: 4 });
  });

  it('masking detaches without invalidating; a ring while masked is latched and goes out at unmask on the same route', () => {
    const { k, cache, vecs } = rig('lazy', 1);
    const v = vecs[0]!;
    k.ring(v.fd); k.flush();
    k.log.length = 0;
    v.setMask(true);
    expect(k.log).toEqual(['deassign 24']);
    k.ring(v.fd); k.flush();
    expect(v.pending).toBe(true);
    expect(k.log).toEqual(['deassign 24']);
    v.setMask(false);
    // Delivered from userspace (the pending bit), re-attached to the still-valid route: no push.
    expect(k.log).toEqual(['deassign 24', 'signal 64', 'irqfd 24']);
    expect(cache.stats).toMatchObject({ invalidations: 0, routePushes: 1, fills: 1 });
    k.ring(v.fd);
    expect(k.delivered.at(-1)).toEqual({ vector: 64, path: 'irqfd' });
  });

  it('nothing is lost across a detach: an event in the counter at invalidation is read and delivered at once', () => {
    const remap = new FakeRemapper();
    remap.irte.set(0, 0x51);
    const { k, cache, vecs } = rig('lazy', 1, remap);
    const v = vecs[0]!;
    k.ring(v.fd); k.flush();
    // An event raced in and is still in the counter (the kernel had not consumed it yet).
    v.fd.write(1);
    remap.irte.set(0, 0x52);
    cache.invalidateIrteRange(0, 0);
    expect(k.delivered.at(-1)).toEqual({ vector: 0x52, path: 'signal' });
    expect(v.h.cached).toBe(true);
  });

  it('faults are recorded only when an interrupt is delivered', () => {
    const remap = new FakeRemapper();
    const { k, cache, vecs } = rig('lazy', 1, remap);
    expect(cache.stats.faults).toBe(0);
    k.ring(vecs[0]!.fd); k.flush();
    expect(cache.stats.faults).toBe(1);
    expect(remap.calls).toEqual([{ index: 0, deliverNow: true }]);
    expect(k.log).toEqual([]);
  });
});

describe('irqfd cache, lazy, on a VM that reports the end of each batch of watch callbacks', () => {
  /** The FakeKernel whose flush() is one batch: the poller's wake-up, then onWatchesServed's functions. */
  class BatchingKernel extends FakeKernel {
    private readonly ends = new Set<() => void>();
    onWatchesServed(fn: () => void): () => void {
      this.ends.add(fn);
      return () => { this.ends.delete(fn); };
    }
    override flush(): void {
      super.flush();
      for (const f of this.ends) f();
    }
  }

  it('the first rings of eight vectors served in one batch: eight deliveries, one push, eight irqfds; then all hits', () => {
    const k = new BatchingKernel();
    const routing = new GsiRoutingManager(k, { reserved: 24, maxRoutes: 4096 });
    const cache = new IrqfdCache({ vm: k, routing, policy: 'lazy' });
    const vecs = Array.from({ length: 8 }, (_, n) => new Vec(cache, new FakeFd(100 + n), compat(0x40 + n), n));
    for (const v of vecs) k.ring(v.fd);
    k.flush();
    expect(k.log).toEqual([
      ...vecs.map((_, n) => `signal ${0x40 + n}`),
      'push 8',
      ...vecs.map((_, n) => `irqfd ${24 + n}`),
    ]);
    expect(cache.stats).toMatchObject({ misses: 8, deliveries: 8, fills: 8, routePushes: 1, attaches: 8 });
    for (const v of vecs) k.ring(v.fd);
    expect(k.delivered.slice(8)).toEqual(vecs.map((_, n) => ({ vector: 0x40 + n, path: 'irqfd' })));
    // A vector reprogrammed after its batch: detached at once, refilled in the next batch.
    vecs[3]!.program(compat(0x77));
    k.ring(vecs[3]!.fd);
    k.flush();
    expect(k.log.slice(-4)).toEqual(['deassign 27', 'signal 119', 'push 8', 'irqfd 27']);
    cache.close();
    // close() unregisters from the batch ends: a later batch does not reach the closed cache.
    k.flush();
    expect(k.log.at(-1)).toBe('deassign 31');
  });
  it('outside a batch (a detach that finds an event in the counter), the fill pushes and attaches at once', () => {
    const k = new BatchingKernel();
    const routing = new GsiRoutingManager(k, { reserved: 24, maxRoutes: 4096 });
    const remap = new FakeRemapper();
    remap.irte.set(0, 0x51);
    const cache = new IrqfdCache({ vm: k, routing, policy: 'lazy', translator: remap });
    const v = new Vec(cache, new FakeFd(100), encodeRemappableMsi(0), 0);
    k.ring(v.fd);
    k.flush();
    expect(v.h.cached).toBe(true);
    v.fd.write(1); // an event the kernel has not consumed yet
    remap.irte.set(0, 0x52);
    k.log.length = 0;
    cache.invalidateIrteRange(0, 0);
    expect(k.log).toEqual(['deassign 24', 'signal 82', 'push 1', 'irqfd 24']);
    expect(v.h.cached).toBe(true);
    cache.close();
  });
});

describe('irqfd cache, eager and none', () => {
  it('eager translates at programming time without faults and re-translates every route on any invalidation', () => {
    const remap = new FakeRemapper();
    remap.irte.set(0, 0x60);
    remap.irte.set(1, 0x61);
    const { k, cache, vecs } = rig('eager', 3, remap); // IRTE 2 is not present
    expect(remap.calls.every((c) => !c.deliverNow)).toBe(true);
    expect(cache.stats.faults).toBe(0);
    expect(vecs.map((v) => v.h.cached)).toEqual([true, true, false]);
    expect(k.log).toEqual(['push 1', 'irqfd 24', 'push 2', 'irqfd 25']);
    k.log.length = 0;
    remap.irte.set(1, 0x71);
    cache.invalidateIrteRange(1, 1);
    // QEMU's rule: every route re-translated, one push; nothing detached.
    expect(k.log).toEqual(['push 2']);
    expect(cache.stats.detaches).toBe(0);
    k.ring(vecs[1]!.fd);
    expect(k.delivered.at(-1)).toEqual({ vector: 0x71, path: 'irqfd' });
    // The vector without an IRTE goes through userspace and faults at delivery.
    k.ring(vecs[2]!.fd); k.flush();
    expect(cache.stats.faults).toBe(1);
  });

  it('none serves every ring in userspace and never touches routes or irqfds', () => {
    const { k, cache, vecs } = rig('none', 2);
    for (let i = 0; i < 5; i++) { k.ring(vecs[i & 1]!.fd); k.flush(); }
    expect(k.log).toEqual(['signal 64', 'signal 65', 'signal 64', 'signal 65', 'signal 64']);
    expect(cache.stats).toMatchObject({ misses: 5, deliveries: 5, fills: 0, attaches: 0, routePushes: 0 });
  });

  it('remove() detaches, releases the GSI and stops the watch; a removed source is refused with a code', () => {
    const { k, cache, vecs, routing } = rig('lazy', 1);
    k.ring(vecs[0]!.fd); k.flush();
    cache.remove(vecs[0]!.h);
    expect(k.log.at(-1)).toBe('deassign 24');
    expect(routing.allocatedCount).toBe(0);
    k.ring(vecs[0]!.fd); k.flush();
    expect(k.delivered).toHaveLength(1);
    expect(() => cache.deliver(vecs[0]!.h, compat(1))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
  });

  it('an unknown policy is refused with a code', () => {
    const k = new FakeKernel();
    const routing = new GsiRoutingManager(k, { reserved: 24, maxRoutes: 64 });
    expect(() => new IrqfdCache({ vm: k, routing, policy: 'sometimes' as IrqCachePolicy })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
  });
});

describe('irqfd cache property: never a stale translation, never a lost ring', () => {
  type Op =
    | { op: 'ring'; v: number } | { op: 'late'; v: number } | { op: 'flush' } | { op: 'program'; v: number; vector: number }
    | { op: 'irte'; i: number; vector: number | null } | { op: 'inval'; first: number; len: number } | { op: 'global' }
    | { op: 'mask'; v: number; masked: boolean };
  const V = 6;
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    // Rings and the poller's turns are the common events; the guest's reconfiguration is rarer.
    { weight: 6, arbitrary: fc.record({ op: fc.constant('ring' as const), v: fc.nat(V - 1) }) },
    { weight: 4, arbitrary: fc.record({ op: fc.constant('flush' as const) }) },
    fc.record({ op: fc.constant('late' as const), v: fc.nat(V - 1) }),
    // Vector numbers are k * 8 + n for vector n, so a delivery names its source.
    fc.record({ op: fc.constant('program' as const), v: fc.nat(V - 1), vector: fc.integer({ min: 4, max: 31 }) }),
    fc.record({ op: fc.constant('irte' as const), i: fc.nat(V - 1), vector: fc.option(fc.integer({ min: 4, max: 31 }), { nil: null, freq: 4 }) }),
    fc.record({ op: fc.constant('inval' as const), first: fc.nat(V - 1), len: fc.integer({ min: 1, max: 3 }) }),
    fc.record({ op: fc.constant('global' as const) }),
    fc.record({ op: fc.constant('mask' as const), v: fc.nat(V - 1), masked: fc.boolean() }),
  );

  for (const policy of ['lazy', 'eager', 'none'] as const) {
    it(`${policy}: every delivery carries the translation current when the guest last invalidated; the last ring is delivered`, () => {
      fc.assert(fc.property(fc.array(opArb, { minLength: 30, maxLength: 150, size: 'max' }), fc.boolean(), (ops, remapped) => {
        const remap = new FakeRemapper();
        for (let i = 0; i < V; i++) remap.irte.set(i, 0x30 + i);
        const { k, cache, vecs } = rig(policy, V, remapped ? remap : undefined);
        const vec = (n: number, k8: number): number => k8 * 8 + n;
        // What the guest may legitimately see: a translation is "current" from the moment the guest
        // invalidates it (IRTE change + invalidation covering it, or a reprogrammed entry); the
        // previous one may still be seen until then.
        const allowed: Set<number>[] = vecs.map((v, n) => new Set([remapped ? 0x30 + n : v.msg.data & 0xff]));
        const current = (n: number): number | null => (remapped ? remap.irte.get(n) ?? null : vecs[n]!.msg.data & 0xff);
        const pendingTo = new Map<number, boolean>(); // vector n: rung after its last delivery
        let seen = 0;
        let faultsSeen = 0;
        const check = (): void => {
          for (; seen < k.delivered.length; seen++) {
            const d = k.delivered[seen]!;
            const n = d.vector % 8;
            // Delivered with a translation the guest has not invalidated away: never a stale one.
            expect({ vector: d.vector, allowed: allowed[n]!.has(d.vector) }).toEqual({ vector: d.vector, allowed: true });
            pendingTo.set(n, false);
          }
          // A ring whose IRTE was missing at delivery faulted: it is gone, as on hardware.
          for (; faultsSeen < remap.faulted.length; faultsSeen++) pendingTo.set(remap.faulted[faultsSeen]!, false);
        };
        for (const o of ops) {
          switch (o.op) {
            case 'ring': pendingTo.set(o.v, true); k.ring(vecs[o.v]!.fd); break;
            case 'late': pendingTo.set(o.v, true); k.ringLate(vecs[o.v]!.fd); break;
            case 'flush': k.flush(); break;
            case 'program':
              if (remapped) break;
              vecs[o.v]!.program(compat(vec(o.v, o.vector)));
              allowed[o.v] = new Set([vec(o.v, o.vector)]);
              break;
            case 'irte':
              if (o.vector === null) remap.irte.delete(o.i); else remap.irte.set(o.i, vec(o.i, o.vector));
              if (o.vector !== null) allowed[o.i]!.add(vec(o.i, o.vector)); // visible at once to a fresh translation
              break;
            case 'inval': {
              const last = Math.min(V - 1, o.first + o.len - 1);
              cache.invalidateIrteRange(o.first, last);
              if (remapped) for (let i = o.first; i <= last; i++) { const c = current(i); allowed[i] = new Set(c === null ? [] : [c]); }
              break;
            }
            case 'global':
              cache.invalidateAll();
              if (remapped) for (let i = 0; i < V; i++) { const c = current(i); allowed[i] = new Set(c === null ? [] : [c]); }
              break;
            case 'mask': vecs[o.v]!.setMask(o.masked); break;
          }
          check();
        }
        // Quiesce: unmask everything, serve what userspace has; every vector rung since its last
        // delivery, whose translation exists, has been delivered (or is latched in the device while masked).
        for (const v of vecs) v.setMask(false);
        k.settle();
        k.flush();
        check();
        // Every ring after a vector's last delivery has been delivered since (or faulted).
        vecs.forEach((v, n) => {
          expect({ n, rungNotDelivered: pendingTo.get(n) === true, latched: v.pending }).toEqual({ n, rungNotDelivered: false, latched: false });
        });
      }), { seed: 20261201, numRuns: 300 });
    });
  }
});

describe('irqfd cache property on the sim backend (its kernel model: routes, irqfds consuming eventfds, the poller)', () => {
  const V = 6;
  type Op =
    | { op: 'ring'; v: number } | { op: 'flush' } | { op: 'irte'; i: number; vector: number | null }
    | { op: 'inval'; first: number; len: number } | { op: 'global' } | { op: 'mask'; v: number; masked: boolean };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ op: fc.constant('ring' as const), v: fc.nat(V - 1) }) },
    { weight: 4, arbitrary: fc.record({ op: fc.constant('flush' as const) }) },
    fc.record({ op: fc.constant('irte' as const), i: fc.nat(V - 1), vector: fc.option(fc.integer({ min: 4, max: 31 }), { nil: null, freq: 4 }) }),
    fc.record({ op: fc.constant('inval' as const), first: fc.nat(V - 1), len: fc.integer({ min: 1, max: 3 }) }),
    fc.record({ op: fc.constant('global' as const) }),
    fc.record({ op: fc.constant('mask' as const), v: fc.nat(V - 1), masked: fc.boolean() }),
  );
  const flush = async (): Promise<void> => { for (let i = 0; i < 3; i++) await Promise.resolve(); };

  for (const policy of ['lazy', 'eager', 'none'] as const) {
    it(`${policy}: never a stale translation, the last ring delivered (SimVm, remapped)`, async () => {
      await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 30, maxLength: 120, size: 'max' }), async (ops) => {
        const hv = new SimHypervisor();
        const vm = hv.createVm();
        try {
          vm.enableCap('KVM_CAP_SPLIT_IRQCHIP', [24]);
          vm.createVcpu(0);
          const delivered: number[] = [];
          const chip = (vm as unknown as { irqchip: { deliverMsi(m: Msi): number } }).irqchip;
          const real = chip.deliverMsi.bind(chip);
          chip.deliverMsi = (m: Msi) => { delivered.push(m.data & 0xff); return real(m); };
          const remap = new FakeRemapper();
          for (let i = 0; i < V; i++) remap.irte.set(i, 0x30 + i);
          const routing = new GsiRoutingManager(vm, { reserved: 24, maxRoutes: vm.checkExtension('KVM_CAP_IRQ_ROUTING') });
          const cache = new IrqfdCache({ vm, routing, policy, translator: remap });
          const vecs: { fd: EventFd; masked: boolean; pending: boolean; h: CacheHandle }[] = [];
          for (let n = 0; n < V; n++) {
            const fd = vm.createEventFd();
            const msg = encodeRemappableMsi(n);
            const vec = { fd, masked: false, pending: false, h: null as unknown as CacheHandle };
            vec.h = cache.add({
              eventfd: fd, sourceId: 0x18, label: `v${n}`,
              message: () => (vec.masked ? null : msg),
              fire: () => { if (vec.masked) vec.pending = true; else cache.deliver(vec.h, msg); },
            });
            vecs.push(vec);
          }
          const setMask = (n: number, masked: boolean): void => {
            const v = vecs[n]!;
            v.masked = masked;
            if (!masked && v.pending) { v.pending = false; cache.deliver(v.h, encodeRemappableMsi(n)); }
            cache.sendableChanged(v.h);
          };
          const allowed: Set<number>[] = vecs.map((_v, n) => new Set([0x30 + n]));
          const pendingTo = new Map<number, boolean>();
          let seen = 0, faultsSeen = 0;
          const check = (): void => {
            for (; seen < delivered.length; seen++) {
              const vector = delivered[seen]!;
              const n = vector % 8;
              expect({ vector, allowed: allowed[n]!.has(vector) }).toEqual({ vector, allowed: true });
              pendingTo.set(n, false);
            }
            for (; faultsSeen < remap.faulted.length; faultsSeen++) pendingTo.set(remap.faulted[faultsSeen]!, false);
          };
          const current = (i: number): number | null => remap.irte.get(i) ?? null;
          for (const o of ops) {
            switch (o.op) {
              case 'ring': pendingTo.set(o.v, true); vecs[o.v]!.fd.write(1); break;
              case 'flush': await flush(); break;
              case 'irte':
                if (o.vector === null) remap.irte.delete(o.i); else { remap.irte.set(o.i, o.vector * 8 + o.i); allowed[o.i]!.add(o.vector * 8 + o.i); }
                break;
              case 'inval': {
                const last = Math.min(V - 1, o.first + o.len - 1);
                cache.invalidateIrteRange(o.first, last);
                for (let i = o.first; i <= last; i++) { const c = current(i); allowed[i] = new Set(c === null ? [] : [c]); }
                break;
              }
              case 'global':
                cache.invalidateAll();
                for (let i = 0; i < V; i++) { const c = current(i); allowed[i] = new Set(c === null ? [] : [c]); }
                break;
              case 'mask': setMask(o.v, o.masked); break;
            }
            check();
          }
          for (let n = 0; n < V; n++) setMask(n, false);
          await flush();
          check();
          vecs.forEach((v, n) => {
            expect({ n, rungNotDelivered: pendingTo.get(n) === true, latched: v.pending }).toEqual({ n, rungNotDelivered: false, latched: false });
          });
          cache.close();
        } finally {
          vm.close();
          hv.close();
        }
      }), { seed: 20261201, numRuns: 150 });
    });
  }
});

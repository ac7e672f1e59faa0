/**
 * The irqfd cache's property on a whole machine, on KVM and on the sim:
 * random interleavings of rings, IRTE changes, range and global
 * interrupt-entry-cache invalidations and masks, against a guest
 * (guests/x86/msi-log.elf) that reports every interrupt it takes. Every
 * interrupt must arrive on a vector the source's translation allowed
 * (never one an invalidation retired), and every ring must end in an
 * interrupt, a recorded fault or a latched pending bit that goes out at
 * unmask: nothing lost.
 *
 * test/20-irq/irqfd-cache.test.ts checks the same property against a fake
 * kernel and the sim's kernel model, step by step. Here the kernel is real
 * where KVM is: irqfds consume the eventfds, routes are KVM's, the
 * injections race the host's operations. Deliveries reach the log only
 * later, so the test settles (waits until every ring so far has been
 * accounted for) before each invalidation, the one operation that retires
 * vectors; rings, IRTE changes and masks interleave freely.
 */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EventFd } from '../../src/backend/types.js';
import { IrqfdCache, IRQ_CACHE_POLICIES, type CacheHandle, type InterruptTranslator } from '../../src/irq/irqfd-cache.js';
import { decodeMsi, encodeCompatMsi, encodeRemappableMsi, type MsiMessage } from '../../src/irq/msi.js';
import { X86Machine } from '../../src/machine/x86-pc.js';
import { BACKENDS } from '../helpers/backends.js';
import { GUEST_DIR } from '../helpers/guests.js';

const LOG_PORT = 0x5e8;
/** Sources (the remapping table's indexes 0..V-1). Source n's vectors are 0x40 + 8k + n. */
const V = 6;
const vectorOf = (n: number, k: number): number => 0x40 + 8 * k + n;

/** Interrupt remapping the test controls: IRTE index → vector, absent = not present (a fault). */
class Remapper implements InterruptTranslator {
  readonly irte = new Map<number, number>();
  readonly faulted: number[] = [];
  translate(m: MsiMessage, _sid: number, deliverNow: boolean) {
    const d = decodeMsi(m);
    if (d.format === 'compat') return { ok: true as const, msi: { ...m }, irte: null };
    const vector = this.irte.get(d.index);
    if (vector === undefined) {
      if (deliverNow) this.faulted.push(d.index);
      return { ok: false as const, reason: `IRTE ${d.index} not present` };
    }
    const msi = encodeCompatMsi({ destination: 0, redirectionHint: false, destLogical: false, vector, deliveryMode: 0, level: false, assert: false });
    return { ok: true as const, msi, irte: d.index };
  }
}

type Op =
  | { op: 'ring'; n: number } | { op: 'irte'; n: number; k: number | null }
  | { op: 'inval'; first: number; len: number } | { op: 'global' } | { op: 'mask'; n: number; masked: boolean };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ op: fc.constant('ring' as const), n: fc.nat(V - 1) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('irte' as const), n: fc.nat(V - 1), k: fc.option(fc.nat(7), { nil: null, freq: 5 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('inval' as const), first: fc.nat(V - 1), len: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('global' as const) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('mask' as const), n: fc.nat(V - 1), masked: fc.boolean() }) },
);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.each(BACKENDS)('irqfd cache property through a guest on $title', (backend) => {
  const image = readFileSync(join(GUEST_DIR, 'msi-log.elf'));

  it.skipIf(backend.skip)('holdAwake: while sources the machine does not know of are held, the synchronous run() is refused', () => {
    const hv = backend.open();
    const m = new X86Machine({ hypervisor: hv, image, irqchip: 'split', memMiB: 16, serialOut: () => {} });
    try {
      const release = m.holdAwake();
      expect(() => m.run()).toThrow(/use runAsync/);
      release();
      release();
    } finally {
      m.close();
      hv.close();
    }
  });
  for (const policy of IRQ_CACHE_POLICIES) {
    it.skipIf(backend.skip)(`${policy}: every interrupt on a vector its translation allowed, every ring accounted for`, async () => {
      await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 20, maxLength: 60 }), async (ops) => {
        const hv = backend.open();
        // On KVM the vCPU runs on a thread of its own, so the rings' watches kick nobody (the event
        // loop polls them), and the guest spins rather than halts between interrupts (DESIGN.md: on
        // these hosts `sti; hlt` with one pending can sleep for good). On the sim it runs in slices
        // on this thread and halts, as the architecture allows.
        const threads = backend.kind === 'kvm';
        const m = new X86Machine({
          hypervisor: hv, image, irqchip: 'split', memMiB: 16, vcpuThreads: threads, cmdline: threads ? 'spin=1' : '', serialOut: () => {},
        });
        const log: number[] = [];
        let ready = false;
        m.pio.register(LOG_PORT, 1, {
          read: () => 0xff,
          write: (_o, _s, v) => { if ((v & 0xff) === 0) ready = true; else log.push(v & 0xff); },
        }, 'msi-log');
        const remap = new Remapper();
        for (let n = 0; n < V; n++) remap.irte.set(n, vectorOf(n, 0));
        const cache = new IrqfdCache({ vm: m.vm, routing: m.irqchip!.routing, policy, translator: remap, kick: () => (threads ? [] : m.vcpus) });
        const fds: EventFd[] = [];
        const release = m.holdAwake(); // the sources below are the test's, not the machine's
        const run = m.runAsync();
        try {
          const vecs: { fd: EventFd; masked: boolean; pending: boolean; h: CacheHandle; msg: MsiMessage }[] = [];
          for (let n = 0; n < V; n++) {
            const fd = m.vm.createEventFd();
            fds.push(fd);
            const vec = { fd, masked: false, pending: false, h: null as unknown as CacheHandle, msg: encodeRemappableMsi(n) };
            vec.h = cache.add({
              eventfd: fd, sourceId: 0x18, label: `src${n}`,
              message: () => (vec.masked ? null : vec.msg),
              fire: () => { if (vec.masked) vec.pending = true; else cache.deliver(vec.h, vec.msg); },
            });
            vecs.push(vec);
          }
          const setMask = (n: number, masked: boolean): void => {
            const v = vecs[n]!;
            v.masked = masked;
            if (!masked && v.pending) { v.pending = false; cache.deliver(v.h, v.msg); }
            cache.sendableChanged(v.h);
          };
          // What each source may arrive on: its translation now and any an invalidation has not yet retired.
          const allowed = Array.from({ length: V }, (_, n) => new Set([vectorOf(n, 0)]));
          // Sources rung since their last interrupt (or fault): each must be accounted for.
          const owed = new Set<number>();
          let seen = 0, faultsSeen = 0;
          const check = (): void => {
            for (; seen < log.length; seen++) {
              const vector = log[seen]!;
              const n = vector % 8;
              expect({ vector, allowed: n < V && allowed[n]!.has(vector) }).toEqual({ vector, allowed: true });
              owed.delete(n);
            }
            for (; faultsSeen < remap.faulted.length; faultsSeen++) owed.delete(remap.faulted[faultsSeen]!);
          };
          /** Until every ring owed by an unmasked source has arrived or faulted (a masked one's is latched). */
          const settle = async (): Promise<void> => {
            const end = Date.now() + 10_000;
            for (;;) {
              check();
              const missing = [...owed].filter((n) => !vecs[n]!.masked);
              if (missing.length === 0) return;
              if (Date.now() > end) throw new Error(`rings of sources ${missing.join(', ')} never arrived (log ${log.join(',')})`);
              await sleep(1);
            }
          };
          const retire = (n: number): void => {
            const c = remap.irte.get(n);
            allowed[n] = new Set(c === undefined ? [] : [c]);
          };
          for (let t = Date.now(); !ready; await sleep(1)) if (Date.now() - t > 10_000) throw new Error('the guest never said it was ready');
          for (const [i, o] of ops.entries()) {
            switch (o.op) {
              case 'ring': owed.add(o.n); vecs[o.n]!.fd.write(1); break;
              case 'irte':
                if (o.k === null) remap.irte.delete(o.n);
                else { remap.irte.set(o.n, vectorOf(o.n, o.k)); allowed[o.n]!.add(vectorOf(o.n, o.k)); }
                break;
              case 'inval': {
                await settle();
                const last = Math.min(V - 1, o.first + o.len - 1);
                cache.invalidateIrteRange(o.first, last);
                for (let n = o.first; n <= last; n++) retire(n);
                break;
              }
              case 'global':
                await settle();
                cache.invalidateAll();
                for (let n = 0; n < V; n++) retire(n);
                break;
              case 'mask': setMask(o.n, o.masked); break;
            }
            check();
            // Now and then the event loop runs between two operations (the sim's vCPU needs it to run at all).
            if (i % 3 === 0) await sleep(0);
          }
          for (let n = 0; n < V; n++) setMask(n, false);
          await settle();
          expect(vecs.map((v) => v.pending)).toEqual(vecs.map(() => false));
        } finally {
          release();
          m.stop();
          await run;
          cache.close();
          for (const fd of fds) fd.close();
          m.close();
          hv.close();
        }
      }), { seed: 20261202, numRuns: backend.kind === 'kvm' ? 15 : 10 });
    }, 120_000);
  }
});

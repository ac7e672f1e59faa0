/**
 * bench-msi (the guest of msi_hit_vs_c / msi_miss_vs_c) on both backends
 * under each irqfd-cache policy, with the ringer in this process: a watch on
 * the acknowledgement eventfd (behind the guest's ioeventfd port) rings once
 * per acknowledgement. Every ring is one interrupt, and the cache's counters
 * say which path it took.
 * - The doorbell's MSI-X vector: lazy misses once and hits after, eager
 *   hits from the start, none serves every ring in userspace.
 * - With retarget=7 the guest moves the source to the other vector every 7
 *   interrupts before it acknowledges, so the next ring must come on the new
 *   vector (the guest fails on a stale one): lazy misses once per
 *   retargeting, eager re-translates at once and never misses.
 * - The same through an edge eventfd line on IOAPIC pin 16: the IOAPIC as
 *   an irqfd-cache source, its RTE rewrites the invalidations.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { GUEST_DIR } from '../helpers/guests.js';
import { IRQ_CACHE_POLICIES } from '../../src/irq/irqfd-cache.js';
import { openMsiPingPong } from '../../src/machine/msi-pingpong.js';

const COUNT = 300;
const CASES = [
  { source: 'doorbell', retarget: 0, threads: false },
  { source: 'doorbell', retarget: 7, threads: false },
  { source: 'ioapic', retarget: 7, threads: false },
  // The vCPU on its own thread: the rings' watches kick nobody, so the JS thread's event loop polls them itself.
  { source: 'doorbell', retarget: 7, threads: true },
] as const;

describe.each(BACKENDS)('bench-msi ping-pong on $title', (backend) => {
  for (const { source, retarget, threads } of CASES) {
    for (const policy of IRQ_CACHE_POLICIES) {
      const what = `${source}${retarget ? `, retarget=${retarget}` : ''}, --irq-cache ${policy}${threads ? ', vCPU thread' : ''}`;
      it.skipIf(backend.skip)(`${what}: ${COUNT} rings, ${COUNT} interrupts, each on the current vector and the path the policy says`, async () => {
        const hv = backend.open();
        let serial = '';
        const p = openMsiPingPong({
          hypervisor: hv, image: readFileSync(join(GUEST_DIR, 'bench-msi.elf')), count: COUNT, irqCache: policy, source, retarget, vcpuThreads: threads,
          serialOut: (b) => { serial += Buffer.from(b).toString('latin1'); },
        });
        let acks = 0;
        let rings = 0;
        const unwatch = p.machine.vm.watchEventFd(p.ack, () => {
          const n = p.ack.read();
          if (n === null) return;
          acks += Number(n);
          // The first acknowledgement says ready; each later one answers a ring.
          while (rings < Math.min(acks, COUNT)) {
            p.ring.write(1);
            rings++;
          }
        }, p.machine.vcpus);
        try {
          const r = await p.machine.runAsync();
          // The guest's last acknowledgement may still wait in the eventfd: the run ends at its
          // debug-exit write, which can come before the watch's callback had its turn.
          acks += Number(p.ack.read() ?? 0);
          const moves = retarget ? Math.floor(COUNT / retarget) : 0;
          expect(serial).toBe(`bench-msi: interrupts=${COUNT}${retarget ? ` retargeted=${moves} stale=0` : ''}: PASS\n`);
          expect(r.status).toBe(1);
          expect(acks).toBe(COUNT + 1);
          expect(rings).toBe(COUNT);
          // The eventfd was handed out (or is a line's), so the machine counts no hits: the ringer knows its rings.
          const s = p.machine.irqStats()!;
          const inUserspace = { none: COUNT, eager: 0, lazy: 1 + moves }[policy];
          expect(s.ringsInUserspace).toBe(inUserspace);
          expect(s.faults).toBe(0);
          if (policy === 'lazy') expect(s.fills).toBe(1 + moves);
        } finally {
          unwatch();
          p.close();
          hv.close();
        }
      });
    }
  }
});

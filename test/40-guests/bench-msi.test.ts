/**
 * bench-msi (the guest of msi_hit_vs_c / msi_miss_vs_c) on both backends
 * under each irqfd-cache policy, with the ringer in this process: a watch on
 * the acknowledgement eventfd (behind the guest's ioeventfd port) rings the
 * doorbell once per acknowledgement. Every ring is one interrupt, and the
 * cache's counters say which path it took: lazy misses once and hits after,
 * eager hits from the start, none serves every ring in userspace: the
 * rings userspace read are exactly 1, 0 and all.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { GUEST_DIR } from '../helpers/guests.js';
import { IRQ_CACHE_POLICIES } from '../../src/irq/irqfd-cache.js';
import { openMsiPingPong } from '../../src/machine/msi-pingpong.js';

const COUNT = 300;

describe.each(BACKENDS)('bench-msi ping-pong on $title', (backend) => {
  for (const policy of IRQ_CACHE_POLICIES) {
    it.skipIf(backend.skip)(`--irq-cache ${policy}: ${COUNT} rings, ${COUNT} interrupts, each ring on the path the policy says`, async () => {
      const hv = backend.open();
      let serial = '';
      const p = openMsiPingPong({
        hypervisor: hv, image: readFileSync(join(GUEST_DIR, 'bench-msi.elf')), count: COUNT, irqCache: policy,
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
        expect(serial).toBe(`bench-msi: interrupts=${COUNT}: PASS\n`);
        expect(r.status).toBe(1);
        expect(acks).toBe(COUNT + 1);
        // The eventfd was handed out, so the machine counts no hits: the ringer knows its rings.
        const s = p.machine.irqStats()!;
        expect(rings).toBe(COUNT);
        expect(s.hits).toBeNull();
        const inUserspace = { none: COUNT, eager: 0, lazy: 1 }[policy];
        expect(s.ringsInUserspace).toBe(inUserspace);
        if (policy === 'lazy') expect(s.fills).toBe(1);
      } finally {
        unwatch();
        p.close();
        hv.close();
      }
    });
  }
});

// The doorbell storm under the three irqfd-cache policies, one table.
//   node examples/doorbell-policies.mjs [--backend auto|kvm|sim]
// Every ring is an eventfd write; "hits" are the rings the kernel delivered
// without any userspace code seeing them (rings - rings read in userspace).
import { readFileSync } from 'node:fs';
import { X86Machine, openHypervisor, IRQ_CACHE_POLICIES } from 'tsvmm';

const backend = process.argv.includes('--backend') ? process.argv[process.argv.indexOf('--backend') + 1] : 'auto';
const image = readFileSync(new URL('../guests/x86/doorbell-storm.elf', import.meta.url));
const rows = [];
for (const policy of IRQ_CACHE_POLICIES) {
  const { hypervisor } = openHypervisor(backend);
  const m = new X86Machine({
    hypervisor, image, irqchip: 'split', devices: ['doorbell,vectors=16'], iommu: { intremap: true },
    irqCache: policy, serialOut: () => {},
  });
  const t0 = process.hrtime.bigint();
  const r = await m.runAsync();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const s = m.irqStats();
  rows.push({ policy, status: r.status, ms: ms.toFixed(0), rings: s.rings, hits: s.hits, 'userspace wake-ups': s.misses, fills: s.fills, detaches: s.detaches, 'route pushes': s.routePushes });
  m.close();
  hypervisor.close();
}
console.log(`backend: ${backend}`);
console.table(rows);

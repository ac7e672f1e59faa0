#!/usr/bin/env node
// Inside the nested arm64 guest: vtimer_round_trip_vs_c. Per tick the timer
// fires -> KVM_EXIT_INTR with the vtimer level -> the GIC -> KVM_IRQ_LINE ->
// the guest's GICC_IAR read and GICC_EOIR write exits. Ours: the `virt`
// machine with our GICv2 on KVM, in process; the reference: the same guest
// under scripts/bench/vtimer-ref.c (build-arm64/vtimer-ref). Alternated,
// best of each (this emulated host's speed wanders), ratio ours ÷ C.
//   node scripts/arm64/nested/bench.mjs [--rounds N]
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
// The cross-built arm64 addon (scripts/arm64/build-addon.sh), for this process and the VMM it spawns.
process.env.TSVMM_NATIVE ??= join(root, 'build-arm64', 'kvm.node');
const image = join(root, 'guests', 'arm64', 'bench-vtimer.img');
const args = process.argv.slice(2);
const rounds = Number(args[args.indexOf('--rounds') + 1] || 3) || 3;
const { KvmHypervisor } = await import(join(root, 'dist', 'backend', 'kvm', 'index.js'));
const { Arm64Machine } = await import(join(root, 'dist', 'machine', 'arm64', 'virt.js'));
const TICKS = 2000;

function c() {
  const r = spawnSync(join(root, 'build-arm64', 'vtimer-ref'), [image], { encoding: 'utf8', timeout: 600_000 });
  const m = /ticks=(\d+) seconds=([0-9.]+)/.exec(r.stdout ?? '');
  if (r.status !== 0 || !m || Number(m[1]) !== TICKS) throw new Error(`vtimer-ref: status ${r.status} ${r.stdout} ${r.stderr}`);
  return Number(m[1]) / Number(m[2]);
}

async function ours() {
  const hv = new KvmHypervisor();
  let out = '';
  const m = new Arm64Machine({ hypervisor: hv, image: readFileSync(image), serialOut: (b) => { out += Buffer.from(b).toString('latin1'); } });
  try {
    const t0 = performance.now();
    const r = await m.runAsync();
    const s = (performance.now() - t0) / 1000;
    if (r.status !== 0 || !out.includes(`${TICKS} ticks`)) throw new Error(`ours: status ${r.status}: ${out}`);
    return { rate: TICKS / s, exits: r.exits };
  } finally {
    m.close();
    hv.close();
  }
}

const cs = [];
const os = [];
let exits = 0;
for (let i = 0; i < rounds; i++) {
  cs.push(c());
  const o = await ours();
  os.push(o.rate);
  exits = o.exits;
}
const best = (xs) => Math.max(...xs);
console.log(`vtimer_round_trip_c_ticks_per_s=${best(cs).toFixed(0)}  # raw C, best of ${rounds}: ${cs.map((x) => x.toFixed(0)).join(' ')}`);
console.log(`vtimer_round_trip_ticks_per_s=${best(os).toFixed(0)}  # ours, best of ${rounds}: ${os.map((x) => x.toFixed(0)).join(' ')}; ${(exits / TICKS).toFixed(2)} exits per tick`);
console.log(`vtimer_round_trip_vs_c=${(best(os) / best(cs)).toFixed(3)}  # nested arm64 KVM under TCG; goal >= 0.8`);

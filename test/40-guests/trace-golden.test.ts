/**
 * Golden JSON-lines traces: a guest on the sim (deterministic) with every
 * trace event but the per-exit one recorded, compared line for line with
 * the committed file. A change in what the IOAPIC, the routing manager or
 * the PIC do — order, routes pushed, vectors, destinations — shows here as
 * a diff. Regenerate with UPDATE_GOLDEN=1 after checking the diff is meant.
 * Every event must carry the id of the guest's one VM; the id itself (a
 * process-wide counter) is left out of the lines.
 */
import diagnostics_channel from 'node:diagnostics_channel';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SimHypervisor } from '../../src/backend/sim/index.js';
import { TRACE_NAMES } from '../../src/trace/events.js';
import { listGuests, runGuestAsync } from '../helpers/guests.js';

const GOLDEN = join(import.meta.dirname, '..', 'golden');

async function traceOf(name: string): Promise<string> {
  const g = listGuests().find((x) => x.name === name)!;
  const lines: string[] = [];
  const vms = new Set<unknown>();
  const subs = TRACE_NAMES.filter((n) => n !== 'vmm:vcpu:exit').map((n) => {
    const fn = (m: unknown): void => {
      const { vm, ...rest } = m as { vm?: unknown };
      vms.add(vm);
      lines.push(JSON.stringify({ event: n, ...rest }));
    };
    diagnostics_channel.subscribe(n, fn);
    return () => diagnostics_channel.unsubscribe(n, fn);
  });
  const hv = new SimHypervisor();
  try {
    const r = await runGuestAsync(hv, g, g.irqchip);
    expect(r.serial).toBe(g.serial);
  } finally {
    hv.close();
    for (const u of subs) u();
  }
  expect(vms.size).toBe(1);
  expect([...vms][0]).toBeGreaterThan(0);
  return lines.join('\n') + '\n';
}

describe('golden traces on the sim', () => {
  for (const name of ['ioapic-level', 'ioapic-migrate', 'pic-extint']) {
    it(`${name}: the JSON-lines trace matches test/golden/${name}.sim.jsonl`, async () => {
      const file = join(GOLDEN, `${name}.sim.jsonl`);
      const got = await traceOf(name);
      if (process.env['UPDATE_GOLDEN'] || !existsSync(file)) writeFileSync(file, got);
      expect(got).toBe(readFileSync(file, 'utf8'));
    });
  }
});

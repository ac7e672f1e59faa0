/**
 * The library API through the package's exports map (`import … from
 * 'tsvmm'`, resolved to dist/ as a user's script gets it): the README's
 * experiment script runs the doorbell storm under the three policies and
 * prints its table.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');

describe('library API', () => {
  it('the exports map resolves "tsvmm" to the typed entry point', async () => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e',
      "import * as t from 'tsvmm'; console.log(['X86Machine','openHypervisor','IrqfdCache','VtdUnit','subscribe','IRQ_CACHE_POLICIES'].map((k) => k + ':' + typeof t[k]).join(' '))"],
    { cwd: ROOT, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('X86Machine:function openHypervisor:function IrqfdCache:function VtdUnit:function subscribe:function IRQ_CACHE_POLICIES:object');
  });

  it('examples/doorbell-policies.mjs prints one row per policy, each with every ring accounted for', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'examples', 'doorbell-policies.mjs'), '--backend', 'sim'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(r.status).toBe(0);
    const rows = r.stdout.split('\n').filter((l) => /'(none|eager|lazy)'/.test(l));
    expect(rows.map((l) => /'(none|eager|lazy)'/.exec(l)![1])).toEqual(['none', 'eager', 'lazy']);
    for (const l of rows) {
      const cells = l.split('│').map((c) => c.trim()).filter(Boolean);
      // index, policy, status, ms, rings, hits, wake-ups, ...
      expect(cells[2]).toBe('1');
      expect(Number(cells[5]) + Number(cells[6])).toBeLessThanOrEqual(Number(cells[4]));
    }
  });
});

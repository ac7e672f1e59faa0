/**
 * The malformed-call fuzzer (scripts/fuzz/native-calls.mjs) with fixed
 * seeds: 10 000 calls over every addon export, in child processes; not one
 * may die of a signal or hang. Longer runs: `npm run fuzz:native -- --calls
 * 1000000 --children 50 --seed N`.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bindingPath } from '../../src/native/binding.js';
import { nativeSkipSuffix } from '../helpers/backends.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const addon = bindingPath();

describe.skipIf(!addon)(`native addon under malformed calls${nativeSkipSuffix()}`, () => {
  it('10 000 malformed calls in 8 child processes: no signal death, no hang', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'fuzz', 'native-calls.mjs'), '--calls', '10000', '--children', '8', '--seed', '20261201', '--addon', addon!], {
      encoding: 'utf8', timeout: 240_000,
    });
    const summary = r.stdout.split('\n').find((l) => l.startsWith('native-calls:')) ?? '';
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(summary).toMatch(/^native-calls: 10000 calls in 8 children .*, 0 signal deaths, 0 hangs, 0 other failures;/);
  }, 300_000);
});

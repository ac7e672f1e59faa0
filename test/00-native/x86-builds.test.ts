/**
 * What the x86 host toolchain builds besides the addon: the guests
 * (guests/x86/*.elf must rebuild byte for byte from their sources, as
 * guests/x86/README.md promises) and the raw-C references of the
 * benchmarks (scripts/bench/build-ref.sh, warning-free). Each is skipped,
 * with the reason in its name, when this host's gcc cannot build it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const m32 = spawnSync('gcc', ['-m32', '-ffreestanding', '-c', '-x', 'c', '-o', '/dev/null', '-'], { input: 'int x;' }).status === 0;
const why = m32 ? '' : ' (skipped: gcc cannot compile for -m32 here)';
const cc = spawnSync('gcc', ['-c', '-x', 'c', '-o', '/dev/null', '-'], { input: '#include <linux/kvm.h>\nint x;' }).status === 0;
const ccWhy = cc ? '' : ' (skipped: no gcc with the Linux headers here)';

describe('x86 builds', () => {
  it.skipIf(!m32)(`guests/x86: every committed ELF rebuilds byte for byte${why}`, () => {
    const r = spawnSync('bash', [join(ROOT, 'scripts', 'build-guests.sh'), '--check'], { encoding: 'utf8' });
    expect(r.stdout).not.toContain('DIFFERENT');
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });

  it.skipIf(!cc)(`scripts/bench: the raw-C references build without a warning (build-ref.sh, -Werror)${ccWhy}`, () => {
    const out = mkdtempSync(join(tmpdir(), 'tsvmm-refs-'));
    try {
      const r = spawnSync('bash', [join(ROOT, 'scripts', 'bench', 'build-ref.sh'), out], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      for (const f of ['pio-ref', 'msi-ref', 'msi-ringer']) expect(existsSync(join(out, f)), f).toBe(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

/**
 * What the x86 host toolchain builds besides the addon: the guests
 * (guests/x86/*.elf must rebuild byte for byte from their sources, as
 * guests/x86/README.md promises) and the raw-C references of the
 * benchmarks (scripts/bench/*.c, warning-free). Skipped with the reason
 * when there is no gcc/ld for 32-bit x86.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const BENCH = join(ROOT, 'scripts', 'bench');
const m32 = spawnSync('gcc', ['-m32', '-ffreestanding', '-c', '-x', 'c', '-o', '/dev/null', '-'], { input: 'int x;' }).status === 0;
const why = m32 ? '' : ' (skipped: gcc cannot compile for -m32 here)';

describe('x86 builds', () => {
  it.skipIf(!m32)(`guests/x86: every committed ELF rebuilds byte for byte${why}`, () => {
    const r = spawnSync('bash', [join(ROOT, 'scripts', 'build-guests.sh'), '--check'], { encoding: 'utf8' });
    expect(r.stdout).not.toContain('DIFFERENT');
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });

  it.skipIf(!m32)(`scripts/bench: the raw-C references compile without a warning${why}`, () => {
    const out = mkdtempSync(join(tmpdir(), 'tsvmm-refs-'));
    try {
      for (const [src, extra] of [['pio-ref.c', []], ['msi-ref.c', ['-pthread']], ['msi-ringer.c', []]] as const) {
        const r = spawnSync('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', ...extra, '-o', join(out, src), join(BENCH, src)], { encoding: 'utf8' });
        expect(r.status, `${src}: ${r.stderr}`).toBe(0);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

/**
 * The addon builds for arm64 hosts too: scripts/arm64/build-addon.sh
 * cross-compiles the same sources with Debian's g++-aarch64-linux-gnu (-Werror),
 * and the result is an AArch64 shared object exporting the arm64 ioctls.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const hasCross = spawnSync('aarch64-linux-gnu-g++', ['--version']).status === 0;
const skipReason = hasCross ? '' : ' (skipped: aarch64-linux-gnu-g++ is not installed; scripts/arm64/install-tools.sh installs it)';

describe('arm64 cross build', () => {
  it.skipIf(!hasCross)(`the addon cross-compiles for arm64 with -Werror${skipReason}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvmm-arm64-'));
    try {
      const out = join(dir, 'kvm.node');
      execFileSync('bash', ['scripts/arm64/build-addon.sh', out], { stdio: 'pipe' });
      const elf = readFileSync(out);
      expect(elf.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
      expect(elf[4]).toBe(2); // ELFCLASS64
      expect(elf.readUInt16LE(18)).toBe(183); // EM_AARCH64
      const text = elf.toString('latin1');
      for (const name of ['armVcpuInit', 'armPreferredTarget', 'getOneReg', 'setOneReg', 'getRegList', 'irqLineNoStatus', 'device_irq_level']) {
        expect(text.includes(name), name).toBe(true);
      }
      // x86-only exports are not built for arm64.
      expect(text.includes('getSupportedCpuid')).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);

  it.skipIf(!hasCross)(`the committed arm64 guests rebuild byte for byte from their sources${skipReason}`, () => {
    const r = spawnSync('bash', ['scripts/build-guests-arm64.sh', '--check'], { encoding: 'utf8' });
    expect(r.stdout).not.toContain('DIFFERENT');
    expect(r.status, r.stdout + r.stderr).toBe(0);
  }, 120_000);
});

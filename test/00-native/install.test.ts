/**
 * npm's install step (scripts/install-native.mjs): a machine that cannot
 * build the addon still installs, with one line saying that only the sim is
 * available and why, and the reason left where the loader finds it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const SCRIPT = join(import.meta.dirname, '..', '..', 'scripts', 'install-native.mjs');

function install(cmd: string, dir: string) {
  return spawnSync(process.execPath, [SCRIPT], {
    encoding: 'utf8', env: { ...process.env, TSVMM_BUILD_CMD: cmd, TSVMM_BUILD_DIR: dir }, timeout: 30_000,
  });
}

describe('npm install without a working compiler', () => {
  it('a failed build exits 0 with one line naming the reason, kept for the loader; a later good build clears it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvmm-install-'));
    const bad = install('echo "probe.cc:1:1: error: no C++ compiler here" >&2; exit 1', dir);
    expect(bad.status).toBe(0);
    const lines = bad.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^tsvmm: native KVM addon not built \(.*error: no C\+\+ compiler here\); only the sim backend is available/);
    expect(readFileSync(join(dir, 'native-unavailable.txt'), 'utf8')).toContain('error: no C++ compiler here');
    expect(readFileSync(join(dir, 'native-build.log'), 'utf8')).toContain('no C++ compiler here');

    const good = install('true', dir);
    expect(good.status).toBe(0);
    expect(good.stdout.trim()).toBe('tsvmm: native KVM addon built (build/Release/kvm.node)');
    expect(existsSync(join(dir, 'native-unavailable.txt'))).toBe(false);
  });
});

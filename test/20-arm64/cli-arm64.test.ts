/**
 * The command line with arm64 images: the architecture is detected from the
 * Image header, the machine runs on the sim (on an x86 host; KVM on an arm64
 * one), PSCI SYSTEM_OFF is status 0, stdin reaches the PL011, --dump-dtb and
 * --dtb round-trip the device tree, and x86-only options are refused.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseFdt } from '../../src/loader/fdt.js';
import { listArm64Guests } from '../helpers/arm64-guests.js';

const ROOT = join(import.meta.dirname, '..', '..');
const VMM = join(ROOT, 'bin', 'vmm.js');
const SCALE = Math.max(1, Number(process.env['TSVMM_TIME_SCALE'] ?? 1) || 1);
const guest = (n: string) => listArm64Guests().find((g) => g.name === n)!;

function vmm(args: string[], input?: string) {
  return spawnSync(process.execPath, [VMM, ...args], { encoding: 'latin1', timeout: 60_000 * SCALE, ...(input !== undefined ? { input } : {}) });
}

describe('vmm CLI, arm64', () => {
  it('detects the arm64 Image, runs hello and exits 0 on PSCI SYSTEM_OFF', () => {
    const r = vmm(['run', '--backend', 'sim', guest('hello').image]);
    expect(r.stdout).toBe(guest('hello').serial);
    expect(r.status).toBe(0);
  });

  it('feeds stdin to the PL011 (uart-rx) and runs 4 vCPUs (sgi)', () => {
    const u = guest('uart-rx');
    const r = vmm(['run', '--backend', 'sim', u.image], u.input);
    expect(r.stdout).toBe(u.serial);
    const s = guest('sgi');
    const q = vmm(['run', '--backend', 'sim', '--cpus', '4', s.image]);
    expect(q.stdout).toBe(s.serial);
    expect(q.status).toBe(0);
  });

  it('--dump-dtb writes the generated tree, and --dtb passes a given one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvmm-cli-arm64-'));
    try {
      const f = join(dir, 'virt.dtb');
      const d = vmm(['run', '--dump-dtb', f, '--cpus', '2', '--mem', '256', '--cmdline', 'console=ttyAMA0', guest('hello').image]);
      expect(d.status, d.stderr).toBe(0);
      const t = parseFdt(readFileSync(f));
      expect(t.children.map((c) => c.name)).toContain('memory@40000000');
      expect(t.children.find((c) => c.name === 'cpus')!.children.length).toBe(2);
      const r = vmm(['run', '--backend', 'sim', '--dtb', f, guest('hello').image]);
      expect(r.stdout).toContain('x0 holds a device tree');
      writeFileSync(join(dir, 'junk.dtb'), 'not a tree');
      const j = vmm(['run', '--backend', 'sim', '--dtb', join(dir, 'junk.dtb'), guest('hello').image]);
      expect(j.stdout).toContain('x0 holds no device tree');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses x86-only options, bad --arch and out-of-range sizes with status 64 and a reason', () => {
    for (const args of [['--irqchip', 'none'], ['--device', 'edu'], ['--iommu', 'intel'], ['--stats'], ['--vcpu-threads'], ['--no-vcpu-threads'], ['--cpus', '9'], ['--mem', '2'], ['--arch', 'riscv']]) {
      const r = vmm(['run', ...args, guest('hello').image]);
      expect(r.status, args.join(' ')).toBe(64);
      expect(r.stderr).toMatch(/^vmm: /);
    }
    const x = vmm(['run', '--dtb', '/nonexistent', join(ROOT, 'guests', 'x86', 'hello.elf')]);
    expect(x.status).toBe(64);
  });

  it('--arch x86_64 on an arm64 image is a loader error (status 70), not a crash', () => {
    const r = vmm(['run', '--backend', 'sim', '--arch', 'x86_64', guest('hello').image]);
    expect(r.status).toBe(70);
    expect(r.stderr).toContain('ERR_LOADER');
  });
});

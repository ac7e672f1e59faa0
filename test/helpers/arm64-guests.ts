/**
 * The committed arm64 guests (guests/arm64/<name>.img) and their
 * expectations (<name>.expect.json), run on a backend with our `virt`
 * machine or under qemu-system-aarch64 -M virt,gic-version=2 (TCG) as the
 * reference.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Hypervisor } from '../../src/backend/types.js';
import { listArm64Expectations, runArm64Expectation, type Arm64GuestExpectation } from '../../src/machine/arm64/expectations.js';
import type { RunResult } from '../../src/machine/x86-pc.js';

export const ARM64_GUEST_DIR = join(import.meta.dirname, '..', '..', 'guests', 'arm64');
export const QEMU_ARM64 = 'qemu-system-aarch64';
export const HAS_QEMU_ARM64 = spawnSync(QEMU_ARM64, ['--version']).status === 0;

export type { Arm64GuestExpectation };

export function listArm64Guests(): Arm64GuestExpectation[] {
  return listArm64Expectations(ARM64_GUEST_DIR);
}

export function runArm64Guest(hv: Hypervisor, g: Arm64GuestExpectation): Promise<RunResult & { serial: string }> {
  return runArm64Expectation(hv, g);
}

export function runQemuArm64(g: Arm64GuestExpectation): { serial: string; status: number | null } {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-qemu-arm64-'));
  try {
    const r = spawnSync(QEMU_ARM64, [
      '-M', 'virt,gic-version=2', '-accel', 'tcg', '-cpu', 'cortex-a57', '-m', String(g.memMiB), '-smp', String(g.cpus),
      '-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-no-reboot', '-kernel', g.image,
    ], { timeout: 60_000, input: g.input ?? '', encoding: 'latin1' });
    return { serial: r.stdout, status: r.status };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

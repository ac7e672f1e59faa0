/**
 * The committed arm64 guests (guests/arm64/<name>.img) and their
 * expectations (<name>.expect.json), run on a backend with our `virt`
 * machine or under qemu-system-aarch64 -M virt,gic-version=2 (TCG) as the
 * reference.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Hypervisor } from '../../src/backend/types.js';
import { Arm64Machine } from '../../src/machine/arm64/virt.js';
import type { RunResult } from '../../src/machine/x86-pc.js';

export const ARM64_GUEST_DIR = join(import.meta.dirname, '..', '..', 'guests', 'arm64');
export const QEMU_ARM64 = 'qemu-system-aarch64';
export const HAS_QEMU_ARM64 = spawnSync(QEMU_ARM64, ['--version']).status === 0;

export interface Arm64GuestExpectation {
  name: string;
  image: string;
  description: string;
  cpus: number;
  memMiB: number;
  /** Bytes fed to the PL011's receiver (our serialIn; QEMU's stdin). */
  input?: string;
  serial: string;
  exitStatus: number;
  /** Why QEMU cannot run it (a device only this VMM has), or absent. */
  noQemu?: string;
  /** Events the test device has pending, its level line high, before the first vCPU run (seed 000's early interrupt). */
  eventsBeforeRun?: number;
}

export function listArm64Guests(): Arm64GuestExpectation[] {
  return readdirSync(ARM64_GUEST_DIR)
    .filter((f) => f.endsWith('.expect.json'))
    .sort()
    .map((f) => {
      const name = f.slice(0, -'.expect.json'.length);
      const e = JSON.parse(readFileSync(join(ARM64_GUEST_DIR, f), 'utf8')) as Partial<Omit<Arm64GuestExpectation, 'name' | 'image'>>
        & Pick<Arm64GuestExpectation, 'description' | 'serial' | 'exitStatus'>;
      return { ...e, cpus: e.cpus ?? 1, memMiB: e.memMiB ?? 128, name, image: join(ARM64_GUEST_DIR, `${name}.img`) };
    });
}

export async function runArm64Guest(hv: Hypervisor, g: Arm64GuestExpectation): Promise<RunResult & { serial: string }> {
  const out: Buffer[] = [];
  const m = new Arm64Machine({
    hypervisor: hv, image: readFileSync(g.image), cpus: g.cpus, memMiB: g.memMiB,
    serialOut: (b) => { out.push(Buffer.from(b)); },
  });
  try {
    if (g.input !== undefined) m.serialIn(Buffer.from(g.input, 'latin1'));
    if (g.eventsBeforeRun !== undefined) m.testdev.preload(g.eventsBeforeRun);
    const r = await m.runAsync();
    return { ...r, serial: Buffer.concat(out).toString('latin1') };
  } finally {
    m.close();
  }
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

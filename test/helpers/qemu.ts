/** Running a guest under QEMU as the reference (serial bytes and exit status). */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GuestExpectation } from './guests.js';

export const QEMU = 'qemu-system-x86_64';
export const HAS_QEMU = spawnSync(QEMU, ['--version']).status === 0;

export function runQemu(g: GuestExpectation, accel: 'kvm' | 'tcg'): { serial: string; status: number | null } {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-qemu-'));
  try {
    const out = join(dir, 'serial.out');
    const r = spawnSync(QEMU, [
      '-machine', g.qemuMachine, '-accel', accel, '-m', String(g.memMiB), '-smp', String(g.cpus), '-display', 'none', '-monitor', 'none',
      '-serial', `file:${out}`, '-no-reboot', '-device', 'isa-debug-exit,iobase=0xf4,iosize=4',
      ...g.qemuDevices.flatMap((d) => ['-device', d]),
      '-kernel', g.elf, '-append', g.cmdline,
    ], { timeout: 60_000 });
    return { serial: readFileSync(out, 'latin1'), status: r.status };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

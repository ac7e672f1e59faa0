/**
 * QEMU as the reference: every guest boots under qemu-system-x86_64
 * -kernel and prints exactly the bytes its expectation records, with the
 * same exit status. Skipped, with the reason in the title, when QEMU is
 * not installed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KVM_SKIP_REASON } from '../helpers/backends.js';
import { listGuests } from '../helpers/guests.js';
import { hostQuirk } from '../helpers/host-quirks.js';

const QEMU = 'qemu-system-x86_64';
const hasQemu = spawnSync(QEMU, ['--version']).status === 0;
const accel = KVM_SKIP_REASON === null ? 'kvm' : 'tcg';
const title = hasQemu ? `guests under QEMU (-accel ${accel})` : `guests under QEMU (skipped: ${QEMU} not installed)`;

describe.skipIf(!hasQemu)(title, () => {
  for (const g of listGuests()) {
    // QEMU -accel kvm trips the same host quirk as our KVM backend; TCG is the reference then.
    const guestAccel = g.hostQuirk && hasQemu && hostQuirk(g.hostQuirk) ? 'tcg' : accel;
    it(`${g.name}: same serial bytes and exit status as the expectation${guestAccel !== accel ? ' (-accel tcg: host quirk)' : ''}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvmm-qemu-'));
    try {
      const out = join(dir, 'serial.out');
      const r = spawnSync(QEMU, [
        '-machine', 'pc', '-accel', guestAccel, '-m', String(g.memMiB), '-display', 'none', '-monitor', 'none',
        '-serial', `file:${out}`, '-no-reboot', '-device', 'isa-debug-exit,iobase=0xf4,iosize=4',
        '-kernel', g.elf, '-append', g.cmdline,
      ], { timeout: 60_000 });
      expect(readFileSync(out, 'latin1')).toBe(g.serial);
      expect(r.status).toBe(g.exitStatus);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    });
  }
});

/**
 * QEMU as the reference: every guest boots under qemu-system-x86_64
 * -kernel and prints exactly the bytes its expectation records, with the
 * same exit status. Skipped, with the reason in the title, when QEMU is
 * not installed.
 */
import { describe, expect, it } from 'vitest';
import { KVM_SKIP_REASON } from '../helpers/backends.js';
import { listGuests } from '../helpers/guests.js';
import { hostQuirk } from '../helpers/host-quirks.js';
import { HAS_QEMU, QEMU, runQemu } from '../helpers/qemu.js';

const accel = KVM_SKIP_REASON === null ? 'kvm' : 'tcg';
const title = HAS_QEMU ? `guests under QEMU (-accel ${accel})` : `guests under QEMU (skipped: ${QEMU} not installed)`;

describe.skipIf(!HAS_QEMU)(title, () => {
  for (const g of listGuests()) {
    // QEMU -accel kvm trips the same host quirk as our KVM backend; TCG is the reference then.
    // A guest may also name its reference accelerator (its expectation's qemuNote says why).
    const guestAccel = g.qemuAccel ?? (g.hostQuirk && HAS_QEMU && hostQuirk(g.hostQuirk) ? 'tcg' : accel);
    const why = g.qemuAccel ? 'set by the expectation' : 'host quirk';
    const title = `${g.name}: same serial bytes and exit status as the expectation${guestAccel !== accel ? ` (-accel tcg: ${why})` : ''}`;
    if (g.noQemu) { it.skip(`${g.name} (skipped: ${g.noQemu})`, () => {}); continue; }
    it(title, () => {
      const r = runQemu(g, guestAccel);
      expect(r.serial).toBe(g.serial);
      expect(r.status).toBe(g.exitStatus);
    });
  }
});

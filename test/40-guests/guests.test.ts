/**
 * Every committed guest boots on both backends and gives exactly the
 * serial output and exit status its expectation file records (which came
 * from QEMU). Since both backends must match the same bytes, this is also
 * the differential test between KVM and the sim.
 */
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { listGuests, needsEventLoop, runGuest, runGuestAsync } from '../helpers/guests.js';
import { hostQuirk } from '../helpers/host-quirks.js';

const guests = listGuests();

describe('guest expectations exist', () => {
  it('hello, bench-pio and compute are committed', () => {
    const names = guests.map((g) => g.name);
    for (const n of ['hello', 'bench-pio', 'compute']) expect(names).toContain(n);
  });
});

describe.each(BACKENDS)('guests on $title', (backend) => {
  for (const g of guests) {
    const quirk = backend.kind === 'kvm' && !backend.skip && g.hostQuirk ? hostQuirk(g.hostQuirk) : null;
    const title = `${g.name}: serial output and exit status match the expectation${quirk ? ` (skipped: ${quirk}; checked under QEMU TCG)` : ''}`;
    it.skipIf(backend.skip || quirk !== null)(title, async () => {
      const hv = backend.open();
      try {
        // Several vCPUs (threads on KVM, round robin on the sim) and eventfd-backed devices need the event loop.
        const r = needsEventLoop(g) ? await runGuestAsync(hv, g, g.irqchip) : runGuest(hv, g, g.irqchip);
        expect(r.serial).toBe(g.serial);
        expect(r.status).toBe(g.exitStatus);
        expect(r.reason.kind).toBe('debug-exit');
      } finally {
        hv.close();
      }
    });
  }
});

describe.each(BACKENDS)('guests with the split irqchip on $title', (backend) => {
  // The same bytes with the LAPIC in the kernel and our IOAPIC, fw_cfg and pc-testdev on the buses.
  for (const g of guests.filter((x) => ['hello', 'strings'].includes(x.name))) {
    it.skipIf(backend.skip)(`${g.name}: same serial output and exit status`, () => {
      const hv = backend.open();
      try {
        const r = runGuest(hv, g, 'split');
        expect(r.serial).toBe(g.serial);
        expect(r.status).toBe(g.exitStatus);
      } finally {
        hv.close();
      }
    });
  }
});

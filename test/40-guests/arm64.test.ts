/**
 * The arm64 guests on our `virt` machine: each prints exactly its
 * expectation's bytes and exits with its status, on the sim always and on
 * real KVM on an arm64 host (x86 hosts run them on nested arm64 KVM with
 * `npm run test:arm64`); and the same bytes under qemu-system-aarch64 TCG
 * with a GICv2, the reference.
 */
import { describe, expect, it } from 'vitest';
import { ARM64_BACKENDS } from '../helpers/backends.js';
import { subscribe } from '../../src/trace/events.js';
import { TD_DOORBELL, TESTDEV_BASE } from '../../src/machine/arm64/testdev.js';
import { HAS_QEMU_ARM64, QEMU_ARM64, listArm64Guests, runArm64Guest, runQemuArm64 } from '../helpers/arm64-guests.js';

const guests = listArm64Guests();

describe.each(ARM64_BACKENDS)('arm64 guests on $title', (b) => {
  for (const g of guests) {
    it.skipIf(b.skip)(`${g.name}: the expected serial bytes and exit status ${g.exitStatus}`, async () => {
      const hv = b.open();
      try {
        const r = await runArm64Guest(hv, g);
        expect(r.serial).toBe(g.serial);
        expect(r.status).toBe(g.exitStatus);
      } finally {
        hv.close();
      }
    });
  }
});

const qemuTitle = HAS_QEMU_ARM64 ? 'arm64 guests under QEMU (TCG, virt,gic-version=2)' : `arm64 guests under QEMU (skipped: ${QEMU_ARM64} not installed)`;
describe.skipIf(!HAS_QEMU_ARM64)(qemuTitle, () => {
  for (const g of guests) {
    if (g.noQemu) { it.skip(`${g.name} (skipped: ${g.noQemu})`, () => {}); continue; }
    it(`${g.name}: the same serial bytes and exit status`, () => {
      const r = runQemuArm64(g);
      expect(r.serial).toBe(g.serial);
      expect(r.status).toBe(g.exitStatus);
    });
  }
});

/** Runs guest `g` on backend `b` with `onEvent` subscribed to the trace points `names`; checks its transcript. */
async function runSubscribed(b: (typeof ARM64_BACKENDS)[number], g: (typeof guests)[number], names: Parameters<typeof subscribe>[1],
  onEvent: Parameters<typeof subscribe>[0]): Promise<void> {
  const unsubscribe = subscribe(onEvent, names);
  const hv = b.open();
  try {
    const r = await runArm64Guest(hv, g);
    expect(r.serial).toBe(g.serial);
  } finally {
    unsubscribe();
    hv.close();
  }
}

describe.each(ARM64_BACKENDS)('arm64 ioeventfd on $title', (b) => {
  it.skipIf(b.skip)('the matching doorbell writes never exit to userspace: exactly one MMIO exit at the doorbell', async () => {
    const g = guests.find((x) => x.name === 'ioeventfd')!;
    const addresses: number[] = [];
    await runSubscribed(b, g, ['vmm:vcpu:exit'], (_n, p) => {
      const e = p as { kind: string; address?: number };
      if (e.kind === 'mmio-write' && e.address === TESTDEV_BASE + TD_DOORBELL) addresses.push(e.address);
    });
    expect(addresses.length).toBe(1);
  });
});

describe.each(ARM64_BACKENDS)('arm64 GIC trace points on $title', (b) => {
  it.skipIf(b.skip)('the timer guest\'s ticks: every level KVM reports, the CPU interface\'s line following it, each deactivation of PPI 27', async () => {
    const g = guests.find((x) => x.name === 'timer')!;
    const seen: { name: string; p: Record<string, unknown> }[] = [];
    await runSubscribed(b, g, ['vmm:gic:device_irq_level', 'vmm:gic:irq_line', 'vmm:gic:deactivate'],
      (name, p) => { seen.push({ name, p: p as Record<string, unknown> }); });
    const of = (n: string): Record<string, unknown>[] => seen.filter((e) => e.name === n).map((e) => e.p);
    // The one-shot and 10 ticks: 11 rises of the vtimer's level (bit 0), each followed by its fall; the line likewise.
    const levels = of('vmm:gic:device_irq_level').map((p) => (p['level'] as number) & 1);
    expect(levels.filter((l) => l === 1).length).toBe(11);
    expect(levels.every((l, i) => i === 0 || l !== levels[i - 1])).toBe(true);
    const lines = of('vmm:gic:irq_line').map((p) => p['level']);
    expect(lines.filter((l) => l === true).length).toBe(11);
    expect(lines.every((l, i) => l === (i % 2 === 0))).toBe(true);
    const deact = of('vmm:gic:deactivate');
    expect(deact.length).toBe(11);
    expect(deact.every((p) => p['intid'] === 27 && p['vcpu'] === 0 && typeof p['vm'] === 'number')).toBe(true);
  });
});

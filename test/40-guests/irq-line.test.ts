/**
 * An interrupt the guest does not cause: the VMM asserts an IOAPIC pin
 * through an eventfd-backed line while the vCPU spins in the guest. On
 * KVM the eventfd is written from another thread (a worker), so the event
 * must travel poller thread → kick → KVM_RUN returns → callback → IOAPIC →
 * KVM_SIGNAL_MSI. On the sim a timer writes it.
 */
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { listGuests } from '../helpers/guests.js';
import { X86Machine } from '../../src/machine/x86-pc.js';

const g = listGuests({ all: true }).find((x) => x.name === 'irq-wait')!;

/** Writes 1 to eventfd `fd` from a worker thread after `ms` milliseconds. */
function writeFromWorker(fd: number, ms: number): Worker {
  return new Worker(`
    const { writeSync } = require('node:fs');
    const { workerData } = require('node:worker_threads');
    setTimeout(() => { const b = Buffer.alloc(8); b.writeBigUInt64LE(1n); writeSync(workerData.fd, b); }, workerData.ms);
  `, { eval: true, workerData: { fd, ms } });
}

describe.each(BACKENDS)('eventfd IRQ line on $title', (backend) => {
  it.skipIf(backend.skip).each([
    { how: 'the vCPU on the device thread (kicked by the poller)', vcpuThreads: false },
    { how: 'the vCPU on its own thread (the event loop serves the eventfd)', vcpuThreads: true },
  ])('a level line asserted from outside the vCPU thread reaches the guest: $how', async ({ vcpuThreads }) => {
    const hv = backend.open();
    const chunks: Buffer[] = [];
    const m = new X86Machine({
      hypervisor: hv, image: readFileSync(g.elf), memMiB: g.memMiB, cmdline: g.cmdline, irqchip: 'split', vcpuThreads,
      serialOut: (b) => chunks.push(Buffer.from(b)),
    });
    const line = m.addIrqLine(6, 'level');
    let worker: Worker | undefined;
    try {
      if (backend.kind === 'kvm') worker = writeFromWorker(line.trigger.fd, 100);
      else setTimeout(() => line.trigger.write(1), 20);
      const r = await m.runAsync();
      expect(Buffer.concat(chunks).toString('latin1')).toBe(g.serial);
      expect(r.status).toBe(g.exitStatus);
      expect(line.triggers).toBe(1);
    } finally {
      await worker?.terminate();
      m.close();
      hv.close();
    }
  });
});

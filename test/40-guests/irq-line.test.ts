/**
 * An interrupt the guest does not cause: the VMM asserts an IOAPIC pin
 * through an eventfd-backed line while the vCPU spins in the guest, or
 * sleeps in HLT inside KVM_RUN. On KVM the eventfd is written by another
 * process (it inherits the fd), so with the vCPU on the device thread the
 * event must travel poller thread → kick → KVM_RUN returns → callback →
 * IOAPIC → KVM_SIGNAL_MSI; with the vCPU on its own thread the event loop
 * serves it at once. On the sim a timer writes it.
 *
 * (A worker thread as the writer is not independent enough: its start-up
 * needs this thread's event loop, which a vCPU blocked in KVM_RUN on this
 * thread holds.)
 */
import { readFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { listGuests } from '../helpers/guests.js';
import { X86Machine } from '../../src/machine/x86-pc.js';

const g = listGuests({ all: true }).find((x) => x.name === 'irq-wait')!;

/** Writes 1 to eventfd `fd` from another process (fd 3 there) after `ms` milliseconds. */
function writeFromProcess(fd: number, ms: number): ChildProcess {
  return spawn(process.execPath, ['-e', `
    setTimeout(() => { const b = Buffer.alloc(8); b.writeBigUInt64LE(1n); require('node:fs').writeSync(3, b); }, ${ms});
  `], { stdio: ['ignore', 'inherit', 'inherit', fd] });
}

describe.each(BACKENDS)('eventfd IRQ line on $title', (backend) => {
  it.skipIf(backend.skip).each([
    { how: 'spinning, the vCPU on the device thread (kicked by the poller)', vcpuThreads: false, cmdline: '' },
    { how: 'spinning, the vCPU on its own thread (the event loop serves the eventfd)', vcpuThreads: true, cmdline: '' },
    { how: 'halted in KVM_RUN, the vCPU on the device thread', vcpuThreads: false, cmdline: 'halt=1' },
    { how: 'halted in KVM_RUN, the vCPU on its own thread', vcpuThreads: true, cmdline: 'halt=1' },
  ])('a level line asserted from outside the vCPU thread reaches the guest: $how', async ({ vcpuThreads, cmdline }) => {
    const hv = backend.open();
    const chunks: Buffer[] = [];
    const m = new X86Machine({
      hypervisor: hv, image: readFileSync(g.elf), memMiB: g.memMiB, cmdline, irqchip: 'split', vcpuThreads,
      serialOut: (b) => chunks.push(Buffer.from(b)),
    });
    const line = m.addIrqLine(6, 'level');
    let writer: ChildProcess | undefined;
    try {
      if (backend.kind === 'kvm') writer = writeFromProcess(line.trigger.fd, 200);
      else setTimeout(() => line.trigger.write(1), 20);
      const r = await m.runAsync();
      expect(Buffer.concat(chunks).toString('latin1')).toBe(g.serial);
      expect(r.status).toBe(g.exitStatus);
      expect(line.triggers).toBe(1);
    } finally {
      writer?.kill();
      m.close();
      hv.close();
    }
  });
});

/**
 * The UART's receiver and its interrupt, end to end: the guest enables the
 * receive-data interrupt on IOAPIC pin 4 and waits; the VMM feeds it a
 * burst longer than the FIFO once it is ready (flow control: nothing may be
 * lost) and the guest echoes every line. Also through the CLI, from stdin.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { GUEST_DIR } from '../helpers/guests.js';
import { X86Machine } from '../../src/machine/x86-pc.js';

const ELF = join(GUEST_DIR, 'uart-echo.elf');
const expected = JSON.parse(readFileSync(join(GUEST_DIR, 'uart-echo.expect.json'), 'utf8')) as { serial: string; exitStatus: number };
const INPUT = 'hello\nworld, this line is longer than sixteen bytes\nquit\n';

describe.each(BACKENDS)('uart-echo on $title', (backend) => {
  it.skipIf(backend.skip)('receive interrupts deliver every byte of a burst fed after the guest is ready', async () => {
    const hv = backend.open();
    let out = '';
    let fed = false;
    const m: X86Machine = new X86Machine({
      hypervisor: hv, image: readFileSync(ELF), irqchip: 'split', vcpuThreads: true,
      serialOut: (b) => {
        out += Buffer.from(b).toString('latin1');
        if (!fed && out.includes('ready\n')) {
          fed = true;
          // From the event loop, as stdin's data would come; the vCPU is spinning or halted meanwhile.
          setTimeout(() => m.serialIn(Buffer.from(INPUT)), 20);
        }
      },
    });
    try {
      const r = await m.runAsync();
      expect(out).toBe(expected.serial);
      expect(r.status).toBe(expected.exitStatus);
    } finally {
      m.close();
      hv.close();
    }
  });
});

describe.each(BACKENDS)('vmm run with stdin on $title', (backend) => {
  it.skipIf(backend.skip)('stdin feeds the guest\'s UART', () => {
    const bin = join(import.meta.dirname, '..', '..', 'bin', 'vmm.js');
    // Lines sent at once, before the guest is ready: the FIFO enable may drop what the holding register had,
    // as on hardware, so the first line is a throwaway.
    const r = spawnSync(process.execPath, [bin, 'run', ELF, '--irqchip', 'split', '--backend', backend.kind, '--cmdline', 'lines=9'], {
      input: 'x\nhello\nquit\n', timeout: 60_000,
    });
    const text = r.stdout.toString('latin1');
    expect(text).toContain('> HELLO\n> QUIT\n');
    expect(text).toContain('uart-echo: PASS');
    expect(r.status).toBe(1);
  });

  it.skipIf(backend.skip)('stdin that comes while the guest sleeps halted reaches it (the vCPU stays on the device thread, kicked by the poller)', async () => {
    const bin = join(import.meta.dirname, '..', '..', 'bin', 'vmm.js');
    const child = spawn(process.execPath, [bin, 'run', ELF, '--backend', backend.kind, '--cmdline', 'lines=9'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.setEncoding('latin1');
    await new Promise<void>((resolve) => child.stdout.on('data', (d: string) => { text += d; if (text.includes('ready')) resolve(); }));
    // Long after 'ready': the guest has been halted, waiting, for a while.
    await new Promise((r) => setTimeout(r, 300));
    child.stdin.write('x\nhello\n');
    await new Promise((r) => setTimeout(r, 300));
    child.stdin.write('quit\n');
    const status = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(text).toContain('> HELLO\n> QUIT\n');
    expect(status).toBe(1);
  });
});

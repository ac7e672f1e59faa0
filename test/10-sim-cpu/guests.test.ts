/**
 * End to end: every committed guest (guests/x86/*.elf, built by gcc -m32)
 * runs on the interpreter alone — multiboot loader, RAM, and a minimal
 * port handler (COM1 data/LSR, isa-debug-exit) — and must print exactly
 * the serial output its expectation file records (taken from QEMU/KVM).
 * Both the fast path and the general decoder.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { X86Cpu } from '../../src/backend/sim/x86/index.js';
import { loadMultiboot } from '../../src/loader/multiboot.js';
import { PATHS, flatSegment } from './helpers.js';

const GUESTS = join(import.meta.dirname, '..', '..', 'guests', 'x86');
const COM1 = 0x3f8;
const DEBUG_EXIT = 0xf4;

interface Expectation { name: string; cmdline: string; memMiB: number; serial: string; exitStatus: number; irqchip?: string }

// Guests that need the interrupt controllers (irqchip "split") run only through the full machine (test/40-guests).
const guests: Expectation[] = readdirSync(GUESTS).filter((f) => f.endsWith('.expect.json')).sort().map((f) => {
  const e = JSON.parse(readFileSync(join(GUESTS, f), 'utf8')) as Partial<Expectation>;
  return { name: f.slice(0, -'.expect.json'.length), cmdline: e.cmdline ?? '', memMiB: e.memMiB ?? 64, serial: e.serial ?? '', exitStatus: e.exitStatus ?? 1, irqchip: e.irqchip ?? 'none' };
}).filter((g) => g.irqchip === 'none');

function boot(g: Expectation, fastPath: boolean): { serial: string; status: number; instructions: number } {
  const ram = new Uint8Array(g.memMiB << 20);
  const mb = loadMultiboot(readFileSync(join(GUESTS, `${g.name}.elf`)), ram, { cmdline: g.cmdline });
  const cpu = new X86Cpu({}, { fastPath });
  cpu.setMemoryMap([{ gpa: 0, bytes: ram, readonly: false }]);
  const code = flatSegment(0x10, 0xb);
  const data = flatSegment(0x18, 0x3);
  cpu.setSregs({ ...cpu.getSregs(), cs: code, ds: data, es: data, fs: data, gs: data, ss: data, cr0: 0x60000011 });
  cpu.setRegs({ rax: mb.eax, rbx: mb.ebx, rcx: 0, rdx: 0, rsp: 0, rbp: 0, rsi: 0, rdi: 0, rip: mb.entry, rflags: 2 });
  let serial = '';
  for (let exits = 0; exits < 1_000_000; exits++) {
    const e = cpu.run(50_000_000);
    if (e.kind === 'io') {
      if (e.direction === 'in') e.data.fill(e.port === COM1 + 5 ? 0x60 : 0); // LSR: THR empty
      else if (e.port === COM1) serial += String.fromCharCode(e.data[0]!);
      else if (e.port === DEBUG_EXIT) return { serial, status: (e.data[0]! << 1) | 1, instructions: cpu.instructions };
      continue;
    }
    throw new Error(`${g.name}: unexpected exit ${e.kind} at ${cpu.getRegs().rip.toString(16)}, serial so far ${JSON.stringify(serial)}`);
  }
  throw new Error(`${g.name}: too many exits`);
}

describe.each(PATHS)('committed guests on the interpreter ($name)', ({ fastPath }) => {
  it.each(guests)('$name prints its expected serial output and exits with its status', (g) => {
    const r = boot(g, fastPath);
    expect(r.serial).toBe(g.serial);
    expect(r.status).toBe(g.exitStatus);
  });

  it('runs the same instruction count on both paths (compute)', () => {
    const g = guests.find((x) => x.name === 'compute')!;
    expect(boot(g, fastPath).instructions).toBe(boot(g, !fastPath).instructions);
  });
});

/**
 * SMP plumbing: the machine's vCPU set (validation, per-vCPU CPUID, fw_cfg
 * CPU count), the threaded and round-robin loops (every vCPU stops when
 * one of them stops the machine; the sim's schedule is deterministic), and
 * a vCPU that runs on its own thread refusing the synchronous run().
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { GUEST_DIR, runGuestAsync } from '../helpers/guests.js';
import { SimHypervisor } from '../../src/backend/sim/index.js';
import type { CpuidEntry, Vcpu, VcpuExit } from '../../src/backend/types.js';
import { MmioBus, PioBus } from '../../src/machine/bus.js';
import { exitServer, type RunContext, type StopReason } from '../../src/machine/run-loop.js';
import { driveOnThreads, driveRoundRobin } from '../../src/backend/driver.js';
import { fakeVcpu } from '../helpers/fake-vcpu.js';
import { cpuidForVcpu, X86Machine } from '../../src/machine/x86-pc.js';

const SMP_BOOT = join(GUEST_DIR, 'smp-boot.elf');

type Ctx = RunContext & { vcpu: Vcpu };
const runVcpusThreaded = async (ctx: Ctx, vcpus: Vcpu[]): Promise<StopReason | null> => {
  await driveOnThreads(vcpus, exitServer(ctx));
  return ctx.stop;
};
const runVcpusRoundRobin = async (ctx: Ctx, vcpus: Vcpu[]): Promise<StopReason | null> =>
  (await driveRoundRobin(vcpus, exitServer(ctx))) === 'idle' ? { kind: 'halted' } : ctx.stop;

/** A vCPU on a "thread": replays `exits`, then idles; a kick brings it back with intr. */
function threadedVcpu(id: number, exits: VcpuExit[], log: string[]): Vcpu {
  let i = 0;
  let kicked = false;
  return fakeVcpu({
    id,
    run: () => { throw new Error('threaded vCPUs are not run synchronously'); },
    runOnThread: async () => {
      await new Promise((r) => setImmediate(r));
      if (kicked) { kicked = false; return { kind: 'intr' }; }
      const e = exits[i++];
      if (!e) { await new Promise((r) => setTimeout(r, 5)); return { kind: 'intr' }; }
      return e;
    },
    kick: () => { log.push(`kick ${id}`); kicked = true; },
  });
}

describe('threaded run loop', () => {
  it('serves every vCPU\'s exits on this thread and, when one stops the machine, kicks all and returns', async () => {
    const log: string[] = [];
    const pio = new PioBus();
    const ctx: Ctx = { vcpu: undefined as unknown as Vcpu, pio, mmio: new MmioBus(), stop: null, exits: 0 };
    pio.register(0x10, 1, { read: () => 0, write: (_o, _s, v) => { log.push(`out ${v}`); if (v === 9) ctx.stop = { kind: 'debug-exit', status: 19 }; } }, 'dev');
    const out = (v: number): VcpuExit => ({ kind: 'io-out', port: 0x10, size: 1, count: 1, data: Uint8Array.of(v) });
    const vcpus = [threadedVcpu(0, [out(1), out(2), out(9)], log), threadedVcpu(1, [out(5)], log), threadedVcpu(2, [], log)];
    ctx.vcpu = vcpus[0]!;
    const r = await runVcpusThreaded(ctx, vcpus);
    expect(r).toEqual({ kind: 'debug-exit', status: 19 });
    expect(log.filter((l) => l.startsWith('out'))).toEqual(['out 1', 'out 5', 'out 2', 'out 9']);
    for (const id of [0, 1, 2]) expect(log).toContain(`kick ${id}`);
  });

  // A guest polling a device register exits at once, every time: the driver must still give the event
  // loop turns, where what ends the polling runs (here a setImmediate callback; in the machine a doorbell
  // ring's watch, or a SIGTERM).
  it.each([
    { driver: 'driveOnThreads', how: 'each run resolves in a microtask, as a spun-for hand-over does', drive: driveOnThreads },
    { driver: 'driveRoundRobin', how: 'each run returns an exit two instructions in, long before the sim\'s quantum', drive: driveRoundRobin },
  ])('$driver: exits that come back at once still let the event loop run ($how)', async ({ drive }) => {
    let served = 0;
    let retired = 0;
    let eventLoopRan = false;
    const exit: VcpuExit = { kind: 'io-out', port: 0x80, size: 1, count: 1, data: Uint8Array.of(0) };
    const v = fakeVcpu({ run: () => { retired += 2; return exit; }, runOnThread: () => Promise.resolve(exit) });
    Object.defineProperty(v, 'instructionsRetired', { get: () => retired });
    setImmediate(() => { eventLoopRan = true; });
    await drive([v], { serve: () => { served++; }, stopping: () => eventLoopRan || served >= 100_000, stop: () => {} });
    expect(eventLoopRan).toBe(true);
    expect(served).toBeLessThan(100_000);
  });

  it('a failing vCPU stops the others and the error comes out', async () => {
    const log: string[] = [];
    const ctx: Ctx = { vcpu: undefined as unknown as Vcpu, pio: new PioBus(), mmio: new MmioBus(), stop: null, exits: 0 };
    const bad = threadedVcpu(1, [], log);
    bad.runOnThread = () => Promise.reject(new Error('EFAULT from KVM_RUN'));
    const vcpus = [threadedVcpu(0, [], log), bad];
    ctx.vcpu = vcpus[0]!;
    await expect(runVcpusThreaded(ctx, vcpus)).rejects.toThrow('EFAULT');
    expect(log).toContain('kick 0');
  });
});

describe('machine vCPUs', () => {
  it('refuses bad counts and SMP without the split irqchip, with a stable code', () => {
    const hv = new SimHypervisor();
    const image = readFileSync(SMP_BOOT);
    const base = { hypervisor: hv, image, serialOut: () => {} };
    for (const cpus of [0, -1, 1.5, 65]) {
      expect(() => new X86Machine({ ...base, cpus, irqchip: 'split' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    }
    expect(() => new X86Machine({ ...base, cpus: 2 })).toThrow(/irqchip 'split'/);
    hv.close();
  });

  it('gives each vCPU its initial APIC ID in CPUID leaves 1, 0xb and 0x1f', () => {
    const entries: CpuidEntry[] = [
      { function: 1, index: 0, flags: 0, eax: 0x800f12, ebx: 0x0a0b0c0d, ecx: 0, edx: 0 },
      { function: 0xb, index: 0, flags: 1, eax: 1, ebx: 1, ecx: 0x100, edx: 0 },
      { function: 0x1f, index: 1, flags: 1, eax: 4, ebx: 8, ecx: 0x201, edx: 0 },
      { function: 7, index: 0, flags: 1, eax: 0, ebx: 0x1234, ecx: 0, edx: 0 },
    ];
    const out = cpuidForVcpu(entries, 5);
    expect(out[0]!.ebx).toBe(0x050b0c0d);
    expect(out[1]!.edx).toBe(5);
    expect(out[2]!.edx).toBe(5);
    expect(out[3]).toEqual(entries[3]);
    expect(entries[0]!.ebx).toBe(0x0a0b0c0d); // the host's table is not modified
  });

  it('the synchronous run() is refused once the machine has an eventfd line: only the event loop serves one', () => {
    const hv = new SimHypervisor();
    const m = new X86Machine({ hypervisor: hv, image: readFileSync(join(GUEST_DIR, 'hello.elf')), serialOut: () => {}, irqchip: 'split' });
    try {
      m.addIrqLine(6, 'level');
      expect(() => m.run()).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    } finally {
      m.close();
      hv.close();
    }
  });

  it('the sim\'s round robin is deterministic: same guest, same instruction count and exits', async () => {
    const runs = [];
    for (let i = 0; i < 2; i++) {
      const hv = new SimHypervisor();
      try {
        runs.push(await runGuestAsync(hv, { elf: join(GUEST_DIR, 'ipi.elf'), cmdline: '', memMiB: 64, cpus: 4 }, 'split'));
      } finally {
        hv.close();
      }
    }
    expect(runs[0]!.serial).toContain('ipi: PASS');
    expect(runs[1]!.instructions).toBe(runs[0]!.instructions);
    expect(runs[1]!.exits).toBe(runs[0]!.exits);
  });

  it('round robin stops with halted when no vCPU can make progress and nothing can wake them', async () => {
    const hv = new SimHypervisor();
    // Two vCPUs but a one-CPU guest: the AP never gets a SIPI; the BSP runs hello and exits normally.
    const m = new X86Machine({ hypervisor: hv, image: readFileSync(join(GUEST_DIR, 'hello.elf')), serialOut: () => {}, irqchip: 'split', cpus: 2 });
    try {
      const r = await m.runAsync();
      expect(r.reason.kind).toBe('debug-exit');
    } finally {
      m.close();
      hv.close();
    }
    const ctx: Ctx = { vcpu: undefined as unknown as Vcpu, pio: new PioBus(), mmio: new MmioBus(), stop: null, exits: 0 };
    const idle = { ...threadedVcpu(0, [], []), run: (): VcpuExit => ({ kind: 'intr' }), instructionsRetired: 7 };
    ctx.vcpu = idle;
    expect(await runVcpusRoundRobin(ctx, [idle])).toEqual({ kind: 'halted' });
  });
});

describe.each(BACKENDS)('SMP on $title', (backend) => {
  it.skipIf(backend.skip)('fw_cfg reports the CPU count and every AP reports in (smp-boot, 3 vCPUs)', async () => {
    const hv = backend.open();
    try {
      const r = await runGuestAsync(hv, { elf: SMP_BOOT, cmdline: '', memMiB: 64, cpus: 3 }, 'split');
      expect(r.serial).toBe('cpus: 3, bsp apic id: 0\ncpu 1: up\ncpu 2: up\naps up: 2\nsmp-boot: PASS\n');
      expect(r.status).toBe(1);
    } finally {
      hv.close();
    }
  });

  it.skipIf(backend.skip)('one vCPU runs on a thread of its own by default when the machine has a doorbell (KVM; the sim never threads)', () => {
    const hv = backend.open();
    const made: X86Machine[] = [];
    const onThreads = (o: { devices?: string[]; vcpuThreads?: boolean }): boolean => {
      const m = new X86Machine({ hypervisor: hv, image: readFileSync(SMP_BOOT), serialOut: () => {}, irqchip: 'split', ...o });
      made.push(m);
      return m.onThreads;
    };
    try {
      const kvm = backend.kind === 'kvm';
      expect(onThreads({})).toBe(false);
      expect(onThreads({ devices: ['edu'] })).toBe(false);
      expect(onThreads({ devices: ['doorbell,vectors=2'] })).toBe(kvm);
      expect(onThreads({ devices: ['doorbell,vectors=2'], vcpuThreads: false })).toBe(false);
      expect(onThreads({ vcpuThreads: true })).toBe(kvm);
    } finally {
      for (const m of made) m.close();
      hv.close();
    }
  });

  it.skipIf(backend.skip)('the synchronous run() of several vCPUs: the sim runs them round robin, KVM refuses', () => {
    const hv = backend.open();
    const m = new X86Machine({ hypervisor: hv, image: readFileSync(SMP_BOOT), serialOut: () => {}, irqchip: 'split', cpus: 2 });
    try {
      if (backend.kind === 'sim') expect(m.run().status).toBe(1);
      else expect(() => m.run()).toThrow(/use runAsync/);
    } finally {
      m.close();
      hv.close();
    }
  });
});

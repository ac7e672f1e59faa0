/**
 * The `vmm` command as a user runs it: serial on stdout, exit status from
 * debug-exit, clear usage errors.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { GUEST_DIR, listGuests } from '../helpers/guests.js';

const ROOT = join(import.meta.dirname, '..', '..');
const VMM = join(ROOT, 'bin', 'vmm.js');
const hello = listGuests().find((g) => g.name === 'hello')!;

/**
 * Bounds on wall time scale with TSVMM_TIME_SCALE (default 1): under nested
 * KVM on an emulated CPU (npm run test:nested-kvm) everything is 10-50x slower.
 */
const SCALE = Math.max(1, Number(process.env['TSVMM_TIME_SCALE'] ?? 1) || 1);

function vmm(args: string[], env: NodeJS.ProcessEnv = process.env) {
  return spawnSync(process.execPath, [VMM, ...args], { encoding: 'latin1', timeout: 60_000 * SCALE, env });
}

/** An environment in which the addon cannot load: what a machine without KVM support looks like to the VMM. */
const NO_KVM = { ...process.env, TSVMM_NATIVE: '/nonexistent/kvm.node' };

describe('vmm CLI', () => {
  it('--help describes every option and exits 0', () => {
    const r = vmm(['--help']);
    expect(r.status).toBe(0);
    for (const opt of ['--backend', '--mem', '--cmdline', '--initrd', '--irqchip', '--log-level', 'run <image>']) expect(r.stdout).toContain(opt);
  });

  it('a bad option exits 64 with a message on stderr', () => {
    const r = vmm(['run', join(GUEST_DIR, 'hello.elf'), '--backend', 'xen']);
    expect(r.status).toBe(64);
    expect(r.stderr).toContain('--backend');
  });

  it('a file that is not an ELF exits 70 and names the loader error', () => {
    const r = vmm(['run', VMM, '--backend', 'sim']);
    expect(r.status).toBe(70);
    expect(r.stderr).toContain('ERR_LOADER_');
  });

  it('without KVM, --backend auto falls back to the sim and says why', () => {
    const r = vmm(['run', hello.elf], NO_KVM);
    expect(r.stderr).toMatch(/auto: KVM unavailable \(.*\), using the sim/);
    expect(r.stdout).toBe(hello.serial);
    expect(r.status).toBe(hello.exitStatus);
  });

  it('without KVM, --backend kvm exits 70 and says why', () => {
    const r = vmm(['run', hello.elf, '--backend', 'kvm'], NO_KVM);
    expect(r.status).toBe(70);
    expect(r.stderr).toContain('KVM backend unavailable');
  });

  it('--irqchip split runs the IOAPIC guest on the sim; --irqchip xyz is a usage error', () => {
    const g = listGuests().find((x) => x.name === 'ioapic-level')!;
    const r = vmm(['run', g.elf, '--backend', 'sim', '--irqchip', 'split']);
    expect(r.stdout).toBe(g.serial);
    expect(r.status).toBe(g.exitStatus);
    expect(vmm(['run', g.elf, '--irqchip', 'xyz']).status).toBe(64);
  });

  it('--cpus: the split irqchip is the default, so smp-boot just runs; --irqchip none with several CPUs and bad counts are usage errors', () => {
    const smp = join(GUEST_DIR, 'smp-boot.elf');
    expect(vmm(['run', smp, '--backend', 'sim', '--cpus', '2', '--irqchip', 'none']).status).toBe(64);
    expect(vmm(['run', smp, '--backend', 'sim', '--cpus', '0']).status).toBe(64);
    expect(vmm(['run', smp, '--backend', 'sim', '--cpus', 'two']).status).toBe(64);
    const r = vmm(['run', smp, '--backend', 'sim', '--cpus', '3']);
    expect(r.stdout).toBe('cpus: 3, bsp apic id: 0\ncpu 1: up\ncpu 2: up\naps up: 2\nsmp-boot: PASS\n');
    expect(r.status).toBe(1);
  });

  it('a guest that looks for a device the machine lacks: the first access at each address is a warning with a hint, once', async () => {
    // ioapic-level under --irqchip none: its IOAPIC, LAPIC, PIC and pc-testdev accesses all miss.
    const g = listGuests().find((x) => x.name === 'ioapic-level')!;
    const child = spawn(process.execPath, [VMM, 'run', g.elf, '--backend', 'sim', '--irqchip', 'none'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    // Enough time for the guest to retry each missing device many times.
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (d: string) => { stderr += d; });
      setTimeout(resolve, 2000 * SCALE);
    });
    child.kill('SIGKILL');
    const lines = stderr.split('\n').filter((l) => l.includes('vmm:bus:unhandled'));
    const ioapic = lines.filter((l) => l.includes('MMIO address 0xfec00000'));
    expect(ioapic).toHaveLength(1);
    expect(ioapic[0]).toContain('try --irqchip split');
    expect(lines.some((l) => l.includes('port 0x21') && l.includes('8259'))).toBe(true);
    expect(new Set(lines.map((l) => JSON.parse(l).address)).size).toBe(lines.length);
  });

  it('--device edu puts QEMU\'s educational PCI device on bus 0; an unknown device, or one without the split irqchip, is a usage error', () => {
    const g = listGuests().find((x) => x.name === 'edu')!;
    const r = vmm(['run', g.elf, '--backend', 'sim', '--device', 'edu']);
    expect(r.stdout).toBe(g.serial);
    expect(r.status).toBe(g.exitStatus);
    expect(vmm(['run', g.elf, '--backend', 'sim', '--device', 'e1000']).status).toBe(64);
    expect(vmm(['run', g.elf, '--backend', 'sim', '--device', 'edu', '--irqchip', 'none']).status).toBe(64);
    // Without the device the guest looks for it and says so.
    expect(vmm(['run', g.elf, '--backend', 'sim']).stdout).toContain('edu: not found on bus 0');
  });

  it('--device doorbell,vectors=N --iommu intel with --irq-cache and --stats: the storm passes under each policy and the counters add up', () => {
    const g = listGuests().find((x) => x.name === 'doorbell-storm')!;
    for (const policy of ['lazy', 'eager', 'none']) {
      const r = vmm(['run', g.elf, '--backend', 'sim', '--device', 'doorbell,vectors=16', '--iommu', 'intel', '--irq-cache', policy, '--stats']);
      expect(r.stdout).toBe(g.serial);
      expect(r.status).toBe(g.exitStatus);
      const stat = (k: string): string => r.stderr.match(new RegExp(`^vmm: stats: ${k} (\\S+)$`, 'm'))?.[1] ?? 'missing';
      expect(stat('policy')).toBe(policy);
      expect(Number(stat('hits')) + Number(stat('rings-in-userspace'))).toBe(Number(stat('rings')));
      if (policy === 'none') expect(stat('fills')).toBe('0');
    }
    expect(vmm(['run', g.elf, '--backend', 'sim', '--device', 'doorbell,vectors=0']).stderr).toContain('must be 1..2048');
    expect(vmm(['run', g.elf, '--backend', 'sim', '--device', 'doorbell,colour=red']).status).toBe(64);
    const bad = vmm(['run', g.elf, '--backend', 'sim', '--irq-cache', 'sometimes']);
    expect(bad.status).toBe(64);
    expect(bad.stderr).toContain('--irq-cache must be one of none, eager, lazy');
    expect(vmm(['run', g.elf, '--backend', 'sim', '--iommu', 'amd']).stderr).toContain("unknown IOMMU 'amd'");
    expect(vmm(['run', g.elf, '--backend', 'sim', '--iommu', 'intel,intremap=maybe']).status).toBe(64);
    expect(vmm(['run', g.elf, '--backend', 'sim', '--iommu', 'intel', '--irqchip', 'none']).status).toBe(64);
    expect(vmm(['run', g.elf, '--backend', 'sim', '--doorbell-load', 'count=10']).stderr).toContain('needs a doorbell');
    expect(vmm(['run', g.elf, '--backend', 'sim', '--device', 'doorbell', '--doorbell-load', 'count=0']).status).toBe(64);
    expect(vmm(['run', g.elf, '--backend', 'sim', '--device', 'doorbell', '--doorbell-load', 'rate=fast']).status).toBe(64);
    const sink = listGuests({ all: true }).find((x) => x.name === 'doorbell-sink')!;
    const loaded = vmm(['run', sink.elf, '--backend', 'sim', '--device', 'doorbell,vectors=8', '--doorbell-load', 'rate=20000,count=200', '--stats']);
    expect(loaded.stdout).toBe(sink.serial);
    expect(loaded.stderr).toMatch(/^vmm: stats: rings 200$/m);
    // The same with the vCPU on a thread of its own (a doorbell's default) and, asked for, on the device thread.
    for (const threads of ['--vcpu-threads', '--no-vcpu-threads']) {
      const r = vmm(['run', sink.elf, '--backend', 'sim', '--device', 'doorbell,vectors=8', '--doorbell-load', 'rate=20000,count=200', '--irq-cache', 'none', threads, '--stats']);
      expect(r.stdout, threads).toBe(sink.serial);
      expect(r.stderr).toMatch(/^vmm: stats: rings 200$/m);
    }
  });

  it('--trace FILE writes Chrome trace-event JSON: a track per vCPU with its exits, interrupt deliveries and the cache\'s events', () => {
    const g = listGuests().find((x) => x.name === 'doorbell-storm')!;
    const dir = mkdtempSync(join(tmpdir(), 'tsvmm-trace-'));
    try {
      const file = join(dir, 'trace.json');
      const r = vmm(['run', g.elf, '--backend', 'sim', '--device', 'doorbell,vectors=16', '--iommu', 'intel', '--trace', file]);
      expect(r.stdout).toBe(g.serial);
      const events = JSON.parse(readFileSync(file, 'utf8')) as { name: string; cat: string; ph: string; ts: number; pid: number; tid: number; dur?: number; args?: Record<string, unknown> }[];
      for (const e of events) {
        expect(typeof e.name).toBe('string');
        expect(['X', 'i', 'M']).toContain(e.ph);
        expect(e.ts).toBeGreaterThanOrEqual(0);
        expect(Number.isInteger(e.pid) && Number.isInteger(e.tid)).toBe(true);
      }
      const vcpuTrack = events.find((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.['name'] === 'vCPU 0')!;
      expect(vcpuTrack).toBeDefined();
      const exits = events.filter((e) => e.ph === 'X' && e.cat === 'exit');
      expect(exits.length).toBeGreaterThan(1000);
      expect(new Set(exits.map((e) => e.name))).toEqual(new Set(['io-out', 'io-in', 'mmio-read', 'mmio-write']));
      expect(exits.every((e) => e.pid === vcpuTrack.pid && e.tid === 0 && e.dur! >= 0)).toBe(true);
      const deliveries = events.filter((e) => e.cat === 'irq');
      expect(deliveries.length).toBeGreaterThan(50);
      expect(deliveries.every((e) => e.args?.['path'] === 'miss' && typeof e.args?.['vector'] === 'number')).toBe(true);
      const cache = new Set(events.filter((e) => e.cat === 'irqcache').map((e) => e.name));
      for (const n of ['irqcache:fill', 'irqcache:invalidate', 'irqcache:detach', 'irqcache:miss', 'gsi:push']) expect(cache).toContain(n);
      const ranges = events.filter((e) => e.name === 'irqcache:invalidate' && e.args?.['scope'] === 'range');
      expect(ranges.length).toBe(8); // one IEC range invalidation per remapped round
      // Everything but the backend choice (said before the VM exists) is on the VM's own tracks.
      const elsewhere = events.filter((e) => e.ph !== 'M' && e.pid !== vcpuTrack.pid).map((e) => e.name);
      expect(new Set(elsewhere)).toEqual(new Set(['machine:backend']));
      expect(events.filter((e) => e.name === 'gsi:push' && e.pid === vcpuTrack.pid).length).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--initrd loads a module: a missing file is a usage error', () => {
    expect(vmm(['run', hello.elf, '--initrd', '/nonexistent/initrd']).status).toBe(64);
    const r = vmm(['run', hello.elf, '--backend', 'sim', '--initrd', VMM]);
    expect(r.status).toBe(hello.exitStatus);
  });

  it('--backend auto says which backend it picked', () => {
    const r = vmm(['run', hello.elf, '--cmdline', hello.cmdline]);
    expect(r.stderr).toMatch(/auto: .*(KVM|sim)/);
    expect(r.status).toBe(hello.exitStatus);
  });

  for (const b of BACKENDS) {
    it.skipIf(b.skip)(`SIGINT or SIGTERM while the guest waits for stdin on ${b.title}: exit 130/143 at once, output flushed`, async () => {
      const elf = join(GUEST_DIR, 'uart-echo.elf');
      for (const [signal, status] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
        // stdin is a pipe that stays open: the guest sits halted, waiting for a line.
        const child = spawn(process.execPath, [VMM, 'run', elf, '--backend', b.kind], { stdio: ['pipe', 'pipe', 'pipe'] });
        let stdout = '';
        child.stdout.setEncoding('latin1');
        await new Promise<void>((resolve) => child.stdout.on('data', (d: string) => { stdout += d; if (stdout.includes('ready')) resolve(); }));
        await new Promise((r) => setTimeout(r, 100));
        const t0 = Date.now();
        child.kill(signal);
        const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
        expect(code).toBe(status);
        expect(Date.now() - t0).toBeLessThan(5000 * SCALE);
        expect(stdout).toContain('ready');
      }
    });

    it.skipIf(b.skip)(`hello on ${b.title}: greeting on stdout, status from debug-exit`, () => {
      const r = vmm(['run', hello.elf, '--backend', b.kind, '--cmdline', hello.cmdline, '--mem', String(hello.memMiB)]);
      expect(r.stdout).toBe(hello.serial);
      expect(r.status).toBe(hello.exitStatus);
    });
  }
});

/**
 * The `vmm` command as a user runs it: serial on stdout, exit status from
 * debug-exit, clear usage errors.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/backends.js';
import { GUEST_DIR, listGuests } from '../helpers/guests.js';

const ROOT = join(import.meta.dirname, '..', '..');
const VMM = join(ROOT, 'bin', 'vmm.js');
const hello = listGuests().find((g) => g.name === 'hello')!;

function vmm(args: string[], env: NodeJS.ProcessEnv = process.env) {
  return spawnSync(process.execPath, [VMM, ...args], { encoding: 'latin1', timeout: 60_000, env });
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

  it('--cpus: more than one needs --irqchip split; bad counts are usage errors; smp-boot runs on the sim', () => {
    const smp = join(GUEST_DIR, 'smp-boot.elf');
    expect(vmm(['run', smp, '--backend', 'sim', '--cpus', '2']).status).toBe(64);
    expect(vmm(['run', smp, '--backend', 'sim', '--cpus', '0', '--irqchip', 'split']).status).toBe(64);
    expect(vmm(['run', smp, '--backend', 'sim', '--cpus', 'two', '--irqchip', 'split']).status).toBe(64);
    const r = vmm(['run', smp, '--backend', 'sim', '--cpus', '3', '--irqchip', 'split']);
    expect(r.stdout).toBe('cpus: 3, bsp apic id: 0\ncpu 1: up\ncpu 2: up\naps up: 2\nsmp-boot: PASS\n');
    expect(r.status).toBe(1);
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
    it.skipIf(b.skip)(`hello on ${b.title}: greeting on stdout, status from debug-exit`, () => {
      const r = vmm(['run', hello.elf, '--backend', b.kind, '--cmdline', hello.cmdline, '--mem', String(hello.memMiB)]);
      expect(r.stdout).toBe(hello.serial);
      expect(r.status).toBe(hello.exitStatus);
    });
  }
});

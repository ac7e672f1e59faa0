/** The committed x86 guests and their expectations (guests/x86/<name>.expect.json). */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Hypervisor } from '../../src/backend/types.js';
import { X86Machine, parseIommuSpec, type RunResult } from '../../src/machine/x86-pc.js';
import type { IrqCachePolicy } from '../../src/irq/irqfd-cache.js';

export const GUEST_DIR = join(import.meta.dirname, '..', '..', 'guests', 'x86');

export interface GuestExpectation {
  name: string;
  elf: string;
  cmdline: string;
  memMiB: number;
  serial: string;
  exitStatus: number;
  description?: string;
  /** A known quirk of the development hosts' KVM that this guest trips (see host-quirks.ts). */
  hostQuirk?: 'int-iret-emulation' | 'level-eoi';
  /** Our machine's irqchip for this guest ('none' unless it needs the split irqchip). */
  irqchip: 'none' | 'split';
  /** QEMU's -machine value and extra -device values for the reference run. */
  qemuMachine: string;
  qemuDevices: string[];
  /** Force QEMU's accelerator for the reference run (see the expectation's qemuNote). */
  qemuAccel?: 'kvm' | 'tcg';
  /** vCPUs (our --cpus, QEMU's -smp); default 1. */
  cpus: number;
  /** PCI devices on our machine (our --device, like QEMU's -device: 'edu', 'doorbell,vectors=16'); default none. */
  devices: string[];
  /** Why QEMU cannot run this guest (a device only this VMM has), or absent. */
  noQemu?: string;
  /** An IOMMU on our machine (our --iommu, QEMU's -device intel-iommu): 'intel', 'intel,intremap=off'. */
  iommu?: string;
}

/** Whether the guest needs the event loop to run (several vCPUs, or eventfd-backed devices). */
export function needsEventLoop(g: { cpus?: number; devices?: readonly string[] }): boolean {
  return (g.cpus ?? 1) > 1 || (g.devices ?? []).some((d) => d.startsWith('doorbell'));
}

/**
 * The guests whose expectation a plain boot can check. Guests that wait for
 * a stimulus from the VMM ("externalStimulus") have their own tests; pass
 * `all` to list them too.
 */
export function listGuests(opts: { all?: boolean } = {}): GuestExpectation[] {
  return readdirSync(GUEST_DIR)
    .filter((f) => f.endsWith('.expect.json'))
    .sort()
    .map((f) => {
      const name = f.slice(0, -'.expect.json'.length);
      const e = JSON.parse(readFileSync(join(GUEST_DIR, f), 'utf8')) as Partial<GuestExpectation> & { externalStimulus?: boolean };
      if (e.externalStimulus && !opts.all) return null;
      return {
        name,
        elf: join(GUEST_DIR, `${name}.elf`),
        cmdline: e.cmdline ?? '',
        memMiB: e.memMiB ?? 64,
        serial: e.serial ?? '',
        exitStatus: e.exitStatus ?? 1,
        ...(e.description ? { description: e.description } : {}),
        ...(e.hostQuirk ? { hostQuirk: e.hostQuirk } : {}),
        irqchip: e.irqchip ?? 'none',
        qemuMachine: e.qemuMachine ?? 'pc',
        qemuDevices: e.qemuDevices ?? [],
        ...(e.qemuAccel ? { qemuAccel: e.qemuAccel } : {}),
        cpus: e.cpus ?? 1,
        devices: e.devices ?? [],
        ...(e.noQemu ? { noQemu: e.noQemu } : {}),
        ...(e.iommu ? { iommu: e.iommu } : {}),
      };
    })
    .filter((g): g is GuestExpectation => g !== null);
}

export interface GuestRun extends RunResult { serial: string }

type GuestSpec = { elf: string; cmdline: string; memMiB: number; cpus?: number; devices?: string[]; irqCache?: IrqCachePolicy; iommu?: string };

/** The machine for a guest on `hv`, and a reader of the serial output it has written so far. */
function bootGuest(hv: Hypervisor, g: GuestSpec, irqchip: 'none' | 'split'): { m: X86Machine; serial: () => string } {
  const chunks: Buffer[] = [];
  const m = new X86Machine({
    hypervisor: hv,
    image: readFileSync(g.elf),
    memMiB: g.memMiB,
    cmdline: g.cmdline,
    serialOut: (b) => chunks.push(Buffer.from(b)),
    irqchip,
    cpus: g.cpus ?? 1,
    devices: g.devices ?? [],
    ...(g.irqCache ? { irqCache: g.irqCache } : {}),
    ...(g.iommu ? { iommu: parseIommuSpec(g.iommu) } : {}),
  });
  return { m, serial: () => Buffer.concat(chunks).toString('latin1') };
}

/**
 * Boots a guest in-process on `hv`, every vCPU it asks for, and collects its
 * serial output; the event loop runs meanwhile (KVM vCPU threads need it).
 */
export async function runGuestAsync(hv: Hypervisor, g: GuestSpec, irqchip: 'none' | 'split' = 'none'): Promise<GuestRun> {
  const { m, serial } = bootGuest(hv, g, irqchip);
  try {
    const r = await m.runAsync();
    return { ...r, serial: serial() };
  } finally {
    m.close();
  }
}

/** Boots a guest in-process on `hv`, synchronously (the sim's vCPUs round robin), and collects its serial output. */
export function runGuest(hv: Hypervisor, g: GuestSpec, irqchip: 'none' | 'split' = 'none'): GuestRun {
  const { m, serial } = bootGuest(hv, g, irqchip);
  try {
    const r = m.run();
    return { ...r, serial: serial() };
  } finally {
    m.close();
  }
}

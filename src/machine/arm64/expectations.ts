/**
 * The arm64 guests' expectations (guests/arm64/<name>.expect.json) and how a
 * guest is run against one: the one definition the vitest suite
 * (test/helpers/arm64-guests.ts), the recorder (scripts/arm64/expect.mjs)
 * and the nested-KVM suite (scripts/arm64/nested/suite.mjs) share.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Hypervisor } from '../../backend/types.js';
import type { RunResult } from '../x86-pc.js';
import { Arm64Machine } from './virt.js';

export interface Arm64GuestExpectation {
  name: string;
  /** The image's path. */
  image: string;
  description: string;
  cpus: number;
  memMiB: number;
  /** Bytes fed to the PL011's receiver (our serialIn; QEMU's stdin). */
  input?: string;
  serial: string;
  exitStatus: number;
  /** Why QEMU cannot run it (a device only this VMM has), or absent. */
  noQemu?: string;
  /** Events the test device has pending, its level line high, before the first vCPU run (seed 000's early interrupt). */
  eventsBeforeRun?: number;
}

/** Every `<name>.expect.json` in `dir`, by name, with the defaults filled in (1 vCPU, 128 MiB). */
export function listArm64Expectations(dir: string): Arm64GuestExpectation[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.expect.json'))
    .sort()
    .map((f) => {
      const name = f.slice(0, -'.expect.json'.length);
      const e = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Partial<Omit<Arm64GuestExpectation, 'name' | 'image'>>
        & Pick<Arm64GuestExpectation, 'description' | 'serial' | 'exitStatus'>;
      return { ...e, cpus: e.cpus ?? 1, memMiB: e.memMiB ?? 128, name, image: join(dir, `${name}.img`) };
    });
}

/**
 * Runs the guest of `g` (its image, vCPUs, memory, input and early events)
 * on our `virt` machine over `hv`; returns the run's result and the serial
 * bytes. `timeoutMs` stops the machine when it runs longer (`timedOut`).
 */
export async function runArm64Expectation(hv: Hypervisor, g: Pick<Arm64GuestExpectation, 'image' | 'cpus' | 'memMiB' | 'input' | 'eventsBeforeRun'>,
  opts: { timeoutMs?: number } = {}): Promise<RunResult & { serial: string; timedOut: boolean }> {
  const out: Buffer[] = [];
  const m = new Arm64Machine({
    hypervisor: hv, image: readFileSync(g.image), cpus: g.cpus, memMiB: g.memMiB,
    serialOut: (b) => { out.push(Buffer.from(b)); },
  });
  let timedOut = false;
  const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => { timedOut = true; m.stop(); }, opts.timeoutMs);
  try {
    if (g.input !== undefined) m.serialIn(Buffer.from(g.input, 'latin1'));
    if (g.eventsBeforeRun !== undefined) m.testdev.preload(g.eventsBeforeRun);
    const r = await m.runAsync();
    return { ...r, timedOut, serial: Buffer.concat(out).toString('latin1') };
  } finally {
    if (timer) clearTimeout(timer);
    m.close();
  }
}

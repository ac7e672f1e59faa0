/**
 * `vmm run --arch arm64` (or an image with the arm64 Image header): the
 * `virt` machine with our GICv2, on KVM when the host is arm64, else on the
 * sim. Serial (PL011) on stdout/stdin; exit status as x86's, plus PSCI
 * SYSTEM_OFF = 0.
 */
import { readFileSync, writeFileSync, writeSync } from 'node:fs';
import type { BackendChoice } from './backend/index.js';
import { createLogger, logTraceEvents, type LogLevel } from './log.js';
import { Arm64Machine } from './machine/arm64/virt.js';
import { MAX_CPUS, MAX_MEM_MIB, RAM_BASE } from './machine/arm64/layout.js';
import { virtDtb } from './machine/arm64/virt-dt.js';
import { initrdOffset } from './loader/arm64-image.js';
import { EX_USAGE, fail, openSession, runMachine } from './cli-common.js';

export interface Arm64CliOptions {
  image: string;
  backend: BackendChoice;
  level: LogLevel;
  cpus: string;
  mem: string | undefined;
  cmdline: string | undefined;
  initrd: string | undefined;
  dtb: string | undefined;
  dumpDtb: string | undefined;
  trace: string | undefined;
}

function readOr(path: string, what: string): Uint8Array | string {
  try {
    return readFileSync(path);
  } catch (e) {
    return `cannot read ${what} ${path}: ${(e as Error).message}`;
  }
}

export async function runArm64(o: Arm64CliOptions): Promise<number> {
  const memMiB = Number(o.mem ?? '128');
  if (!Number.isInteger(memMiB) || memMiB < 4 || memMiB > MAX_MEM_MIB) return fail(`--mem must be an integer 4..${MAX_MEM_MIB} for arm64`, EX_USAGE);
  const cpus = Number(o.cpus);
  if (!/^[0-9]+$/.test(o.cpus) || cpus < 1 || cpus > MAX_CPUS) return fail(`--cpus must be an integer 1..${MAX_CPUS} for arm64 (GICv2)`, EX_USAGE);
  if (o.dumpDtb !== undefined) {
    // The tree the machine would generate (initrd placement included when --initrd is given).
    const initrd = o.initrd !== undefined ? readOr(o.initrd, 'initrd') : undefined;
    if (typeof initrd === 'string') return fail(initrd, EX_USAGE);
    const size = memMiB * 1024 * 1024;
    const start = initrd ? RAM_BASE + initrdOffset(size, initrd.length) : 0;
    const place = initrd ? { start, end: start + initrd.length } : undefined;
    const blob = virtDtb({ memBytes: size, cpus, ...(o.cmdline !== undefined ? { bootargs: o.cmdline } : {}), ...(place ? { initrd: place } : {}) });
    try {
      writeFileSync(o.dumpDtb, blob);
    } catch (e) {
      return fail(`--dump-dtb ${o.dumpDtb}: ${(e as Error).message}`, EX_USAGE);
    }
    return 0;
  }
  const image = readOr(o.image, 'image');
  if (typeof image === 'string') return fail(image, EX_USAGE);
  const initrd = o.initrd !== undefined ? readOr(o.initrd, 'initrd') : undefined;
  if (typeof initrd === 'string') return fail(initrd, EX_USAGE);
  const dtb = o.dtb !== undefined ? readOr(o.dtb, 'device tree') : undefined;
  if (typeof dtb === 'string') return fail(dtb, EX_USAGE);

  const log = createLogger(o.level);
  const unsubscribe = logTraceEvents(log);
  const session = openSession({ backend: o.backend, arch: 'arm64', trace: o.trace, log, unsubscribe });
  if (typeof session === 'number') return session;
  const { hypervisor } = session;
  return runMachine(session, log, () => new Arm64Machine({
    hypervisor, image, memMiB, cpus, ...(o.cmdline !== undefined ? { cmdline: o.cmdline } : {}),
    ...(initrd ? { initrd } : {}), ...(dtb ? { dtb } : {}),
    serialOut: (b) => { writeSync(1, b); },
  }), (_machine, result) => {
    if (result.reason.kind !== 'debug-exit' && result.reason.kind !== 'system-event') {
      log.warn({ reason: result.reason }, `guest stopped without powering off: ${result.reason.kind}`);
    }
  });
}

/**
 * `vmm` — the command line. Guest serial output on stdout, logs on stderr,
 * exit status = the guest's debug-exit status (QEMU's rule: (value << 1) | 1).
 */
import { readFileSync, writeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { BackendChoice } from './backend/index.js';
import { createLogger, logTraceEvents, LOG_LEVELS, type LogLevel } from './log.js';
import { X86Machine, MAX_CPUS, MAX_MEM_MIB, parseDeviceSpec, parseDoorbellLoad, parseIommuSpec, type PciDeviceSpec } from './machine/x86-pc.js';
import { IRQ_CACHE_POLICIES, type IrqCachePolicy } from './irq/irqfd-cache.js';
import { unhandledAccessHint } from './machine/hints.js';
import { isArm64Image } from './loader/arm64-image.js';
import { MAX_CPUS as ARM64_MAX_CPUS, MAX_MEM_MIB as ARM64_MAX_MEM_MIB } from './machine/arm64/layout.js';
import { runArm64 } from './cli-arm64.js';
import { EX_USAGE, fail, openSession, runMachine } from './cli-common.js';

export const USAGE = `Usage: vmm run <image> [options]

Boots an x86 multiboot ELF or an arm64 Linux Image and runs it until it exits.

Commands:
  run <image>             boot <image>: a multiboot v1 ELF32 (x86, as for
                          qemu -kernel), or an arm64 Image / raw binary
                          (arm64: QEMU's virt machine with our GICv2)

Options:
  --arch auto|x86_64|arm64
                          the guest's architecture; auto (default): arm64
                          when the image has the arm64 Image header
  --backend auto|kvm|sim  kvm: /dev/kvm (the host's architecture only); sim:
                          the pure-TypeScript simulator (x86 and arm64);
                          auto (default): KVM when it can run the guest, else the sim
  --mem MiB               guest RAM in MiB (x86: 2..${MAX_MEM_MIB}, default 64;
                          arm64: 4..${ARM64_MAX_MEM_MIB}, default 128)
  --cmdline STR           the multiboot command line; arm64: /chosen/bootargs
  --initrd FILE           load FILE as multiboot module 0 (as qemu -initrd);
                          arm64: an initramfs (linux,initrd-start/end)
  --dtb FILE              arm64: pass FILE as the device tree instead of ours
  --dump-dtb FILE         arm64: write the generated device tree to FILE and exit
  --irqchip split|none    split (default): LAPIC in the kernel, our IOAPIC at
                          0xfec00000 (UART on pin 4), the 8259 pair, pc-testdev,
                          fw_cfg (QEMU's -machine pc,kernel-irqchip=split);
                          none: no irqchip at all, hlt exits to the VMM
  --device NAME[,PROP=V]  a PCI device on bus 0 (split irqchip), as QEMU's
                          -device; repeatable: edu (QEMU's educational
                          device), doorbell[,vectors=N] (N MSI-X vectors, each
                          an eventfd, 1..2048, default 16)
  --irq-cache POLICY      how MSIs from eventfds are cached in irqfds:
                          lazy (default; filled at the first delivery,
                          invalidated by range), eager (QEMU's: translated
                          when programmed, all re-translated on any
                          invalidation), none (every interrupt in userspace)
  --iommu intel[,intremap=on|off]
                          an Intel IOMMU (VT-d) at 0xfed90000, as QEMU's
                          -device intel-iommu: DMA remapping and, with
                          intremap=on (default), interrupt remapping
  --doorbell-load rate=R,count=N
                          ring every doorbell's vectors round robin from
                          another thread, N rings, R per second (rate=0 or
                          absent: as fast as possible), from when the guest
                          turns the device's MSI-X on
  --stats                 print the irqfd cache's counters on stderr at exit
  --trace FILE            write Chrome trace-event JSON to FILE (open it in
                          ui.perfetto.dev): a track per vCPU with its exits,
                          interrupt deliveries, the irqfd cache's fills,
                          invalidations, detaches and route pushes
  --cpus N                vCPUs, 1..${MAX_CPUS} (default 1); more than one needs
                          the split irqchip (the guest starts the APs with
                          INIT/SIPI; on KVM each vCPU runs on its own thread);
                          arm64: 1..${ARM64_MAX_CPUS}, secondaries start by PSCI CPU_ON
  --[no-]vcpu-threads     x86: run even one vCPU on a thread of its own, as
                          QEMU does (more than one always are): the device
                          thread then serves eventfd rings at once, without
                          kicking the vCPU out of KVM_RUN. Default: on with
                          --device doorbell (rung from outside), else off:
                          one vCPU on the device thread has the faster exit
                          path
  --log-level LEVEL       ${LOG_LEVELS.join('|')} (default warn); logs go to stderr
  -h, --help              this text

Devices: 16550 UART at 0x3f8 (output to stdout; input from stdin when stdin is
a terminal, a pipe or a file), isa-debug-exit at 0xf4, port 0x80 sink.
arm64: GICv2 at 0x08000000/0x08010000, PL011 at 0x09000000 (SPI 1; stdout,
stdin), debug-exit at 0x09100000 (x86's rule), PSCI 0.2+ over HVC by KVM.
--irqchip, --device, --irq-cache, --iommu, --doorbell-load, --stats and
--vcpu-threads are x86 only.

Exit status:
  (v << 1) | 1   the guest wrote v to isa-debug-exit (QEMU's rule)
  0              the VMM was stopped
  0              arm64: the guest powered off (PSCI SYSTEM_OFF)
  2              the guest shut down (triple fault)
  8, 10          arm64: PSCI SYSTEM_RESET, a crash system event
  4              the vCPU halted with nothing left to wake it
  6              the vCPU stopped with an error exit (fail-entry, internal error, ...)
  64             bad command line
  70             the VMM failed (e.g. the image could not be loaded)
  130, 143       stopped by SIGINT, SIGTERM (every vCPU kicked out, output flushed)
`;


export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      allowNegative: true,
      options: {
        arch: { type: 'string', default: 'auto' },
        backend: { type: 'string', default: 'auto' },
        mem: { type: 'string' },
        cmdline: { type: 'string' },
        initrd: { type: 'string' },
        dtb: { type: 'string' },
        'dump-dtb': { type: 'string' },
        irqchip: { type: 'string' },
        cpus: { type: 'string', default: '1' },
        device: { type: 'string', multiple: true, default: [] },
        'irq-cache': { type: 'string' },
        stats: { type: 'boolean', default: false },
        iommu: { type: 'string' },
        trace: { type: 'string' },
        'doorbell-load': { type: 'string' },
        'vcpu-threads': { type: 'boolean' },
        'log-level': { type: 'string', default: 'warn' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    return fail(`${(e as Error).message}\n\n${USAGE}`, EX_USAGE);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const [command, image, ...extra] = positionals;
  if (command !== 'run' || !image || extra.length > 0) return fail(`expected "run <image>"\n\n${USAGE}`, EX_USAGE);
  const backend = values.backend as BackendChoice;
  if (!['auto', 'kvm', 'sim'].includes(backend)) return fail(`--backend must be auto, kvm or sim, not "${backend}"`, EX_USAGE);
  const level = values['log-level'] as LogLevel;
  if (!LOG_LEVELS.includes(level)) return fail(`--log-level must be one of ${LOG_LEVELS.join(', ')}`, EX_USAGE);
  if (!['auto', 'x86_64', 'arm64'].includes(values.arch)) return fail(`--arch must be auto, x86_64 or arm64, not "${values.arch}"`, EX_USAGE);
  let arch = values.arch;
  if (arch === 'auto') {
    let head: Uint8Array;
    try {
      head = readFileSync(image).subarray(0, 64);
    } catch (e) {
      return fail(`cannot read ${image}: ${(e as Error).message}`, EX_USAGE);
    }
    arch = isArm64Image(head) ? 'arm64' : 'x86_64';
  }
  if (arch === 'arm64') {
    const x86Only = (['irqchip', 'device', 'irq-cache', 'iommu', 'doorbell-load', 'stats', 'vcpu-threads'] as const)
      .filter((k) => (k === 'device' ? (values.device as string[]).length > 0 : k === 'stats' ? values[k] : values[k] !== undefined));
    if (x86Only.length > 0) return fail(`--${x86Only[0]} is for x86 guests; ${image} is an arm64 image`, EX_USAGE);
    return runArm64({
      image, backend, level, cpus: values.cpus, mem: values.mem, cmdline: values.cmdline, initrd: values.initrd,
      dtb: values.dtb, dumpDtb: values['dump-dtb'], trace: values.trace,
    });
  }
  if (values.dtb !== undefined || values['dump-dtb'] !== undefined) return fail('--dtb and --dump-dtb are for arm64 guests', EX_USAGE);
  values.mem ??= '64';
  values.cmdline ??= '';
  values.irqchip ??= 'split';
  values['irq-cache'] ??= 'lazy';
  const irqchip = values.irqchip as 'none' | 'split';
  if (irqchip !== 'none' && irqchip !== 'split') return fail(`--irqchip must be none or split, not "${String(irqchip)}"`, EX_USAGE);
  const memMiB = Number(values.mem);
  if (!Number.isInteger(memMiB) || memMiB < 2 || memMiB > MAX_MEM_MIB) return fail(`--mem must be an integer 2..${MAX_MEM_MIB}`, EX_USAGE);
  const cpus = Number(values.cpus);
  if (!/^[0-9]+$/.test(values.cpus) || cpus < 1 || cpus > MAX_CPUS) return fail(`--cpus must be an integer 1..${MAX_CPUS}`, EX_USAGE);
  const devices: PciDeviceSpec[] = [];
  for (const d of values.device as string[]) {
    try {
      devices.push(parseDeviceSpec(d));
    } catch (e) {
      return fail(`--device ${d}: ${(e as Error).message}`, EX_USAGE);
    }
  }
  let iommu: { intremap: boolean } | undefined;
  if (values.iommu !== undefined) {
    try {
      iommu = parseIommuSpec(values.iommu);
    } catch (e) {
      return fail(`--iommu ${values.iommu}: ${(e as Error).message}`, EX_USAGE);
    }
    if (irqchip !== 'split') return fail('--iommu needs the split irqchip (it remaps the IOAPIC\'s interrupts), not --irqchip none', EX_USAGE);
  }
  let doorbellLoad: { rate: number; count: number } | undefined;
  if (values['doorbell-load'] !== undefined) {
    try {
      doorbellLoad = parseDoorbellLoad(values['doorbell-load']);
    } catch (e) {
      return fail(`--doorbell-load ${values['doorbell-load']}: ${(e as Error).message}`, EX_USAGE);
    }
    if (!devices.some((d) => d.name === 'doorbell')) return fail('--doorbell-load needs a doorbell (--device doorbell[,vectors=N])', EX_USAGE);
  }
  const irqCache = values['irq-cache'] as IrqCachePolicy;
  if (!IRQ_CACHE_POLICIES.includes(irqCache)) return fail(`--irq-cache must be one of ${IRQ_CACHE_POLICIES.join(', ')}, not "${String(irqCache)}"`, EX_USAGE);
  if (devices.length > 0 && irqchip !== 'split') return fail('--device needs the split irqchip (the PCI bus is on that machine), not --irqchip none', EX_USAGE);
  if (cpus > 1 && irqchip !== 'split') return fail(`--cpus ${cpus} needs the split irqchip (the APs start through the in-kernel LAPIC), not --irqchip none`, EX_USAGE);

  const log = createLogger(level);
  const unsubscribe = logTraceEvents(log, { unhandledHint: (space, address) => unhandledAccessHint(space, address, irqchip) });
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(image);
  } catch (e) {
    return fail(`cannot read ${image}: ${(e as Error).message}`, EX_USAGE);
  }

  let initrd: Uint8Array | undefined;
  if (values.initrd !== undefined) {
    try {
      initrd = readFileSync(values.initrd);
    } catch (e) {
      return fail(`cannot read ${values.initrd}: ${(e as Error).message}`, EX_USAGE);
    }
  }

  const session = openSession({ backend, arch: 'x86_64', trace: values.trace, log, unsubscribe });
  if (typeof session === 'number') return session;
  const { hypervisor } = session;
  return runMachine(session, log, () => new X86Machine({
    hypervisor, image: bytes, memMiB, cmdline: values.cmdline, irqchip, cpus, devices, irqCache, ...(iommu ? { iommu } : {}),
    ...(doorbellLoad ? { doorbellLoad } : {}), ...(values['vcpu-threads'] !== undefined ? { vcpuThreads: values['vcpu-threads'] } : {}),
    ...(initrd ? { modules: [{ data: initrd, cmdline: values.initrd ?? '' }] } : {}),
    serialOut: (b) => { writeSync(1, b); },
  }), (machine, result) => {
    if (result.reason.kind !== 'debug-exit') log.warn({ reason: result.reason }, `guest stopped without debug-exit: ${result.reason.kind}`);
    if (values.stats) process.stderr.write(formatStats(machine));
  });
}

/** `--stats`: the irqfd cache's counters, one `name value` per line, for a human or `awk`. */
export function formatStats(machine: X86Machine): string {
  const s = machine.irqStats();
  if (!s) return 'vmm: stats: no irqfd cache (--irqchip none)\n';
  const rows: [string, string | number][] = [
    ['policy', s.policy], ['rings', s.rings], ['hits', s.hits ?? 'unknown (eventfds handed out)'],
    ['misses', s.misses], ['rings-in-userspace', s.ringsInUserspace], ['deliveries', s.deliveries],
    ['undelivered', s.undelivered], ['faults', s.faults], ['fills', s.fills], ['invalidations', s.invalidations],
    ['detaches', s.detaches], ['attaches', s.attaches], ['route-pushes', s.routePushes],
  ];
  return rows.map(([k, v]) => `vmm: stats: ${k} ${v}\n`).join('');
}

/**
 * The x86 machine: RAM at 0, a multiboot-loaded 32-bit ELF, a 16550 UART
 * at 0x3f8, QEMU's isa-debug-exit at 0xf4 and the port-0x80 sink, on one
 * or more vCPUs. Backend-agnostic: the same code builds it on KVM and on
 * the sim.
 */
import type { CpuidEntry, Hypervisor, Vcpu, Vm, X86Segment, X86Sregs } from '../backend/types.js';
import { InvalidArgumentError } from '../errors.js';
import { loadMultiboot } from '../loader/multiboot.js';
import { Uart16550 } from '../devices/uart16550.js';
import { DebugExit } from '../devices/debug-exit.js';
import { trace } from '../trace/events.js';
import { MmioBus, PioBus } from './bus.js';
import { SplitIrqchip } from './split-irqchip.js';
import type { IrqLine, LineKind } from '../irq/line.js';
import { Pic8259Pair } from '../irqchip/pic8259.js';
import { FwCfg } from '../devices/fw-cfg.js';
import { PcTestdevIoport, PcTestdevIrq, PC_TESTDEV_IOPORT, PC_TESTDEV_IRQ_BASE, PC_TESTDEV_IRQ_LINES } from '../devices/pc-testdev.js';
import { PciHost, PCI_CONFIG_ADDRESS } from '../pci/host.js';
import { EduPci } from './edu-pci.js';
import { DoorbellPci } from './doorbell-pci.js';
import { IRQ_CACHE_POLICIES, type IrqfdCache, type IrqCachePolicy, type IrqCacheStats } from '../irq/irqfd-cache.js';
import { DOORBELL_MAX_VECTORS } from '../devices/doorbell.js';
import { VtdUnit, VTD_BASE, VTD_SIZE, IOAPIC_SOURCE_ID, type VtdFault } from '../iommu/vtd.js';
import { exitServer, InputWatches, type RunContext, type StopReason } from './run-loop.js';
import type { DriveEnd, ExitServer } from '../backend/driver.js';

export const UART_BASE = 0x3f8;
export const DEBUG_EXIT_BASE = 0xf4;
export const PORT80 = 0x80;
/** Where KVM on Intel wants its three TSS pages (QEMU's choice too). */
const TSS_ADDRESS = 0xfffb_d000;
/** RAM must stay below the PCI hole / IOAPIC / LAPIC window. */
export const MAX_MEM_MIB = 3072;
/** vCPUs: xAPIC physical IDs 0..254 would allow more; 64 keeps the sim's round robin and the tests sane. */
export const MAX_CPUS = 64;

export interface X86MachineOptions {
  hypervisor: Hypervisor;
  image: Uint8Array;
  memMiB?: number;
  cmdline?: string;
  /** Serial output sink (guest bytes in order). */
  serialOut: (bytes: Uint8Array) => void;
  /**
   * 'none' (default): no in-kernel irqchip, `hlt` exits to userspace.
   * 'split': the LAPIC in the kernel, our IOAPIC at 0xfec00000 (UART on pin 4,
   * pc-testdev lines 0..23), fw_cfg at 0x510.
   */
  irqchip?: 'none' | 'split';
  /** Multiboot modules (`--initrd`). */
  modules?: { data: Uint8Array; cmdline?: string }[];
  /**
   * vCPUs (default 1). The BSP starts at the kernel's entry; the APs wait
   * for the guest's INIT/SIPI in the in-kernel LAPIC, so more than one
   * needs irqchip 'split'. On KVM each vCPU runs on its own thread.
   */
  cpus?: number;
  /**
   * Run even a single KVM vCPU on its own thread (runAsync), as QEMU runs
   * every vCPU. Default: on its own thread when the machine has a doorbell
   * (interrupts rung from outside the VMM: on this thread, each ring that
   * userspace serves would first have to kick the vCPU out of KVM_RUN, a
   * signal and an exit per ring), else on this thread, the fastest exit
   * path, where input that must reach a guest halted inside KVM_RUN gets
   * there through wakeOnInput(). The choice is made at construction.
   */
  vcpuThreads?: boolean;
  /**
   * PCI devices on bus 0 (irqchip 'split'), as QEMU's -device, from 00:03.0
   * on: 'edu' (QEMU's educational device), 'doorbell' (MSI-X vectors backed
   * by eventfds; `{ name: 'doorbell', vectors }` or 'doorbell,vectors=N',
   * default 16). BARs are placed and decode enabled as firmware would.
   */
  devices?: readonly (PciDeviceName | PciDeviceSpec | string)[];
  /**
   * How the VM caches MSI translations in irqfds (src/irq/irqfd-cache.ts):
   * 'lazy' (default), 'eager' (QEMU's) or 'none'.
   */
  irqCache?: IrqCachePolicy;
  /**
   * An Intel IOMMU (VT-d) at 0xfed90000 as QEMU's `-device intel-iommu`
   * (irqchip 'split'): DMA remapping for the PCI devices and, with
   * `intremap` (default on), interrupt remapping for their MSIs and the
   * IOAPIC's.
   */
  iommu?: { intremap?: boolean };
  /**
   * A load generator on every doorbell, asked for with the run (runAsync)
   * and started once the guest turns the device's MSI-X on: `count` rings
   * round robin over its vectors from another thread, `rate` per second (0:
   * as fast as possible). QEMU has no such option: this is the benchmark's
   * stimulus.
   */
  doorbellLoad?: { rate: number; count: number };
}

/** `--doorbell-load rate=R,count=N` (rate in rings per second, 0 or absent for as fast as possible). */
export function parseDoorbellLoad(text: string): { rate: number; count: number } {
  let rate = 0, count: number | undefined;
  for (const p of text.split(',')) {
    const m = /^(rate|count)=([0-9]+)$/.exec(p);
    if (!m) throw new InvalidArgumentError(`doorbell load '${p}': rate=R (rings/s) and count=N`);
    if (m[1] === 'rate') rate = Number(m[2]); else count = Number(m[2]);
  }
  if (count === undefined || !Number.isSafeInteger(count) || count < 1) throw new InvalidArgumentError('doorbell load needs count=N, N >= 1');
  return { rate, count };
}

export type PciDeviceName = 'edu' | 'doorbell';
export const PCI_DEVICES: readonly PciDeviceName[] = ['edu', 'doorbell'];
export type PciDeviceSpec = { name: 'edu' } | { name: 'doorbell'; vectors: number };

/**
 * An IOMMU as our --iommu names it: 'intel', 'intel,intremap=on|off'
 * (QEMU's -device intel-iommu,intremap=...). Throws ERR_INVALID_ARG.
 */
export function parseIommuSpec(text: string): { intremap: boolean } {
  const [name, ...props] = text.split(',');
  if (name !== 'intel') throw new InvalidArgumentError(`unknown IOMMU '${String(name)}' (known: intel)`);
  let intremap = true;
  for (const p of props) {
    const m = /^intremap=(on|off)$/.exec(p);
    if (!m) throw new InvalidArgumentError(`IOMMU property '${p}': intel takes intremap=on|off`);
    intremap = m[1] === 'on';
  }
  return { intremap };
}

/**
 * A device as QEMU's -device names it: 'edu', 'doorbell', 'doorbell,vectors=64'.
 * Throws ERR_INVALID_ARG naming what is wrong.
 */
export function parseDeviceSpec(text: string | PciDeviceSpec): PciDeviceSpec {
  if (typeof text !== 'string') return text;
  const [name, ...props] = text.split(',');
  const kv = new Map<string, string>();
  for (const p of props) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`device '${text}': property '${p}' is not key=value`);
    kv.set(p.slice(0, eq), p.slice(eq + 1));
  }
  const refuseOthers = (known: string[]): void => {
    for (const k of kv.keys()) if (!known.includes(k)) throw new InvalidArgumentError(`device '${name}' has no property '${k}'${known.length ? ` (it has: ${known.join(', ')})` : ''}`);
  };
  if (name === 'edu') { refuseOthers([]); return { name }; }
  if (name === 'doorbell') {
    refuseOthers(['vectors']);
    const raw = kv.get('vectors') ?? '16';
    const vectors = /^[0-9]+$/.test(raw) ? Number(raw) : NaN;
    if (!(vectors >= 1 && vectors <= DOORBELL_MAX_VECTORS)) throw new InvalidArgumentError(`doorbell vectors=${raw}: must be 1..${DOORBELL_MAX_VECTORS}`);
    return { name, vectors };
  }
  throw new InvalidArgumentError(`unknown device '${String(name)}' (known: ${PCI_DEVICES.join(', ')})`);
}
/** Where firmware places BARs: the top of the PCI hole, below the IOAPIC. */
const PCI_MMIO_BASE = 0xfe00_0000;
/** PCIe ECAM: q35's PCIEXBAR as QEMU's firmware sets it, 256 buses' worth. */
export const PCI_ECAM_BASE = 0xb000_0000;
const PCI_ECAM_SIZE = 0x1000_0000;
/** The first slot for -device devices (00:00.0 is the host bridge). */
const PCI_FIRST_SLOT = 3;

/** The IOAPIC pin of INTx `pin` (1 = INTA#) at `slot`: PIRQ A..D on pins 16..19, rotated by slot (Q35's PIRQ swizzle). */
export function pciIntxPin(slot: number, pin: number): number {
  return 16 + ((slot + pin - 1) & 3);
}

export const UART_IOAPIC_PIN = 4;
export const FW_CFG_BASE = 0x510;

export interface RunResult {
  /** Process exit status: QEMU's rule for debug-exit, otherwise see `exitStatusFor`. */
  status: number;
  reason: StopReason;
  exits: number;
  instructions: number | undefined;
}

/** Exit status for each stop reason: debug-exit statuses are odd; the VMM's own are even. */
export function exitStatusFor(r: StopReason): number {
  switch (r.kind) {
    case 'debug-exit': return r.status;
    case 'stopped': return 0;
    case 'signal': return 128 + (r.signal === 'SIGINT' ? 2 : 15);
    case 'shutdown': return 2;
    case 'halted': return 4;
    case 'vcpu-error': return 6;
    // arm64 PSCI: SYSTEM_OFF is a clean power-off (status 0, as QEMU exits); a reset or crash is the VMM's own even status.
    case 'system-event': return r.event === 'shutdown' ? 0 : r.event === 'reset' ? 8 : 10;
  }
}

function flatSegment(selector: number, type: number): X86Segment {
  return { base: 0n, limit: 0xffff_ffff, selector, type, present: 1, dpl: 0, db: 1, s: 1, l: 0, g: 1, avl: 0, unusable: 0 };
}

/** The host's CPUID with vCPU `id`'s initial APIC ID (leaf 1 EBX[31:24], leaves 0xb/0x1f EDX), as the LAPIC reports. */
export function cpuidForVcpu(entries: readonly CpuidEntry[], id: number): CpuidEntry[] {
  return entries.map((e) => {
    if (e.function === 1) return { ...e, ebx: ((e.ebx & 0x00ff_ffff) | (id << 24)) >>> 0 };
    if (e.function === 0xb || e.function === 0x1f) return { ...e, edx: id >>> 0 };
    return { ...e };
  });
}

/** The machine state the multiboot spec requires at the kernel's entry. */
export function multibootSregs(current: X86Sregs): X86Sregs {
  const code = flatSegment(0x10, 0xb);
  const data = flatSegment(0x18, 0x3);
  return {
    ...current,
    cs: code, ds: data, es: data, fs: data, gs: data, ss: data,
    // PE on, paging off; ET set as on every CPU since the 486.
    cr0: (current.cr0 | 0x11n) & ~0x8000_0000n,
    cr4: 0n,
    efer: 0n,
  };
}

let nextMachineId = 1;

export class X86Machine {
  /** Names this machine's VM in trace events (unique in the process). */
  readonly id = nextMachineId++;
  readonly vm: Vm;
  /** The BSP (vCPU 0), where the kernel starts. */
  readonly vcpu: Vcpu;
  /** Every vCPU, by index = APIC ID. */
  readonly vcpus: readonly Vcpu[];
  readonly pio = new PioBus(this.id);
  readonly mmio = new MmioBus(this.id);
  readonly uart: Uart16550;
  /** The userspace IOAPIC and its routes, with irqchip 'split'. */
  readonly irqchip: SplitIrqchip | null = null;
  /**
   * The 8259 pair (irqchip 'split'): programmable and maskable, fed the same
   * ISA lines as the IOAPIC as on a PC; its INT output reaches the BSP as
   * ExtINT (KVM_INTERRUPT after an interrupt window) when LINT0 is in
   * ExtINT mode.
   */
  readonly pic: Pic8259Pair | null = null;
  /** PCI bus 0 (irqchip 'split'): the host bridge and the -device devices. */
  readonly pci: PciHost | null = null;
  /** The edu devices, in the order asked for. */
  readonly edus: EduPci[] = [];
  /**
   * Whether PCIe ECAM is mapped at PCI_ECAM_BASE (split machines with at
   * most 2816 MiB of RAM: RAM is one block here, and more would reach it).
   */
  readonly hasEcam: boolean = false;
  /** The doorbell devices, in the order asked for. */
  readonly doorbells: DoorbellPci[] = [];
  /** The vcpuThreads option, its default resolved (at construction: kick lists depend on it). */
  private readonly vcpuThreads: boolean;
  /**
   * The VM's irqfd cache (irqchip 'split', the split irqchip's): every MSI the
   * VMM sends goes through it -- the IOAPIC's, edu's, the doorbells' -- and
   * every eventfd-backed source is one of its entries.
   */
  readonly irqCache: IrqfdCache | null = null;
  /** The VT-d unit (option `iommu`). */
  readonly vtd: VtdUnit | null = null;
  private readonly ctx: RunContext;
  private readonly server: ExitServer;
  port80Writes = 0;
  private closed = false;

  constructor(private readonly opts: X86MachineOptions) {
    const memMiB = opts.memMiB ?? 64;
    if (!Number.isInteger(memMiB) || memMiB < 2 || memMiB > MAX_MEM_MIB) {
      throw new InvalidArgumentError(`memory must be 2..${MAX_MEM_MIB} MiB, got ${memMiB}`);
    }
    const cpus = opts.cpus ?? 1;
    if (!Number.isInteger(cpus) || cpus < 1 || cpus > MAX_CPUS) {
      throw new InvalidArgumentError(`cpus must be 1..${MAX_CPUS}, got ${cpus}`);
    }
    if (cpus > 1 && opts.irqchip !== 'split') {
      throw new InvalidArgumentError(`${cpus} vCPUs need irqchip 'split' (APs are started by INIT/SIPI through the in-kernel LAPIC)`);
    }
    const devices = (opts.devices ?? []).map(parseDeviceSpec);
    if (devices.length > 0 && opts.irqchip !== 'split') throw new InvalidArgumentError('PCI devices need irqchip \'split\' (the PCI bus and its interrupts are on that machine)');
    if (devices.length > 8) throw new InvalidArgumentError(`at most 8 PCI devices, got ${devices.length}`);
    this.vcpuThreads = opts.vcpuThreads ?? devices.some((d) => d.name === 'doorbell');
    const policy = opts.irqCache ?? 'lazy';
    if (!IRQ_CACHE_POLICIES.includes(policy)) throw new InvalidArgumentError(`irqCache must be one of ${IRQ_CACHE_POLICIES.join(', ')}, not '${String(policy)}'`);
    const hv = opts.hypervisor;
    const maxVcpus = hv.checkExtension('KVM_CAP_MAX_VCPUS') || hv.checkExtension('KVM_CAP_NR_VCPUS');
    if (maxVcpus > 0 && cpus > maxVcpus) throw new InvalidArgumentError(`cpus ${cpus} exceeds this hypervisor's KVM_CAP_MAX_VCPUS (${maxVcpus})`);
    this.vm = hv.createVm();
    try {
      this.vm.setTssAddr(TSS_ADDRESS);
      const size = memMiB * 1024 * 1024;
      const ram = this.vm.allocateMemory(size);
      this.vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: size, memory: ram });
      const boot = loadMultiboot(opts.image, ram.bytes, { cmdline: opts.cmdline ?? '', ...(opts.modules ? { modules: opts.modules } : {}) });

      if (opts.iommu && opts.irqchip !== 'split') throw new InvalidArgumentError('an IOMMU needs irqchip \'split\' (it remaps the IOAPIC\'s and the PCI devices\' interrupts)');
      if (opts.iommu) {
        const bytes = ram.bytes;
        this.vtd = new VtdUnit({
          mem: {
            read: (a, n) => (a >= 0 && a + n <= bytes.length ? bytes.slice(a, a + n) : null),
            write: (a, b) => { if (a < 0 || a + b.length > bytes.length) return false; bytes.set(b, a); return true; },
          },
          // The unit's own interrupts (fault and invalidation events) are never remapped.
          sendMsi: (m) => { this.vm.signalMsi(m); },
          onIecInvalidate: (first, last, global) => {
            if (global) this.irqCache?.invalidateAll(); else this.irqCache?.invalidateIrteRange(first, last);
            this.irqchip?.retranslate();
          },
          onRemappingChanged: () => {
            this.irqCache?.invalidateAll('translator');
            this.irqchip?.retranslate();
          },
          onFault: (f: VtdFault) => trace('vmm:iommu:fault', { vm: this.id, reason: f.reason, sourceId: f.sourceId, info: f.info, read: f.read }),
          onGuestError: (what) => trace('vmm:device:guest-error', { vm: this.id, device: 'intel-iommu', what }),
        }, { intremap: opts.iommu.intremap ?? true });
        this.mmio.register(VTD_BASE, VTD_SIZE, this.vtd, 'intel-iommu');
      }
      if (opts.irqchip === 'split') {
        SplitIrqchip.enable(this.vm);
        this.irqchip = new SplitIrqchip({
          vm: this.vm, mmio: this.mmio, vmId: this.id,
          ...(this.vtd ? { translator: this.vtd } : {}), sourceId: IOAPIC_SOURCE_ID,
          // The poller kicks a vCPU that runs KVM_RUN on this thread, so its event loop serves the ring.
          irqCache: { policy, kick: () => (this.onThreads ? [] : [this.vcpu]) },
        });
        this.irqCache = this.irqchip.cache;
      }
      const cpuid = hv.supportedCpuid();
      const vcpus: Vcpu[] = [];
      for (let id = 0; id < cpus; id++) {
        const v = this.vm.createVcpu(id);
        v.setCpuid(cpuidForVcpu(cpuid, id));
        vcpus.push(v);
      }
      this.vcpus = vcpus;
      this.vcpu = vcpus[0]!;
      this.vcpu.setSregs(multibootSregs(this.vcpu.getSregs()));
      const regs = this.vcpu.getRegs();
      for (const k of Object.keys(regs) as (keyof typeof regs)[]) regs[k] = 0n;
      regs.rip = BigInt(boot.entry);
      regs.rax = BigInt(boot.eax);
      regs.rbx = BigInt(boot.ebx);
      regs.rflags = 2n;
      this.vcpu.setRegs(regs);

      const pending: number[] = [];
      this.uart = new Uart16550({
        irq: { set: (level) => this.isaIrq(UART_IOAPIC_PIN, level) },
        tx: (b) => {
          pending.push(b);
          if (b === 0x0a || pending.length >= 4096) this.flushSerial(pending);
        },
        onGuestError: (what) => trace('vmm:device:guest-error', { vm: this.id, device: 'uart', what }),
      });
      this.serialPending = pending;
      this.pio.register(UART_BASE, 8, {
        read: (off) => {
          const v = this.uart.read(off);
          if (this.serialQueue.length > 0) this.pumpSerialIn();
          return v;
        },
        write: (off, _size, v) => {
          this.uart.write(off, v & 0xff);
          // An FCR write can empty or enlarge the receiver: let waiting input in.
          if (this.serialQueue.length > 0) this.pumpSerialIn();
        },
      }, 'uart16550');
      const debugExit = new DebugExit({
        onExit: (status) => {
          trace('vmm:machine:debug-exit', { vm: this.id, value: status >>> 1, status });
          if (this.ctx.stop === null) this.ctx.stop = { kind: 'debug-exit', status };
        },
      });
      this.pio.register(DEBUG_EXIT_BASE, 4, debugExit, 'isa-debug-exit');
      this.pio.register(PORT80, 1, {
        read: () => 0xff,
        write: () => { this.port80Writes++; },
      }, 'port80');
      const chip = this.irqchip;
      if (chip) {
        this.pic = new Pic8259Pair({
          // INT rising: the BSP must pass through beforeRun; on its own thread it may sit halted in KVM_RUN.
          intr: { set: (level) => { if (level && this.onThreads) this.vcpu.kick(); } },
          onGuestError: (what) => trace('vmm:device:guest-error', { vm: this.id, device: 'pic', what }),
        });
        chip.attachPic(this.pic);
        this.pio.register(0x20, 2, this.pic.device('master'), 'pic-master');
        this.pio.register(0xa0, 2, this.pic.device('slave'), 'pic-slave');
        this.pio.register(PC_TESTDEV_IRQ_BASE, PC_TESTDEV_IRQ_LINES, new PcTestdevIrq({ setIrq: (n, l) => this.isaIrq(n, l) }), 'pc-testdev-irq');
        this.pio.register(PC_TESTDEV_IOPORT, 4, new PcTestdevIoport(), 'pc-testdev-ioport');
        const fwcfg = new FwCfg({ ramSize: size, cpus, maxCpus: cpus }, (what) => trace('vmm:device:guest-error', { vm: this.id, device: 'fw_cfg', what }));
        this.pio.register(FW_CFG_BASE, 2, fwcfg, 'fw_cfg');
        const pci = new PciHost({ onGuestError: (what) => trace('vmm:device:guest-error', { vm: this.id, device: 'pci', what }) });
        this.pci = pci;
        this.pio.register(PCI_CONFIG_ADDRESS, 8, pci.ports, 'pci-config');
        // PCIe ECAM where q35 has it, unless RAM reaches it (more than 2816 MiB: this machine keeps
        // RAM in one block below 3 GiB; mechanism #1 still works then). `hasEcam` says which.
        this.hasEcam = size <= PCI_ECAM_BASE;
        if (this.hasEcam) this.mmio.register(PCI_ECAM_BASE, PCI_ECAM_SIZE, pci.ecam, 'pci-ecam');
        const cache = chip.cache;
        devices.forEach((d, i) => {
          const slot = PCI_FIRST_SLOT + i;
          if (d.name === 'doorbell') {
            const db = new DoorbellPci({
              vm: this.vm, mmio: this.mmio, cache, sourceId: slot << 3, vectors: d.vectors, name: `doorbell${this.doorbells.length}`,
              onGuestError: (what) => trace('vmm:device:guest-error', { vm: this.id, device: 'doorbell', what }),
            });
            pci.plug(slot, db.fn);
            db.firmwareSetup(PCI_MMIO_BASE + i * 0x10_0000);
            this.doorbells.push(db);
            return;
          }
          const line = pciIntxPin(slot, 1);
          const vtd = this.vtd;
          const edu = new EduPci({
            mmio: this.mmio, ram: ram.bytes,
            sendMsi: (m) => { cache.sendMsi(m, slot << 3, `edu${this.edus.length}`); },
            ...(vtd ? { translateDma: (a: number, write: boolean) => { const t = vtd.translateDma(slot << 3, a, write); return t.ok ? t.address : null; } } : {}),
            setIntx: (level) => chip.setIrq(line, level),
            onGuestError: (what) => trace('vmm:device:guest-error', { vm: this.id, device: 'edu', what }),
          });
          pci.plug(slot, edu.fn);
          edu.firmwareSetup(PCI_MMIO_BASE + i * 0x10_0000, line);
          this.edus.push(edu);
        });
      }
      this.ctx = {
        pio: this.pio, mmio: this.mmio, stop: null, exits: 0, vmId: this.id,
        // Eventfds that writers outside the VMM hold may wake a halted guest.
        mayWake: () => (this.irqchip?.lineCount ?? 0) > 0 || this.inputs.count > 0 || this.doorbells.some((d) => d.exported || d.loading),
        ...(chip ? { onIoapicEoi: (v: number) => chip.eoi(v), beforeRun: (v: Vcpu) => this.extInt(v) } : {}),
      };
      this.server = exitServer(this.ctx);
    } catch (e) {
      this.vm.close();
      throw e;
    }
  }

  private serialPending: number[] = [];
  private loadStarted = false;

  private flushSerial(pending: number[]): void {
    if (pending.length === 0) return;
    this.opts.serialOut(Uint8Array.from(pending));
    pending.length = 0;
  }

  /**
   * Runs the guest until it stops, synchronously (nothing else runs
   * meanwhile); flushes serial output. Refused where the backend needs the
   * event loop to run these vCPUs (several on KVM), and when the machine has
   * eventfd lines, watched input or a holdAwake() held, which only the event
   * loop serves: use runAsync() there.
   */
  run(): RunResult {
    if ((this.irqchip?.lineCount ?? 0) > 0 || this.inputs.count > 0 || this.doorbells.length > 0) {
      throw new InvalidArgumentError('this machine has eventfd lines, doorbells or watched input, served only by the event loop: use runAsync()');
    }
    return this.finish(this.vm.runVcpusSync(this.vcpus, this.server));
  }

  /** Runs the guest until it stops, letting the event loop serve eventfds, timers and stdin meanwhile. */
  async runAsync(): Promise<RunResult> {
    if (this.opts.doorbellLoad && !this.loadStarted) {
      this.loadStarted = true;
      for (const d of this.doorbells) d.startLoad(this.opts.doorbellLoad);
    }
    return this.finish(await this.vm.runVcpus(this.vcpus, this.server, { threads: this.vcpuThreads }));
  }

  /**
   * Ends the run in progress (runAsync) after the exit being served: records
   * `reason` (the first reason wins) and kicks every vCPU out of KVM_RUN.
   */
  stop(reason: StopReason = { kind: 'stopped' }): void {
    if (this.ctx.stop === null) this.ctx.stop = reason;
    for (const v of this.vcpus) v.kick();
  }

  /** Whether runAsync runs the vCPUs on threads of their own (the backend says: KVM with several vCPUs, or with vcpuThreads, a doorbell's default). */
  get onThreads(): boolean {
    return this.vm.runsOnThreads(this.vcpus.length, { threads: this.vcpuThreads });
  }

  /**
   * Bytes from the outside world (the CLI's stdin) for the UART's receiver
   * (RX interrupt on pin 4). Flow-controlled like QEMU's chardev: they wait
   * here and enter the receiver only as the guest makes room, so a fast
   * sender never overruns a guest that reads.
   */
  serialIn(bytes: Uint8Array): void {
    for (const b of bytes) this.serialQueue.push(b);
    this.pumpSerialIn();
  }

  private readonly serialQueue: number[] = [];

  /**
   * Makes input arriving on the caller's `fd` (stdin) able to reach a guest
   * whose vCPU runs on this thread and sleeps halted inside KVM_RUN: the
   * backend kicks it when `fd` becomes readable, the run loop yields, and the
   * stream's 'data' handler (serialIn) runs. vCPUs on threads of their own
   * need nothing: this thread's event loop is free. Throws EPERM for a regular
   * file, which epoll cannot watch (read such input up front). Returns the
   * unwatch function.
   */
  wakeOnInput(fd: number): () => void {
    return this.inputs.watch(this.vm, fd, this.onThreads ? [] : [this.vcpu]);
  }

  /** Outside sources that may still wake a halted guest (wakeOnInput, holdAwake). */
  private readonly inputs = new InputWatches();

  /**
   * Says that something the machine does not know of may still wake a
   * halted guest -- an experiment's own interrupt sources, say, entries of an
   * IrqfdCache it made on this VM -- so that a guest halted with interrupts
   * enabled waits for them instead of ending the run as `halted`. Until the
   * returned release is called (once is enough; more are no-ops). Like
   * watched input, such sources are served by the event loop: run() is
   * refused while one is held.
   */
  holdAwake(): () => void {
    return this.inputs.hold();
  }

  private pumpSerialIn(): void {
    const n = Math.min(this.uart.rxSpace, this.serialQueue.length);
    if (n > 0) this.uart.receive(this.serialQueue.splice(0, n));
  }

  /** The run's result: the recorded stop reason, or `halted` when the driver found no vCPU able to run. */
  private finish(_end: DriveEnd): RunResult {
    this.flushSerial(this.serialPending);
    const reason = this.ctx.stop ??= { kind: 'halted' };
    const status = exitStatusFor(reason);
    trace('vmm:machine:stop', { vm: this.id, reason: reason.kind, status });
    // Backends that count retired instructions (the sim) report them; KVM cannot.
    const counts = this.vcpus.map((v) => v.instructionsRetired);
    const instructions = counts.every((n): n is number => n !== undefined) ? counts.reduce((a, b) => a + b, 0) : undefined;
    return { status, reason, exits: this.ctx.exits, instructions };
  }

  private irqWindowRequested = false;

  /**
   * ExtINT, before each KVM_RUN of the BSP: while the 8259's INT is high,
   * acknowledge it (INTA) and inject the vector with KVM_INTERRUPT if the
   * vCPU can take it now (IF = 1, LINT0 in ExtINT mode), else ask KVM for
   * an interrupt-window exit and try again then. A masked LINT0 or IF = 0
   * leaves the request in the PIC, as on a PC.
   */
  private extInt(v: Vcpu): void {
    if (v !== this.vcpu) return;
    const pic = this.pic!;
    if (!pic.intr) {
      if (this.irqWindowRequested) {
        this.irqWindowRequested = false;
        v.setRequestInterruptWindow(false);
      }
      return;
    }
    if (v.readyForInterruptInjection) {
      const vector = pic.acknowledge();
      v.interrupt(vector);
      trace('vmm:pic:extint', { vm: this.id, vector });
      if (this.irqWindowRequested) {
        this.irqWindowRequested = false;
        v.setRequestInterruptWindow(false);
      }
    } else if (!this.irqWindowRequested) {
      this.irqWindowRequested = true;
      v.setRequestInterruptWindow(true);
    }
  }

  /** An ISA/GSI line: the irqchip's one fan-out (the IOAPIC pin and, for ISA IRQs but the cascade, the PIC). */
  private isaIrq(n: number, level: boolean): void {
    this.irqchip?.setIrq(n, level);
  }

  /**
   * An eventfd-backed input line on pin `pin` (irqchip 'split'), owned by the
   * irqchip: any thread or process that writes `line.trigger` asserts it (the
   * IOAPIC pin, and the 8259's for ISA IRQs); the vCPU is kicked so the
   * event is served at once.
   */
  addIrqLine(pin: number, kind: LineKind): IrqLine {
    if (!this.irqchip) throw new InvalidArgumentError('IRQ lines need the split irqchip (irqchip: \'split\')');
    if (!Number.isInteger(pin) || pin < 0 || pin >= 24) throw new InvalidArgumentError(`IOAPIC pin ${pin} is outside 0..23`);
    if (this.irqchip.hasLine(pin)) throw new InvalidArgumentError(`IOAPIC pin ${pin} already has a line`);
    // One vCPU runs KVM_RUN on this thread: kick it so the event is served. vCPUs on their own threads
    // leave this one waiting in its event loop: the callback runs at once, no kick needed.
    return this.irqchip.addLine(pin, kind, this.onThreads ? [] : [this.vcpu]);
  }

  /**
   * The irqfd cache's counters, with hits: rings the kernel delivered
   * without userspace seeing them (the rings this process made minus those
   * read in userspace), or null when an eventfd was handed to writers this
   * process cannot count.
   */
  irqStats(): (IrqCacheStats & { policy: IrqCachePolicy; rings: number; hits: number | null }) | null {
    const c = this.irqCache;
    if (!c) return null;
    const rings = this.doorbells.reduce((a, d) => a + d.rings, 0);
    const exported = this.doorbells.some((d) => d.exported);
    return { policy: c.policy, ...c.stats, rings, hits: exported ? null : rings - c.stats.ringsInUserspace };
  }

  /** Closes the lines, the vCPU, the VM and its memory (every fd, explicitly). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.irqchip?.closeLines();
    for (const d of this.doorbells) d.close();
    this.irqCache?.close();
    this.vm.close();
  }
}

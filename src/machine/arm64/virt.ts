/**
 * The arm64 `virt` machine: QEMU's map (src/machine/arm64/layout.ts), our
 * userspace GICv2 fed by the timer/PMU levels KVM reports after every
 * KVM_RUN (KVM_CAP_ARM_USER_IRQ), the PL011, a debug-exit register, PSCI by
 * the kernel (KVM's in-kernel PSCI, the sim's model of it), and the arm64
 * boot protocol with a generated device tree. Backend-agnostic: the same
 * code runs on KVM (an arm64 host) and on the sim.
 *
 * The IRQ line of each vCPU is its GIC CPU interface's output and nothing
 * else (DESIGN.md, arm64 contract 4): KVM_IRQ_LINE is issued only when that
 * output changes.
 */
import type { Hypervisor, Vcpu, Vm } from '../../backend/types.js';
import type { DriveEnd, ExitServer } from '../../backend/driver.js';
import { ARM64_REG, armFeatures, armIrqCpu, KVM_ARM_VCPU_POWER_OFF, KVM_ARM_VCPU_PSCI_0_2 } from '../../backend/arm64.js';
import { InvalidArgumentError } from '../../errors.js';
import { GicV2 } from '../../irqchip/gic/gicv2.js';
import { Pl011 } from '../../devices/pl011.js';
import { DebugExit } from '../../devices/debug-exit.js';
import { EventfdIrqLine, type LineKind } from '../../irq/line.js';
import { loadArm64 } from '../../loader/arm64-image.js';
import { trace, tracePoint } from '../../trace/events.js';
import { MmioBus, PioBus } from '../bus.js';
import { exitServer, InputWatches, type RunContext, type StopReason } from '../run-loop.js';
import { exitStatusFor, type RunResult } from '../x86-pc.js';
import {
  DEBUG_EXIT_BASE, DEBUG_EXIT_SIZE, FIRST_FREE_SPI, GICC_BASE, GICC_SIZE, GICD_BASE, GICD_SIZE, GIC_SPIS, MAX_CPUS, MAX_MEM_MIB,
  PPI_PMU, PPI_PTIMER, PPI_VTIMER, RAM_BASE, UART_BASE, UART_SIZE, UART_SPI,
} from './layout.js';
import { virtDtb } from './virt-dt.js';
import { Arm64TestDev, TESTDEV_BASE, TESTDEV_SIZE, TESTDEV_SPI } from './testdev.js';

export interface Arm64MachineOptions {
  hypervisor: Hypervisor;
  /** An arm64 Linux `Image` (or a raw binary, loaded at RAM base + 0x80000). */
  image: Uint8Array;
  memMiB?: number;
  cpus?: number;
  /** /chosen/bootargs. */
  cmdline?: string;
  initrd?: Uint8Array;
  /** A device tree to pass instead of the generated one (`--dtb`). */
  dtb?: Uint8Array;
  serialOut: (bytes: Uint8Array) => void;
  /** Run even a single KVM vCPU on its own thread. */
  vcpuThreads?: boolean;
}

let nextMachineId = 1_000_000; // apart from the x86 machines' ids in traces

// The trace points a vtimer tick passes, bound once (a lookup by name at each was ~5 % of the tick's JavaScript).
const IRQ_LINE = tracePoint('vmm:gic:irq_line');
const DEACTIVATE = tracePoint('vmm:gic:deactivate');
const DEVICE_IRQ_LEVEL = tracePoint('vmm:gic:device_irq_level');

export class Arm64Machine {
  readonly id = nextMachineId++;
  readonly vm: Vm;
  readonly vcpus: readonly Vcpu[];
  readonly mmio = new MmioBus(this.id);
  readonly gic: GicV2;
  readonly uart: Pl011;
  /** Our test device (level source fed from another thread, ioeventfd doorbell): src/machine/arm64/testdev.ts. */
  readonly testdev: Arm64TestDev;
  /** The device tree the guest got (generated, or `dtb`). */
  readonly dtb: Uint8Array;
  /** Where it is in guest memory (x0 at entry). */
  readonly dtbAddress: number;
  private readonly ctx: RunContext;
  private readonly server: ExitServer;
  private readonly lines = new Map<number, EventfdIrqLine>();
  /** device_irq_level as last fed to the GIC, per vCPU index. */
  private readonly lastLevels: number[];
  private readonly serialPending: number[] = [];
  private readonly serialQueue: number[] = [];
  /** Input sources that may still wake a halted guest (wakeOnInput). */
  private readonly inputs = new InputWatches();
  private closed = false;

  constructor(private readonly opts: Arm64MachineOptions) {
    const memMiB = opts.memMiB ?? 128;
    if (!Number.isInteger(memMiB) || memMiB < 4 || memMiB > MAX_MEM_MIB) throw new InvalidArgumentError(`memory must be 4..${MAX_MEM_MIB} MiB, got ${memMiB}`);
    const cpus = opts.cpus ?? 1;
    if (!Number.isInteger(cpus) || cpus < 1 || cpus > MAX_CPUS) throw new InvalidArgumentError(`cpus must be 1..${MAX_CPUS} (GICv2 has eight CPU interfaces), got ${cpus}`);
    const hv = opts.hypervisor;
    this.vm = hv.createVm({ arch: 'arm64' });
    try {
      const size = memMiB * 1024 * 1024;
      const ram = this.vm.allocateMemory(size);
      this.vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: RAM_BASE, memorySize: size, memory: ram });
      let dtb: Uint8Array = new Uint8Array(0);
      const boot = loadArm64(opts.image, ram.bytes, RAM_BASE, (initrd) => {
        dtb = opts.dtb ?? virtDtb({ memBytes: size, cpus, ...(opts.cmdline !== undefined ? { bootargs: opts.cmdline } : {}), ...(initrd ? { initrd } : {}) });
        return dtb;
      }, opts.initrd);
      this.dtb = dtb;
      this.dtbAddress = boot.dtbAddress;

      // vCPUs: PSCI 0.2 in the kernel; every CPU but the boot one powered off until PSCI CPU_ON.
      const target = this.vm.armPreferredTarget().target;
      const vcpus: Vcpu[] = [];
      for (let i = 0; i < cpus; i++) {
        const v = this.vm.createVcpu(i);
        v.armVcpuInit({ target, features: i === 0 ? armFeatures(KVM_ARM_VCPU_PSCI_0_2) : armFeatures(KVM_ARM_VCPU_PSCI_0_2, KVM_ARM_VCPU_POWER_OFF) });
        vcpus.push(v);
      }
      this.vcpus = vcpus;
      this.lastLevels = vcpus.map(() => 0);
      const bsp = vcpus[0]!;
      bsp.setOneReg(ARM64_REG.PC, BigInt(boot.entry));
      bsp.setOneReg(ARM64_REG.x(0), BigInt(boot.dtbAddress));

      this.gic = new GicV2({
        cpus, spis: GIC_SPIS,
        outputs: {
          irqLine: (cpu, level) => {
            if (IRQ_LINE.hasSubscribers) IRQ_LINE.publish({ vm: this.id, vcpu: cpu, level });
            this.vm.setIrqLine(armIrqCpu(cpu), level);
          },
          deactivated: (intid, cpu) => {
            if (DEACTIVATE.hasSubscribers) DEACTIVATE.publish({ vm: this.id, intid, vcpu: cpu });
            this.lines.get(intid)?.resampled();
          },
        },
        log: (msg) => trace('vmm:device:guest-error', { vm: this.id, device: 'gic', what: msg }),
      });
      this.mmio.register(GICD_BASE, GICD_SIZE, {
        read: (off, sz) => this.gic.distRead(off, sz, this.currentCpu()),
        write: (off, sz, v) => this.gic.distWrite(off, sz, v, this.currentCpu()),
      }, 'gic-dist');
      this.mmio.register(GICC_BASE, GICC_SIZE, {
        read: (off, sz) => this.gic.cpuRead(this.currentCpu(), off, sz),
        write: (off, sz, v) => this.gic.cpuWrite(this.currentCpu(), off, sz, v),
      }, 'gic-cpu');

      const pending = this.serialPending;
      this.uart = new Pl011({
        irq: { set: (level) => this.gic.setSpi(32 + UART_SPI, level) },
        tx: (b) => {
          pending.push(b);
          if (b === 0x0a || pending.length >= 4096) this.flushSerial();
        },
        onGuestError: (what) => trace('vmm:device:guest-error', { vm: this.id, device: 'pl011', what }),
      });
      this.mmio.register(UART_BASE, UART_SIZE, {
        read: (off, sz) => {
          const v = this.uart.read(off, sz);
          if (this.serialQueue.length > 0) this.pumpSerialIn();
          return v;
        },
        write: (off, sz, v) => this.uart.write(off, sz, v),
      }, 'pl011');
      const debugExit = new DebugExit({
        onExit: (status) => {
          trace('vmm:machine:debug-exit', { vm: this.id, value: status >>> 1, status });
          if (this.ctx.stop === null) this.ctx.stop = { kind: 'debug-exit', status };
        },
      });
      this.mmio.register(DEBUG_EXIT_BASE, DEBUG_EXIT_SIZE, debugExit, 'debug-exit');
      this.testdev = new Arm64TestDev({
        vm: this.vm,
        addLevelLine: () => this.addIrqLine(TESTDEV_SPI, 'level'),
        kick: () => (this.onThreads ? [] : this.vcpus),
        onGuestError: (what) => trace('vmm:device:guest-error', { vm: this.id, device: 'testdev', what }),
      });
      this.mmio.register(TESTDEV_BASE, TESTDEV_SIZE, this.testdev, 'testdev');

      this.ctx = {
        pio: new PioBus(this.id), mmio: this.mmio, stop: null, exits: 0, vmId: this.id, current: null,
        afterRun: (v) => this.syncDeviceIrqLevel(v),
        mayWake: () => this.lines.size > 0 || this.inputs.count > 0 || this.testdev.active,
      };
      this.server = exitServer(this.ctx);
    } catch (e) {
      this.vm.close();
      throw e;
    }
  }

  /** The index of the vCPU whose exit is being served (the GIC's banked registers). */
  private currentCpu(): number {
    const v = this.ctx.current;
    const i = v ? this.vcpus.indexOf(v) : 0;
    return i < 0 ? 0 : i;
  }

  /**
   * After every KVM_RUN: the timer and PMU levels KVM reports become PPI
   * 27 (vtimer), 30 (ptimer) and 23 (PMU) of that vCPU's GIC interface.
   * True when a level changed (the run's `intr`, if it was one, is served).
   */
  private syncDeviceIrqLevel(v: Vcpu): boolean {
    const level = v.deviceIrqLevel;
    const i = this.vcpus.indexOf(v);
    if (i < 0 || level === this.lastLevels[i]) return false;
    const changed = level ^ this.lastLevels[i]!;
    this.lastLevels[i] = level;
    if (DEVICE_IRQ_LEVEL.hasSubscribers) DEVICE_IRQ_LEVEL.publish({ vm: this.id, vcpu: i, level });
    if (changed & 1) this.gic.setPpi(i, PPI_VTIMER, (level & 1) !== 0);
    if (changed & 2) this.gic.setPpi(i, PPI_PTIMER, (level & 2) !== 0);
    if (changed & 4) this.gic.setPpi(i, PPI_PMU, (level & 4) !== 0);
    return true;
  }

  private flushSerial(): void {
    if (this.serialPending.length === 0) return;
    this.opts.serialOut(Uint8Array.from(this.serialPending));
    this.serialPending.length = 0;
  }

  /** Input for the PL011's receiver, flow-controlled: bytes enter as the guest makes room. */
  serialIn(bytes: Uint8Array): void {
    for (const b of bytes) this.serialQueue.push(b);
    this.pumpSerialIn();
  }

  private pumpSerialIn(): void {
    const n = Math.min(this.uart.rxSpace, this.serialQueue.length);
    if (n > 0) this.uart.receive(this.serialQueue.splice(0, n));
  }

  /** As X86Machine.wakeOnInput: input on `fd` kicks a vCPU halted in KVM_RUN on this thread. */
  wakeOnInput(fd: number): () => void {
    return this.inputs.watch(this.vm, fd, this.onThreads ? [] : [this.vcpus[0]!]);
  }

  private get onThreads(): boolean {
    return this.vm.runsOnThreads(this.vcpus.length, { threads: this.opts.vcpuThreads === true });
  }

  /**
   * An eventfd-backed SPI (INTID 32 + `spi`): any thread or process that
   * writes `line.trigger` raises it; a level line is lowered when the guest
   * deactivates the interrupt and `line.resample` is signalled, so the
   * device re-raises it if its condition holds. Every eventfd is served here
   * (no vGIC, no irqfd fast path).
   */
  addIrqLine(spi: number, kind: LineKind): EventfdIrqLine {
    if (!Number.isInteger(spi) || spi < FIRST_FREE_SPI || spi >= GIC_SPIS) throw new InvalidArgumentError(`SPI ${spi} is outside ${FIRST_FREE_SPI}..${GIC_SPIS - 1}`);
    const intid = 32 + spi;
    if (this.lines.has(intid)) throw new InvalidArgumentError(`SPI ${spi} already has a line`);
    const line = new EventfdIrqLine(this.vm, { setIrq: (_pin, level) => this.gic.setSpi(intid, level) }, spi, kind, this.onThreads ? [] : this.vcpus);
    this.lines.set(intid, line);
    return line;
  }

  /** Runs the guest until it stops, synchronously. Refused with eventfd lines or watched input (use runAsync). */
  run(): RunResult {
    if (this.lines.size > 0 || this.inputs.count > 0 || this.testdev.active) throw new InvalidArgumentError('this machine has eventfd lines or watched input, served only by the event loop: use runAsync()');
    return this.finish(this.vm.runVcpusSync(this.vcpus, this.server));
  }

  async runAsync(): Promise<RunResult> {
    return this.finish(await this.vm.runVcpus(this.vcpus, this.server, { threads: this.opts.vcpuThreads === true }));
  }

  stop(reason: StopReason = { kind: 'stopped' }): void {
    if (this.ctx.stop === null) this.ctx.stop = reason;
    for (const v of this.vcpus) v.kick();
  }

  private finish(_end: DriveEnd): RunResult {
    this.flushSerial();
    const reason = this.ctx.stop ??= { kind: 'halted' };
    const status = exitStatusFor(reason);
    trace('vmm:machine:stop', { vm: this.id, reason: reason.kind, status });
    const counts = this.vcpus.map((v) => v.instructionsRetired);
    const instructions = counts.every((n): n is number => n !== undefined) ? counts.reduce((a, b) => a + b, 0) : undefined;
    return { status, reason, exits: this.ctx.exits, instructions };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.testdev.close();
    for (const l of this.lines.values()) l.close();
    this.lines.clear();
    this.vm.close();
  }
}


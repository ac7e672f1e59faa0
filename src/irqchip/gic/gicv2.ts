/**
 * A userspace GICv2 (architecture revision 2, no security extensions, no
 * virtualization extensions), as QEMU's `virt` machine has it with
 * gic-version=2: the register front end (distributor and CPU interfaces)
 * over the IRQ-state core of irq-state.ts. A pure state machine whose
 * outputs are injected.
 *
 * Outputs:
 *   irqLine(cpu, level)      the CPU's IRQ input (KVM_IRQ_LINE type CPU,
 *                            line 0). Called only when it changes: the GIC's
 *                            output, recomputed after every state change,
 *                            never a copy of an input (DESIGN.md arm64 #4);
 *   fiqLine?(cpu, level)     the FIQ input (group 0 with GICC_CTLR.FIQEn),
 *                            likewise only on change;
 *   deactivated?(intid, cpu) an interrupt stopped being active: EOIR with
 *                            EOImode=0, DIR with EOImode=1, or a
 *                            GICD_ICACTIVER write. The resample point of a
 *                            level eventfd line. Called after the state
 *                            change and before the outputs are recomputed,
 *                            so a handler that lowers the line at once
 *                            causes no output blip.
 * Per CPU, IRQ changes are reported before FIQ changes, CPUs in ascending
 * order. Callbacks may re-enter the GIC; outputs are recomputed until stable.
 *
 * A guest cannot crash the VMM through this device: an access of the wrong
 * size or alignment, at an unknown or reserved offset, to a read-only or
 * write-only register, or with an UNPREDICTABLE value is logged (`log`,
 * `guestErrors`), reads as 0 and is otherwise ignored. Only VMM misuse
 * (a CPU index or interrupt ID that does not exist in setPpi/setSpi/
 * cpuRead/...) throws InvalidArgumentError.
 *
 * Choices where the architecture (IHI0048B) leaves room, QEMU's (hw/intc/
 * arm_gic.c, revision 2, no security extensions) unless said otherwise:
 *  - 8 priority bits (QEMU's default; `virt` does not lower it): every bit
 *    of GICD_IPRIORITYR and GICC_PMR is writable; minimum BPR 0, minimum
 *    ABPR 1; 128 preemption levels, so 4 GICC_APRn and 4 GICC_NSAPRn.
 *  - GICD_IIDR 0x0000043b, GICC_IIDR 0x0002043b, the CoreSight ID registers
 *    at 0xFD0..0xFFC as QEMU's GICv2 (ICPIDR2 = 0x2b: architecture rev 2).
 *  - SGIs are always enabled (ISENABLER/ICENABLER bits 0..15 RAO/WI) and
 *    always edge (ICFGR0 RO 0xaaaaaaaa); ISPENDR/ICPENDR bits 0..15 are WI
 *    (SGIs are pended per source through SPENDSGIR/CPENDSGIR). PPI
 *    configuration is writable, banked per CPU (QEMU: writable, not banked).
 *  - With one CPU, GICD_ITARGETSRn are RAZ/WI and every SPI targets CPU 0.
 *    Otherwise SPIs reset to target no CPU; IDs 0..31 read the accessing
 *    CPU's own bit.
 *  - SPIs follow the 1-N model: one pending and one active state, taken by
 *    whichever targeted CPU acknowledges first (QEMU keeps a pending bit per
 *    target CPU and may deliver a multi-target SPI to each). An SPI raised
 *    while it targets no CPU stays pending (QEMU drops the edge).
 *  - Arbitration: a candidate must be enabled, pending, not active, target
 *    the CPU, and be of a group enabled in both GICD_CTLR and GICC_CTLR
 *    (QEMU picks the best over both groups, then gates on its group). It is
 *    the CPU's highest pending interrupt (HPPIR, IAR) if its priority <
 *    GICC_PMR; it is signaled if its group priority (BPR for group 0, ABPR
 *    for group 1 unless CBPR) < the running priority. Lowest ID wins a tie.
 *  - GICC_IAR returns 1022 when the highest pending interrupt is group 1
 *    and AckCtl is 0 (the access is treated as Secure, as QEMU does); the
 *    aliased GICC_AIAR/AHPPIR/AEOIR serve group 1 only (1023 for group 0).
 *    GICC_HPPIR/AHPPIR report an SGI's lowest source in bits 12:10.
 *  - EOIR: IDs >= the number of interrupts are ignored (1020..1023
 *    silently); with no active priority, or for an ID that is not active on
 *    this CPU, the write is logged and ignored (QEMU drops a priority in the
 *    latter case). Priority drop clears the lowest set bit of the
 *    interrupt's group's active-priority registers (QEMU's).
 *  - DIR with EOImode=0, or of an ID that is not active, is logged and
 *    ignored.
 *  - GICD_SGIR TargetListFilter 3 (reserved) is logged and ignored.
 *  - reset() keeps the input line levels (see irq-state.ts).
 */
import { InvalidArgumentError } from '../../errors.js';
import { StateReader } from '../../devices/state.js';
import { IrqStateCore, GIC_INTERNAL, GIC_NR_SGIS, type IrqView, type IrqStateSnapshot } from './irq-state.js';

export { GIC_INTERNAL, GIC_NR_SGIS, GIC_MAX_CPUS, type IrqView } from './irq-state.js';

/** Distributor register offsets (4 KiB frame). */
export const GICD_CTLR = 0x000;
export const GICD_TYPER = 0x004;
export const GICD_IIDR = 0x008;
export const GICD_IGROUPR = 0x080;
export const GICD_ISENABLER = 0x100;
export const GICD_ICENABLER = 0x180;
export const GICD_ISPENDR = 0x200;
export const GICD_ICPENDR = 0x280;
export const GICD_ISACTIVER = 0x300;
export const GICD_ICACTIVER = 0x380;
export const GICD_IPRIORITYR = 0x400;
export const GICD_ITARGETSR = 0x800;
export const GICD_ICFGR = 0xc00;
export const GICD_SGIR = 0xf00;
export const GICD_CPENDSGIR = 0xf10;
export const GICD_SPENDSGIR = 0xf20;
export const GICD_PIDR4 = 0xfd0;
export const GICD_PIDR0 = 0xfe0;
export const GICD_PIDR2 = 0xfe8;
export const GICD_CIDR0 = 0xff0;

/** CPU interface register offsets (8 KiB frame). */
export const GICC_CTLR = 0x00;
export const GICC_PMR = 0x04;
export const GICC_BPR = 0x08;
export const GICC_IAR = 0x0c;
export const GICC_EOIR = 0x10;
export const GICC_RPR = 0x14;
export const GICC_HPPIR = 0x18;
export const GICC_ABPR = 0x1c;
export const GICC_AIAR = 0x20;
export const GICC_AEOIR = 0x24;
export const GICC_AHPPIR = 0x28;
export const GICC_APR0 = 0xd0;
export const GICC_NSAPR0 = 0xe0;
export const GICC_IIDR = 0xfc;
export const GICC_DIR = 0x1000;

/** GICD_CTLR bits. */
export const GICD_CTLR_ENABLE_GRP0 = 1 << 0;
export const GICD_CTLR_ENABLE_GRP1 = 1 << 1;
/** GICC_CTLR bits (those a GICv2 without security extensions implements: 0x21f). */
export const GICC_CTLR_ENABLE_GRP0 = 1 << 0;
export const GICC_CTLR_ENABLE_GRP1 = 1 << 1;
export const GICC_CTLR_ACK_CTL = 1 << 2;
export const GICC_CTLR_FIQ_EN = 1 << 3;
export const GICC_CTLR_CBPR = 1 << 4;
export const GICC_CTLR_EOIMODE = 1 << 9;
const GICC_CTLR_MASK = 0x21f;

/** GICC_IAR: no pending interrupt (or not of sufficient priority). */
export const GIC_SPURIOUS = 1023;
/** GICC_IAR: the highest pending interrupt is group 1 and GICC_CTLR.AckCtl is 0. */
export const GIC_SPURIOUS_GROUP1 = 1022;

export const GICD_IIDR_VALUE = 0x43b;
export const GICC_IIDR_VALUE = 0x0002_043b;
/** PIDR4..7 at 0xFD0, PIDR0..3 at 0xFE0, CIDR0..3 at 0xFF0 (QEMU's GICv2 values). */
const GIC_ID_REGS = [0x04, 0x00, 0x00, 0x00, 0x90, 0xb4, 0x2b, 0x00, 0x0d, 0xf0, 0x05, 0xb1] as const;

const MIN_BPR = 0;
const MIN_ABPR = 1;
const NR_APRS = 4;
/** The running priority of an idle CPU interface (GICC_RPR reads 0xff). */
const IDLE_PRIORITY = 0x100;

export interface GicV2Outputs {
  irqLine(cpu: number, level: boolean): void;
  fiqLine?(cpu: number, level: boolean): void;
  deactivated?(intid: number, cpu: number): void;
}

export interface GicV2Options {
  /** CPU interfaces, 1..8. */
  cpus: number;
  /** SPIs (IDs 32 .. 32 + spis - 1), a multiple of 32 in 0..960; GICD_TYPER.ITLinesNumber = spis / 32. */
  spis: number;
  outputs: GicV2Outputs;
  /** Guest errors (bad accesses, UNPREDICTABLE writes) are reported here. */
  log?: (msg: string, fields?: object) => void;
}

/** The saved form of a GicV2 (plain, JSON-able). Per-CPU arrays have one entry per CPU (APRs: cpu * 4 + n). */
export interface GicV2State {
  version: 1;
  cpus: number;
  spis: number;
  /** GICD_CTLR. */
  dctlr: number;
  ctlr: number[];
  pmr: number[];
  bpr: number[];
  abpr: number[];
  apr: number[];
  nsapr: number[];
  irqs: IrqStateSnapshot;
}

type Access = 'read' | 'write';

export class GicV2 {
  readonly cpus: number;
  readonly spis: number;
  /** Number of interrupt IDs (32 + spis). */
  readonly lines: number;
  /** Count of guest errors logged since construction. */
  guestErrors = 0;

  private core: IrqStateCore;
  private dctlr = 0;
  private readonly ctlr: number[];
  private readonly pmr: number[];
  private readonly bpr: number[];
  private readonly abpr: number[];
  private readonly apr: number[][];
  private readonly nsapr: number[][];
  private readonly outIrq: boolean[];
  private readonly outFiq: boolean[];
  private readonly out: GicV2Outputs;
  private readonly log: ((msg: string, fields?: object) => void) | undefined;
  private updating = false;
  private dirty = false;

  constructor(options: GicV2Options) {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('GicV2 options must be an object');
    if (typeof options.outputs?.irqLine !== 'function') throw new InvalidArgumentError('GicV2 outputs.irqLine must be a function');
    this.core = new IrqStateCore(options.cpus, options.spis);
    this.cpus = options.cpus;
    this.spis = options.spis;
    this.lines = this.core.lines;
    this.out = options.outputs;
    this.log = options.log;
    const perCpu = <T>(f: () => T): T[] => Array.from({ length: this.cpus }, f);
    this.ctlr = perCpu(() => 0);
    this.pmr = perCpu(() => 0);
    this.bpr = perCpu(() => MIN_BPR);
    this.abpr = perCpu(() => MIN_ABPR);
    this.apr = perCpu(() => new Array<number>(NR_APRS).fill(0));
    this.nsapr = perCpu(() => new Array<number>(NR_APRS).fill(0));
    this.outIrq = perCpu(() => false);
    this.outFiq = perCpu(() => false);
  }

  // ---- inputs ----------------------------------------------------------------

  /** Drives PPI `intid` (16..31) of `cpu` (e.g. the timers: vtimer 27, ptimer 30, PMU 23). */
  setPpi(cpu: number, intid: number, level: boolean): void {
    this.checkCpu(cpu);
    if (!Number.isInteger(intid) || intid < GIC_NR_SGIS || intid >= GIC_INTERNAL) {
      throw new InvalidArgumentError(`GICv2 PPI ${String(intid)} outside 16..31`);
    }
    if (this.core.setLine(intid, cpu, level)) this.update();
  }

  /** Drives SPI `intid` (32 .. lines - 1). An edge-configured SPI latches on a rising edge. */
  setSpi(intid: number, level: boolean): void {
    if (!Number.isInteger(intid) || intid < GIC_INTERNAL || intid >= this.lines) {
      throw new InvalidArgumentError(`GICv2 SPI ${String(intid)} outside 32..${this.lines - 1}`);
    }
    if (this.core.setLine(intid, 0, level)) this.update();
  }

  /** Back to reset values (line levels kept); outputs that were high fall. */
  reset(): void {
    this.core.reset();
    this.dctlr = 0;
    for (let c = 0; c < this.cpus; c++) {
      this.ctlr[c] = 0;
      this.pmr[c] = 0;
      this.bpr[c] = MIN_BPR;
      this.abpr[c] = MIN_ABPR;
      this.apr[c]!.fill(0);
      this.nsapr[c]!.fill(0);
    }
    this.update();
  }

  // ---- queries (tests, traces) ---------------------------------------------

  /** The IRQ output of `cpu` as last reported through irqLine. */
  irqLevel(cpu: number): boolean {
    this.checkCpu(cpu);
    return this.outIrq[cpu]!;
  }

  /** The FIQ output of `cpu` as last reported through fiqLine. */
  fiqLevel(cpu: number): boolean {
    this.checkCpu(cpu);
    return this.outFiq[cpu]!;
  }

  /** One interrupt's state as seen by `cpu` (its bank for IDs 0..31). */
  state(intid: number, cpu = 0): IrqView {
    this.checkCpu(cpu);
    return this.core.view(intid, cpu);
  }

  /** The running priority of `cpu`: the highest active group priority, 0x100 when idle. */
  runningPriority(cpu: number): number {
    this.checkCpu(cpu);
    for (let i = 0; i < NR_APRS; i++) {
      const a = (this.apr[cpu]![i]! | this.nsapr[cpu]![i]!) >>> 0;
      if (a !== 0) return (i * 32 + ctz32(a)) << (MIN_BPR + 1);
    }
    return IDLE_PRIORITY;
  }

  /** The ID `cpu`'s highest pending interrupt (priority < PMR, group enabled), 1023 if none; without side effects. */
  highestPending(cpu: number): number {
    this.checkCpu(cpu);
    const id = this.best(cpu);
    return id < 0 ? GIC_SPURIOUS : id;
  }

  // ---- distributor -----------------------------------------------------------

  /** A read of the distributor frame at `offset` by `cpu` (the banked registers are that CPU's). */
  distRead(offset: number, size: number, cpu = 0): number {
    this.checkCpu(cpu);
    if (!this.distAccessOk(offset, size, 'read', cpu)) return 0;
    if (size === 1) return this.distReadByte(offset, cpu);
    if (isByteRegister(offset)) {
      if (!this.byteRegisterExists(offset)) return this.badOffset(offset, 'read', cpu);
      let v = 0;
      for (let i = 0; i < 4; i++) v |= this.distReadByte(offset + i, cpu) << (8 * i);
      return v >>> 0;
    }
    return this.distReadWord(offset, cpu) >>> 0;
  }

  /** A write to the distributor frame at `offset` by `cpu`. */
  distWrite(offset: number, size: number, value: number, cpu = 0): void {
    this.checkCpu(cpu);
    if (!this.distAccessOk(offset, size, 'write', cpu)) return;
    const v = size === 1 ? value & 0xff : value >>> 0;
    const deactivated: number[] = [];
    if (size === 1) this.distWriteByte(offset, v, cpu);
    else if (isByteRegister(offset)) {
      if (!this.byteRegisterExists(offset)) this.badOffset(offset, 'write', cpu);
      else for (let i = 0; i < 4; i++) this.distWriteByte(offset + i, (v >>> (8 * i)) & 0xff, cpu);
    }
    else this.distWriteWord(offset, v, cpu, deactivated);
    for (const id of deactivated) this.out.deactivated?.(id, cpu);
    this.update();
  }

  private distAccessOk(offset: number, size: number, access: Access, cpu: number): boolean {
    if (!Number.isInteger(offset) || offset < 0 || offset >= 0x1000) {
      this.guestError(`distributor ${access} outside the 4 KiB frame`, { offset, size, cpu });
      return false;
    }
    const ok = (size === 4 && (offset & 3) === 0) || (size === 1 && isByteRegister(offset));
    if (!ok) this.guestError(`distributor ${size}-byte ${access} at 0x${offset.toString(16)} (word-only, or unaligned)`, { offset, size, cpu });
    return ok;
  }

  /** False for the IPRIORITYR/ITARGETSR bytes of interrupt IDs that do not exist (a word's 4 IDs all exist or none). */
  private byteRegisterExists(offset: number): boolean {
    if (offset >= GICD_IPRIORITYR && offset < GICD_ICFGR) return this.core.has((offset - GICD_IPRIORITYR) & 0x3ff);
    return true;
  }

  private distReadByte(offset: number, cpu: number): number {
    if (offset >= GICD_IPRIORITYR && offset < GICD_ITARGETSR) {
      const id = offset - GICD_IPRIORITYR;
      return this.core.has(id) ? this.core.priority(id, cpu) : this.badOffset(offset, 'read', cpu);
    }
    if (offset >= GICD_ITARGETSR && offset < GICD_ICFGR) {
      const id = offset - GICD_ITARGETSR;
      if (!this.core.has(id)) return this.badOffset(offset, 'read', cpu);
      if (this.cpus === 1) return 0;
      return this.core.targets(id, cpu);
    }
    // CPENDSGIR / SPENDSGIR: one byte per SGI, a bit per source CPU.
    return this.core.sgiSources((offset - GICD_CPENDSGIR) & 0xf, cpu);
  }

  private distWriteByte(offset: number, v: number, cpu: number): void {
    if (offset >= GICD_IPRIORITYR && offset < GICD_ITARGETSR) {
      const id = offset - GICD_IPRIORITYR;
      if (this.core.has(id)) this.core.setPriority(id, cpu, v);
      else this.badOffset(offset, 'write', cpu);
      return;
    }
    if (offset >= GICD_ITARGETSR && offset < GICD_ICFGR) {
      const id = offset - GICD_ITARGETSR;
      if (!this.core.has(id)) return void this.badOffset(offset, 'write', cpu);
      // RO for SGIs and PPIs, RAZ/WI on a uniprocessor GIC.
      if (this.cpus > 1 && id >= GIC_INTERNAL) this.core.setTargets(id, v);
      return;
    }
    const sgi = (offset - GICD_CPENDSGIR) & 0xf;
    if (offset < GICD_SPENDSGIR) this.core.clearSgiSources(sgi, cpu, v);
    else this.core.addSgiSources(sgi, cpu, v);
  }

  private distReadWord(offset: number, cpu: number): number {
    if (offset === GICD_CTLR) return this.dctlr;
    if (offset === GICD_TYPER) return ((this.lines / 32) - 1) | ((this.cpus - 1) << 5);
    if (offset === GICD_IIDR) return GICD_IIDR_VALUE;
    if (offset >= GICD_IGROUPR && offset < GICD_IPRIORITYR) {
      const base = offset & ~0x7f;
      const first = ((offset - base) >> 2) * 32;
      if (first >= this.lines) return this.badOffset(offset, 'read', cpu);
      let v = 0;
      for (let i = 0; i < 32; i++) {
        const id = first + i;
        let bit: boolean;
        switch (base) {
          case GICD_IGROUPR: bit = this.core.group(id, cpu) === 1; break;
          case GICD_ISENABLER: case GICD_ICENABLER: bit = this.core.isEnabled(id, cpu); break;
          case GICD_ISPENDR: case GICD_ICPENDR: bit = this.core.isPending(id, cpu); break;
          default: bit = this.core.isActive(id, cpu); break;
        }
        if (bit) v |= 1 << i;
      }
      return v;
    }
    if (offset >= GICD_ICFGR && offset < 0xd00) {
      const first = (offset - GICD_ICFGR) * 4;
      if (first >= this.lines) return this.badOffset(offset, 'read', cpu);
      let v = 0;
      for (let i = 0; i < 16; i++) if (this.core.trigger(first + i, cpu) === 'edge') v |= 2 << (2 * i);
      return v;
    }
    if (offset >= GICD_PIDR4) return GIC_ID_REGS[(offset - GICD_PIDR4) >> 2]!;
    if (offset === GICD_SGIR) {
      this.guestError('read of write-only GICD_SGIR', { offset, cpu });
      return 0;
    }
    return this.badOffset(offset, 'read', cpu);
  }

  private distWriteWord(offset: number, v: number, cpu: number, deactivated: number[]): void {
    if (offset === GICD_CTLR) {
      this.dctlr = v & (GICD_CTLR_ENABLE_GRP0 | GICD_CTLR_ENABLE_GRP1);
      return;
    }
    if (offset === GICD_TYPER || offset === GICD_IIDR || offset >= GICD_PIDR4) {
      this.guestError(`write to read-only register at 0x${offset.toString(16)}`, { offset, value: v, cpu });
      return;
    }
    if (offset === GICD_SGIR) return this.writeSgir(v, cpu);
    if (offset >= GICD_IGROUPR && offset < GICD_IPRIORITYR) {
      const base = offset & ~0x7f;
      const first = ((offset - base) >> 2) * 32;
      if (first >= this.lines) return void this.badOffset(offset, 'write', cpu);
      for (let i = 0; i < 32; i++) {
        const id = first + i;
        const bit = ((v >>> i) & 1) === 1;
        if (base === GICD_IGROUPR) {
          this.core.setGroup(id, cpu, bit ? 1 : 0);
          continue;
        }
        if (!bit) continue;
        switch (base) {
          case GICD_ISENABLER: if (id >= GIC_NR_SGIS) this.core.setEnabled(id, cpu, true); break;
          case GICD_ICENABLER: if (id >= GIC_NR_SGIS) this.core.setEnabled(id, cpu, false); break;
          case GICD_ISPENDR: if (id >= GIC_NR_SGIS) this.core.setPending(id, cpu); break;
          case GICD_ICPENDR: if (id >= GIC_NR_SGIS) this.core.clearPending(id, cpu); break;
          case GICD_ISACTIVER: this.core.setActive(id, cpu); break;
          default: if (this.core.clearActive(id, cpu)) deactivated.push(id); break;
        }
      }
      return;
    }
    if (offset >= GICD_ICFGR && offset < 0xd00) {
      const first = (offset - GICD_ICFGR) * 4;
      if (first >= this.lines) return void this.badOffset(offset, 'write', cpu);
      for (let i = 0; i < 16; i++) {
        if (first + i < GIC_NR_SGIS) continue; // SGIs: read-only edge
        this.core.setTrigger(first + i, cpu, ((v >>> (2 * i + 1)) & 1) === 1 ? 'edge' : 'level');
      }
      return;
    }
    this.badOffset(offset, 'write', cpu);
  }

  private writeSgir(v: number, cpu: number): void {
    const sgi = v & 0xf;
    const filter = (v >>> 24) & 3;
    let mask: number;
    if (filter === 0) mask = (v >>> 16) & 0xff;
    else if (filter === 1) mask = this.core.cpuMask & ~(1 << cpu);
    else if (filter === 2) mask = 1 << cpu;
    else {
      this.guestError('GICD_SGIR with the reserved TargetListFilter 3', { value: v, cpu });
      return;
    }
    this.core.sendSgi(sgi, cpu, mask);
  }

  // ---- CPU interface -------------------------------------------------------

  /** A read of `cpu`'s CPU interface frame at `offset`. GICC_IAR/AIAR reads acknowledge. */
  cpuRead(cpu: number, offset: number, size: number): number {
    this.checkCpu(cpu);
    if (!this.cpuAccessOk(cpu, offset, size, 'read')) return 0;
    switch (offset) {
      case GICC_CTLR: return this.ctlr[cpu]!;
      case GICC_PMR: return this.pmr[cpu]!;
      case GICC_BPR: return this.bpr[cpu]!;
      case GICC_IAR: return this.acknowledge(cpu, false);
      case GICC_RPR: return Math.min(this.runningPriority(cpu), 0xff);
      case GICC_HPPIR: return this.hppir(cpu, false);
      case GICC_ABPR: return this.abpr[cpu]!;
      case GICC_AIAR: return this.acknowledge(cpu, true);
      case GICC_AHPPIR: return this.hppir(cpu, true);
      case GICC_IIDR: return GICC_IIDR_VALUE;
      case GICC_EOIR: case GICC_AEOIR: case GICC_DIR:
        this.guestError(`read of write-only CPU interface register at 0x${offset.toString(16)}`, { cpu, offset });
        return 0;
      default:
        if (offset >= GICC_APR0 && offset < GICC_APR0 + 4 * NR_APRS) return this.apr[cpu]![(offset - GICC_APR0) >> 2]! >>> 0;
        if (offset >= GICC_NSAPR0 && offset < GICC_NSAPR0 + 4 * NR_APRS) return this.nsapr[cpu]![(offset - GICC_NSAPR0) >> 2]! >>> 0;
        this.guestError(`CPU interface read at unimplemented offset 0x${offset.toString(16)}`, { cpu, offset });
        return 0;
    }
  }

  /** A write to `cpu`'s CPU interface frame at `offset`. */
  cpuWrite(cpu: number, offset: number, size: number, value: number): void {
    this.checkCpu(cpu);
    if (!this.cpuAccessOk(cpu, offset, size, 'write')) return;
    const v = value >>> 0;
    switch (offset) {
      case GICC_CTLR: this.ctlr[cpu] = v & GICC_CTLR_MASK; break;
      case GICC_PMR: this.pmr[cpu] = v & 0xff; break;
      case GICC_BPR: this.bpr[cpu] = Math.max(v & 7, MIN_BPR); break;
      case GICC_ABPR: this.abpr[cpu] = Math.max(v & 7, MIN_ABPR); break;
      case GICC_EOIR: return this.endOfInterrupt(cpu, v, false);
      case GICC_AEOIR: return this.endOfInterrupt(cpu, v, true);
      case GICC_DIR: return this.deactivate(cpu, v);
      case GICC_IAR: case GICC_RPR: case GICC_HPPIR: case GICC_AIAR: case GICC_AHPPIR: case GICC_IIDR:
        this.guestError(`write to read-only CPU interface register at 0x${offset.toString(16)}`, { cpu, offset, value: v });
        return;
      default:
        if (offset >= GICC_APR0 && offset < GICC_APR0 + 4 * NR_APRS) this.apr[cpu]![(offset - GICC_APR0) >> 2] = v;
        else if (offset >= GICC_NSAPR0 && offset < GICC_NSAPR0 + 4 * NR_APRS) this.nsapr[cpu]![(offset - GICC_NSAPR0) >> 2] = v;
        else {
          this.guestError(`CPU interface write at unimplemented offset 0x${offset.toString(16)}`, { cpu, offset, value: v });
          return;
        }
    }
    this.update();
  }

  private cpuAccessOk(cpu: number, offset: number, size: number, access: Access): boolean {
    const ok = Number.isInteger(offset) && offset >= 0 && offset < 0x2000 && size === 4 && (offset & 3) === 0;
    if (!ok) this.guestError(`CPU interface ${size}-byte ${access} at 0x${Number(offset).toString(16)} (word-only, aligned, in the 8 KiB frame)`, { cpu, offset, size });
    return ok;
  }

  /** The group priority of `intid` on `cpu`: its priority with the bits below the binary point cleared. */
  private groupPriority(cpu: number, intid: number): number {
    const g = this.core.group(intid, cpu);
    const bpr = g === 1 && (this.ctlr[cpu]! & GICC_CTLR_CBPR) === 0 ? this.abpr[cpu]! - 1 : this.bpr[cpu]!;
    return this.core.priority(intid, cpu) & (0xff << (bpr + 1)) & 0xff;
  }

  /** The highest pending interrupt for `cpu` (see the module comment), or -1. */
  private best(cpu: number): number {
    const groups = this.dctlr & this.ctlr[cpu]! & 3;
    if (groups === 0) return -1;
    const id = this.core.highestPendingCandidate(cpu, groups);
    if (id < 0 || this.core.priority(id, cpu) >= this.pmr[cpu]!) return -1;
    return id;
  }

  private hppir(cpu: number, aliased: boolean): number {
    const id = this.best(cpu);
    if (id < 0) return GIC_SPURIOUS;
    const g = this.core.group(id, cpu);
    if (aliased && g === 0) return GIC_SPURIOUS;
    if (!aliased && g === 1 && (this.ctlr[cpu]! & GICC_CTLR_ACK_CTL) === 0) return GIC_SPURIOUS_GROUP1;
    if (id < GIC_NR_SGIS) {
      const src = this.core.sgiSources(id, cpu);
      return id | (ctz32(src) << 10);
    }
    return id;
  }

  private acknowledge(cpu: number, aliased: boolean): number {
    const id = this.best(cpu);
    if (id < 0) return GIC_SPURIOUS;
    const g = this.core.group(id, cpu);
    if (aliased && g === 0) return GIC_SPURIOUS;
    if (!aliased && g === 1 && (this.ctlr[cpu]! & GICC_CTLR_ACK_CTL) === 0) return GIC_SPURIOUS_GROUP1;
    const prio = this.groupPriority(cpu, id);
    if (prio >= this.runningPriority(cpu)) return GIC_SPURIOUS;
    // Raise the running priority: the active-priority bit of the interrupt's preemption level.
    const level = prio >> (MIN_BPR + 1);
    const regs = g === 1 ? this.nsapr[cpu]! : this.apr[cpu]!;
    regs[level >> 5] = (regs[level >> 5]! | (1 << (level & 31))) >>> 0;
    const value = this.core.acknowledge(id, cpu);
    this.update();
    return value;
  }

  private endOfInterrupt(cpu: number, value: number, aliased: boolean): void {
    const id = value & 0x3ff;
    const reg = aliased ? 'GICC_AEOIR' : 'GICC_EOIR';
    if (id >= this.lines) {
      // 1020..1023: the spurious IDs, ignored by the architecture. Others: UNPREDICTABLE, ignored.
      if (id < 1020) this.guestError(`${reg} of nonexistent interrupt ${id}`, { cpu, value });
      return;
    }
    if (this.runningPriority(cpu) === IDLE_PRIORITY) {
      this.guestError(`${reg} of interrupt ${id} with no active priority`, { cpu, value });
      return;
    }
    if (!this.core.isActive(id, cpu)) {
      this.guestError(`${reg} of interrupt ${id}, which is not active`, { cpu, value });
      return;
    }
    const g = this.core.group(id, cpu);
    if (aliased && g === 0) {
      this.guestError(`GICC_AEOIR of group 0 interrupt ${id}`, { cpu, value });
      return;
    }
    // Priority drop: the lowest set bit of the group's active-priority registers.
    const regs = g === 1 ? this.nsapr[cpu]! : this.apr[cpu]!;
    for (let i = 0; i < NR_APRS; i++) {
      if (regs[i] !== 0) {
        regs[i] = (regs[i]! & (regs[i]! - 1)) >>> 0;
        break;
      }
    }
    if ((this.ctlr[cpu]! & GICC_CTLR_EOIMODE) === 0 && this.core.clearActive(id, cpu)) this.out.deactivated?.(id, cpu);
    this.update();
  }

  private deactivate(cpu: number, value: number): void {
    const id = value & 0x3ff;
    if (id >= this.lines) {
      if (id < 1020) this.guestError(`GICC_DIR of nonexistent interrupt ${id}`, { cpu, value });
      return;
    }
    if ((this.ctlr[cpu]! & GICC_CTLR_EOIMODE) === 0) {
      this.guestError(`GICC_DIR of interrupt ${id} with GICC_CTLR.EOImode 0`, { cpu, value });
      return;
    }
    if (!this.core.clearActive(id, cpu)) {
      this.guestError(`GICC_DIR of interrupt ${id}, which is not active`, { cpu, value });
      return;
    }
    this.out.deactivated?.(id, cpu);
    this.update();
  }

  // ---- outputs -----------------------------------------------------------------

  /** Recomputes every CPU's IRQ and FIQ outputs and reports the ones that changed. */
  private update(): void {
    if (this.updating) {
      this.dirty = true;
      return;
    }
    this.updating = true;
    try {
      do {
        this.dirty = false;
        for (let cpu = 0; cpu < this.cpus; cpu++) {
          let irq = false;
          let fiq = false;
          const id = this.best(cpu);
          if (id >= 0 && this.groupPriority(cpu, id) < this.runningPriority(cpu)) {
            if (this.core.group(id, cpu) === 0 && (this.ctlr[cpu]! & GICC_CTLR_FIQ_EN) !== 0) fiq = true;
            else irq = true;
          }
          if (irq !== this.outIrq[cpu]) {
            this.outIrq[cpu] = irq;
            this.out.irqLine(cpu, irq);
          }
          if (fiq !== this.outFiq[cpu]) {
            this.outFiq[cpu] = fiq;
            this.out.fiqLine?.(cpu, fiq);
          }
        }
      } while (this.dirty);
    } finally {
      this.updating = false;
    }
  }

  // ---- saved state -------------------------------------------------------------

  snapshot(): GicV2State {
    return {
      version: 1, cpus: this.cpus, spis: this.spis, dctlr: this.dctlr,
      ctlr: [...this.ctlr], pmr: [...this.pmr], bpr: [...this.bpr], abpr: [...this.abpr],
      apr: this.apr.flat(), nsapr: this.nsapr.flat(),
      irqs: this.core.snapshot(),
    };
  }

  /**
   * Replaces this GIC's state with `snapshot()`'s (taken from a GIC of the same size). Validates everything
   * first and throws InvalidArgumentError (naming the field) on a malformed state, leaving this GIC untouched.
   * The outputs are then recomputed and reported where they differ from what was last reported.
   */
  restore(state: GicV2State): void {
    const r = StateReader.open('GICv2', state, 1);
    r.int('cpus', this.cpus, this.cpus);
    r.int('spis', this.spis, this.spis);
    const dctlr = r.bits('dctlr', GICD_CTLR_ENABLE_GRP0 | GICD_CTLR_ENABLE_GRP1);
    const ctlr = r.ints('ctlr', this.cpus, 0, 0xffff_ffff);
    ctlr.forEach((c, i) => r.check((c & ~GICC_CTLR_MASK) === 0, `ctlr[${i}] has bits outside 0x${GICC_CTLR_MASK.toString(16)}`));
    const pmr = r.ints('pmr', this.cpus, 0, 0xff);
    const bpr = r.ints('bpr', this.cpus, MIN_BPR, 7);
    const abpr = r.ints('abpr', this.cpus, MIN_ABPR, 7);
    const apr = r.ints('apr', this.cpus * NR_APRS, 0, 0xffff_ffff);
    const nsapr = r.ints('nsapr', this.cpus * NR_APRS, 0, 0xffff_ffff);
    r.object('irqs');
    const core = IrqStateCore.restore((state as unknown as Record<string, unknown>)['irqs'], 'GICv2 irqs');
    r.check(core.cpus === this.cpus && core.spis === this.spis, 'irqs has a different size from the GIC');
    this.core = core;
    this.dctlr = dctlr;
    for (let c = 0; c < this.cpus; c++) {
      this.ctlr[c] = ctlr[c]!;
      this.pmr[c] = pmr[c]!;
      this.bpr[c] = bpr[c]!;
      this.abpr[c] = abpr[c]!;
      for (let i = 0; i < NR_APRS; i++) {
        this.apr[c]![i] = apr[c * NR_APRS + i]!;
        this.nsapr[c]![i] = nsapr[c * NR_APRS + i]!;
      }
    }
    this.update();
  }

  // ---- helpers -----------------------------------------------------------------

  private checkCpu(cpu: number): void {
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= this.cpus) {
      throw new InvalidArgumentError(`GICv2 CPU ${String(cpu)} outside 0..${this.cpus - 1}`);
    }
  }

  private badOffset(offset: number, access: Access, cpu: number): number {
    this.guestError(`distributor ${access} at unimplemented or reserved offset 0x${offset.toString(16)}`, { offset, cpu });
    return 0;
  }

  private guestError(what: string, fields?: object): void {
    this.guestErrors++;
    this.log?.(`gicv2: ${what}`, fields);
  }
}

/** IPRIORITYR, ITARGETSR, CPENDSGIR and SPENDSGIR take byte accesses; everything else is word-only. */
function isByteRegister(offset: number): boolean {
  return (offset >= GICD_IPRIORITYR && offset < GICD_ICFGR) || (offset >= GICD_CPENDSGIR && offset < GICD_SPENDSGIR + 0x10);
}

function ctz32(v: number): number {
  return v === 0 ? 32 : 31 - Math.clz32(v & -v);
}

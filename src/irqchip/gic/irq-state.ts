/**
 * The IRQ-state core of the userspace GIC: what every interrupt ID is
 * (enabled, trigger, input line, pending latch, active, priority, group,
 * targets), with the state rules in one place so that any register front
 * end (the GICv2 distributor and CPU interface in gicv2.ts today) applies
 * the same semantics. A pure state machine: no outputs, no logging, no
 * priority arbitration (that is the front end's CPU interface).
 *
 * Banking: IDs 0..31 (16 SGIs, 16 PPIs) have one copy of every field per
 * CPU; IDs 32.. (SPIs) have one copy shared by all CPUs, and their `cpu`
 * argument is ignored. An SPI is one interrupt (the GICv2 1-N model): it
 * has a single pending and a single active state, whichever CPU takes it.
 *
 * The rules (DESIGN.md "Kernel contracts that bite (arm64)", seeds 000 and
 * 003):
 *  - active is only ever changed by acknowledge, deactivate and the
 *    set/clear-active calls: line changes, pend/unpend, enable, trigger
 *    changes and priority changes never touch it;
 *  - an edge interrupt latches pending on a rising edge of its line (a
 *    line already high does not latch again, a falling edge changes
 *    nothing);
 *  - a level interrupt is pending while its line is high OR its latch (a
 *    soft pend, GICD_ISPENDR) is set;
 *  - clearPending (GICD_ICPENDR) clears the latch; a level interrupt whose
 *    line is high stays pending;
 *  - acknowledge of an edge interrupt clears the latch and sets active;
 *    acknowledge of a level interrupt clears the latch, sets active and
 *    leaves pending equal to the line;
 *  - SGIs are edge, have no line, and keep one pending bit per source CPU
 *    (per target CPU): acknowledge takes the lowest source, returns it in
 *    bits 12:10 and clears only that source; the SGI stays pending while
 *    other sources remain;
 *  - nothing here looks at enables of the distributor, the CPU interface
 *    or the interrupt: a line raised while any of them is off is latched
 *    (edge) or held (level) and becomes visible when they are turned on.
 *    Nothing is dropped and nothing is acknowledged on the guest's behalf.
 *
 * Reset clears everything guest-programmed and every latch, but keeps the
 * input line levels: those are wires driven by devices, and a level device
 * that stays asserted across a GIC reset must still be seen afterwards.
 */
import { InvalidArgumentError } from '../../errors.js';
import { StateReader } from '../../devices/state.js';

/** SGIs are IDs 0..15. */
export const GIC_NR_SGIS = 16;
/** SGIs and PPIs (IDs 0..31) are banked per CPU. */
export const GIC_INTERNAL = 32;
/** A GICv2 serves at most 8 CPU interfaces (the target masks are 8 bits wide). */
export const GIC_MAX_CPUS = 8;
/** IDs 1020..1023 are special; at most 1020 interrupt IDs exist. */
export const GIC_MAX_IRQS = 1020;
/** The most SPIs a GIC with a whole number of 32-ID register words can have (32 + 960 = 992 IDs). */
export const GIC_MAX_SPIS = 960;

export type IrqTrigger = 'edge' | 'level';

/** A read-only view of one interrupt as seen by one CPU (for tests and traces). */
export interface IrqView {
  intid: number;
  /** The CPU whose bank was read (IDs 0..31); for SPIs, the CPU that asked. */
  cpu: number;
  enabled: boolean;
  trigger: IrqTrigger;
  /** Input line level (always false for SGIs, which have no line). */
  line: boolean;
  /** Edge latch or soft pend (for SGIs: any source bit set). */
  latch: boolean;
  /** The pending state the rules give: see the module comment. */
  pending: boolean;
  active: boolean;
  priority: number;
  /** 0 or 1 (GICD_IGROUPR). */
  group: number;
  /** CPU target mask: for SPIs the programmed targets, for SGIs/PPIs 1 << cpu. */
  targets: number;
  /** SGIs only: the mask of source CPUs for which this SGI is pending on `cpu` (0 otherwise). */
  sgiSources: number;
}

/** The saved form of the core; flags are 0/1, one entry per slot (see IrqStateCore.slot order). */
export interface IrqStateSnapshot {
  version: 1;
  cpus: number;
  spis: number;
  enabled: number[];
  edge: number[];
  line: number[];
  latch: number[];
  active: number[];
  priority: number[];
  group: number[];
  /** One per SPI. */
  targets: number[];
  /** One per (target CPU, SGI): index cpu * 16 + sgi, a mask of source CPUs. */
  sgiSources: number[];
}

/**
 * Per-interrupt state for `cpus` CPUs and `spis` shared peripheral
 * interrupts (IDs 32 .. 32 + spis - 1).
 */
export class IrqStateCore {
  readonly cpus: number;
  readonly spis: number;
  /** Number of interrupt IDs, SGIs and PPIs included (32 + spis). */
  readonly lines: number;
  private readonly slots: number;
  private readonly enabled: Uint8Array;
  /**
   * IDs below this bound are all arbitration has to look at: above it no SPI
   * was ever enabled (it only grows until a reset or restore; a disabled ID is
   * skipped anyway). A guest enabling the timer PPI and a few SPIs is scanned
   * over a few dozen IDs instead of every line, at every register access.
   */
  private scanLimit = GIC_INTERNAL;
  private readonly edge: Uint8Array;
  private readonly line: Uint8Array;
  private readonly latch: Uint8Array;
  private readonly active: Uint8Array;
  private readonly prio: Uint8Array;
  private readonly grp: Uint8Array;
  private readonly target: Uint8Array;
  private readonly sgiSrc: Uint8Array;
  /**
   * One bit per slot, set while it is pending (SGIs: any source; edge: the latch; level: the latch or the
   * line), kept by every change of those. Arbitration then visits the pending slots alone instead of every
   * ID below scanLimit: a tick of the vtimer looks at one or two, not the 16 SGIs and every enabled ID.
   */
  private readonly pend: Uint32Array;

  constructor(cpus: number, spis: number) {
    if (!Number.isInteger(cpus) || cpus < 1 || cpus > GIC_MAX_CPUS) {
      throw new InvalidArgumentError(`GIC cpus must be an integer in 1..${GIC_MAX_CPUS}, got ${String(cpus)}`);
    }
    if (!Number.isInteger(spis) || spis < 0 || spis % 32 !== 0 || spis > GIC_MAX_SPIS) {
      throw new InvalidArgumentError(`GIC spis must be a multiple of 32 in 0..${GIC_MAX_SPIS}, got ${String(spis)}`);
    }
    this.cpus = cpus;
    this.spis = spis;
    this.lines = GIC_INTERNAL + spis;
    this.slots = cpus * GIC_INTERNAL + spis;
    this.enabled = new Uint8Array(this.slots);
    this.edge = new Uint8Array(this.slots);
    this.line = new Uint8Array(this.slots);
    this.latch = new Uint8Array(this.slots);
    this.active = new Uint8Array(this.slots);
    this.prio = new Uint8Array(this.slots);
    this.grp = new Uint8Array(this.slots);
    this.target = new Uint8Array(spis);
    this.sgiSrc = new Uint8Array(cpus * GIC_NR_SGIS);
    this.pend = new Uint32Array(this.slots / 32);
    this.reset();
  }

  /** Mask of the CPUs that exist. */
  get cpuMask(): number {
    return (1 << this.cpus) - 1;
  }

  /** True if `intid` is an implemented interrupt ID. */
  has(intid: number): boolean {
    return Number.isInteger(intid) && intid >= 0 && intid < this.lines;
  }

  /**
   * The storage slot of (intid, cpu): CPU c's SGIs/PPIs are slots c*32 .. c*32+31, SPIs follow all banks.
   * Throws InvalidArgumentError on an ID or CPU that does not exist (a VMM bug, never a guest action).
   */
  slot(intid: number, cpu: number): number {
    if (!this.has(intid)) throw new InvalidArgumentError(`GIC interrupt ID ${String(intid)} outside 0..${this.lines - 1}`);
    if (intid >= GIC_INTERNAL) return this.cpus * GIC_INTERNAL + (intid - GIC_INTERNAL);
    this.checkCpu(cpu);
    return cpu * GIC_INTERNAL + intid;
  }

  private checkCpu(cpu: number): void {
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= this.cpus) {
      throw new InvalidArgumentError(`GIC CPU ${String(cpu)} outside 0..${this.cpus - 1}`);
    }
  }

  /** Back to reset values: SGIs enabled and edge, everything else disabled, level, priority 0, group 0, untargeted. Line levels are kept. */
  reset(): void {
    this.enabled.fill(0);
    this.scanLimit = Math.min(GIC_INTERNAL, this.lines);
    this.edge.fill(0);
    this.latch.fill(0);
    this.active.fill(0);
    this.prio.fill(0);
    this.grp.fill(0);
    this.sgiSrc.fill(0);
    // A uniprocessor GIC's interrupts all target the one CPU.
    this.target.fill(this.cpus === 1 ? 1 : 0);
    for (let c = 0; c < this.cpus; c++) {
      for (let i = 0; i < GIC_NR_SGIS; i++) {
        this.enabled[c * GIC_INTERNAL + i] = 1;
        this.edge[c * GIC_INTERNAL + i] = 1;
      }
    }
    this.recomputePending();
  }

  /** Sets slot `s`'s bit in `pend` from its state (`sgi`: the sgiSrc index for an SGI's slot, else -1). */
  private refresh(s: number, sgi: number): void {
    const on = sgi >= 0 ? this.sgiSrc[sgi] !== 0 : this.latch[s] === 1 || (this.edge[s] === 0 && this.line[s] === 1);
    const bit = 1 << (s & 31);
    if (on) this.pend[s >>> 5]! |= bit;
    else this.pend[s >>> 5]! &= ~bit;
  }

  private recomputePending(): void {
    this.pend.fill(0);
    for (let s = 0; s < this.slots; s++) {
      const id = s < this.cpus * GIC_INTERNAL ? s % GIC_INTERNAL : GIC_INTERNAL;
      this.refresh(s, id < GIC_NR_SGIS ? ((s / GIC_INTERNAL) | 0) * GIC_NR_SGIS + id : -1);
    }
  }

  // ---- configuration -------------------------------------------------------

  isEnabled(intid: number, cpu: number): boolean {
    return this.enabled[this.slot(intid, cpu)] === 1;
  }

  /**
   * Enables or disables forwarding of the interrupt. Pending and active are untouched (a disabled interrupt still
   * latches). SGIs are always enabled (the call is ignored for them, as GICD_I[SC]ENABLER0's SGI bits are, and as
   * restore() requires).
   */
  setEnabled(intid: number, cpu: number, on: boolean): void {
    const s = this.slot(intid, cpu);
    if (intid < GIC_NR_SGIS) return;
    this.enabled[s] = on ? 1 : 0;
    if (on && intid >= this.scanLimit) this.scanLimit = intid + 1;
  }

  trigger(intid: number, cpu: number): IrqTrigger {
    return this.edge[this.slot(intid, cpu)] === 1 ? 'edge' : 'level';
  }

  /**
   * Sets edge or level. SGIs are always edge (the call is ignored for them). The latch is kept: a latched edge
   * becomes a soft pend of the level interrupt and vice versa; a high line does not latch on a switch to edge.
   */
  setTrigger(intid: number, cpu: number, t: IrqTrigger): void {
    const s = this.slot(intid, cpu);
    if (intid < GIC_NR_SGIS) return;
    this.edge[s] = t === 'edge' ? 1 : 0;
    this.refresh(s, -1);
  }

  priority(intid: number, cpu: number): number {
    return this.prio[this.slot(intid, cpu)]!;
  }

  setPriority(intid: number, cpu: number, value: number): void {
    this.prio[this.slot(intid, cpu)] = value & 0xff;
  }

  group(intid: number, cpu: number): number {
    return this.grp[this.slot(intid, cpu)]!;
  }

  setGroup(intid: number, cpu: number, g: number): void {
    this.grp[this.slot(intid, cpu)] = g & 1;
  }

  /** The CPU target mask of an SPI; SGIs and PPIs always target their own CPU (1 << cpu). */
  targets(intid: number, cpu: number): number {
    const s = this.slot(intid, cpu);
    return intid < GIC_INTERNAL ? 1 << cpu : this.target[s - this.cpus * GIC_INTERNAL]!;
  }

  /** Sets an SPI's target mask (bits of CPUs that do not exist are dropped). Ignored for SGIs and PPIs. */
  setTargets(intid: number, mask: number): void {
    const s = this.slot(intid, 0);
    if (intid < GIC_INTERNAL) return;
    this.target[s - this.cpus * GIC_INTERNAL] = mask & this.cpuMask;
  }

  /** True if the interrupt targets `cpu` (always, for SGIs and PPIs). */
  targetsCpu(intid: number, cpu: number): boolean {
    return ((this.targets(intid, cpu) >>> cpu) & 1) === 1;
  }

  // ---- line, pending, active ----------------------------------------------

  /** The input line level (SGIs have none: false). */
  lineLevel(intid: number, cpu: number): boolean {
    return this.line[this.slot(intid, cpu)] === 1;
  }

  /**
   * Drives the input line of a PPI (cpu's bank) or SPI (cpu ignored). An edge interrupt latches pending on a
   * rising edge; a level interrupt is pending while the line is high. Returns true if the level changed.
   * SGIs have no line: InvalidArgumentError.
   */
  setLine(intid: number, cpu: number, level: boolean): boolean {
    const s = this.slot(intid, cpu);
    if (intid < GIC_NR_SGIS) throw new InvalidArgumentError(`GIC interrupt ${intid} is an SGI: it has no input line`);
    const was = this.line[s] === 1;
    if (was === level) return false;
    this.line[s] = level ? 1 : 0;
    if (level && this.edge[s] === 1) this.latch[s] = 1;
    this.refresh(s, -1);
    return true;
  }

  /** The pending state: SGIs any source; edge the latch; level the latch or the line. */
  isPending(intid: number, cpu: number): boolean {
    const s = this.slot(intid, cpu);
    if (intid < GIC_NR_SGIS) return this.sgiSrc[cpu * GIC_NR_SGIS + intid] !== 0;
    return this.latch[s] === 1 || (this.edge[s] === 0 && this.line[s] === 1);
  }

  /** The latch alone: the edge latch or soft pend (for SGIs, any source). */
  isLatched(intid: number, cpu: number): boolean {
    const s = this.slot(intid, cpu);
    if (intid < GIC_NR_SGIS) return this.sgiSrc[cpu * GIC_NR_SGIS + intid] !== 0;
    return this.latch[s] === 1;
  }

  /** Soft pend (GICD_ISPENDR) of a PPI or SPI. SGIs are pended per source with addSgiSources: InvalidArgumentError here. */
  setPending(intid: number, cpu: number): void {
    const s = this.slot(intid, cpu);
    if (intid < GIC_NR_SGIS) throw new InvalidArgumentError(`GIC interrupt ${intid} is an SGI: pend it per source`);
    this.latch[s] = 1;
    this.refresh(s, -1);
  }

  /** Clears the latch / soft pend (GICD_ICPENDR). A level interrupt whose line is high stays pending. SGIs: use clearSgiSources. */
  clearPending(intid: number, cpu: number): void {
    const s = this.slot(intid, cpu);
    if (intid < GIC_NR_SGIS) throw new InvalidArgumentError(`GIC interrupt ${intid} is an SGI: unpend it per source`);
    this.latch[s] = 0;
    this.refresh(s, -1);
  }

  isActive(intid: number, cpu: number): boolean {
    return this.active[this.slot(intid, cpu)] === 1;
  }

  /** Sets active (GICD_ISACTIVER); returns true if it was not active. */
  setActive(intid: number, cpu: number): boolean {
    const s = this.slot(intid, cpu);
    const was = this.active[s] === 1;
    this.active[s] = 1;
    return !was;
  }

  /** Deactivation (EOI, DIR, GICD_ICACTIVER); returns true if it was active. Pending is untouched. */
  clearActive(intid: number, cpu: number): boolean {
    const s = this.slot(intid, cpu);
    const was = this.active[s] === 1;
    this.active[s] = 0;
    return was;
  }

  /**
   * Acknowledge by `cpu` (a GICC_IAR read that chose this interrupt): sets active and consumes the pending state
   * by the rules above. Returns the IAR value: the ID, and for an SGI its source CPU in bits 12:10 (the lowest
   * pending source; with no source pending, 0). Does not check enables or priorities: the front end chose it.
   */
  acknowledge(intid: number, cpu: number): number {
    const s = this.slot(intid, cpu);
    this.active[s] = 1;
    if (intid < GIC_NR_SGIS) {
      const k = cpu * GIC_NR_SGIS + intid;
      const src = this.sgiSrc[k]!;
      if (src === 0) return intid;
      const low = 31 - Math.clz32(src & -src);
      this.sgiSrc[k] = src & ~(1 << low);
      this.refresh(s, k);
      return intid | (low << 10);
    }
    // Edge: the latch is the pending state. Level: the soft pend goes, pending is now the line alone.
    this.latch[s] = 0;
    this.refresh(s, -1);
    return intid;
  }

  /**
   * The highest-priority candidate for `cpu`: enabled, pending, not active, targeting `cpu`, in a group whose bit
   * is set in `groupMask` (bit 0: group 0, bit 1: group 1). Ties go to the lowest ID. -1 if there is none. A query
   * for the front end's arbitration, written over the raw arrays because it runs after every state change.
   */
  highestPendingCandidate(cpu: number, groupMask: number): number {
    this.checkCpu(cpu);
    let best = -1;
    let bestPrio = 0x100;
    // The pending slots alone, in ID order (ties go to the lowest ID): cpu's bank, then the SPIs below scanLimit.
    const shared = this.cpus * GIC_INTERNAL;
    const spiWords = (this.scanLimit - GIC_INTERNAL + 31) >>> 5;
    for (let w = -1; w < spiWords; w++) {
      let bits = w < 0 ? this.pend[cpu]! : this.pend[(shared >>> 5) + w]!;
      while (bits !== 0) {
        const b = 31 - Math.clz32(bits & -bits);
        bits &= bits - 1;
        const s = w < 0 ? cpu * GIC_INTERNAL + b : shared + w * 32 + b;
        if (this.enabled[s] === 0 || this.active[s] === 1) continue;
        const p = this.prio[s]!;
        if (p >= bestPrio) continue;
        if (((groupMask >>> this.grp[s]!) & 1) === 0) continue;
        if (w >= 0 && ((this.target[s - shared]! >>> cpu) & 1) === 0) continue;
        best = w < 0 ? b : GIC_INTERNAL + w * 32 + b;
        bestPrio = p;
      }
    }
    return best;
  }

  // ---- SGIs ----------------------------------------------------------------

  /** Mask of the source CPUs for which SGI `sgi` is pending on `cpu`. */
  sgiSources(sgi: number, cpu: number): number {
    this.checkSgi(sgi);
    this.checkCpu(cpu);
    return this.sgiSrc[cpu * GIC_NR_SGIS + sgi]!;
  }

  /** Pends SGI `sgi` on `cpu` from every source in `sources` (GICD_SPENDSGIR; bits of CPUs that do not exist are dropped). */
  addSgiSources(sgi: number, cpu: number, sources: number): void {
    this.checkSgi(sgi);
    this.checkCpu(cpu);
    this.sgiSrc[cpu * GIC_NR_SGIS + sgi]! |= sources & this.cpuMask;
    this.refresh(cpu * GIC_INTERNAL + sgi, cpu * GIC_NR_SGIS + sgi);
  }

  /** Clears the sources in `sources` of SGI `sgi` on `cpu` (GICD_CPENDSGIR). */
  clearSgiSources(sgi: number, cpu: number, sources: number): void {
    this.checkSgi(sgi);
    this.checkCpu(cpu);
    this.sgiSrc[cpu * GIC_NR_SGIS + sgi]! &= ~sources & 0xff;
    this.refresh(cpu * GIC_INTERNAL + sgi, cpu * GIC_NR_SGIS + sgi);
  }

  /** `source` sends SGI `sgi` to every CPU in `targetMask` (GICD_SGIR once the filter is applied). */
  sendSgi(sgi: number, source: number, targetMask: number): void {
    this.checkSgi(sgi);
    this.checkCpu(source);
    const m = targetMask & this.cpuMask;
    for (let c = 0; c < this.cpus; c++) {
      if (((m >>> c) & 1) === 0) continue;
      this.sgiSrc[c * GIC_NR_SGIS + sgi]! |= 1 << source;
      this.refresh(c * GIC_INTERNAL + sgi, c * GIC_NR_SGIS + sgi);
    }
  }

  private checkSgi(sgi: number): void {
    if (!Number.isInteger(sgi) || sgi < 0 || sgi >= GIC_NR_SGIS) throw new InvalidArgumentError(`GIC SGI ${String(sgi)} outside 0..15`);
  }

  // ---- views and saved state ----------------------------------------------

  view(intid: number, cpu: number): IrqView {
    const s = this.slot(intid, cpu);
    this.checkCpu(cpu);
    return {
      intid, cpu,
      enabled: this.enabled[s] === 1,
      trigger: this.edge[s] === 1 ? 'edge' : 'level',
      line: this.line[s] === 1,
      latch: this.isLatched(intid, cpu),
      pending: this.isPending(intid, cpu),
      active: this.active[s] === 1,
      priority: this.prio[s]!,
      group: this.grp[s]!,
      targets: this.targets(intid, cpu),
      sgiSources: intid < GIC_NR_SGIS ? this.sgiSrc[cpu * GIC_NR_SGIS + intid]! : 0,
    };
  }

  snapshot(): IrqStateSnapshot {
    return {
      version: 1, cpus: this.cpus, spis: this.spis,
      enabled: Array.from(this.enabled), edge: Array.from(this.edge), line: Array.from(this.line),
      latch: Array.from(this.latch), active: Array.from(this.active), priority: Array.from(this.prio),
      group: Array.from(this.grp), targets: Array.from(this.target), sgiSources: Array.from(this.sgiSrc),
    };
  }

  /**
   * Rebuilds a core from `snapshot()`'s state; throws InvalidArgumentError (naming the field) on a malformed or
   * self-contradicting state. `device` names the owner in messages.
   */
  static restore(state: unknown, device = 'GIC IRQ state'): IrqStateCore {
    const r = StateReader.open(device, state, 1);
    const cpus = r.int('cpus', 1, GIC_MAX_CPUS);
    const spis = r.int('spis', 0, GIC_MAX_SPIS);
    r.check(spis % 32 === 0, `spis (${spis}) is not a multiple of 32`);
    const core = new IrqStateCore(cpus, spis);
    const n = core.slots;
    const flags = (key: string): number[] => r.ints(key, n, 0, 1);
    const enabled = flags('enabled');
    const edge = flags('edge');
    const line = flags('line');
    const latch = flags('latch');
    const active = flags('active');
    const priority = r.ints('priority', n, 0, 0xff);
    const group = flags('group');
    const targets = r.ints('targets', spis, 0, core.cpuMask);
    const sgiSources = r.ints('sgiSources', cpus * GIC_NR_SGIS, 0, core.cpuMask);
    for (let c = 0; c < cpus; c++) {
      for (let i = 0; i < GIC_NR_SGIS; i++) {
        const s = c * GIC_INTERNAL + i;
        r.check(enabled[s] === 1 && edge[s] === 1, `CPU ${c}'s SGI ${i} must be enabled and edge-triggered`);
        r.check(line[s] === 0 && latch[s] === 0, `CPU ${c}'s SGI ${i} has a line or latch (SGIs pend per source)`);
      }
    }
    if (cpus === 1) r.check(targets.every((t) => t === 1), 'a uniprocessor GIC\'s SPIs must all target CPU 0');
    core.enabled.set(enabled);
    core.edge.set(edge);
    core.line.set(line);
    core.latch.set(latch);
    core.active.set(active);
    core.prio.set(priority);
    core.grp.set(group);
    core.target.set(targets);
    core.sgiSrc.set(sgiSources);
    let limit = Math.min(GIC_INTERNAL, core.lines);
    for (let id = GIC_INTERNAL; id < core.lines; id++) if (enabled[core.cpus * GIC_INTERNAL + (id - GIC_INTERNAL)] === 1) limit = id + 1;
    core.scanLimit = limit;
    core.recomputePending();
    return core;
  }
}

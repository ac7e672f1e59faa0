/**
 * A local APIC (xAPIC, Intel SDM vol. 3 ch. 11) as a pure state machine:
 * the part of the interrupt path that split-irqchip mode leaves in the
 * kernel, modelled for the sim backend. Outputs are injected:
 *   eoi(vector, level)   an EOI of a vector that was accepted as level-
 *                        triggered (TMR set): the caller decides whether it
 *                        becomes a KVM_EXIT_IOAPIC_EOI (KVM only exits for
 *                        vectors its IOAPIC route scan marked);
 *   ipi(message)         an ICR write, for the bus to deliver;
 *   onGuestError(what)   register misuse, counted.
 * Time is injected as ticks of the APIC bus clock (the sim's virtual time);
 * the owner calls `advance(now)` and asks `nextDeadline()`.
 *
 * Not modelled (documented deviations): x2APIC, TSC-deadline timer mode,
 * the thermal/performance/CMCI LVT sources (their registers read and write),
 * SMI delivery, remote read.
 */
import { StateReader } from '../devices/state.js';

export const APIC_ID = 0x20;
export const APIC_VERSION = 0x30;
export const APIC_TPR = 0x80;
export const APIC_APR = 0x90;
export const APIC_PPR = 0xa0;
export const APIC_EOI = 0xb0;
export const APIC_RRD = 0xc0;
export const APIC_LDR = 0xd0;
export const APIC_DFR = 0xe0;
export const APIC_SVR = 0xf0;
export const APIC_ISR = 0x100;
export const APIC_TMR = 0x180;
export const APIC_IRR = 0x200;
export const APIC_ESR = 0x280;
export const APIC_LVT_CMCI = 0x2f0;
export const APIC_ICR_LOW = 0x300;
export const APIC_ICR_HIGH = 0x310;
export const APIC_LVT_TIMER = 0x320;
export const APIC_LVT_THERMAL = 0x330;
export const APIC_LVT_PERF = 0x340;
export const APIC_LVT_LINT0 = 0x350;
export const APIC_LVT_LINT1 = 0x360;
export const APIC_LVT_ERROR = 0x370;
export const APIC_TIMER_INITIAL = 0x380;
export const APIC_TIMER_CURRENT = 0x390;
export const APIC_TIMER_DIVIDE = 0x3e0;

/** Version 0x14 (integrated APIC), 6 LVT entries (max LVT index 5). */
export const APIC_VERSION_VALUE = 0x0005_0014;

const LVT_MASKED = 1 << 16;
const LVT_TIMER_PERIODIC = 1 << 17;
const SVR_ENABLE = 1 << 8;
/** The writable bits of each LVT entry, in `lvt` order (CMCI, timer, thermal, perf, LINT0, LINT1, error); the rest read 0. */
const LVT_WRITABLE = [0x1_07ff, 0x3_00ff, 0x1_07ff, 0x1_07ff, 0x1_a7ff, 0x1_a7ff, 0x1_00ff] as const;

/** ESR bits. */
export const ESR_SEND_ILLEGAL_VECTOR = 1 << 5;
export const ESR_RECEIVE_ILLEGAL_VECTOR = 1 << 6;
export const ESR_ILLEGAL_REGISTER = 1 << 7;

export const DM_FIXED = 0;
export const DM_LOWEST = 1;
export const DM_SMI = 2;
export const DM_NMI = 4;
export const DM_INIT = 5;
export const DM_STARTUP = 6;
export const DM_EXTINT = 7;

export interface IpiMessage {
  vector: number;
  deliveryMode: number;
  destLogical: boolean;
  level: boolean;
  /** Level-assert bit (INIT de-assert has it clear). */
  assert: boolean;
  /** 0 none (use destination), 1 self, 2 all including self, 3 all excluding self. */
  shorthand: number;
  destination: number;
  /** The sender's APIC ID. */
  source: number;
}

export interface LapicOutputs {
  eoi(vector: number, level: boolean): void;
  ipi(message: IpiMessage): void;
  /** NMI, INIT or SIPI accepted from the bus; the vCPU model acts on it. */
  special?(kind: 'nmi' | 'init' | 'sipi' | 'extint', vector: number): void;
  onGuestError?(what: string): void;
}

/** Timer divide configuration → divisor (SDM table 11-?: bits 3,1,0). */
function divisor(dcr: number): number {
  const v = (dcr & 3) | ((dcr >> 1) & 4);
  return v === 7 ? 1 : 2 << v;
}

export interface LapicState {
  version: 1;
  id: number; tpr: number; ldr: number; dfr: number; svr: number; esr: number; esrPending: number;
  isr: number[]; tmr: number[]; irr: number[];
  lvt: number[]; icrLow: number; icrHigh: number;
  timerInitial: number; timerDivide: number; timerStart: number; now: number;
}

export class Lapic {
  private id: number;
  private tpr = 0;
  private ldr = 0;
  private dfr = 0xffff_ffff;
  private svr = 0xff;
  private esr = 0;
  private esrPending = 0;
  private readonly isr = new Uint32Array(8);
  private readonly tmr = new Uint32Array(8);
  private readonly irr = new Uint32Array(8);
  /** CMCI, timer, thermal, perf, LINT0, LINT1, error: all masked at reset. */
  private readonly lvt = new Uint32Array(7).fill(LVT_MASKED);
  private icrLow = 0;
  private icrHigh = 0;
  private timerInitial = 0;
  private timerDivide = 0;
  /** Tick at which the current timer period started (-1: stopped). */
  private timerStart = -1;
  private now = 0;
  guestErrors = 0;

  constructor(id: number, private readonly out: LapicOutputs) {
    this.id = id & 0xff;
  }

  get apicId(): number { return this.id; }
  get softwareEnabled(): boolean { return (this.svr & SVR_ENABLE) !== 0; }

  private guestError(what: string): void {
    this.guestErrors++;
    this.out.onGuestError?.(what);
  }

  // ---- bit vectors ------------------------------------------------------------

  private static highest(v: Uint32Array): number {
    for (let i = 7; i >= 0; i--) if (v[i]) return i * 32 + 31 - Math.clz32(v[i]!);
    return -1;
  }
  private static test(v: Uint32Array, n: number): boolean { return ((v[n >>> 5]! >>> (n & 31)) & 1) === 1; }
  private static set(v: Uint32Array, n: number, on: boolean): void {
    if (on) v[n >>> 5]! |= 1 << (n & 31); else v[n >>> 5]! &= ~(1 << (n & 31));
  }

  /** Processor priority: the higher class of TPR and the highest in-service vector. */
  get ppr(): number {
    const isrv = Lapic.highest(this.isr);
    const isrClass = isrv < 0 ? 0 : isrv & 0xf0;
    return (this.tpr & 0xf0) >= isrClass ? this.tpr & 0xff : isrClass;
  }

  // ---- delivery ----------------------------------------------------------------

  /** Accepts a fixed/lowest-priority interrupt from the bus (IOAPIC MSI, IPI, LVT). */
  acceptFixed(vector: number, level: boolean): void {
    if (vector < 16) {
      this.esrPending |= ESR_RECEIVE_ILLEGAL_VECTOR;
      this.raiseError();
      return;
    }
    Lapic.set(this.irr, vector, true);
    Lapic.set(this.tmr, vector, level);
  }

  /** Accepts an IPI/MSI of any delivery mode addressed to this APIC. */
  accept(deliveryMode: number, vector: number, level: boolean): void {
    switch (deliveryMode) {
      case DM_FIXED: case DM_LOWEST: this.acceptFixed(vector, level); return;
      case DM_NMI: this.out.special?.('nmi', 2); return;
      case DM_INIT: this.out.special?.('init', 0); return;
      case DM_STARTUP: this.out.special?.('sipi', vector); return;
      default: this.guestError(`delivery mode ${deliveryMode} not modelled`);
    }
  }

  /** True when an interrupt can be delivered to the CPU now (the CPU also needs IF=1). */
  hasInterrupt(): boolean {
    if (!this.softwareEnabled) return false;
    const v = Lapic.highest(this.irr);
    return v >= 0 && (v & 0xf0) > (this.ppr & 0xf0);
  }

  /** INTA: moves the highest requested vector to in-service and returns it. */
  acknowledge(): number {
    const v = Lapic.highest(this.irr);
    if (v < 0 || !this.softwareEnabled || (v & 0xf0) <= (this.ppr & 0xf0)) return this.svr & 0xff; // spurious
    Lapic.set(this.irr, v, false);
    Lapic.set(this.isr, v, true);
    return v;
  }

  private doEoi(): void {
    const v = Lapic.highest(this.isr);
    if (v < 0) return;
    Lapic.set(this.isr, v, false);
    const level = Lapic.test(this.tmr, v);
    this.out.eoi(v, level);
  }

  /** Destination matching for an MSI/IPI (flat or cluster logical model, or physical). */
  matches(destination: number, logical: boolean): boolean {
    if (!logical) return destination === 0xff || destination === this.id;
    const ldr = this.ldr >>> 24;
    if ((this.dfr >>> 28) === 0xf) return (ldr & destination) !== 0; // flat
    // Cluster: high nibble selects the cluster (15 = broadcast), low nibble the members.
    return ((destination >>> 4) === 0xf || (destination >>> 4) === (ldr >>> 4)) && (destination & ldr & 0xf) !== 0;
  }

  /** The error interrupt through LVT Error. An illegal vector there (below 16) cannot be delivered either: that is
   * one more receive-illegal-vector error, recorded without recursing (a guest could otherwise overflow the stack). */
  private raiseError(): void {
    const lvt = this.lvt[6]!;
    if (lvt & LVT_MASKED) return;
    if ((lvt & 0xff) < 16) this.esrPending |= ESR_RECEIVE_ILLEGAL_VECTOR;
    else this.acceptFixed(lvt & 0xff, false);
  }

  /** LINT0/LINT1 input pins (ExtINT from the PIC on LINT0, NMI on LINT1 on a PC). */
  setLint(pin: 0 | 1, level: boolean): void {
    const lvt = this.lvt[4 + pin]!;
    if (!level || lvt & LVT_MASKED) return;
    const mode = (lvt >>> 8) & 7;
    if (mode === DM_NMI) this.out.special?.('nmi', 2);
    else if (mode === DM_EXTINT) this.out.special?.('extint', 0);
    else this.acceptFixed(lvt & 0xff, ((lvt >>> 15) & 1) === 1);
  }

  // ---- timer ---------------------------------------------------------------------

  /**
   * Advances time to `now` ticks, firing the timer if it expired. Expiries coalesce: IRR holds one request
   * per vector, so a periodic timer that expired k times since the last call fires once and reloads at the
   * last period boundary, in constant time (a loop per period would take seconds for a 1-tick period and a
   * long jump of virtual time).
   */
  advance(now: number): void {
    if (now < this.now) return;
    this.now = now;
    if (this.timerStart < 0 || this.timerInitial === 0) return;
    const period = this.timerInitial * divisor(this.timerDivide);
    const due = this.timerStart + period;
    if (due > now) return;
    const lvt = this.lvt[1]!;
    if (!(lvt & LVT_MASKED)) this.acceptFixed(lvt & 0xff, false);
    if (lvt & LVT_TIMER_PERIODIC) this.timerStart = due + Math.floor((now - due) / period) * period;
    else this.timerStart = -1;
  }

  /** The tick of the next timer expiry, or Infinity. */
  nextDeadline(): number {
    if (this.timerStart < 0 || this.timerInitial === 0) return Infinity;
    return this.timerStart + this.timerInitial * divisor(this.timerDivide);
  }

  private currentCount(): number {
    if (this.timerStart < 0 || this.timerInitial === 0) return 0;
    const elapsed = Math.floor((this.now - this.timerStart) / divisor(this.timerDivide));
    return Math.max(0, this.timerInitial - elapsed);
  }

  // ---- registers --------------------------------------------------------------------

  read(offset: number): number {
    if (offset & 0xf) { this.guestError(`misaligned read at 0x${offset.toString(16)}`); return 0; }
    if (offset >= APIC_ISR && offset < APIC_ISR + 0x80) return this.isr[(offset - APIC_ISR) >> 4]!;
    if (offset >= APIC_TMR && offset < APIC_TMR + 0x80) return this.tmr[(offset - APIC_TMR) >> 4]!;
    if (offset >= APIC_IRR && offset < APIC_IRR + 0x80) return this.irr[(offset - APIC_IRR) >> 4]!;
    switch (offset) {
      case APIC_ID: return (this.id << 24) >>> 0;
      case APIC_VERSION: return APIC_VERSION_VALUE;
      case APIC_TPR: return this.tpr;
      case APIC_APR: return 0;
      case APIC_PPR: return this.ppr;
      case APIC_EOI: return 0;
      case APIC_RRD: return 0;
      case APIC_LDR: return this.ldr;
      case APIC_DFR: return this.dfr;
      case APIC_SVR: return this.svr;
      case APIC_ESR: return this.esr;
      case APIC_LVT_CMCI: return this.lvt[0]!;
      case APIC_ICR_LOW: return this.icrLow; // delivery status (bit 12) always idle: delivery is immediate
      case APIC_ICR_HIGH: return this.icrHigh;
      case APIC_LVT_TIMER: return this.lvt[1]!;
      case APIC_LVT_THERMAL: return this.lvt[2]!;
      case APIC_LVT_PERF: return this.lvt[3]!;
      case APIC_LVT_LINT0: return this.lvt[4]!;
      case APIC_LVT_LINT1: return this.lvt[5]!;
      case APIC_LVT_ERROR: return this.lvt[6]!;
      case APIC_TIMER_INITIAL: return this.timerInitial;
      case APIC_TIMER_CURRENT: return this.currentCount();
      case APIC_TIMER_DIVIDE: return this.timerDivide;
      default:
        this.esrPending |= ESR_ILLEGAL_REGISTER;
        this.guestError(`read of reserved register 0x${offset.toString(16)}`);
        return 0;
    }
  }

  write(offset: number, value: number): void {
    value >>>= 0;
    if (offset & 0xf) { this.guestError(`misaligned write at 0x${offset.toString(16)}`); return; }
    const lvtMask = (bits: number): number => (this.softwareEnabled ? value : value | LVT_MASKED) & bits;
    switch (offset) {
      case APIC_ID: this.id = value >>> 24; return;
      case APIC_TPR: this.tpr = value & 0xff; return;
      case APIC_EOI: this.doEoi(); return;
      case APIC_LDR: this.ldr = (value & 0xff00_0000) >>> 0; return;
      case APIC_DFR: this.dfr = (value | 0x0fff_ffff) >>> 0; return;
      case APIC_SVR:
        this.svr = value & 0x13ff;
        if (!(this.svr & SVR_ENABLE)) for (let i = 0; i < this.lvt.length; i++) this.lvt[i]! |= LVT_MASKED;
        return;
      case APIC_ESR:
        // A write latches the errors collected since the previous write (SDM 11.5.3).
        this.esr = this.esrPending;
        this.esrPending = 0;
        return;
      case APIC_LVT_CMCI: this.lvt[0] = lvtMask(LVT_WRITABLE[0]); return;
      case APIC_ICR_HIGH: this.icrHigh = (value & 0xff00_0000) >>> 0; return;
      case APIC_ICR_LOW: this.icrLow = value & 0x000c_cfff; this.sendIpi(); return;
      case APIC_LVT_TIMER: this.lvt[1] = lvtMask(LVT_WRITABLE[1]); return;
      case APIC_LVT_THERMAL: this.lvt[2] = lvtMask(LVT_WRITABLE[2]); return;
      case APIC_LVT_PERF: this.lvt[3] = lvtMask(LVT_WRITABLE[3]); return;
      case APIC_LVT_LINT0: this.lvt[4] = lvtMask(LVT_WRITABLE[4]); return;
      case APIC_LVT_LINT1: this.lvt[5] = lvtMask(LVT_WRITABLE[5]); return;
      case APIC_LVT_ERROR: this.lvt[6] = lvtMask(LVT_WRITABLE[6]); return;
      case APIC_TIMER_INITIAL:
        this.timerInitial = value;
        this.timerStart = value ? this.now : -1;
        return;
      case APIC_TIMER_DIVIDE: this.timerDivide = value & 0b1011; return;
      default:
        this.esrPending |= ESR_ILLEGAL_REGISTER;
        this.guestError(`write of 0x${value.toString(16)} to read-only or reserved register 0x${offset.toString(16)}`);
    }
  }

  private sendIpi(): void {
    const lo = this.icrLow;
    const m: IpiMessage = {
      vector: lo & 0xff,
      deliveryMode: (lo >>> 8) & 7,
      destLogical: ((lo >>> 11) & 1) === 1,
      assert: ((lo >>> 14) & 1) === 1,
      level: ((lo >>> 15) & 1) === 1,
      shorthand: (lo >>> 18) & 3,
      destination: this.icrHigh >>> 24,
      source: this.id,
    };
    if ((m.deliveryMode === DM_FIXED || m.deliveryMode === DM_LOWEST) && m.vector < 16) {
      this.esrPending |= ESR_SEND_ILLEGAL_VECTOR;
      this.raiseError();
      return;
    }
    this.out.ipi(m);
  }

  snapshot(): LapicState {
    return {
      version: 1, id: this.id, tpr: this.tpr, ldr: this.ldr, dfr: this.dfr, svr: this.svr, esr: this.esr,
      esrPending: this.esrPending, isr: [...this.isr], tmr: [...this.tmr], irr: [...this.irr], lvt: [...this.lvt],
      icrLow: this.icrLow, icrHigh: this.icrHigh, timerInitial: this.timerInitial, timerDivide: this.timerDivide,
      timerStart: this.timerStart, now: this.now,
    };
  }

  /** Rebuilds a LAPIC from `snapshot()`'s state; throws InvalidArgumentError (naming the field) on a malformed state. */
  static restore(state: LapicState, out: LapicOutputs): Lapic {
    const r = StateReader.open('LAPIC', state, 1);
    const a = new Lapic(r.int('id', 0, 0xff), out);
    const now = r.int('now', 0, Number.MAX_SAFE_INTEGER);
    const timerStart = r.int('timerStart', -1, now);
    Object.assign(a, {
      tpr: r.int('tpr', 0, 0xff), ldr: r.bits('ldr', 0xff00_0000), dfr: r.int('dfr', 0x0fff_ffff, 0xffff_ffff),
      svr: r.bits('svr', 0x13ff), esr: r.int('esr', 0, 0xff), esrPending: r.int('esrPending', 0, 0xff),
      icrLow: r.bits('icrLow', 0x000c_cfff), icrHigh: r.bits('icrHigh', 0xff00_0000),
      timerInitial: r.int('timerInitial', 0, 0xffff_ffff), timerDivide: r.bits('timerDivide', 0b1011), timerStart, now,
    });
    r.check((a.dfr & 0x0fff_ffff) === 0x0fff_ffff, 'DFR bits 27:0 must read as ones');
    const vectors = (key: string): number[] => {
      const v = r.ints(key, 8, 0, 0xffff_ffff);
      r.check((v[0]! & 0xffff) === 0, `${key} has vectors 0..15 set (they can never be accepted)`);
      return v;
    };
    a.isr.set(vectors('isr'));
    a.tmr.set(vectors('tmr'));
    a.irr.set(vectors('irr'));
    const lvt = r.ints('lvt', 7, 0, 0xffff_ffff);
    lvt.forEach((l, i) => r.check((l & ~LVT_WRITABLE[i]!) === 0, `lvt[${i}] has bits set outside the entry's writable 0x${LVT_WRITABLE[i]!.toString(16)}`));
    a.lvt.set(lvt);
    r.check(a.softwareEnabled || a.lvt.every((l) => (l & LVT_MASKED) !== 0), 'a software-disabled APIC must have every LVT entry masked');
    return a;
  }
}

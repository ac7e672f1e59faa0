/**
 * The local APIC model (src/irqchip/lapic.ts) under fuzz. Rules from the
 * Intel SDM vol. 3 ch. 11 (xAPIC): vectors 0–15 are never accepted, PPR is
 * the higher of TPR and the in-service class, an interrupt is dispensed only
 * above PPR (so ISR holds at most one vector per class), INTA moves the
 * highest IRR vector to ISR, EOI retires the highest ISR vector (with its
 * TMR bit), LVT reserved bits read 0 and a software-disabled APIC keeps its
 * LVTs masked, ICR sends one IPI per write. Time is injected: the owner's
 * clock only moves forward, and after advance() the next deadline is ahead.
 */
import type { IpiMessage, Lapic, LapicOutputs, LapicState } from '../../../src/irqchip/lapic.js';
import { count, ensure, hex, isU32, only, same, sameExcept, type Out, type Rng, type Target } from '../harness.js';

interface Inst { dev: Lapic; out: Out[]; clock: number }
type Op =
  | { k: 'r'; off: number }
  | { k: 'w'; off: number; v: number }
  | { k: 'fixed'; vector: number; level: boolean }
  | { k: 'accept'; mode: number; vector: number; level: boolean }
  | { k: 'ack' }
  | { k: 'has' }
  | { k: 'lint'; pin: 0 | 1; level: boolean }
  | { k: 'advance'; delta: number }
  /** advance() to a time before the APIC's: time never goes back. */
  | { k: 'back'; delta: number }
  | { k: 'deadline' }
  | { k: 'matches'; dest: number; logical: boolean };
type S = LapicState;

const ID = 0x20, VER = 0x30, TPR = 0x80, APR = 0x90, PPR = 0xa0, EOI = 0xb0, RRD = 0xc0, LDR = 0xd0, DFR = 0xe0, SVR = 0xf0;
const ISR = 0x100, TMR = 0x180, IRR = 0x200, ESR = 0x280, ICR_LO = 0x300, ICR_HI = 0x310;
const TIMER_INIT = 0x380, TIMER_CUR = 0x390, DIVIDE = 0x3e0;
/** LVT registers in the model's `lvt` order, and the bits each one implements (SDM figure 11-8). */
const LVT_OFFSETS = [0x2f0, 0x320, 0x330, 0x340, 0x350, 0x360, 0x370];
const LVT_BITS = [0x1_07ff, 0x3_00ff, 0x1_07ff, 0x1_07ff, 0x1_a7ff, 0x1_a7ff, 0x1_00ff];
const LVT_MASKED = 1 << 16, LVT_PERIODIC = 1 << 17;
const SVR_ENABLE = 1 << 8;
const ESR_SEND_ILLEGAL = 1 << 5, ESR_RECEIVE_ILLEGAL = 1 << 6, ESR_ILLEGAL_REGISTER = 1 << 7;
const BANKS = (base: number): number[] => Array.from({ length: 8 }, (_, i) => base + 16 * i);

const WRITABLE = [ID, TPR, EOI, LDR, DFR, SVR, ESR, ICR_LO, ICR_HI, TIMER_INIT, DIVIDE, ...LVT_OFFSETS];
const READ_ONLY = [VER, APR, PPR, RRD, TIMER_CUR, ...BANKS(ISR), ...BANKS(TMR), ...BANKS(IRR)];
/** Aligned offsets inside the page that name no register (reserved). */
const RESERVED = [0x00, 0x10, 0x40, 0x50, 0x60, 0x70, 0x290, 0x2a0, 0x2e0, 0x3a0, 0x3d0, 0x3f0, 0x400, 0xff0];
const MISALIGNED = [0x21, 0x84, 0xb4, 0x30c, 0x3e8];
const VECTORS = [0x20, 0x21, 0x40, 0x41, 0x45, 0x50, 0xfe, 0xff];

const test = (v: readonly number[], n: number): boolean => ((v[n >>> 5]! >>> (n & 31)) & 1) === 1;
function highest(v: readonly number[]): number {
  for (let i = 7; i >= 0; i--) if (v[i]) return i * 32 + 31 - Math.clz32(v[i]!);
  return -1;
}
function withBit(v: readonly number[], n: number, on: boolean): number[] {
  const out = [...v];
  out[n >>> 5] = (on ? out[n >>> 5]! | (1 << (n & 31)) : out[n >>> 5]! & ~(1 << (n & 31))) >>> 0;
  return out;
}
const enabled = (s: S): boolean => (s.svr & SVR_ENABLE) !== 0;
/** SDM 11.8.3.1: PPR is TPR when TPR's class is at least the highest in-service class, else that class. */
function ppr(s: S): number {
  const v = highest(s.isr);
  const isrClass = v < 0 ? 0 : v & 0xf0;
  return (s.tpr & 0xf0) >= isrClass ? s.tpr : isrClass;
}
/** An interrupt is dispensed when the APIC is enabled and the highest request's class is above PPR's. */
function dispensable(s: S): number {
  const v = highest(s.irr);
  return enabled(s) && v >= 0 && (v & 0xf0) > (ppr(s) & 0xf0) ? v : -1;
}
function divisor(dcr: number): number {
  const v = (dcr & 3) | ((dcr >> 1) & 4);
  return v === 7 ? 1 : 2 << v;
}
const period = (s: S): number => s.timerInitial * divisor(s.timerDivide);
const running = (s: S): boolean => s.timerStart >= 0 && s.timerInitial > 0;

/**
 * An error (ESR bits `esr`) raises the error LVT's interrupt unless it is masked. An error LVT holding an
 * illegal vector (below 16) cannot deliver: that is itself a receive-illegal-vector error, recorded once.
 */
function raisedError(s: S, esr: number): { irr: number[]; tmr: number[]; esrPending: number } {
  const lvt = s.lvt[6]!;
  const esrPending = s.esrPending | esr;
  if (lvt & LVT_MASKED) return { irr: s.irr, tmr: s.tmr, esrPending };
  const v = lvt & 0xff;
  if (v < 16) return { irr: s.irr, tmr: s.tmr, esrPending: esrPending | ESR_RECEIVE_ILLEGAL };
  return { irr: withBit(s.irr, v, true), tmr: withBit(s.tmr, v, false), esrPending };
}

/** What accepting a fixed interrupt of `vector` does to IRR/TMR/ESR (an illegal vector is an error instead). */
function accepted(s: S, vector: number, level: boolean): { irr: number[]; tmr: number[]; esrPending: number } {
  if (vector >= 16) return { irr: withBit(s.irr, vector, true), tmr: withBit(s.tmr, vector, level), esrPending: s.esrPending };
  return raisedError(s, ESR_RECEIVE_ILLEGAL);
}

export const lapicTarget: Target<Inst, S, Op> = {
  create(lib, rng) {
    return make((out) => new lib.lapic.Lapic(rng.byte(), out), 0);
  },

  restore(lib, state, like) {
    return make((out) => lib.lapic.Lapic.restore(state, out), like.clock);
  },

  snapshot: (inst) => inst.dev.snapshot(),

  gen(rng) {
    const vector = (): number => (rng.chance(0.8) ? rng.pick(VECTORS) : rng.chance(0.75) ? rng.byte() : rng.int(16));
    const x = rng.int(100);
    if (x < 30) {
      const off = rng.chance(0.85) ? rng.pick(WRITABLE) : rng.pick([...READ_ONLY, ...RESERVED, ...MISALIGNED, -16]);
      return [{ k: 'w', off, v: value(rng, off, vector) }];
    }
    if (x < 45) return [{ k: 'r', off: rng.chance(0.85) ? rng.pick([...WRITABLE, ...READ_ONLY]) : rng.pick([...RESERVED, ...MISALIGNED, -16]) }];
    if (x < 60) return [{ k: 'fixed', vector: vector(), level: rng.bool() }];
    if (x < 64) return [{ k: 'accept', mode: rng.int(8), vector: vector(), level: rng.bool() }];
    if (x < 74) return [{ k: 'ack' }];
    if (x < 82) return [{ k: 'w', off: EOI, v: rng.chance(0.9) ? 0 : rng.u32() }];
    if (x < 85) return [{ k: 'has' }];
    if (x < 88) return [{ k: 'lint', pin: rng.pick([0, 1] as const), level: rng.bool() }];
    if (x < 96) {
      const y = rng.int(100);
      const delta = y < 60 ? rng.int(200) : y < 90 ? rng.int(5000) : y < 98 ? rng.int(1 << 20) : rng.u32();
      return [{ k: 'advance', delta }];
    }
    if (x < 97) return [{ k: 'back', delta: rng.range(1, 1000) }];
    if (x < 98) return [{ k: 'deadline' }];
    return [{ k: 'matches', dest: rng.byte(), logical: rng.bool() }];
  },

  apply(inst, op) {
    const a = inst.dev;
    switch (op.k) {
      case 'r': inst.out.push(['r', op.off, a.read(op.off)]); break;
      case 'w': a.write(op.off, op.v); break;
      case 'fixed': a.acceptFixed(op.vector, op.level); break;
      case 'accept': a.accept(op.mode, op.vector, op.level); break;
      case 'ack': inst.out.push(['ack', a.acknowledge()]); break;
      case 'has': inst.out.push(['has', a.hasInterrupt()]); break;
      case 'lint': a.setLint(op.pin, op.level); break;
      case 'advance': inst.clock += op.delta; a.advance(inst.clock); break;
      case 'back': a.advance(inst.clock - op.delta); break;
      case 'deadline': inst.out.push(['deadline', String(a.nextDeadline())]); break;
      case 'matches': inst.out.push(['matches', a.matches(op.dest, op.logical)]); break;
    }
  },

  state(_lib, s, inst) {
    const byte = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= 0xff;
    ensure(byte(s.id) && byte(s.tpr), `ID ${s.id} / TPR ${s.tpr} are not 8 bits`);
    ensure(isU32(s.ldr) && (s.ldr & 0x00ff_ffff) === 0, () => `LDR ${s.ldr}: only bits 31:24 are implemented, as an unsigned value`);
    ensure(isU32(s.dfr) && (s.dfr & 0x0fff_ffff) === 0x0fff_ffff, () => `DFR ${s.dfr}: bits 27:0 read as ones`);
    ensure(isU32(s.svr) && (s.svr & ~0x13ff) === 0, () => `SVR ${hex(s.svr)} has reserved bits set`);
    ensure(byte(s.esr) && byte(s.esrPending), 'ESR is 8 bits');
    ensure(isU32(s.icrLow) && (s.icrLow & ~0x000c_cfff) === 0, () => `ICR low ${hex(s.icrLow)} keeps reserved or read-only bits`);
    ensure(isU32(s.icrHigh) && (s.icrHigh & 0x00ff_ffff) === 0, () => `ICR high ${s.icrHigh}: only the destination, bits 31:24, as an unsigned value`);
    ensure(isU32(s.timerInitial) && (s.timerDivide & ~0b1011) === 0, 'timer initial count / divide configuration out of range');
    for (const [name, v] of [['ISR', s.isr], ['TMR', s.tmr], ['IRR', s.irr]] as const) {
      ensure(v.length === 8 && v.every(isU32), `${name} is not 8 unsigned 32-bit words`);
      ensure((v[0]! & 0xffff) === 0, () => `${name} has vectors 0..15 set (${hex(v[0]! & 0xffff)}): they are never accepted`);
    }
    const classes = new Set<number>();
    for (let v = 16; v < 256; v++) {
      if (!test(s.isr, v)) continue;
      ensure(!classes.has(v >>> 4), `ISR holds two vectors of class ${v >>> 4}: a vector is only dispensed above PPR`);
      classes.add(v >>> 4);
    }
    ensure(s.lvt.length === 7, 'seven LVT entries');
    s.lvt.forEach((l, i) => ensure(isU32(l) && (l & ~LVT_BITS[i]!) === 0, () => `LVT ${hex(LVT_OFFSETS[i]!)} = ${hex(l)} has reserved bits set`));
    ensure(enabled(s) || s.lvt.every((l) => (l & LVT_MASKED) !== 0), 'a software-disabled APIC has every LVT entry masked');
    ensure(s.now === inst.clock, `the APIC's time ${s.now} is not the owner's clock ${inst.clock}`);
    ensure(s.timerStart === -1 || (Number.isSafeInteger(s.timerStart) && s.timerStart >= 0 && s.timerStart <= s.now), `timer started at ${s.timerStart}, after now (${s.now})`);
    const deadline = inst.dev.nextDeadline();
    same(deadline, running(s) ? s.timerStart + period(s) : Infinity, 'nextDeadline(): the end of the current period, or Infinity when stopped');
  },

  step({ inst, op, pre, post, out }) {
    const errors = count(out, 'guest-error');
    const eois = only(out, 'eoi');
    const ipis = only(out, 'ipi');
    const specials = only(out, 'special');
    if (!(op.k === 'w' && op.off === EOI)) same(eois, [], 'EOI outputs of a step that is not an EOI write');
    if (!(op.k === 'w' && op.off === ICR_LO)) same(ipis, [], 'IPIs of a step that is not an ICR write');
    if (op.k !== 'accept' && op.k !== 'lint') same(specials, [], 'NMI/INIT/SIPI/ExtINT outside accept() and LINT');
    // Only a request arriving, an ack or an EOI move IRR and ISR; time and reads never take a request away.
    if (op.k !== 'ack' && !(op.k === 'w' && op.off === EOI)) same(post.isr, pre.isr, 'ISR (only INTA and EOI change it)');
    if (op.k !== 'ack') ensure(pre.irr.every((w, i) => ((w & ~post.irr[i]!) >>> 0) === 0), 'a request left IRR without an INTA');
    switch (op.k) {
      case 'has':
        same(out, [['has', dispensable(pre) >= 0]], 'hasInterrupt(): enabled, and the highest request above PPR');
        return same(post, pre, 'state after hasInterrupt()');
      case 'ack': {
        const v = dispensable(pre);
        if (v < 0) {
          same(out, [['ack', pre.svr & 0xff]], 'INTA with nothing dispensable: the spurious vector');
          return same(post, pre, 'state after a spurious INTA');
        }
        same(out, [['ack', v]], 'INTA: the highest requested vector');
        ensure(!test(pre.isr, v), `INTA dispensed ${hex(v)}, already in service`);
        same([post.irr, post.isr], [withBit(pre.irr, v, false), withBit(pre.isr, v, true)], `IRR/ISR after INTA of ${hex(v)}`);
        return sameExcept(post, pre, ['irr', 'isr'], 'INTA');
      }
      case 'fixed': {
        const r = accepted(pre, op.vector, op.level);
        same([post.irr, post.tmr, post.esrPending], [r.irr, r.tmr, r.esrPending], `IRR/TMR/ESR after accepting ${hex(op.vector)} (${op.level ? 'level' : 'edge'})`);
        return sameExcept(post, pre, ['irr', 'tmr', 'esrPending'], 'accepting a fixed interrupt');
      }
      case 'accept': {
        if (op.mode === 0 || op.mode === 1) {
          const r = accepted(pre, op.vector, op.level);
          same([post.irr, post.tmr, post.esrPending], [r.irr, r.tmr, r.esrPending], `IRR/TMR/ESR after accepting ${hex(op.vector)}`);
          return sameExcept(post, pre, ['irr', 'tmr', 'esrPending'], 'accepting a fixed interrupt');
        }
        const special: Record<number, Out> = { 4: ['special', 'nmi', 2], 5: ['special', 'init', 0], 6: ['special', 'sipi', op.vector] };
        same(specials, special[op.mode] ? [special[op.mode]] : [], `delivery mode ${op.mode}`);
        same(errors, special[op.mode] ? 0 : 1, `guest errors for delivery mode ${op.mode}`);
        return same(post, pre, `state after a delivery of mode ${op.mode}`);
      }
      case 'lint': {
        const lvt = pre.lvt[4 + op.pin]!;
        if (!op.level || lvt & LVT_MASKED) {
          same(out, [], `LINT${op.pin} ${op.level ? 'masked' : 'low'}: outputs`);
          return same(post, pre, `state after LINT${op.pin} ${op.level ? 'masked' : 'low'}`);
        }
        const mode = (lvt >>> 8) & 7;
        if (mode === 4 || mode === 7) {
          same(specials, [['special', mode === 4 ? 'nmi' : 'extint', mode === 4 ? 2 : 0]], `LINT${op.pin} in mode ${mode}`);
          return same(post, pre, `state after LINT${op.pin} in mode ${mode}`);
        }
        const r = accepted(pre, lvt & 0xff, ((lvt >>> 15) & 1) === 1);
        same([post.irr, post.tmr, post.esrPending], [r.irr, r.tmr, r.esrPending], `IRR/TMR/ESR after LINT${op.pin}`);
        return sameExcept(post, pre, ['irr', 'tmr', 'esrPending'], `LINT${op.pin}`);
      }
      case 'advance': {
        same(post.now, inst.clock, 'time after advance()');
        ensure(inst.dev.nextDeadline() > post.now, `after advance(${post.now}) the next deadline ${inst.dev.nextDeadline()} is not ahead`);
        if (!running(pre) || pre.timerStart + period(pre) > post.now) return sameExcept(post, pre, ['now'], 'advance() before the timer expires');
        // Expiries coalesce: one request, however many periods went by.
        const lvt = pre.lvt[1]!;
        const r = lvt & LVT_MASKED ? pre : { ...pre, ...accepted(pre, lvt & 0xff, false) };
        same([post.irr, post.tmr, post.esrPending], [r.irr, r.tmr, r.esrPending], `IRR/TMR/ESR after the timer expired (LVT ${hex(lvt)})`);
        if (lvt & LVT_PERIODIC) ensure((post.timerStart - pre.timerStart) % period(pre) === 0 && post.timerStart + period(pre) > post.now, 'a periodic timer reloads on its period boundaries');
        else same(post.timerStart, -1, 'a one-shot timer stops after it fires');
        return sameExcept(post, pre, ['irr', 'tmr', 'esrPending', 'timerStart', 'now'], 'the timer expiring');
      }
      case 'back':
        same(out, [], 'outputs of advance() into the past');
        return same(post, pre, 'state after advance() into the past (time never goes back)');
      case 'deadline':
        return same(post, pre, 'state after nextDeadline()');
      case 'matches':
        return same(post, pre, 'state after matches()');
      case 'r': {
        const v = out.find((o) => o[0] === 'r')![2] as number;
        ensure(isU32(v), `read of ${hex(op.off)} returned ${v}, not an unsigned 32-bit value`);
        if (op.off & 0xf || op.off < 0 || RESERVED.includes(op.off)) {
          same(v, 0, `read of ${op.off < 0 ? op.off : hex(op.off)}`);
          same(errors, 1, `a read of ${op.off < 0 ? op.off : hex(op.off)} is a guest error`);
          // SDM: an access to a reserved register sets ESR "illegal register address"; a misaligned one is not an APIC access.
          const esr = !(op.off & 0xf) ? pre.esrPending | ESR_ILLEGAL_REGISTER : pre.esrPending;
          return same(post, { ...pre, esrPending: esr }, 'state after a reserved read');
        }
        same(errors, 0, `guest errors of a read of ${hex(op.off)}`);
        same(post, pre, `state after a read of ${hex(op.off)} (reads have no side effects)`);
        const bank = (base: number, a: readonly number[]): number | undefined => (op.off >= base && op.off < base + 0x80 ? a[(op.off - base) >> 4] : undefined);
        const expect = bank(ISR, pre.isr) ?? bank(TMR, pre.tmr) ?? bank(IRR, pre.irr) ?? ({
          [ID]: (pre.id << 24) >>> 0, [VER]: 0x0005_0014, [TPR]: pre.tpr, [APR]: 0, [PPR]: ppr(pre), [EOI]: 0, [RRD]: 0,
          [LDR]: pre.ldr, [DFR]: pre.dfr, [SVR]: pre.svr, [ESR]: pre.esr, [ICR_LO]: pre.icrLow, [ICR_HI]: pre.icrHigh,
          [TIMER_INIT]: pre.timerInitial, [DIVIDE]: pre.timerDivide,
          ...Object.fromEntries(LVT_OFFSETS.map((o, i) => [o, pre.lvt[i]])),
        } as Record<number, number>)[op.off];
        if (op.off === TIMER_CUR) return ensure(v <= pre.timerInitial && (running(pre) || v === 0), `current count ${v} with initial ${pre.timerInitial}`);
        return same(v, expect, `read of ${hex(op.off)}`);
      }
      case 'w':
        return writeRule(op, pre, post, out, errors);
    }
  },

  inconsistent(valid) {
    const isr = [...valid.isr];
    isr[0] = 1 << 5; // vector 5 in service
    const lvt = [...valid.lvt];
    lvt[1] = 0x4_0040; // a reserved bit of the timer LVT
    return [
      { ...valid, isr }, { ...valid, svr: 0xff, lvt: valid.lvt.map((l) => l & ~LVT_MASKED) }, { ...valid, lvt },
      { ...valid, dfr: 0 }, { ...valid, timerStart: valid.now + 1 }, { ...valid, irr: valid.irr.slice(1) }, { ...valid, svr: 0x1_0000 },
    ];
  },
};

function writeRule(op: { off: number; v: number }, pre: S, post: S, out: readonly Out[], errors: number): void {
  const v = op.v >>> 0;
  if (op.off & 0xf) {
    same(errors, 1, `a misaligned write at ${op.off} is a guest error`);
    return same(post, pre, 'state after a misaligned write');
  }
  const i = LVT_OFFSETS.indexOf(op.off);
  if (i >= 0) {
    same(post.lvt[i], ((v | (enabled(pre) ? 0 : LVT_MASKED)) & LVT_BITS[i]!) >>> 0, `LVT ${hex(op.off)}: the implemented bits, masked while the APIC is disabled`);
    return sameExcept(post, pre, ['lvt'], `an LVT write`);
  }
  switch (op.off) {
    case ID: return same(post, { ...pre, id: v >>> 24 }, 'ID write');
    case TPR: return same(post, { ...pre, tpr: v & 0xff }, 'TPR write');
    case LDR: return same(post, { ...pre, ldr: (v & 0xff00_0000) >>> 0 }, 'LDR write');
    case DFR: return same(post, { ...pre, dfr: (v | 0x0fff_ffff) >>> 0 }, 'DFR write');
    case ICR_HI: return same(post, { ...pre, icrHigh: (v & 0xff00_0000) >>> 0 }, 'ICR high write');
    case DIVIDE: return same(post, { ...pre, timerDivide: v & 0b1011 }, 'divide configuration write');
    case TIMER_INIT: return same(post, { ...pre, timerInitial: v, timerStart: v ? pre.now : -1 }, 'initial count write (0 stops the timer)');
    case ESR: return same(post, { ...pre, esr: pre.esrPending, esrPending: 0 }, 'ESR write: latches the errors since the last one');
    case SVR: {
      const svr = v & 0x13ff;
      const lvt = svr & SVR_ENABLE ? pre.lvt : pre.lvt.map((l) => (l | LVT_MASKED) >>> 0);
      return same(post, { ...pre, svr, lvt }, 'SVR write (software disable masks every LVT)');
    }
    case EOI: {
      const v2 = highest(pre.isr);
      if (v2 < 0) {
        same(only(out, 'eoi'), [], 'EOI with nothing in service');
        return same(post, pre, 'state after an EOI with nothing in service');
      }
      same(only(out, 'eoi'), [['eoi', v2, test(pre.tmr, v2)]], 'EOI: retires the highest in-service vector, with its trigger mode');
      return same(post, { ...pre, isr: withBit(pre.isr, v2, false) }, 'state after EOI');
    }
    case ICR_LO: {
      const lo = v & 0x000c_cfff;
      const mode = (lo >>> 8) & 7;
      if ((mode === 0 || mode === 1) && (lo & 0xff) < 16) {
        same(only(out, 'ipi'), [], 'an IPI with an illegal vector is not sent');
        const s2 = { ...pre, icrLow: lo };
        return same(post, { ...s2, ...raisedError(s2, ESR_SEND_ILLEGAL) }, 'state after an IPI with an illegal vector: ESR send-illegal, the error interrupt');
      }
      const ipi: IpiMessage = {
        vector: lo & 0xff, deliveryMode: mode, destLogical: ((lo >>> 11) & 1) === 1, assert: ((lo >>> 14) & 1) === 1,
        level: ((lo >>> 15) & 1) === 1, shorthand: (lo >>> 18) & 3, destination: pre.icrHigh >>> 24, source: pre.id,
      };
      same(only(out, 'ipi'), [ipiOut(ipi)], 'ICR low write: one IPI, decoded from ICR');
      return same(post, { ...pre, icrLow: lo }, 'state after an ICR write');
    }
    default: {
      same(errors, 1, `a write to ${hex(op.off)} (read-only or reserved) is a guest error`);
      return same(post, { ...pre, esrPending: pre.esrPending | ESR_ILLEGAL_REGISTER }, `state after a write to ${hex(op.off)}: ESR illegal register`);
    }
  }
}

const ipiOut = (m: IpiMessage): Out => ['ipi', m.vector, m.deliveryMode, m.destLogical, m.assert, m.level, m.shorthand, m.destination, m.source];

function make(build: (out: LapicOutputs) => Lapic, clock: number): Inst {
  const out: Out[] = [];
  const dev = build({
    eoi: (vector, level) => out.push(['eoi', vector, level]),
    ipi: (m) => out.push(ipiOut(m)),
    special: (kind, vector) => out.push(['special', kind, vector]),
    onGuestError: (what) => out.push(['guest-error', what]),
  });
  return { dev, out, clock };
}

function value(rng: Rng, off: number, vector: () => number): number {
  if (rng.chance(0.1)) return rng.u32();
  const lvt = LVT_OFFSETS.indexOf(off);
  if (lvt >= 0) {
    return (vector() | (rng.chance(0.85) ? 0 : rng.int(8) << 8) | (rng.chance(0.3) ? LVT_MASKED : 0) | (rng.bool() ? LVT_PERIODIC : 0)
      | (rng.chance(0.2) ? 1 << 15 : 0)) >>> 0;
  }
  switch (off) {
    case SVR: return (rng.chance(0.85) ? SVR_ENABLE : 0) | rng.byte();
    case TPR: return rng.pick([0, 0x20, 0x40, 0x45, 0x50, 0xff]);
    case TIMER_INIT: { const y = rng.int(100); return y < 50 ? rng.range(1, 64) : y < 80 ? rng.range(65, 4096) : 0; }
    case DIVIDE: return rng.int(16);
    case ICR_LO: return vector() | (rng.chance(0.7) ? 0 : rng.int(8) << 8) | (rng.bool() ? 1 << 11 : 0) | (rng.bool() ? 1 << 14 : 0)
      | (rng.chance(0.2) ? 1 << 15 : 0) | (rng.int(4) << 18);
    case ICR_HI: case ID: case LDR: return (rng.int(4) << 24) >>> 0;
    default: return rng.u32();
  }
}

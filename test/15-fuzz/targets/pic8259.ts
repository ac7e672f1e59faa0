/**
 * The PC's 8259A pair (src/irqchip/pic8259.ts) under fuzz. Rules from the
 * Intel 8259A datasheet, with the PC wiring (slave INT on master IR2, edge
 * triggered) and the model's documented choices (level mode, SFNM, buffered
 * mode not modelled; INTA with nothing left gives IR7 without setting ISR).
 *
 * The rules are written as the datasheet's operations on one chip (ICWs,
 * OCWs, INTA, the priority resolver) plus the cascade wire, and every step's
 * state and outputs are compared with them. The priority resolver: the
 * highest-priority request in IRR & ~IMR is passed on when no IR of equal or
 * higher priority is in service; in special mask mode in-service IRs do not
 * block others, but an IR already in service is never requested again (the
 * datasheet: "enables interrupts from all *other* levels"; Bochs and QEMU
 * agree).
 */
import type { RecordingIrqLine } from '../../../src/devices/irq.js';
import type { Pic8259Pair, Pic8259State, PicChipState } from '../../../src/irqchip/pic8259.js';
import { checkEdges, count, drainIrq, ensure, hex, same, type Out, type Target } from '../harness.js';

type Chip = 'master' | 'slave';
interface Inst { dev: Pic8259Pair; intr: RecordingIrqLine; out: Out[] }
type Op =
  | { k: 'irq'; irq: number; level: boolean }
  | { k: 'ack' }
  | { k: 'r'; chip: Chip; off: number }
  | { k: 'w'; chip: Chip; off: number; v: number };
type S = Pic8259State;
type C = PicChipState;

const EOIS = [0x20, 0x60, 0xa0, 0xe0, 0xc0, 0x80, 0x00, 0x40]; // OCW2 commands; the specific ones get a level
const GARBAGE_IRQS = [-1, 16, 17, 1.5, 255];

const order = (c: C): number[] => Array.from({ length: 8 }, (_, i) => (c.lowestPriority + 1 + i) & 7);

/** The priority resolver: the IR the chip requests now, or -1. */
function pending(c: C): number {
  const req = c.irr & ~c.imr;
  for (const ir of order(c)) {
    if (c.isr & (1 << ir)) {
      if (!c.specialMask) return -1; // fully nested: an IR in service blocks itself and everything below
      continue; // special mask mode: it blocks no other level, and is not requested again
    }
    if (req & (1 << ir)) return ir;
  }
  return -1;
}

function highestInService(c: C): number {
  for (const ir of order(c)) if (c.isr & (1 << ir)) return ir;
  return -1;
}

/** INTA on one chip for `ir`: IRR → ISR (auto-EOI: no ISR, and the rotation if asked for). */
function ack(c: C, ir: number): C {
  const n = { ...c, irr: c.irr & ~(1 << ir) };
  if (!c.autoEoi) n.isr = c.isr | (1 << ir);
  else if (c.rotateOnAutoEoi) n.lowestPriority = ir;
  return n;
}

function setLine(c: C, ir: number, level: boolean): C {
  const bit = 1 << ir;
  return { ...c, irr: level && !(c.lines & bit) ? c.irr | bit : c.irr, lines: level ? c.lines | bit : c.lines & ~bit };
}

function command(c: C, v: number): C {
  if (v & 0x10) { // ICW1: start initialisation; IMR, ISR, IRR and the edge sense are cleared, IR7 lowest, SMM off, read IRR
    return {
      ...c, initStep: 2, icw4Needed: (v & 1) !== 0, single: (v & 2) !== 0, imr: 0, isr: 0, irr: 0, lines: 0, lowestPriority: 7,
      specialMask: false, readIsr: false, autoEoi: false, rotateOnAutoEoi: false,
    };
  }
  if (v & 0x08) { // OCW3
    return {
      ...c, poll: c.poll || (v & 0x04) !== 0, readIsr: v & 0x02 ? (v & 1) !== 0 : c.readIsr,
      specialMask: v & 0x40 ? (v & 0x20) !== 0 : c.specialMask,
    };
  }
  const level = v & 7; // OCW2
  const clear = (ir: number): number => (ir >= 0 ? c.isr & ~(1 << ir) : c.isr);
  switch (v >> 5) {
    case 0b001: return { ...c, isr: clear(highestInService(c)) };
    case 0b011: return { ...c, isr: clear(level) };
    case 0b101: { const ir = highestInService(c); return ir < 0 ? c : { ...c, isr: clear(ir), lowestPriority: ir }; }
    case 0b100: return { ...c, rotateOnAutoEoi: true };
    case 0b000: return { ...c, rotateOnAutoEoi: false };
    case 0b111: return { ...c, isr: clear(level), lowestPriority: level };
    case 0b110: return { ...c, lowestPriority: level };
    default: return c;
  }
}

function data(c: C, v: number): C {
  switch (c.initStep) {
    case 2: return { ...c, vectorBase: v & 0xf8, initStep: c.single ? (c.icw4Needed ? 4 : 0) : 3 };
    case 3: return { ...c, initStep: c.icw4Needed ? 4 : 0 };
    case 4: return { ...c, autoEoi: (v & 2) !== 0, initStep: 0 };
    default: return { ...c, imr: v }; // OCW1
  }
}

export const picTarget: Target<Inst, S, Op> = {
  create(lib) {
    return make(lib.irq.RecordingIrqLine, (deps) => new lib.pic.Pic8259Pair(deps));
  },

  restore(lib, state) {
    const inst = make(lib.irq.RecordingIrqLine, (deps) => lib.pic.Pic8259Pair.restore(state, deps));
    inst.intr.level = inst.dev.intr;
    return inst;
  },

  snapshot: (inst) => inst.dev.snapshot(),

  gen(rng) {
    const chip = (): Chip => (rng.bool() ? 'master' : 'slave');
    const x = rng.int(100);
    if (x < 6) {
      // Initialise one chip as a PC BIOS does (sometimes with odd ICW1 bits).
      const c = chip();
      const icw1 = rng.chance(0.8) ? 0x11 : 0x10 | rng.int(16);
      const ops: Op[] = [{ k: 'w', chip: c, off: 0, v: icw1 }, { k: 'w', chip: c, off: 1, v: rng.chance(0.8) ? (c === 'master' ? 0x20 : 0x28) : rng.byte() }];
      if (!(icw1 & 2)) ops.push({ k: 'w', chip: c, off: 1, v: c === 'master' ? 0x04 : 0x02 });
      if (icw1 & 1) ops.push({ k: 'w', chip: c, off: 1, v: rng.chance(0.7) ? 0x01 : rng.chance(0.7) ? 0x03 : rng.byte() });
      return ops;
    }
    if (x < 40) return [{ k: 'irq', irq: rng.chance(0.97) ? rng.int(16) : rng.pick(GARBAGE_IRQS), level: rng.bool() }];
    if (x < 54) return [{ k: 'ack' }];
    if (x < 74) {
      const y = rng.int(100);
      const v = y < 55 ? rng.pick(EOIS) | rng.int(8) : y < 95 ? 0x08 | rng.pick([0x02, 0x03, 0x04, 0x60, 0x40, rng.byte() & 0x67]) : 0x10 | rng.int(16);
      return [{ k: 'w', chip: chip(), off: 0, v }];
    }
    if (x < 84) return [{ k: 'w', chip: chip(), off: 1, v: rng.chance(0.5) ? rng.pick([0x00, 0x04, 0xfb, 0xff]) : rng.byte() }];
    if (x < 98) return [{ k: 'r', chip: chip(), off: rng.chance(0.95) ? rng.int(2) : rng.pick([2, -1, 0x20]) }];
    return [{ k: 'w', chip: chip(), off: rng.pick([2, 3, -1, 0xa0]), v: rng.byte() }];
  },

  apply(inst, op) {
    const p = inst.dev;
    switch (op.k) {
      case 'irq': p.setIrq(op.irq, op.level); break;
      case 'ack': inst.out.push(['ack', p.acknowledge()]); break;
      case 'r': inst.out.push(['r', op.chip, op.off, p.read(op.chip, op.off)]); break;
      case 'w': p.write(op.chip, op.off, op.v); break;
    }
    drainIrq(inst.intr, inst.out, 'intr');
  },

  state(_lib, s, inst) {
    for (const name of ['master', 'slave'] as const) {
      const c = s[name];
      for (const k of ['irr', 'isr', 'imr', 'lines'] as const) ensure(Number.isInteger(c[k]) && c[k] >= 0 && c[k] <= 0xff, `${name}.${k} = ${c[k]} is not a byte`);
      ensure((c.vectorBase & ~0xf8) === 0, `${name}: vector base ${hex(c.vectorBase)} has bits 2:0 set`);
      ensure([0, 2, 3, 4].includes(c.initStep), `${name}: initialisation step ${c.initStep}`);
      ensure(Number.isInteger(c.lowestPriority) && c.lowestPriority >= 0 && c.lowestPriority <= 7, `${name}: lowest priority ${c.lowestPriority}`);
    }
    same(((s.master.lines >> 2) & 1) === 1, pending(s.slave) >= 0, "the master's IR2 input (the slave's INT output)");
    same(inst.dev.intr, pending(s.master) >= 0, 'INT: the master requests an IR (IRR & ~IMR, above everything in service)');
    ensure(inst.intr.level === inst.dev.intr, 'the INT wire is at the level the pair says it drives');
  },

  step({ op, pre, post, out }) {
    checkEdges(out, 'intr', pending(pre.master) >= 0, pending(post.master) >= 0);
    let m = pre.master;
    let sl = pre.slave;
    let value: number | null = null;
    let error = false;
    switch (op.k) {
      case 'irq':
        if (!Number.isInteger(op.irq) || op.irq < 0 || op.irq > 15 || op.irq === 2) error = true;
        else if (op.irq < 8) m = setLine(m, op.irq, op.level);
        else sl = setLine(sl, op.irq - 8, op.level);
        break;
      case 'ack': {
        const ir = pending(m);
        if (ir < 0) value = m.vectorBase | 7; // the request went away: IR7, nothing in service
        else if (ir === 2 && !m.single) { // cascade: the slave supplies the vector
          m = ack(m, 2);
          const sir = pending(sl);
          value = sl.vectorBase | (sir < 0 ? 7 : sir);
          if (sir >= 0) sl = ack(sl, sir);
        } else {
          value = m.vectorBase | ir;
          m = ack(m, ir);
        }
        break;
      }
      case 'r': {
        let c = op.chip === 'master' ? m : sl;
        if (op.off === 0 && c.poll) { // poll: the read is the INTA, answered as 0x80 | IR (0: nothing)
          const ir = pending(c);
          value = ir < 0 ? 0 : 0x80 | ir;
          c = { ...(ir < 0 ? c : ack(c, ir)), poll: false };
        } else if (op.off === 0) value = c.readIsr ? c.isr : c.irr;
        else if (op.off === 1) value = c.imr;
        else { value = 0xff; error = true; }
        if (op.chip === 'master') m = c; else sl = c;
        break;
      }
      case 'w': {
        let c = op.chip === 'master' ? m : sl;
        if (op.off === 0) {
          c = command(c, op.v & 0xff);
          if ((op.v & 0x18) === 0x18) error = true; // ICW1 asking for level-triggered mode
        } else if (op.off === 1) c = data(c, op.v & 0xff);
        else error = true;
        if (op.chip === 'master') m = c; else sl = c;
        break;
      }
    }
    // The wire: the slave's INT drives the master's IR2, edge-triggered like every input.
    m = setLine(m, 2, pending(sl) >= 0);
    same(count(out, 'guest-error'), error ? 1 : 0, 'guest errors');
    if (value !== null) same(out.find((o) => o[0] === 'ack' || o[0] === 'r')!.at(-1), value, op.k === 'r' ? `read of ${op.chip} offset ${op.off}` : 'INTA vector');
    same(post.slave, sl, 'slave after the step');
    same(post.master, m, 'master after the step');
  },

  inconsistent(valid) {
    return [
      { ...valid, master: { ...valid.master, initStep: 1 } },
      { ...valid, slave: { ...valid.slave, vectorBase: 0x29 } },
      { ...valid, master: { ...valid.master, irr: 0x100 } },
      { ...valid, master: { ...valid.master, lowestPriority: 8 } },
      { ...valid, master: { ...valid.master, lines: valid.master.lines ^ 4 } }, // IR2 is not the slave's INT
    ];
  },
};

function make(Line: new () => RecordingIrqLine, build: (deps: { intr: RecordingIrqLine; onGuestError: (what: string) => void }) => Pic8259Pair): Inst {
  const out: Out[] = [];
  const intr = new Line();
  const dev = build({ intr, onGuestError: (what) => out.push(['guest-error', what]) });
  return { dev, intr, out };
}

/**
 * The userspace 82093AA IOAPIC (src/irqchip/ioapic.ts) under fuzz. Rules
 * from the 82093AA datasheet (RTE format, remote IRR, edge/level delivery,
 * the EOI of a vector) and from the split-irqchip contract of DESIGN.md
 * (a pin's route is pushed before any delivery it causes; a delivery uses
 * the current RTE; edges on a masked pin are lost; a level pin still
 * asserted at EOI is delivered again).
 */
import type { Ioapic, IoapicOutputs, IoapicState } from '../../../src/irqchip/ioapic.js';
import type { MsiMessage } from '../../../src/irqchip/rte.js';
import { count, ensure, hex, isU32, only, same, type DeviceLib, type Out, type Target } from '../harness.js';

interface Inst {
  dev: Ioapic;
  out: Out[];
  /** The last route pushed for each pin (as the split-irqchip adapter would hold it), or null before the first. */
  routes: (MsiMessage | null)[];
  /** Set by the deliver output when a delivery's MSI is not the pin's last pushed route. */
  misrouted: string | null;
}
type Op =
  | { k: 'r'; off: number; size: number }
  | { k: 'w'; off: number; size: number; v: number }
  | { k: 'irq'; pin: number; level: boolean }
  | { k: 'eoi'; vector: number }
  /** The EOI of whatever vector the pin's RTE holds at that moment (a handler's EOI). */
  | { k: 'eoi-pin'; pin: number }
  | { k: 'publish' };
type S = IoapicState;

const IOREGSEL = 0x00, IOWIN = 0x10, IOEOI = 0x40;
const IOREDTBL = 0x10;
const PINS = 24;
const RTE_DELIVERY_STATUS = 1 << 12, RTE_REMOTE_IRR = 1 << 14, RTE_LEVEL = 1 << 15, RTE_MASKED = 1 << 16;
const RTE_READ_ONLY = RTE_DELIVERY_STATUS | RTE_REMOTE_IRR;
const VECTORS = [0x30, 0x31, 0x32, 0x41];
const GARBAGE_OFFSETS = [0x04, 0x08, 0x11, 0x14, 0x20, 0x3c, 0x44, 0xff0, -4];
const GARBAGE_PINS = [-1, 24, 25, 1.5, 1000];

const isPin = (p: number): boolean => Number.isInteger(p) && p >= 0 && p < PINS;
const level = (s: S, p: number): boolean => (s.rteLo[p]! & RTE_LEVEL) !== 0;
const masked = (s: S, p: number): boolean => (s.rteLo[p]! & RTE_MASKED) !== 0;
const rirr = (s: S, p: number): boolean => (s.rteLo[p]! & RTE_REMOTE_IRR) !== 0;
const key = (m: MsiMessage | null): string => (m ? `${hex(m.addressLo)}/${hex(m.addressHi)}/${hex(m.data)}` : 'none');
const sameMsi = (a: MsiMessage | null, b: MsiMessage): boolean => a !== null && a.addressLo === b.addressLo && a.addressHi === b.addressHi && a.data === b.data;

function msiOf(lib: DeviceLib, s: S, p: number): MsiMessage {
  return lib.rte.rteToMsi(lib.rte.parseRte(s.rteLo[p]!, s.rteHi[p]!));
}
const msiOut = (tag: string, pin: number, m: MsiMessage): Out => [tag, pin, m.addressLo, m.addressHi, m.data];

/** What an EOI of `vector` must produce (82093AA: it ends every level pin in service with that vector; an asserted line comes again). */
function eoiOutputs(lib: DeviceLib, pre: S, vector: number): { pins: number[]; out: Out[] } {
  const pins: number[] = [];
  const out: Out[] = [];
  for (let p = 0; p < PINS; p++) {
    if ((pre.rteLo[p]! & 0xff) !== vector || !level(pre, p) || !rirr(pre, p)) continue;
    pins.push(p);
    out.push(['resample', p]);
    if (!masked(pre, p) && pre.lines[p]) out.push(msiOut('deliver', p, msiOf(lib, pre, p)));
  }
  return { pins, out };
}

export const ioapicTarget: Target<Inst, S, Op> = {
  create(lib) {
    return make((out) => new lib.ioapic.Ioapic(out), new Array<MsiMessage | null>(PINS).fill(null));
  },

  restore(lib, state, like) {
    return make((out) => lib.ioapic.Ioapic.restore(state, out), [...like.routes]);
  },

  snapshot: (inst) => inst.dev.snapshot(),

  gen(rng) {
    const anyPin = (): number => (rng.chance(0.75) ? rng.int(4) : rng.int(PINS));
    const size = (): number => (rng.chance(0.85) ? 4 : rng.pick([1, 2]));
    const vector = (): number => (rng.chance(0.85) ? rng.pick(VECTORS) : rng.byte());
    const x = rng.int(100);
    if (x < 25) {
      // Program an RTE as a guest does: high word (destination), then the low word.
      const p = anyPin();
      let lo = vector() | (rng.chance(0.8) ? 0 : rng.int(8) << 8) | (rng.bool() ? RTE_LEVEL : 0) | (rng.chance(0.4) ? RTE_MASKED : 0)
        | (rng.chance(0.1) ? 1 << 11 : 0) | (rng.chance(0.1) ? 1 << 13 : 0);
      if (rng.chance(0.1)) lo |= (rng.u32() & ~0x1_ffff) | (rng.bool() ? RTE_READ_ONLY : 0); // garbage in reserved/read-only bits
      const ops: Op[] = [];
      if (rng.bool()) {
        const hi = rng.chance(0.8) ? (rng.int(4) << 24) >>> 0 : rng.u32();
        ops.push({ k: 'w', off: IOREGSEL, size: 4, v: IOREDTBL + 2 * p + 1 }, { k: 'w', off: IOWIN, size: rng.chance(0.9) ? 4 : size(), v: hi });
      }
      ops.push({ k: 'w', off: IOREGSEL, size: 4, v: IOREDTBL + 2 * p }, { k: 'w', off: IOWIN, size: rng.chance(0.9) ? 4 : size(), v: lo >>> 0 });
      return ops;
    }
    if (x < 52) return [{ k: 'irq', pin: rng.chance(0.97) ? anyPin() : rng.pick(GARBAGE_PINS), level: rng.bool() }];
    if (x < 62) return [{ k: 'eoi-pin', pin: anyPin() }];
    if (x < 66) return [{ k: 'eoi', vector: vector() }];
    if (x < 70) return [{ k: 'w', off: IOEOI, size: size(), v: rng.chance(0.9) ? vector() : rng.u32() }];
    if (x < 80) {
      const index = rng.chance(0.7) ? IOREDTBL + rng.int(2 * PINS) : rng.chance(0.5) ? rng.int(3) : rng.byte();
      return [{ k: 'w', off: IOREGSEL, size: 4, v: index }, { k: 'r', off: IOWIN, size: size() }];
    }
    if (x < 87) return [{ k: 'w', off: rng.pick([IOREGSEL, IOWIN]), size: size(), v: rng.chance(0.5) ? rng.byte() : rng.u32() }];
    if (x < 94) return [{ k: 'r', off: rng.pick([IOREGSEL, IOWIN, IOEOI, ...GARBAGE_OFFSETS]), size: size() }];
    if (x < 99) return [{ k: 'w', off: rng.pick(GARBAGE_OFFSETS), size: size(), v: rng.u32() }];
    return [{ k: 'publish' }];
  },

  apply(inst, op) {
    const a = inst.dev;
    switch (op.k) {
      case 'r': inst.out.push(['r', op.off, op.size, a.read(op.off, op.size)]); break;
      case 'w': a.write(op.off, op.size, op.v); break;
      case 'irq': a.setIrq(op.pin, op.level); break;
      case 'eoi': a.eoi(op.vector); break;
      case 'eoi-pin': a.eoi(a.rte(op.pin).vector); break;
      case 'publish': a.publishRoutes(); break;
    }
  },

  state(lib, s, inst) {
    ensure(Number.isInteger(s.id) && s.id >= 0 && s.id <= 0xf, `ID ${s.id} is not 4 bits`);
    ensure(Number.isInteger(s.ioregsel) && s.ioregsel >= 0 && s.ioregsel <= 0xff, `IOREGSEL ${s.ioregsel} is not 8 bits`);
    for (let p = 0; p < PINS; p++) {
      const lo = s.rteLo[p]!;
      const hi = s.rteHi[p]!;
      ensure(isU32(lo) && isU32(hi), () => `pin ${p}: RTE words ${lo}, ${hi} are not unsigned 32-bit values`);
      ensure((hi & 0x0000_ffff) === 0, () => `pin ${p}: RTE bits 47:32 are reserved (high word ${hex(hi)})`);
      ensure(!(lo & RTE_DELIVERY_STATUS), `pin ${p}: delivery status set, but delivery is immediate`);
      ensure(!rirr(s, p) || level(s, p), `pin ${p}: remote IRR set on an edge-triggered pin`);
      ensure(!s.irr[p], `pin ${p}: an edge stays latched, but delivery is immediate`);
      ensure(!level(s, p) || masked(s, p) || !s.lines[p] || rirr(s, p), `pin ${p}: asserted, unmasked, level-triggered, but not in service (remote IRR clear)`);
      const route = inst.routes[p]!;
      ensure(route === null || sameMsi(route, msiOf(lib, s, p)), () => `pin ${p}: the last route pushed (${key(route)}) is not the MSI of its RTE (${key(msiOf(lib, s, p))})`);
    }
  },

  step({ lib, inst, op, pre, post, out }) {
    ensure(inst.misrouted === null, () => inst.misrouted!);
    const errors = count(out, 'guest-error');
    const outputs = only(out, 'route', 'deliver', 'resample');
    // Every delivery: once per pin, from an unmasked pin, with the MSI of its current RTE; level ones leave
    // remote IRR set and need the previous one ended by an EOI; edge ones only come from a rising edge.
    const delivered = new Set<number>();
    const resampled = new Set<number>();
    for (const o of outputs) {
      const p = o[1] as number;
      if (o[0] === 'resample') {
        ensure(level(pre, p) && rirr(pre, p), `resample of pin ${p}, which was not a level pin in service`);
        resampled.add(p);
      } else if (o[0] === 'deliver') {
        ensure(!delivered.has(p), `pin ${p} delivered twice in one step`);
        delivered.add(p);
        same(o, msiOut('deliver', p, msiOf(lib, post, p)), `pin ${p}'s delivery: the MSI of its current RTE`);
        ensure(!masked(post, p), `pin ${p} delivered while masked`);
        if (level(post, p)) {
          ensure(post.lines[p]!, `level pin ${p} delivered with its line low`);
          ensure(rirr(post, p), `level pin ${p} delivered, but remote IRR is clear`);
          ensure(!rirr(pre, p) || resampled.has(p), `level pin ${p} delivered again before an EOI ended the previous one`);
        } else {
          ensure(op.k === 'irq' && op.pin === p && op.level && !pre.lines[p], `edge pin ${p} delivered without a rising edge`);
        }
      }
    }
    // Pins the step has no business with keep their RTE, line and latch.
    const touched = new Set<number>();
    let vector = -1;
    let dword = true;
    let index = -1;
    switch (op.k) {
      case 'irq': if (isPin(op.pin)) touched.add(op.pin); break;
      case 'eoi': vector = op.vector; break;
      case 'eoi-pin': vector = pre.rteLo[op.pin]! & 0xff; break;
      case 'w':
        dword = op.size === 4;
        if (op.off === IOEOI && dword) vector = op.v & 0xff;
        if (op.off === IOWIN && dword && pre.ioregsel >= IOREDTBL && pre.ioregsel < IOREDTBL + 2 * PINS) index = pre.ioregsel;
        if (index >= 0) touched.add((index - IOREDTBL) >>> 1);
        break;
      default: break;
    }
    const eoi = vector >= 0 ? eoiOutputs(lib, pre, vector) : null;
    for (const p of eoi?.pins ?? []) touched.add(p);
    for (let p = 0; p < PINS; p++) {
      if (touched.has(p)) continue;
      if (post.rteLo[p] === pre.rteLo[p] && post.rteHi[p] === pre.rteHi[p] && post.lines[p] === pre.lines[p] && post.irr[p] === pre.irr[p]) continue;
      same([post.rteLo[p], post.rteHi[p], post.lines[p], post.irr[p]], [pre.rteLo[p], pre.rteHi[p], pre.lines[p], pre.irr[p]],
        `pin ${p}, which the step does not concern: RTE, line, latch`);
    }
    if (!(op.k === 'w' && op.off === IOWIN && dword && pre.ioregsel === 0)) same(post.id, pre.id, 'ID (only an IOWIN write to index 0 changes it)');
    if (!(op.k === 'w' && op.off === IOREGSEL)) same(post.ioregsel, pre.ioregsel, 'IOREGSEL (only a write to it changes it)');
    if (eoi) {
      same(outputs, eoi.out, `EOI of ${hex(vector)}: resample each level pin in service with it, deliver again those still asserted`);
      for (const p of eoi.pins) same(rirr(post, p), delivered.has(p), `pin ${p}'s remote IRR after the EOI`);
    }

    switch (op.k) {
      case 'irq': {
        if (!isPin(op.pin)) {
          same(errors, 1, `set_irq on pin ${op.pin}: one guest error`);
          same(outputs, [], `set_irq on pin ${op.pin}: outputs`);
          return same(post, pre, `state after set_irq on pin ${op.pin}`);
        }
        const p = op.pin;
        same(errors, 0, 'guest errors of a valid set_irq');
        same(post.lines[p], op.level, `pin ${p}'s line`);
        const expect = op.level && !masked(pre, p) && (level(pre, p) ? !rirr(pre, p) : !pre.lines[p]);
        same(outputs, expect ? [msiOut('deliver', p, msiOf(lib, pre, p))] : [],
          `set_irq(${p}, ${op.level}) on a${masked(pre, p) ? ' masked' : 'n unmasked'} ${level(pre, p) ? 'level' : 'edge'} pin, line ${pre.lines[p]}, remote IRR ${rirr(pre, p)}`);
        return same([post.rteLo[p], post.rteHi[p]], [(pre.rteLo[p]! | (expect && level(pre, p) ? RTE_REMOTE_IRR : 0)) >>> 0, pre.rteHi[p]], `pin ${p}'s RTE after set_irq`);
      }
      case 'eoi':
      case 'eoi-pin':
        return same(errors, 0, 'guest errors of an EOI');
      case 'publish': {
        const routes: Out[] = [];
        for (let p = 0; p < PINS; p++) routes.push(msiOut('route', p, msiOf(lib, pre, p)));
        same(outputs, routes, 'publishRoutes: every pin\'s route, in pin order');
        return same(post, pre, 'state after publishRoutes');
      }
      case 'r': {
        const v = out.find((o) => o[0] === 'r')![3] as number;
        ensure(isU32(v), `read returned ${v}, not a 32-bit value`);
        same(outputs, [], 'outputs of a read');
        same(post, pre, 'state after a read (reads have no side effects)');
        if (op.off === IOREGSEL) return same(v, pre.ioregsel, 'IOREGSEL read');
        if (op.off === IOWIN) {
          if (op.size !== 4) {
            ensure(errors >= 1, 'a narrow IOWIN read is a guest error');
            return same(v, 0, 'a narrow IOWIN read (82093AA: dword accesses only; QEMU answers 0)');
          }
          const i = pre.ioregsel;
          if (i >= IOREDTBL && i < IOREDTBL + 2 * PINS) {
            const p = (i - IOREDTBL) >>> 1;
            return same(v, i & 1 ? pre.rteHi[p] : pre.rteLo[p], `RTE ${p} ${i & 1 ? 'high' : 'low'} word`);
          }
          if (i === 1) return same(v, 0x0017_0020, 'VER: version 0x20, 24 entries');
          if (i === 0 || i === 2) return same(v, (pre.id << 24) >>> 0, i === 0 ? 'ID' : 'ARB');
          same(errors, 1, `read of register index ${hex(i)}: a guest error`);
          return same(v, 0, `read of register index ${hex(i)}`);
        }
        if (op.off === IOEOI) return same(v, 0, 'a read of the EOI register');
        ensure(errors >= 1, `a read at offset ${hex(op.off)} is a guest error`);
        return same(v, 0, `a read at offset ${hex(op.off)}`);
      }
      case 'w': {
        if (op.size !== 4) ensure(errors >= 1, `a ${op.size}-byte write is a guest error`);
        if (op.off === IOREGSEL) {
          same(outputs, [], 'outputs of an IOREGSEL write');
          same(post.ioregsel, op.v & 0xff, 'IOREGSEL keeps 8 bits');
          return same({ ...post, ioregsel: 0 }, { ...pre, ioregsel: 0 }, 'state after an IOREGSEL write');
        }
        if (op.off === IOEOI) {
          if (!dword) {
            same(outputs, [], 'a narrow write to the EOI register does nothing (82093AA: dword accesses only; QEMU ignores it)');
            return same(post, pre, 'state after a narrow write to the EOI register');
          }
          return same(errors, 0, 'guest errors of an EOI register write');
        }
        if (op.off !== IOWIN) {
          same(outputs, [], `outputs of a write at offset ${hex(op.off)}`);
          ensure(errors >= 1, `a write at offset ${hex(op.off)} is a guest error`);
          return same(post, pre, `state after a write at offset ${hex(op.off)}`);
        }
        if (!dword) {
          same(outputs, [], 'outputs of a narrow IOWIN write (82093AA: dword accesses only; QEMU ignores it)');
          return same(post, pre, 'state after a narrow IOWIN write (82093AA: dword accesses only; QEMU ignores it)');
        }
        const i = pre.ioregsel;
        if (index < 0) {
          same(outputs, [], `outputs of an IOWIN write to index ${hex(i)}`);
          if (i === 0) return same(post.id, (op.v >>> 24) & 0xf, 'ID keeps bits 27:24');
          same(errors, 1, `an IOWIN write to ${i === 1 || i === 2 ? 'read-only' : 'unimplemented'} index ${hex(i)} is a guest error`);
          return same(post, pre, `state after an IOWIN write to index ${hex(i)}`);
        }
        same(errors, 0, 'guest errors of an RTE write');
        const p = (i - IOREDTBL) >>> 1;
        // The pin's route first, from the new RTE; then anything the write makes deliverable.
        const route = msiOut('route', p, msiOf(lib, post, p));
        if (i & 1) {
          same(post.rteHi[p], (op.v & 0xffff_0000) >>> 0, `RTE ${p} high word keeps bits 63:48 (destination, extended destination, format)`);
          same(post.rteLo[p], pre.rteLo[p], `RTE ${p} low word after a high-word write`);
          return same(outputs, [route], `outputs of RTE ${p}'s high-word write`);
        }
        const lo = post.rteLo[p]!;
        same((lo & ~RTE_READ_ONLY) >>> 0, (op.v & ~RTE_READ_ONLY) >>> 0, `RTE ${p} low word: the written bits (delivery status and remote IRR are read-only)`);
        const deliver = !(op.v & RTE_MASKED) && (op.v & RTE_LEVEL) !== 0 && pre.lines[p]! && !rirr(pre, p);
        same(rirr(post, p), deliver || (rirr(pre, p) && (op.v & RTE_LEVEL) !== 0), `RTE ${p}'s remote IRR: kept on a level pin, cleared by a switch to edge, set by a delivery`);
        return same(outputs, deliver ? [route, msiOut('deliver', p, msiOf(lib, post, p))] : [route],
          `outputs of RTE ${p}'s low-word write ${hex(op.v)} (line ${pre.lines[p]}, remote IRR ${rirr(pre, p)})`);
      }
    }
  },

  inconsistent(valid) {
    const lo = [...valid.rteLo];
    lo[0] = (0x30 | RTE_REMOTE_IRR) >>> 0; // remote IRR on an edge pin
    const ds = [...valid.rteLo];
    ds[1] = (0x30 | RTE_DELIVERY_STATUS) >>> 0;
    const hi = [...valid.rteHi];
    hi[2] = 0x0000_0100; // reserved bits of the high word
    return [
      { ...valid, rteLo: lo }, { ...valid, rteLo: ds }, { ...valid, rteHi: hi }, { ...valid, id: 16 }, { ...valid, ioregsel: 0x100 },
      { ...valid, lines: valid.lines.slice(1) }, { ...valid, rteLo: [...valid.rteLo, 0] },
    ];
  },
};

function make(build: (out: IoapicOutputs) => Ioapic, routes: (MsiMessage | null)[]): Inst {
  const inst: Inst = { dev: undefined as unknown as Ioapic, out: [], routes, misrouted: null };
  inst.dev = build({
    updateRoute: (pin, msi) => {
      inst.out.push(msiOut('route', pin, msi));
      inst.routes[pin] = { ...msi };
    },
    deliver: (pin, msi) => {
      inst.out.push(msiOut('deliver', pin, msi));
      if (!sameMsi(inst.routes[pin]!, msi)) inst.misrouted ??= `pin ${pin} delivered ${key(msi)} before its route (last pushed: ${key(inst.routes[pin]!)})`;
    },
    resample: (pin) => inst.out.push(['resample', pin]),
    onGuestError: (what) => inst.out.push(['guest-error', what]),
  });
  return inst;
}

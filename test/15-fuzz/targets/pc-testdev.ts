/**
 * QEMU's pc-testdev (src/devices/pc-testdev.ts) under fuzz: the IRQ block
 * (a write to line n sets IOAPIC input n to "low byte != 0"; 24 lines) and
 * the scratch port 0xe0 (four bytes that read back what was written, at any
 * offset and width; QEMU's test_ioport_read/write). Offsets outside a
 * block are guest errors that change nothing (reads: all ones).
 */
import type { PcTestdevIoport, PcTestdevIoportState, PcTestdevIrq, PcTestdevIrqState } from '../../../src/devices/pc-testdev.js';
import { count, isU32, same, type Out, type Target } from '../harness.js';

interface Inst { irq: PcTestdevIrq; port: PcTestdevIoport; out: Out[] }
type Op =
  | { k: 'irq-w'; off: number; size: number; v: number }
  | { k: 'irq-r'; off: number; size: number }
  | { k: 'port-w'; off: number; size: number; v: number }
  | { k: 'port-r'; off: number; size: number };
interface S { irq: PcTestdevIrqState; port: PcTestdevIoportState }

const LINES = 24;
const GARBAGE = [-1, 4, 5, 0x20, 2 ** 31];
const ones = (size: number): number => 2 ** (8 * size) - 1;
const errorsOf = (d: object): number => (d as { guestErrors?: number }).guestErrors ?? 0;

/** The scratch register as bytes: a write of `size` bytes at `off` replaces those inside the 4-byte register. */
function written(value: number, off: number, size: number, v: number): number {
  const bytes = [0, 1, 2, 3].map((i) => (value >>> (8 * i)) & 0xff);
  for (let i = 0; i < size && off + i < 4; i++) bytes[off + i] = (v >>> (8 * i)) & 0xff;
  return (bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24)) >>> 0;
}
function readBack(value: number, off: number, size: number): number {
  let r = 0;
  for (let i = 0; i < size && off + i < 4; i++) r += ((value >>> (8 * (off + i))) & 0xff) * 2 ** (8 * i);
  return r;
}

export const pcTestdevTarget: Target<Inst, S, Op> = {
  create(lib) {
    return make((sink) => new lib.pcTestdev.PcTestdevIrq(sink), () => new lib.pcTestdev.PcTestdevIoport());
  },

  restore(lib, state) {
    const s = (typeof state === 'object' && state !== null ? state : {}) as Partial<S>;
    return make((sink) => lib.pcTestdev.PcTestdevIrq.restore(s.irq!, sink), () => lib.pcTestdev.PcTestdevIoport.restore(s.port!));
  },

  snapshot: (inst) => ({ irq: inst.irq.snapshot(), port: inst.port.snapshot() }),

  gen(rng) {
    const x = rng.int(100);
    if (x < 35) return [{ k: 'irq-w', off: rng.chance(0.95) ? rng.int(LINES) : rng.pick([-1, 24, 25, 0x100]), size: rng.chance(0.8) ? 1 : rng.size(), v: rng.chance(0.5) ? rng.int(2) : rng.u32() }];
    if (x < 40) return [{ k: 'irq-r', off: rng.int(LINES), size: rng.size() }];
    const off = rng.chance(0.95) ? rng.int(4) : rng.pick(GARBAGE);
    if (x < 70) return [{ k: 'port-w', off, size: rng.size(), v: rng.u32() }];
    return [{ k: 'port-r', off, size: rng.size() }];
  },

  apply(inst, op) {
    const d = op.k === 'irq-w' || op.k === 'irq-r' ? inst.irq : inst.port;
    const before = errorsOf(d);
    switch (op.k) {
      case 'irq-w': inst.irq.write(op.off, op.size, op.v); break;
      case 'irq-r': inst.out.push(['r', 'irq', op.off, op.size, inst.irq.read()]); break;
      case 'port-w': inst.port.write(op.off, op.size, op.v); break;
      case 'port-r': inst.out.push(['r', 'port', op.off, op.size, inst.port.read(op.off, op.size)]); break;
    }
    if (errorsOf(d) !== before) inst.out.push(['guest-error', errorsOf(d) - before]);
  },

  state(_lib, s) {
    same(s.irq, { version: 1 }, 'the IRQ block keeps no state');
    same(isU32(s.port.value), true, `port 0xe0 holds ${s.port.value}, not 32 bits`);
  },

  step({ op, pre, post, out }) {
    const valid = Number.isInteger(op.off) && op.off >= 0 && op.off < (op.k.startsWith('irq') ? LINES : 4);
    switch (op.k) {
      case 'irq-w':
        same(out, valid ? [['line', op.off, (op.v & 0xff) !== 0]] : [['guest-error', 1]], `a write to IRQ line ${op.off}`);
        return same(post, pre, 'state after an IRQ block write');
      case 'irq-r':
        same(out, [['r', 'irq', op.off, op.size, 0]], 'a read of the IRQ block');
        return same(post, pre, 'state after an IRQ block read');
      case 'port-w':
        same(count(out, 'guest-error'), valid ? 0 : 1, `guest errors of a write at offset ${op.off}`);
        return same(post.port.value, valid ? written(pre.port.value, op.off, op.size, op.v) : pre.port.value,
          `port 0xe0 after a ${op.size}-byte write of ${op.v} at offset ${op.off}`);
      case 'port-r':
        same(count(out, 'guest-error'), valid ? 0 : 1, `guest errors of a read at offset ${op.off}`);
        same(out.find((o) => o[0] === 'r')!.at(-1), valid ? readBack(pre.port.value, op.off, op.size) : ones(op.size),
          `a ${op.size}-byte read at offset ${op.off} of ${pre.port.value}`);
        return same(post, pre, 'state after a read of port 0xe0');
    }
  },

  inconsistent(valid) {
    return [{ ...valid, port: { version: 1, value: -1 } }, { ...valid, irq: { version: 2 } }, { irq: valid.irq }];
  },
};

function make(irq: (sink: { setIrq(line: number, level: boolean): void }) => PcTestdevIrq, port: () => PcTestdevIoport): Inst {
  const out: Out[] = [];
  return { irq: irq({ setIrq: (line, level) => out.push(['line', line, level]) }), port: port(), out };
}

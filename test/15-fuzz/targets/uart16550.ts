/**
 * The 16550A UART (src/devices/uart16550.ts) under fuzz. Rules from the
 * PC16550D datasheet, with the model's documented deviations: transmission
 * is instantaneous (THRE/TEMT always 1, a THR write re-arms the THRE
 * interrupt), no character timeout, CTS/DSR/DCD asserted and RI not (in
 * loopback they follow MCR), the interrupt output gated by MCR OUT2.
 */
import type { RecordingIrqLine } from '../../../src/devices/irq.js';
import type { Uart16550, Uart16550State } from '../../../src/devices/uart16550.js';
import { checkEdges, count, drainIrq, ensure, hex, only, same, sameExcept, type Out, type Target } from '../harness.js';

interface Inst { dev: Uart16550; irq: RecordingIrqLine; out: Out[] }
type Op = { k: 'r'; off: number } | { k: 'w'; off: number; v: number } | { k: 'rx'; bytes: number[] } | { k: 'space' };
type S = Uart16550State;

// Offsets and bits (datasheet table II).
const RBR = 0, IER = 1, IIR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6; // 7: SCR
const LCR_DLAB = 0x80;
const IER_RDA = 0x01, IER_THRE = 0x02, IER_RLS = 0x04, IER_MS = 0x08;
const IIR_NONE = 0b0001, IIR_THRE = 0b0010;
const LSR_DR = 0x01, LSR_OE = 0x02, LSR_LINE_ERRORS = 0x1e, LSR_THRE = 0x20, LSR_TEMT = 0x40, LSR_FIFO_ERR = 0x80;
const MCR_DTR = 0x01, MCR_RTS = 0x02, MCR_OUT1 = 0x04, MCR_OUT2 = 0x08, MCR_LOOP = 0x10;
const MSR_CTS = 0x10, MSR_DSR = 0x20, MSR_RI = 0x40, MSR_DCD = 0x80;

/** Offsets the bus never gives (the UART decodes 8 ports). */
const GARBAGE = [-1, 8, 9, 0x10, 0x3f8, 2 ** 31];

const isByte = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xff;
const capacity = (s: S): number => (s.fcr & 1 ? 16 : 1);

/** The highest-priority pending, enabled cause (datasheet table IV): line status, data, THR empty, modem status. */
function iirCode(s: S): number {
  if (s.ier & IER_RLS && s.lsr & LSR_LINE_ERRORS) return 0b0110;
  if (s.ier & IER_RDA && s.lsr & LSR_DR) return 0b0100;
  if (s.ier & IER_THRE && s.thrIpending) return IIR_THRE;
  if (s.ier & IER_MS && s.msr & 0x0f) return 0b0000;
  return IIR_NONE;
}

/** The interrupt output: a cause pending, and OUT2 (the PC gates the INTR pin with it). */
const lineOf = (s: S): boolean => iirCode(s) !== IIR_NONE && (s.mcr & MCR_OUT2) !== 0;

/** MSR as read: in loopback the inputs are the MCR outputs (RTS→CTS, DTR→DSR, OUT1→RI, OUT2→DCD). */
function msrRead(s: S): number {
  if (!(s.mcr & MCR_LOOP)) return s.msr;
  const m = s.mcr;
  return (m & MCR_RTS ? MSR_CTS : 0) | (m & MCR_DTR ? MSR_DSR : 0) | (m & MCR_OUT1 ? MSR_RI : 0) | (m & MCR_OUT2 ? MSR_DCD : 0) | (s.msr & 0x0f);
}

/** The receiver after `bytes` arrive: taken while there is room; past it an overrun (FIFO: the new byte is lost; no FIFO: it overwrites the holding register). */
function received(s: S, bytes: readonly number[]): { rx: number[]; overrun: boolean } {
  const rx = [...s.rx];
  let overrun = false;
  for (const b of bytes) {
    if (rx.length < capacity(s)) rx.push(b & 0xff);
    else {
      overrun = true;
      if (!(s.fcr & 1)) rx[0] = b & 0xff;
    }
  }
  return { rx, overrun };
}

export const uartTarget: Target<Inst, S, Op> = {
  create(lib) {
    return make(lib.irq.RecordingIrqLine, (deps) => new lib.uart.Uart16550(deps));
  },

  restore(lib, state) {
    const inst = make(lib.irq.RecordingIrqLine, (deps) => lib.uart.Uart16550.restore(state, deps));
    inst.irq.level = state.irqLevel; // the wire is where the original left it
    return inst;
  },

  snapshot: (inst) => inst.dev.snapshot(),

  gen(rng) {
    const off = (): number => (rng.chance(0.04) ? rng.pick(GARBAGE) : rng.int(8));
    const x = rng.int(100);
    if (x < 42) return [{ k: 'r', off: off() }];
    if (x < 84) return [{ k: 'w', off: off(), v: rng.chance(0.9) ? rng.byte() : rng.u32() }];
    if (x < 98) return [{ k: 'rx', bytes: Array.from({ length: rng.int(20) }, () => rng.byte()) }];
    return [{ k: 'space' }];
  },

  apply(inst, op) {
    switch (op.k) {
      case 'r': inst.out.push(['r', op.off, inst.dev.read(op.off)]); break;
      case 'w': inst.dev.write(op.off, op.v); break;
      case 'rx': inst.dev.receive(op.bytes); break;
      case 'space': inst.out.push(['space', inst.dev.rxSpace]); break;
    }
    drainIrq(inst.irq, inst.out, 'irq');
  },

  state(_lib, s, inst) {
    for (const k of ['ier', 'lcr', 'mcr', 'lsr', 'msr', 'scr', 'dll', 'dlm', 'fcr'] as const) ensure(isByte(s[k]), `${k} = ${s[k]} is not a byte`);
    ensure((s.ier & ~0x0f) === 0, `IER ${hex(s.ier)}: bits 7:4 are always 0`);
    ensure((s.mcr & ~0x1f) === 0, `MCR ${hex(s.mcr)}: bits 7:5 are always 0`);
    ensure((s.fcr & ~0xc9) === 0, `FCR ${hex(s.fcr)} keeps a self-clearing or reserved bit`);
    ensure(s.rx.every(isByte), 'the receiver holds bytes');
    ensure(s.rx.length <= capacity(s), `the receiver holds ${s.rx.length} bytes, more than its ${capacity(s)}`);
    ensure(((s.lsr & LSR_DR) !== 0) === (s.rx.length > 0), () => `LSR DR ${s.lsr & LSR_DR} with ${s.rx.length} bytes received: DR must be set iff the receiver is not empty`);
    ensure((s.lsr & (LSR_THRE | LSR_TEMT)) === (LSR_THRE | LSR_TEMT), 'THRE and TEMT read 1 (transmission is instantaneous)');
    ensure((s.msr & 0xf0) === (MSR_CTS | MSR_DSR | MSR_DCD), `MSR ${hex(s.msr)}: CTS, DSR and DCD asserted, RI not`);
    ensure(s.irqLevel === lineOf(s), () => `IRQ output ${s.irqLevel}, but IIR cause ${iirCode(s)} and OUT2 ${(s.mcr & MCR_OUT2) !== 0}`);
    ensure(inst.irq.level === s.irqLevel, 'the IRQ wire is at the level the device says it drives');
    ensure(inst.dev.rxSpace === capacity(s) - s.rx.length, `rxSpace ${inst.dev.rxSpace} with ${s.rx.length} of ${capacity(s)} used`);
  },

  step({ op, pre, post, out }) {
    checkEdges(out, 'irq', pre.irqLevel, post.irqLevel);
    const errors = count(out, 'guest-error');
    const tx = only(out, 'tx').map((o) => o[1]);
    const dlab = (pre.lcr & LCR_DLAB) !== 0;
    const offset = op.k === 'r' || op.k === 'w' ? op.off : 0;
    const valid = Number.isInteger(offset) && offset >= 0 && offset <= 7;
    const readOnly = op.k === 'w' && (op.off === LSR || op.off === MSR); // factory-test writes: ignored and counted
    ensure(errors === (valid && !readOnly ? 0 : 1), () => `${errors} guest errors for ${valid ? 'a valid' : 'an invalid'} access`);
    if (!(op.k === 'w' && op.off === RBR && !dlab && !(pre.mcr & MCR_LOOP))) same(tx, [], 'bytes transmitted by something other than a THR write');
    if (!valid) return same(post, pre, 'state after an access outside the 8 registers');
    switch (op.k) {
      case 'space':
        return same(post, pre, 'state after asking for rxSpace');
      case 'rx': {
        const { rx, overrun } = received(pre, op.bytes);
        same(post.rx, rx, 'receiver contents');
        same(post.lsr, pre.lsr | (rx.length ? LSR_DR : 0) | (overrun ? LSR_OE : 0), 'LSR after receiving');
        return sameExcept(post, pre, ['rx', 'lsr', 'irqLevel'], 'receiving');
      }
      case 'r': {
        const v = out.find((o) => o[0] === 'r')![2] as number;
        ensure(isByte(v), `read of ${op.off} returned ${v}, not a byte`);
        switch (op.off) {
          case RBR:
            if (dlab) {
              same(v, pre.dll, 'DLL');
              return same(post, pre, 'DLL read');
            }
            same(v, pre.rx[0] ?? 0, 'RBR: the oldest received byte (0 when empty)');
            same(post.rx, pre.rx.slice(1), 'receiver after an RBR read');
            return sameExcept(post, pre, ['rx', 'lsr', 'irqLevel'], 'RBR read');
          case IER:
            same(v, dlab ? pre.dlm : pre.ier, dlab ? 'DLM' : 'IER');
            return same(post, pre, 'IER read');
          case IIR: {
            const code = iirCode(pre);
            same(v, code | (pre.fcr & 1 ? 0xc0 : 0), 'IIR: the highest-priority pending enabled cause, FIFO bits');
            // Reading IIR while it reports THRE clears that interrupt (datasheet table IV); nothing else.
            same(post.thrIpending, pre.thrIpending && code !== IIR_THRE, 'THRE pending after an IIR read');
            return sameExcept(post, pre, ['thrIpending', 'irqLevel'], 'IIR read');
          }
          case LCR: same(v, pre.lcr, 'LCR'); return same(post, pre, 'LCR read');
          case MCR: same(v, pre.mcr, 'MCR'); return same(post, pre, 'MCR read');
          case LSR:
            same(v, pre.lsr, 'LSR');
            same(post.lsr, pre.lsr & ~(LSR_LINE_ERRORS | LSR_FIFO_ERR), 'LSR after a read: the error bits clear');
            return sameExcept(post, pre, ['lsr', 'irqLevel'], 'LSR read');
          case MSR:
            same(v, msrRead(pre), 'MSR');
            same(post.msr, pre.msr & 0xf0, 'MSR after a read: the delta bits clear');
            return sameExcept(post, pre, ['msr', 'irqLevel'], 'MSR read');
          default:
            same(v, pre.scr, 'SCR');
            return same(post, pre, 'SCR read');
        }
      }
      case 'w': {
        const v = op.v & 0xff;
        switch (op.off) {
          case RBR:
            if (dlab) return same(post, { ...pre, dll: v }, 'DLL write');
            if (pre.mcr & MCR_LOOP) {
              const { rx, overrun } = received(pre, [v]);
              same(post.rx, rx, 'loopback: the byte goes to the receiver');
              same(post.lsr, pre.lsr | LSR_DR | (overrun ? LSR_OE : 0), 'LSR after a loopback byte');
            } else {
              same(tx, [v], 'THR write: exactly the byte, transmitted');
              same(post.rx, pre.rx, 'receiver after a THR write');
            }
            ensure(post.thrIpending, 'THR empties at once after a write: the THRE interrupt is pending');
            return sameExcept(post, pre, ['rx', 'lsr', 'thrIpending', 'irqLevel'], 'THR write');
          case IER:
            if (dlab) return same(post, { ...pre, dlm: v }, 'DLM write');
            same(post.ier, v & 0x0f, 'IER keeps bits 3:0');
            // Enabling ETBEI while THR is empty raises the THRE interrupt.
            same(post.thrIpending, pre.thrIpending || (!(pre.ier & IER_THRE) && (v & IER_THRE) !== 0), 'THRE pending after an IER write');
            return sameExcept(post, pre, ['ier', 'thrIpending', 'irqLevel'], 'IER write');
          case IIR: {
            same(post.fcr, v & 0xc9, 'FCR keeps FIFO enable and the trigger level');
            const reset = (v & 0x02) !== 0 || ((v ^ pre.fcr) & 1) !== 0;
            same(post.rx, reset ? [] : pre.rx, `receiver after FCR ${hex(v)} (cleared by RCVR reset or a FIFO mode change)`);
            same(post.lsr & ~LSR_DR, pre.lsr & ~LSR_DR, 'LSR bits other than DR after an FCR write');
            return sameExcept(post, pre, ['fcr', 'rx', 'lsr', 'irqLevel'], 'FCR write');
          }
          case LCR: return same(post, { ...pre, lcr: v }, 'LCR write');
          case MCR:
            same(post.mcr, v & 0x1f, 'MCR keeps bits 4:0');
            same(post.msr, ((v ^ pre.mcr) & MCR_LOOP) ? pre.msr & 0xf0 : pre.msr, 'MSR after an MCR write');
            return sameExcept(post, pre, ['mcr', 'msr', 'irqLevel'], 'MCR write');
          case LSR:
          case MSR:
            same(errors, 1, 'a write to a read-only register is a guest error');
            return same(post, pre, 'state after a write to LSR/MSR');
          default:
            return same(post, { ...pre, scr: v }, 'SCR write');
        }
      }
    }
  },

  inconsistent(valid) {
    return [
      { ...valid, rx: [], lsr: valid.lsr | LSR_DR }, // data ready with nothing received
      { ...valid, rx: [1], lsr: valid.lsr & ~LSR_DR }, // data without data ready
      { ...valid, fcr: 0, rx: [1, 2], lsr: valid.lsr | LSR_DR }, // two bytes without a FIFO
      { ...valid, fcr: 0x02 }, // a self-clearing FCR bit kept
      { ...valid, ier: 0x10 },
      { ...valid, ier: 0, irqLevel: true }, // output high with nothing enabled
    ];
  },
};

function make(
  Line: new () => RecordingIrqLine,
  build: (deps: { irq: RecordingIrqLine; tx: (b: number) => void; onGuestError: (what: string) => void }) => Uart16550,
): Inst {
  const out: Out[] = [];
  const irq = new Line();
  const dev = build({ irq, tx: (b) => out.push(['tx', b]), onGuestError: (what) => out.push(['guest-error', what]) });
  return { dev, irq, out };
}

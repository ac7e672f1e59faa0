/**
 * fw_cfg's legacy port interface (src/devices/fw-cfg.ts) under fuzz. Rules
 * from QEMU's docs/specs/fw_cfg.rst: a 16-bit selector write picks an item
 * (bits 13:0 the key, bit 14 the deprecated write channel, ignored, bit 15
 * the architecture-local key space, where x86 here has no items) and
 * rewinds; each data read returns the next byte of the item, 0 past its end
 * or for an absent item, and the position never passes the end. Other
 * accesses are guest errors that change nothing.
 */
import type { FwCfg, FwCfgConfig, FwCfgState } from '../../../src/devices/fw-cfg.js';
import { count, ensure, hex, same, type Out, type Target } from '../harness.js';

interface Inst { dev: FwCfg; out: Out[]; cfg: FwCfgConfig; items: Map<number, number[]> }
type Op = { k: 'r'; off: number; size: number } | { k: 'w'; off: number; size: number; v: number };
type S = FwCfgState;

const SELECTOR = 0, DATA = 1;
const KEYS = [0x00, 0x01, 0x03, 0x05, 0x0f, 0x02, 0x19, 0x3fff];
const ARCH_LOCAL = 0x8000, WRITE_CHANNEL = 0x4000;

function le(value: number, bytes: number): number[] {
  return Array.from({ length: bytes }, (_, i) => Number((BigInt(value) >> BigInt(8 * i)) & 0xffn));
}

/** The items of the PC machine, by key (QEMU: signature, interface ID with the traditional interface bit, RAM size, CPU counts). */
function itemsOf(cfg: FwCfgConfig): Map<number, number[]> {
  return new Map([
    [0x00, [...'QEMU'].map((c) => c.charCodeAt(0))], [0x01, le(1, 4)], [0x03, le(cfg.ramSize, 8)],
    [0x05, le(cfg.cpus, 2)], [0x0f, le(cfg.maxCpus, 2)],
  ]);
}

/** The item a selector value names (QEMU's fw_cfg_select): null for an absent or architecture-local one. */
function itemFor(inst: Inst, selector: number): number[] | null {
  const key = selector & 0xffff;
  if (key & ARCH_LOCAL) return null;
  return inst.items.get(key & ~WRITE_CHANNEL) ?? null;
}

export const fwCfgTarget: Target<Inst, S, Op> = {
  create(lib, rng) {
    const cpus = rng.range(1, 255);
    const cfg = { ramSize: rng.range(1, 1 << 16) * 0x10_0000, cpus, maxCpus: rng.range(cpus, 288) };
    return make(cfg, (onGuestError) => new lib.fwCfg.FwCfg(cfg, onGuestError));
  },

  restore(lib, state, like) {
    return make(like.cfg, (onGuestError) => lib.fwCfg.FwCfg.restore(state, like.cfg, onGuestError));
  },

  snapshot: (inst) => inst.dev.snapshot(),

  gen(rng) {
    const x = rng.int(100);
    if (x < 25) {
      const y = rng.int(100);
      const key = y < 60 ? rng.pick(KEYS) : y < 70 ? rng.pick(KEYS) | ARCH_LOCAL : y < 80 ? rng.pick(KEYS) | WRITE_CHANNEL : y < 98 ? rng.u32() & 0xffff : rng.u32();
      return [{ k: 'w', off: SELECTOR, size: rng.chance(0.85) ? 2 : rng.pick([1, 4]), v: key }];
    }
    if (x < 90) return [{ k: 'r', off: DATA, size: rng.chance(0.85) ? 1 : rng.pick([2, 4]) }];
    if (x < 95) return [{ k: 'r', off: rng.pick([SELECTOR, 2, -1, 0x10]), size: rng.size() }];
    return [{ k: 'w', off: rng.pick([DATA, 2, -1, 0x10]), size: rng.size(), v: rng.u32() }];
  },

  apply(inst, op) {
    if (op.k === 'r') inst.out.push(['r', op.off, op.size, inst.dev.read(op.off, op.size)]);
    else inst.dev.write(op.off, op.size, op.v);
  },

  state(_lib, s, inst) {
    ensure(Number.isInteger(s.selector) && s.selector >= 0 && s.selector <= 0xffff, `selector ${s.selector} is not 16 bits`);
    const item = itemFor(inst, s.selector);
    ensure(Number.isInteger(s.offset) && s.offset >= 0 && s.offset <= (item?.length ?? 0),
      () => `read position ${s.offset} is past the end of item ${hex(s.selector)} (${item?.length ?? 0} bytes)`);
  },

  step({ inst, op, pre, post, out }) {
    const errors = count(out, 'guest-error');
    if (op.k === 'w') {
      if (op.off === SELECTOR && op.size === 2) {
        same(errors, 0, 'guest errors of a selector write');
        same(itemFor(inst, post.selector), itemFor(inst, op.v), `the item selected by ${hex(op.v & 0xffff)}`);
        return same(post.offset, 0, 'a selector write rewinds');
      }
      same(errors, 1, `a ${op.size}-byte write at offset ${op.off} is a guest error`);
      return same(post, pre, `state after a ${op.size}-byte write at offset ${op.off}`);
    }
    const v = out.find((o) => o[0] === 'r')![3] as number;
    if (op.off !== DATA) {
      same(errors, 1, `a read at offset ${op.off} is a guest error`);
      same(v, 0, `a read at offset ${op.off}`);
      return same(post, pre, `state after a read at offset ${op.off}`);
    }
    // A data read: the next byte (one per access, whatever its width: a byte register), 0 past the end.
    same(errors, op.size === 1 ? 0 : 1, `guest errors of a ${op.size}-byte data read`);
    const item = itemFor(inst, pre.selector);
    same(v, item?.[pre.offset] ?? 0, `byte ${pre.offset} of item ${hex(pre.selector)}`);
    same(post, { ...pre, offset: item ? Math.min(pre.offset + 1, item.length) : pre.offset }, 'state after a data read');
  },

  inconsistent(valid) {
    return [
      { ...valid, selector: 0, offset: 5 }, // past the end of the 4-byte signature
      { ...valid, selector: 0x77, offset: 1 }, // a position in an absent item
      { ...valid, selector: 0x1_0000 },
    ];
  },
};

function make(cfg: FwCfgConfig, build: (onGuestError: (what: string) => void) => FwCfg): Inst {
  const out: Out[] = [];
  return { dev: build((what) => out.push(['guest-error', what])), out, cfg, items: itemsOf(cfg) };
}

/**
 * The MSI-X capability (src/pci/msi.ts) under fuzz: random writes to its
 * control, table and PBA, fires of any vector, and bus mastering toggling,
 * against PCI 3.0 §6.8.2: a vector is sent only while MSI-X is enabled,
 * neither it nor the function is masked and the function may master the
 * bus, with the message its table entry holds at that moment; otherwise it
 * is latched pending (while enabled) and sent, once, when it is unmasked;
 * an entry reports a change exactly when its message changed.
 */
import type { MsixCapability, MsixSpec, MsixState } from '../../../src/pci/msi.js';
import { ensure, same, type Out, type Rng, type Target } from '../harness.js';

interface Inst { c: MsixCapability; out: Out[]; spec: MsixSpec; master: { on: boolean } }
type Op =
  | { k: 'ctl'; v: number }
  | { k: 'tw'; off: number; size: number; v: number }
  | { k: 'tr'; off: number; size: number }
  | { k: 'pba'; off: number; size: number }
  | { k: 'fire'; n: number }
  | { k: 'master'; on: boolean };

const SPECS: MsixSpec[] = [
  { offset: 0x50, vectors: 3, tableBar: 0, tableOffset: 0, pbaBar: 0, pbaOffset: 0x800 },
  { offset: 0x60, vectors: 40, tableBar: 2, tableOffset: 0x1000, pbaBar: 2, pbaOffset: 0x2000 },
];

export const msixTarget: Target<Inst, MsixState, Op> = {
  create: (lib, rng) => make(lib.msi, SPECS[rng.int(SPECS.length)]!, undefined, { on: rng.bool() }),
  restore: (lib, state, like) => make(lib.msi, like.spec, { state }, { on: like.master.on }),
  snapshot: (inst) => inst.c.snapshot(),

  gen(rng: Rng): Op[] {
    const r = rng.int(100);
    if (r < 10) return [{ k: 'ctl', v: rng.pick([0x80, 0xc0, 0x40, 0, rng.byte()]) }];
    if (r < 15) return [{ k: 'master', on: rng.bool() }];
    if (r < 40) return [{ k: 'fire', n: rng.chance(0.95) ? rng.int(41) : rng.pick([-1, 2048, 1.5]) }];
    if (r < 50) return [{ k: 'pba', off: rng.chance(0.9) ? rng.int(3) * 4 : rng.int(16), size: rng.chance(0.9) ? 4 : rng.size() }];
    const entry = rng.int(41);
    const word = rng.int(4);
    const off = rng.chance(0.9) ? entry * 16 + word * 4 : rng.int(0x300);
    const size = rng.chance(0.9) ? 4 : rng.size();
    if (r < 60) return [{ k: 'tr', off, size }];
    const v = word === 3 ? rng.pick([0, 1, 0xffff_ffff]) : word === 0 ? rng.pick([0xfee0_0000, 0xfee0_1000, rng.u32()]) : rng.pick([0, 0x41, rng.u32()]);
    return [{ k: 'tw', off, size, v }];
  },

  apply(inst, op) {
    const c = inst.c;
    switch (op.k) {
      case 'ctl': c.write(3, 1, op.v); return;
      case 'tw': c.tableWrite(op.off, op.size, op.v); return;
      case 'tr': inst.out.push(['r', op.off, op.size, c.tableRead(op.off, op.size)]); return;
      case 'pba': inst.out.push(['pba', op.off, op.size, c.pbaRead(op.off, op.size)]); return;
      case 'fire': c.fire(op.n); return;
      case 'master':
        inst.master.on = op.on;
        if (op.on) c.deliverPending();
        return;
    }
  },

  state(_lib, s, inst) {
    ensure((s.control & ~0xc000) === 0, 'only enable and function mask are kept in control');
    ensure(s.table.length === inst.spec.vectors * 4, 'four dwords per entry');
    s.table.forEach((v, i) => {
      if ((i & 3) === 3) ensure((v & ~1) === 0, `vector control of entry ${i >>> 2} keeps only the mask bit`);
      if ((i & 3) === 0) ensure((v & 3) === 0, `message address of entry ${i >>> 2} keeps bits 1:0 clear`);
    });
  },

  step({ inst, op, pre, post, out }) {
    const c = inst.c;
    const enabled = (post.control & 0x8000) !== 0;
    const fnMasked = (post.control & 0x4000) !== 0;
    const masked = (n: number): boolean => fnMasked || (post.table[n * 4 + 3]! & 1) === 1;
    const pending = (s: MsixState, n: number): boolean => ((s.pending[n >>> 5]! >>> (n & 31)) & 1) === 1;
    const message = (s: MsixState, n: number): string => `${(s.table[n * 4]! & 0xffff_fffc) >>> 0}:${s.table[n * 4 + 1]}=${s.table[n * 4 + 2]}`;
    // Nothing deliverable is left pending.
    if (enabled && !fnMasked && inst.master.on) {
      for (let n = 0; n < inst.spec.vectors; n++) ensure(!(pending(post, n) && !masked(n)), `vector ${n} pending although deliverable`);
    }
    for (let n = 0; n < inst.spec.vectors; n++) ensure(pending(post, n) === c.isPending(n), `PBA bit ${n} = isPending`);
    // Every send: deliverable at the time, with the entry's message now (nothing in the step changes it after the send).
    for (const o of out) {
      if (o[0] === 'send') {
        const n = o[1] as number;
        ensure(enabled && !masked(n) && inst.master.on, `vector ${n} sent while not deliverable`);
        same(o[2], message(post, n), `vector ${n} sent with its table entry's message`);
        ensure(!pending(post, n), `vector ${n} sent and still pending`);
      }
      if (o[0] === 'changed') {
        const n = o[1] as number;
        ensure(message(pre, n) !== message(post, n), `entry ${n} reported changed although its message is the same`);
      }
    }
    for (let n = 0; n < inst.spec.vectors; n++) {
      if (message(pre, n) !== message(post, n)) ensure(out.some((o) => o[0] === 'changed' && o[1] === n), `entry ${n} changed without a report`);
    }
    // A fire: sent, latched, or dropped (disabled / out of range).
    if (op.k === 'fire') {
      const sends = out.filter((o) => o[0] === 'send');
      const valid = Number.isInteger(op.n) && op.n >= 0 && op.n < inst.spec.vectors;
      if (!valid || !enabled) ensure(sends.length === 0 && same2(pre.pending, post.pending), 'a fire while disabled or out of range does nothing');
      else if (masked(op.n)) ensure(sends.length === 0 && pending(post, op.n), 'a masked fire is latched pending');
      else if (inst.master.on) same(sends.map((o) => o[1]), [op.n], 'an unmasked fire sends once');
    }
  },

  // Pending bits past the last vector (every bit of every PBA word set), where the last word has such bits.
  inconsistent: (valid) => ((valid.table.length / 4) % 32 === 0 ? [] : [{ ...valid, pending: valid.pending.map(() => 0xffff_ffff) }]),
};

function same2(a: number[], b: number[]): boolean { return a.length === b.length && a.every((v, i) => v === b[i]); }

function make(msi: { MsixCapability: typeof MsixCapability }, spec: MsixSpec, from: { state: MsixState } | undefined, master: { on: boolean }): Inst {
  const out: Out[] = [];
  const outputs = {
    send: (n: number, m: { addressLo: number; addressHi: number; data: number }) => { out.push(['send', n, `${m.addressLo}:${m.addressHi}=${m.data}`]); },
    busMaster: () => master.on,
    onEntryChanged: (n: number) => { out.push(['changed', n]); },
    onGuestError: () => { out.push(['guest-error']); },
  };
  const c = from ? msi.MsixCapability.restore(spec, from.state, outputs) : new msi.MsixCapability(spec, outputs);
  return { c, out, spec, master };
}

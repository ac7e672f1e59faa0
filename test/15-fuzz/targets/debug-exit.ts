/**
 * isa-debug-exit (src/devices/debug-exit.ts) under fuzz. QEMU's
 * hw/misc/debugexit.c: every write of v ends the VM with status
 * (v << 1) | 1, which the process sees modulo 256; reads float high.
 */
import type { DebugExit, DebugExitState } from '../../../src/devices/debug-exit.js';
import { same, type Out, type Target } from '../harness.js';

interface Inst { dev: DebugExit; out: Out[] }
type Op = { k: 'r'; off: number; size: number } | { k: 'w'; off: number; size: number; v: number };

export const debugExitTarget: Target<Inst, DebugExitState, Op> = {
  create: (lib) => make((onExit) => new lib.debugExit.DebugExit({ onExit })),
  restore: (lib, state) => make((onExit) => lib.debugExit.DebugExit.restore(state, { onExit })),
  snapshot: (inst) => inst.dev.snapshot(),

  gen(rng) {
    const off = rng.chance(0.95) ? rng.int(4) : rng.pick([-1, 4, 0x100]);
    return [rng.chance(0.7) ? { k: 'w', off, size: rng.size(), v: rng.chance(0.5) ? rng.byte() : rng.u32() } : { k: 'r', off, size: rng.size() }];
  },

  apply(inst, op) {
    if (op.k === 'r') inst.out.push(['r', op.off, op.size, inst.dev.read(op.off, op.size)]);
    else inst.dev.write(op.off, op.size, op.v);
  },

  state(_lib, s) {
    same(s, { version: 1 }, 'isa-debug-exit keeps no state');
  },

  step({ op, out }) {
    if (op.k === 'r') return same(out, [['r', op.off, op.size, 2 ** (8 * op.size) - 1]], `a ${op.size}-byte read: all ones`);
    same(out, [['exit', ((op.v << 1) | 1) & 0xff]], `a write of ${op.v}: one exit with status (v << 1) | 1, modulo 256`);
  },

  inconsistent: () => [],
};

function make(build: (onExit: (status: number) => void) => DebugExit): Inst {
  const out: Out[] = [];
  return { dev: build((status) => out.push(['exit', status])), out };
}

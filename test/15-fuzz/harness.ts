/**
 * The pieces every device target of the fuzzer shares: the seeded PRNG, the
 * shape of a target, and the check helpers.
 *
 * The fuzzer's modules (this file, fuzz-devices.ts, targets/) import only
 * *types* from src/: the device modules arrive as a DeviceLib value, so
 * scripts/fuzz/devices.js can run a transpiled copy of them against the
 * compiled modules in dist/, and the vitest files against src/ (src-lib.ts).
 */
import { isDeepStrictEqual } from 'node:util';
import type * as DebugExitModule from '../../src/devices/debug-exit.js';
import type * as FwCfgModule from '../../src/devices/fw-cfg.js';
import type * as IrqModule from '../../src/devices/irq.js';
import type * as PcTestdevModule from '../../src/devices/pc-testdev.js';
import type * as UartModule from '../../src/devices/uart16550.js';
import type * as ErrorsModule from '../../src/errors.js';
import type * as IoapicModule from '../../src/irqchip/ioapic.js';
import type * as LapicModule from '../../src/irqchip/lapic.js';
import type * as PicModule from '../../src/irqchip/pic8259.js';
import type * as RteModule from '../../src/irqchip/rte.js';
import type * as PciModule from '../../src/pci/function.js';
import type * as MsiModule from '../../src/pci/msi.js';

/** The modules under test, passed in (from src/ under vitest, from dist/ in the script). */
export interface DeviceLib {
  uart: typeof UartModule;
  irq: typeof IrqModule;
  ioapic: typeof IoapicModule;
  rte: typeof RteModule;
  lapic: typeof LapicModule;
  pic: typeof PicModule;
  fwCfg: typeof FwCfgModule;
  pcTestdev: typeof PcTestdevModule;
  debugExit: typeof DebugExitModule;
  pci: typeof PciModule;
  msi: typeof MsiModule;
  errors: typeof ErrorsModule;
}

/** Where each DeviceLib module lives, relative to src/ (and to dist/ once built). */
export const LIB_MODULES: Readonly<Record<keyof DeviceLib, string>> = {
  uart: 'devices/uart16550.js',
  irq: 'devices/irq.js',
  ioapic: 'irqchip/ioapic.js',
  rte: 'irqchip/rte.js',
  lapic: 'irqchip/lapic.js',
  pic: 'irqchip/pic8259.js',
  fwCfg: 'devices/fw-cfg.js',
  pcTestdev: 'devices/pc-testdev.js',
  debugExit: 'devices/debug-exit.js',
  pci: 'pci/function.js',
  msi: 'pci/msi.js',
  errors: 'errors.js',
};

/**
 * xorshift32 (Marsaglia), seeded through a murmur3 finalizer so that
 * neighbouring seeds (and 0) give unrelated streams. Deterministic: a seed
 * and a step count reproduce a run exactly.
 */
export class Rng {
  private s: number;
  constructor(seed: number) {
    let z = (Math.floor(seed) + 0x9e37_79b9) | 0;
    z = Math.imul(z ^ (z >>> 16), 0x85eb_ca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2_ae35);
    z ^= z >>> 16;
    this.s = z === 0 ? 0x6d2b_79f5 : z;
  }
  u32(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x;
    return x >>> 0;
  }
  /** 0..n-1. */
  int(n: number): number { return Math.floor((this.u32() / 0x1_0000_0000) * n); }
  /** lo..hi inclusive. */
  range(lo: number, hi: number): number { return lo + this.int(hi - lo + 1); }
  bool(): boolean { return (this.u32() & 1) === 1; }
  chance(p: number): boolean { return this.u32() < p * 0x1_0000_0000; }
  byte(): number { return this.u32() & 0xff; }
  pick<T>(a: readonly T[]): T { return a[this.int(a.length)]!; }
  /** An access size as the buses give them. */
  size(): 1 | 2 | 4 { return this.pick([1, 2, 4] as const); }
}

/** One output of a device (or a value it returned), tagged: ['irq', true], ['tx', 0x41], ['r', offset, size, value]... */
export type Out = (string | number | boolean)[];

export interface StepCtx<I, S, Op> {
  lib: DeviceLib;
  inst: I;
  op: Op;
  pre: S;
  post: S;
  /** What the step produced, in order. */
  out: readonly Out[];
}

/**
 * A device under fuzz. `I` is the harness's instance (the device, its
 * recording outputs, anything the owner of the device would keep), `S` the
 * device's saved state, `Op` one input step. Methods (not function
 * properties) so that targets of different types share the `AnyTarget` slot.
 */
export interface Target<I extends { out: Out[] }, S, Op> {
  /** A device in its reset state; configuration, if the device has any, drawn from `rng`. */
  create(lib: DeviceLib, rng: Rng): I;
  /** A device rebuilt from `state` (which must not be kept: restore copies), configured like `like`. */
  restore(lib: DeviceLib, state: S, like: I): I;
  snapshot(inst: I): S;
  /** One generated input: usually one step, sometimes a short sequence (a guest's usual programming order). */
  gen(rng: Rng): Op[];
  apply(inst: I, op: Op): void;
  /** Invariants of a state (after every step, and of a freshly restored device). */
  state(lib: DeviceLib, s: S, inst: I): void;
  /** The rules of one step: what `op` may and must have done, from the state before and after and the outputs. */
  step(ctx: StepCtx<I, S, Op>): void;
  /** States that are well formed but contradict the hardware's rules: restore must refuse them. */
  inconsistent(valid: S): unknown[];
}

// Method bivariance makes every Target<I, S, Op> assignable here.
export type AnyTarget = Target<any, any, any>;

/** An invariant that did not hold. */
export class InvariantError extends Error {
  override name = 'InvariantError';
}

export function ensure(ok: boolean, what: string | (() => string)): asserts ok {
  if (!ok) throw new InvariantError(typeof what === 'string' ? what : what());
}

/** Deep equality (node:util's strict rules: -0 ≠ 0, NaN = NaN, array holes matter). */
export function same(actual: unknown, expected: unknown, what: string): void {
  if (!isDeepStrictEqual(actual, expected)) {
    throw new InvariantError(`${what}: got ${show(actual)}, expected ${show(expected)}`);
  }
}

/** `same` for everything but `keys` (the fields a step may change; the test checks those separately). */
export function sameExcept<T extends object>(actual: T, expected: T, keys: readonly (keyof T)[], what: string): void {
  const a: Partial<T> = { ...actual };
  const e: Partial<T> = { ...expected };
  for (const k of keys) {
    delete a[k];
    delete e[k];
  }
  same(a, e, `fields other than ${keys.join(', ')} after ${what}`);
}

export function show(v: unknown, limit = 600): string {
  const s = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x));
  return s === undefined ? String(v) : s.length > limit ? `${s.slice(0, limit)}…` : s;
}

export const hex = (v: number): string => `0x${v.toString(16)}`;

export function isU32(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff;
}

/** Moves what a RecordingIrqLine recorded into the output list, as [tag, level] entries. */
export function drainIrq(line: { calls: boolean[] }, out: Out[], tag: string): void {
  for (const level of line.calls) out.push([tag, level]);
  line.calls.length = 0;
}

/** An IRQ output only ever changes level: the recorded calls alternate, starting from the level before the step. */
export function checkEdges(out: readonly Out[], tag: string, before: boolean, after: boolean): void {
  let level = before;
  for (const o of out) {
    if (o[0] !== tag) continue;
    ensure(o[1] !== level, () => `${tag} set to ${String(o[1])} while already at that level (outputs ${show(out)})`);
    level = o[1] as boolean;
  }
  ensure(level === after, () => `${tag} ended at ${String(level)}, but the device says ${String(after)}`);
}

export const count = (out: readonly Out[], tag: string): number => out.reduce((n, o) => n + (o[0] === tag ? 1 : 0), 0);
export const only = (out: readonly Out[], ...tags: string[]): Out[] => out.filter((o) => tags.includes(o[0] as string));

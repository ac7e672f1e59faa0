/**
 * The device fuzzer (issue 7, "Fuzzing, both sides (b)"): drives one device
 * model with a seeded stream of random guest accesses and other inputs, and
 * after every step checks
 *   1. that nothing was thrown (a guest poking garbage gets what hardware
 *      gives, counted as a guest error: never an exception);
 *   2. the device's invariants and step rules (targets/*.ts), after every step;
 *   3. at random points: snapshot → JSON → restore gives an equal snapshot,
 *      the restored twin then makes exactly the same outputs as the original
 *      for the same further inputs (and half the time the run goes on with
 *      the twin), neither snapshot() nor restore() aliases the state object,
 *      and restore refuses malformed states with InvalidArgumentError.
 *
 * fuzzDevice() is the long seeded run (devices.test.ts, scripts/fuzz/devices.js);
 * runOps() is the same machinery over an explicit list of op seeds, for a
 * fast-check property that can shrink a failure.
 */
import { isDeepStrictEqual } from 'node:util';
import { ensure, InvariantError, Rng, same, show, type AnyTarget, type DeviceLib, type Out } from './harness.js';
import { debugExitTarget } from './targets/debug-exit.js';
import { fwCfgTarget } from './targets/fw-cfg.js';
import { ioapicTarget } from './targets/ioapic.js';
import { lapicTarget } from './targets/lapic.js';
import { pcTestdevTarget } from './targets/pc-testdev.js';
import { picTarget } from './targets/pic8259.js';
import { uartTarget } from './targets/uart16550.js';
import { pciFunctionTarget } from './targets/pci-function.js';
import { msixTarget } from './targets/msix.js';

export { LIB_MODULES, type DeviceLib } from './harness.js';

export const DEVICE_NAMES = ['uart16550', 'ioapic', 'lapic', 'pic8259', 'fw-cfg', 'pc-testdev', 'debug-exit', 'pci-function', 'msix'] as const;
export type DeviceName = (typeof DEVICE_NAMES)[number];

const TARGETS: Record<DeviceName, AnyTarget> = {
  uart16550: uartTarget,
  ioapic: ioapicTarget,
  lapic: lapicTarget,
  pic8259: picTarget,
  'fw-cfg': fwCfgTarget,
  'pc-testdev': pcTestdevTarget,
  'debug-exit': debugExitTarget,
  'pci-function': pciFunctionTarget,
  msix: msixTarget,
};

export interface FuzzOptions {
  /** Mean number of steps between two snapshot/restore round trips (default 1000). */
  restoreEvery?: number;
  /** The longest twin run after a restore, in steps (default 300). */
  twinSteps?: number;
}

export interface FuzzSummary {
  device: DeviceName;
  seed: number;
  steps: number;
  ms: number;
  /** Outputs and returned values by tag (e.g. irq, tx, deliver, guest-error). */
  outputs: Record<string, number>;
  /** Snapshot → restore round trips, steps run on a restored twin, and malformed states restore refused. */
  roundTrips: number;
  twinSteps: number;
  refused: number;
}

/** A failed run: which device, seed and step, the op, and how to reproduce it. */
export class FuzzFailure extends Error {
  override name = 'FuzzFailure';
  constructor(readonly device: string, readonly seed: number | string, readonly step: number, readonly op: unknown, what: string, options?: { cause?: unknown }) {
    super(`${device}, seed ${seed}, step ${step}: ${what}\n  op: ${show(op)}` +
      (typeof seed === 'number' ? `\n  reproduce: node scripts/fuzz/devices.js --device ${device} --seed ${seed} --steps ${step + 1}` : ''), options);
  }
}

function targetOf(name: string): AnyTarget {
  const t = (TARGETS as Partial<Record<string, AnyTarget>>)[name];
  if (!t) throw new RangeError(`unknown device '${name}' (known: ${DEVICE_NAMES.join(', ')})`);
  return t;
}

const errText = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

interface Twin { inst: { out: Out[] }; left: number; taken: unknown; restoredFrom: unknown; json: string; steps: number }

class Runner {
  inst: { out: Out[] };
  private pre: unknown;
  private twin: Twin | null = null;
  get twinning(): boolean { return this.twin !== null; }
  readonly outputs: Record<string, number> = {};
  roundTrips = 0;
  twinSteps = 0;
  refused = 0;

  constructor(private readonly lib: DeviceLib, private readonly t: AnyTarget, private readonly device: string,
    private readonly seed: number | string, configRng: Rng) {
    this.inst = t.create(lib, configRng);
    this.pre = t.snapshot(this.inst);
    this.guard(-1, null, () => t.state(lib, this.pre, this.inst), 'the reset state breaks an invariant');
  }

  private fail(step: number, op: unknown, what: string, cause?: unknown): never {
    throw new FuzzFailure(this.device, this.seed, step, op, what, cause === undefined ? undefined : { cause });
  }

  /** Runs a check; an InvariantError (or anything else it throws) becomes a FuzzFailure for this step. */
  private guard(step: number, op: unknown, check: () => void, what: string | (() => string) = 'invariant broken'): void {
    try {
      check();
    } catch (e) {
      if (e instanceof FuzzFailure) throw e;
      const context = typeof what === 'string' ? what : what();
      this.fail(step, op, e instanceof InvariantError ? `${context}: ${e.message}` : `a check threw ${errText(e)}`, e);
    }
  }

  step(op: unknown, i: number): void {
    const { t, lib, inst } = this;
    const start = inst.out.length;
    try {
      t.apply(inst, op);
    } catch (e) {
      this.fail(i, op, `an exception escaped the device: ${errText(e)}`, e);
    }
    const out = inst.out.slice(start);
    const post = t.snapshot(inst);
    this.guard(i, op, () => {
      t.state(lib, post, inst);
      t.step({ lib, inst, op, pre: this.pre, post, out });
    }, () => `invariant broken\n  state before: ${show(this.pre, 4000)}\n  outputs: ${show(out, 2000)}\n `);
    for (const o of out) this.outputs[o[0] as string] = (this.outputs[o[0] as string] ?? 0) + 1;
    const twin = this.twin;
    if (twin) {
      const tstart = twin.inst.out.length;
      try {
        t.apply(twin.inst, op);
      } catch (e) {
        this.fail(i, op, `the restored twin threw ${errText(e)}`, e);
      }
      const tout = twin.inst.out.slice(tstart);
      this.guard(i, op, () => same(tout, out, `outputs of the twin restored ${twin.steps} steps ago`));
      twin.steps++;
      this.twinSteps++;
      if (--twin.left === 0) this.endTwin(i, op, post);
      if (twin.inst.out.length > 4096) twin.inst.out.length = 0;
    }
    if (inst.out.length > 4096) inst.out.length = 0;
    this.pre = post;
  }

  /** Snapshot now, restore a twin from the JSON of it, and let it shadow the original for `len` steps. */
  roundTrip(i: number, len: number, meta: Rng, allMalformed: boolean): void {
    const { t, lib } = this;
    const taken = this.pre;
    const json = JSON.stringify(taken);
    const plain: unknown = JSON.parse(json);
    this.guard(i, 'snapshot', () => ensure(isDeepStrictEqual(plain, taken), () => `the snapshot is not plain JSON data: ${json}`));
    let twinInst: { out: Out[] };
    try {
      twinInst = t.restore(lib, plain, this.inst);
    } catch (e) {
      this.fail(i, 'restore', `restore refused the device's own snapshot: ${errText(e)}\n  state: ${json}`, e);
    }
    this.guard(i, 'restore', () => {
      const again = t.snapshot(twinInst);
      same(again, taken, 'snapshot of the restored device');
      t.state(lib, again, twinInst);
    });
    this.refuseMalformed(i, taken, meta, allMalformed);
    this.roundTrips++;
    this.twin = { inst: twinInst, left: len, taken, restoredFrom: plain, json, steps: 0 };
  }

  private endTwin(i: number, op: unknown, post: unknown): void {
    const twin = this.twin!;
    this.twin = null;
    this.guard(i, op, () => {
      same(this.t.snapshot(twin.inst), post, `state of the twin restored ${twin.steps} steps ago`);
      ensure(JSON.stringify(twin.taken) === twin.json, 'the device changed a snapshot it had returned (snapshot() aliases live state)');
      ensure(JSON.stringify(twin.restoredFrom) === twin.json, 'the device changed the state it was restored from (restore() kept a reference)');
    });
    // Half the time the restored device carries on as the device under test.
    if (twin.steps % 2 === 0) this.inst = twin.inst;
  }

  finish(i: number): void {
    if (this.twin) this.endTwin(i, 'end of run', this.pre);
  }

  private refuseMalformed(i: number, valid: unknown, meta: Rng, all: boolean): void {
    const { t, lib } = this;
    const bad = [...malformed(valid), ...t.inconsistent(valid).map((state) => ({ what: 'an inconsistent state', state: () => state }))];
    const chosen = all ? bad : Array.from({ length: Math.min(4, bad.length) }, () => meta.pick(bad));
    for (const b of chosen) {
      const state = b.state();
      let thrown: unknown = null;
      try {
        t.restore(lib, state, this.inst);
      } catch (e) {
        thrown = e;
      }
      this.guard(i, 'restore', () => ensure(
        thrown instanceof lib.errors.InvalidArgumentError && thrown.code === 'ERR_INVALID_ARG',
        () => `restore of ${b.what} should throw InvalidArgumentError, ${thrown === null ? 'but it was accepted' : `but threw ${errText(thrown)}`}\n  state: ${show(state)}`,
      ));
      this.refused++;
    }
  }
}

const DELETE = Symbol('delete');

/**
 * Copies of `s` broken in one place each, in ways no field accepts: wrong types, non-integers, out-of-range
 * numbers, missing fields, holes, wrong versions. Built on demand (`state()`): there are hundreds.
 */
export function malformed(s: unknown): { what: string; state: () => unknown }[] {
  const out: { what: string; state: () => unknown }[] = [
    { what: 'null', state: () => null }, { what: 'an array', state: () => [] }, { what: 'a string', state: () => 'state' },
  ];
  const put = (path: (string | number)[], value: unknown, what: string): void => {
    out.push({
      what: `${path.join('.')} ${what}`,
      state: () => {
        const copy = structuredClone(s) as Record<string | number, unknown>;
        let o = copy;
        for (const k of path.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
        const last = path[path.length - 1]!;
        if (value === DELETE) delete o[last]; else o[last] = value;
        return copy;
      },
    });
  };
  const walk = (v: unknown, path: (string | number)[]): void => {
    if (path.length === 1 && path[0] === 'version') {
      for (const x of [2, 0, '1', null, DELETE]) put(path, x, `= ${String(x)}`);
      return;
    }
    if (typeof v === 'number') {
      for (const x of ['7', null, 1.5, -2, 2 ** 53, NaN, DELETE]) put(path, x, `= ${String(x)}`);
    } else if (typeof v === 'boolean') {
      for (const x of [0, 'true', null, DELETE]) put(path, x, `= ${String(x)}`);
    } else if (Array.isArray(v)) {
      for (const x of ['[]', null, {}, DELETE]) put(path, x, `= ${String(x)}`);
      if (v.length > 0) walk(v[0], [...path, 0]);
    } else if (typeof v === 'object' && v !== null) {
      if (path.length > 0) for (const x of [null, 'object', DELETE]) put(path, x, `= ${String(x)}`);
      for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
    }
  };
  walk(s, []);
  return out;
}

/** A seeded run of `steps` steps on device `name`; throws FuzzFailure at the first broken rule. */
export function fuzzDevice(lib: DeviceLib, name: string, seed: number, steps: number, options: FuzzOptions = {}): FuzzSummary {
  const t = targetOf(name);
  const restoreEvery = options.restoreEvery ?? 1000;
  const twinMax = options.twinSteps ?? 300;
  const ops = new Rng(seed); // the input stream: the same for a seed whatever the options
  const meta = new Rng(seed ^ 0x5bd1_e995); // when to round-trip, for how long, which malformed states
  const started = performance.now();
  const r = new Runner(lib, t, name, seed, ops);
  let queue: unknown[] = [];
  let first = true;
  for (let i = 0; i < steps; i++) {
    if (queue.length === 0) queue = t.gen(ops);
    r.step(queue.shift(), i);
    if (meta.chance(1 / restoreEvery) && !r.twinning) {
      r.roundTrip(i, meta.range(1, twinMax), meta, first);
      first = false;
    }
  }
  r.finish(steps - 1);
  return {
    device: name as DeviceName, seed, steps, ms: Math.round(performance.now() - started),
    outputs: r.outputs, roundTrips: r.roundTrips, twinSteps: r.twinSteps, refused: r.refused,
  };
}

/**
 * The same checks over an explicit input: op i is generated from its own seed `opSeeds[i]`, and the
 * round trip happens before op `restoreAt` (its twin runs to the end). For fast-check, which shrinks
 * the list of seeds.
 */
export function runOps(lib: DeviceLib, name: string, opSeeds: readonly number[], restoreAt: number): void {
  const t = targetOf(name);
  const r = new Runner(lib, t, name, 'fast-check', new Rng(0));
  let i = 0;
  opSeeds.forEach((s, k) => {
    if (k === restoreAt) r.roundTrip(i - 1, Infinity, new Rng(s), false);
    for (const op of t.gen(new Rng(s))) r.step(op, i++);
  });
  r.finish(i - 1);
}

/** One line per run, for the script. */
export function formatSummary(s: FuzzSummary): string {
  const outs = Object.entries(s.outputs).sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k}=${n}`).join(' ');
  return `${s.device.padEnd(10)} seed=${s.seed} steps=${s.steps} ok ${s.ms} ms  round-trips=${s.roundTrips} twin-steps=${s.twinSteps} refused=${s.refused}  ${outs}`;
}

/**
 * A load generator for eventfds (issue 8's `--doorbell-load`): rings a list
 * of eventfds round robin, `count` times, one every `intervalNs` (0: as fast
 * as it can) -- what a vhost worker or a VFIO device does to a VMM.
 *
 * On KVM it is another thread (a worker) writing duplicates of the eventfds,
 * so the rings arrive while the vCPU runs and the device thread is busy, as
 * real ones would. The duplicates are the worker's to write and the
 * owner's to close: `stop()` raises a flag the worker checks before every
 * write and waits (bounded) until it has left its loop, and only then
 * closes them, so a number is never written after it could be reused.
 * On the sim (no threads, no fds) the rings are made on this thread from
 * timers, between the sim's slices.
 */
import { Worker } from 'node:worker_threads';
import { InvalidArgumentError } from '../errors.js';
import type { EventFd } from './types.js';

export interface RingerOptions {
  /** Rings in all (round robin over the eventfds). */
  count: number;
  /** Nanoseconds between rings; 0 rings as fast as it can. */
  intervalNs: number;
}

export interface Ringer {
  /** Rings made so far. */
  readonly rings: number;
  /** Whether every ring was made (or the ringer was stopped). */
  readonly done: boolean;
  /** Resolves with the rings made when the ringer ends. */
  readonly finished: Promise<number>;
  /** Stops ringing (idempotent); returns once no ring can follow. */
  stop(): void;
}

/** Throws ERR_INVALID_ARG unless the options make sense. */
export function checkRingerOptions(eventfds: readonly EventFd[], opts: RingerOptions): void {
  if (!Array.isArray(eventfds) || eventfds.length === 0) throw new InvalidArgumentError('ringEventFds needs at least one eventfd');
  if (!Number.isSafeInteger(opts?.count) || opts.count < 0) throw new InvalidArgumentError(`ringer count ${String(opts?.count)}: a non-negative integer`);
  if (!Number.isFinite(opts.intervalNs) || opts.intervalNs < 0) throw new InvalidArgumentError(`ringer interval ${String(opts.intervalNs)} ns: a non-negative number`);
}

// Slots of the shared control block.
const RINGS = 0, STOP = 1, EXITED = 2;

const WORKER = `
const { workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const { fds, count, intervalNs, ctl } = workerData;
const c = new Int32Array(ctl);
const one = Buffer.alloc(8); one.writeBigUInt64LE(1n);
const t0 = process.hrtime.bigint();
try {
  for (let i = 0; i < count; i++) {
    if (Atomics.load(c, ${STOP})) break;
    if (intervalNs > 0) {
      const due = t0 + BigInt(i) * BigInt(intervalNs);
      for (;;) {
        if (Atomics.load(c, ${STOP})) break;
        const left = due - process.hrtime.bigint();
        if (left <= 0n) break;
        // Sleep on the STOP slot: stop() notifies it, so a slow rate never delays a stop.
        if (left > 2000000n) Atomics.wait(c, ${STOP}, 0, Number(left / 1000000n) - 1);
      }
      if (Atomics.load(c, ${STOP})) break;
    }
    try { writeSync(fds[i % fds.length], one); } catch (e) { if (e.code !== 'EAGAIN') throw e; }
    Atomics.add(c, ${RINGS}, 1);
  }
} finally {
  Atomics.store(c, ${EXITED}, 1);
  Atomics.notify(c, ${EXITED});
}
`;

/**
 * The KVM ringer: a worker writing `dups` (file descriptors the caller owns
 * and closes in `release`, called once the worker can no longer write).
 */
export function threadRinger(dups: readonly number[], opts: RingerOptions, release: () => void): Ringer {
  const ctl = new SharedArrayBuffer(16);
  const c = new Int32Array(ctl);
  // No inherited execArgv: under a parent started with --input-type=module the script would be parsed as ESM.
  const worker = new Worker(WORKER, { eval: true, execArgv: [], workerData: { fds: [...dups], count: opts.count, intervalNs: opts.intervalNs, ctl } });
  worker.unref();
  let released = false;
  const finish = (): void => {
    if (released) return;
    released = true;
    release();
  };
  const finished = new Promise<number>((resolve) => {
    worker.once('exit', () => { finish(); resolve(Atomics.load(c, RINGS)); });
    worker.once('error', () => { /* the exit follows */ });
  });
  return {
    get rings() { return Atomics.load(c, RINGS); },
    get done() { return Atomics.load(c, EXITED) === 1; },
    finished,
    stop() {
      Atomics.store(c, STOP, 1);
      Atomics.notify(c, STOP);
      // The worker checks the flag before every write: it leaves its loop within one write (or
      // one bounded sleep slice) -- wait for that, then the duplicates may be closed.
      for (let i = 0; i < 50 && Atomics.load(c, EXITED) === 0; i++) Atomics.wait(c, EXITED, 0, 100);
      if (Atomics.load(c, EXITED) === 1) finish();
      else void worker.terminate().then(finish);
    },
  };
}

/** The sim's ringer: rings on this thread from timers. */
export function timerRinger(eventfds: readonly EventFd[], opts: RingerOptions): Ringer {
  let rings = 0;
  let stopped = false;
  let resolve!: (n: number) => void;
  const finished = new Promise<number>((r) => { resolve = r; });
  const t0 = performance.now();
  const step = (): void => {
    if (stopped) return;
    // Ring everything due now (at most a batch: the sim's vCPU gets its turn between batches).
    const due = opts.intervalNs > 0 ? Math.min(opts.count, Math.floor((performance.now() - t0) * 1e6 / opts.intervalNs) + 1) : Math.min(opts.count, rings + 64);
    for (; rings < due; rings++) eventfds[rings % eventfds.length]!.write(1);
    if (rings >= opts.count) { stopped = true; resolve(rings); return; }
    if (opts.intervalNs >= 1e6) setTimeout(step, Math.max(0, opts.intervalNs / 1e6 - 0.5));
    else setImmediate(step);
  };
  setImmediate(step);
  return {
    get rings() { return rings; },
    get done() { return stopped; },
    finished,
    stop() {
      if (stopped) return;
      stopped = true;
      resolve(rings);
    },
  };
}

/**
 * A vCPU's own thread: a worker that does nothing but KVM_RUN on the
 * vCPU's fd when told to, and says when KVM_RUN returned. The exit itself
 * is read on the JS thread that owns the devices, from its own mapping of
 * the same `kvm_run` page (MAP_SHARED), so the worker holds no policy, no
 * device and no decoding: one ioctl in a loop.
 *
 * Handshake over a SharedArrayBuffer (Int32Array):
 *   [STATE]  IDLE → RUN (owner: enter KVM_RUN) → EXITED (worker: returned)
 *            → RUN … ; STOP (owner: leave the loop; the worker ends)
 *   [RESULT] KVM_RUN's return value, or -EINTR/-EAGAIN for a kick
 *   [ERR]    errno when KVM_RUN failed otherwise (0 if it did not)
 * The owner waits with Atomics.waitAsync, so its event loop (eventfd
 * callbacks, stdin, the other vCPUs' exits) keeps running meanwhile.
 */
import { Worker } from 'node:worker_threads';
import { BackendError, ERRNO, type ErrnoName } from '../../errors.js';

const STATE = 0;
const RESULT = 1;
const ERR_SLOT = 2;
/* 0 = IDLE: the state before the first run. */
const RUN = 1;
const EXITED = 2;
const STOP = 3;

/**
 * Busy-wait budgets (Atomics.load polls) before sleeping: an exit such as a
 * port write comes back in a few microseconds, far less than a futex wake-up
 * and an event-loop turn cost on a nested host. Measured with bench-pio on
 * one threaded vCPU: see the README's threading note.
 */
const WORKER_SPINS = 20_000;
const OWNER_SPINS = 20_000;

// The worker's whole program. CommonJS because eval workers are scripts; it needs only the addon.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const b = require(workerData.addon);
const ctl = new Int32Array(workerData.ctl);
// This thread's own handle to the vCPU (by its never-reused share id, not an fd number).
const vcpu = b.attachVcpu(workerData.shareId);
const run = b.vcpuRunner(vcpu);
for (;;) {
  let s, spins = ${WORKER_SPINS};
  // The owner usually answers an exit within microseconds: spin a little before sleeping on the futex.
  while ((s = Atomics.load(ctl, ${STATE})) !== ${RUN} && s !== ${STOP}) {
    if (spins > 0) spins--;
    else Atomics.wait(ctl, ${STATE}, s);
  }
  if (s === ${STOP}) break;
  let r = 0, err = 0;
  try { r = run(); } catch (e) { err = (e && e.errno) || 5; }
  ctl[${RESULT}] = r;
  ctl[${ERR_SLOT}] = err;
  if (Atomics.compareExchange(ctl, ${STATE}, ${RUN}, ${EXITED}) !== ${RUN}) break;
  Atomics.notify(ctl, ${STATE});
}
vcpu.close();
`;

// ES2024's Atomics.waitAsync (in V8 since Node 16), typed here for our ES2022 lib.
type WaitAsyncResult = { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync = (Atomics as unknown as {
  waitAsync(a: Int32Array, index: number, value: number): WaitAsyncResult;
}).waitAsync.bind(Atomics);

export class VcpuThread {
  private readonly ctl = new Int32Array(new SharedArrayBuffer(16));
  private readonly worker: Worker;
  private inFlight = false;
  private stopped = false;
  constructor(addonPath: string, shareId: number, readonly name: string) {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      // The source is a CommonJS script: a process started with --input-type=module would
      // otherwise hand that flag down and make it an ES module, where require() does not exist.
      execArgv: process.execArgv.filter((a) => !a.startsWith('--input-type')),
      workerData: { addon: addonPath, ctl: this.ctl.buffer, shareId },
      name,
      stdout: false,
      stderr: false,
    });
    // A stopped worker ends by itself; it must never keep the process alive.
    this.worker.unref();
    // A worker that dies (it could not load the addon, say) must not take the process down, nor leave
    // a run waiting forever: the run in flight fails with EIO and says why.
    this.worker.on('error', (e: Error) => this.died(`the vCPU thread failed: ${e.message}`));
    this.worker.on('exit', (code: number) => { if (!this.stopped) this.died(`the vCPU thread exited (code ${code})`); });
  }

  /** Why the thread died, once it has; later runs fail at once. */
  private deathReason: string | null = null;

  private died(why: string): void {
    this.deathReason ??= why;
    if (Atomics.load(this.ctl, STATE) === RUN) {
      this.ctl[ERR_SLOT] = ERRNO.EIO;
      Atomics.store(this.ctl, STATE, EXITED);
      Atomics.notify(this.ctl, STATE);
    }
  }

  /** One KVM_RUN on the thread; resolves with its return value (negative: -EINTR/-EAGAIN). */
  async run(): Promise<number> {
    if (this.stopped) throw new BackendError('EBADF', 'KVM_RUN', `${this.name}: the vCPU thread is stopped`);
    if (this.inFlight) throw new BackendError('EBUSY', 'KVM_RUN', `${this.name}: a KVM_RUN is already in flight`);
    if (this.deathReason) throw new BackendError('EIO', 'KVM_RUN', `${this.name}: ${this.deathReason}`);
    this.inFlight = true;
    let refd = false;
    try {
      Atomics.store(this.ctl, STATE, RUN);
      Atomics.notify(this.ctl, STATE);
      // Spin briefly for a quick exit; then let the event loop run until the worker says it is back.
      for (let i = 0; i < OWNER_SPINS && Atomics.load(this.ctl, STATE) === RUN; i++);
      if (Atomics.load(this.ctl, STATE) === RUN) {
        // Atomics.waitAsync alone does not keep Node's event loop alive: the worker does, while we wait.
        this.worker.ref();
        refd = true;
        const w = waitAsync(this.ctl, STATE, RUN);
        if (w.async) await w.value;
      }
      const err = this.ctl[ERR_SLOT]!;
      if (this.deathReason) throw new BackendError('EIO', 'KVM_RUN', `${this.name}: ${this.deathReason}`);
      if (err !== 0) {
        const name = (Object.keys(ERRNO) as ErrnoName[]).find((k) => ERRNO[k] === err) ?? 'EIO';
        throw new BackendError(name, 'KVM_RUN', `${this.name}: KVM_RUN failed with errno ${err}`);
      }
      return this.ctl[RESULT]!;
    } finally {
      this.inFlight = false;
      if (refd) this.worker.unref();
    }
  }

  get busy(): boolean { return this.inFlight; }

  /**
   * Ends the thread: it leaves its loop at its next look at the state word.
   * A KVM_RUN in flight is the vCPU owner's to end (closing the vCPU kicks
   * it, and the addon closes the fd when it returns); the run() awaiting it
   * resolves now.
   */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    Atomics.store(this.ctl, STATE, STOP);
    Atomics.notify(this.ctl, STATE);
  }
}

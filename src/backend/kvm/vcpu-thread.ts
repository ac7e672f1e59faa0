/**
 * A vCPU's own thread (native/vcpu-thread.cc): a native thread that does
 * nothing but KVM_RUN when told to, and says when KVM_RUN returned. The exit
 * itself is read on the JS thread that owns the devices, from the vCPU's
 * kvm_run page, so the thread holds no policy, no device and no decoding.
 *
 * The hand-over is a control block both sides touch with atomics: JS stores
 * RUN and spins briefly for the exit (a port exit comes back in a few
 * microseconds; a wake-up through the event loop costs tens), then sets
 * WAITING and lets the event loop run (eventfd callbacks, stdin, the other
 * vCPUs' exits) until the thread calls back. A native thread rather than a
 * worker_thread: Node joins its workers when an environment ends, which a
 * worker asleep in KVM_RUN would hold forever; this thread is stopped (kicked
 * out of KVM_RUN and joined) by close() and by the environment's teardown.
 */
import { BackendError, ERRNO, type ErrnoName } from '../../errors.js';
import type { NativeBinding, ThreadHandle, VcpuHandle } from '../../native/binding.js';

const STATE = 0;
const RESULT = 1;
const ERR_SLOT = 2;
const SLEEPING = 3;
const WAITING = 4;
/* 0 = IDLE: the state before the first run. */
const RUN = 1;
const STOP = 3;

/** Busy-wait budget (Atomics.load polls) before waiting on the event loop; see the README's threading note. */
const OWNER_SPINS = 20_000;

export class VcpuThread {
  private readonly thread: ThreadHandle;
  private readonly ctl: Int32Array;
  private inFlight = false;
  private stopped = false;
  /** Resolves the run() waiting for the thread's call. */
  private wake: (() => void) | null = null;

  constructor(private readonly b: NativeBinding, vcpu: VcpuHandle, readonly name: string) {
    this.thread = b.vcpuThreadCreate(vcpu, () => this.onExit());
    this.ctl = new Int32Array(b.vcpuThreadControl(this.thread));
  }

  private onExit(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** One KVM_RUN on the thread; resolves with its return value (negative: -EINTR/-EAGAIN). */
  async run(): Promise<number> {
    if (this.stopped) throw new BackendError('EBADF', 'KVM_RUN', `${this.name}: the vCPU thread is stopped`);
    if (this.inFlight) throw new BackendError('EBUSY', 'KVM_RUN', `${this.name}: a KVM_RUN is already in flight`);
    this.inFlight = true;
    const ctl = this.ctl;
    try {
      Atomics.store(ctl, STATE, RUN);
      if (Atomics.load(ctl, SLEEPING) !== 0) this.b.vcpuThreadWake(this.thread);
      for (let i = 0; i < OWNER_SPINS && Atomics.load(ctl, STATE) === RUN; i++);
      if (Atomics.load(ctl, STATE) === RUN) {
        // The thread calls back only when WAITING is set: set it, then look once more (it may have just exited).
        // That look and the thread's can both succeed: then its call comes anyway, later, and wakes whichever
        // run() waits next, with its thread still inside KVM_RUN. So a wake-up counts only once STATE has left RUN.
        this.b.vcpuThreadRef(this.thread, true);
        try {
          while (Atomics.load(ctl, STATE) === RUN && !this.stopped) {
            const exited = new Promise<void>((resolve) => { this.wake = resolve; });
            Atomics.store(ctl, WAITING, 1);
            if (Atomics.load(ctl, STATE) === RUN) await exited;
          }
        } finally {
          this.wake = null;
          Atomics.store(ctl, WAITING, 0);
          if (!this.stopped) this.b.vcpuThreadRef(this.thread, false);
        }
      }
      if (Atomics.load(ctl, STATE) === STOP) return -ERRNO.EINTR; // stopped meanwhile: like a kick
      const err = Atomics.load(ctl, ERR_SLOT);
      if (err !== 0) {
        const name = (Object.keys(ERRNO) as ErrnoName[]).find((k) => ERRNO[k] === err) ?? 'EIO';
        throw new BackendError(name, 'KVM_RUN', `${this.name}: KVM_RUN failed with errno ${err}`);
      }
      return Atomics.load(ctl, RESULT);
    } finally {
      this.inFlight = false;
    }
  }

  get busy(): boolean { return this.inFlight; }

  /**
   * Ends the thread: it is kicked out of KVM_RUN if inside, and joined; a
   * run() waiting for it resolves like a kick.
   */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.thread.close();
    this.onExit();
  }
}

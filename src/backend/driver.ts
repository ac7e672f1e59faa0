/**
 * Run-loop drivers: how a backend runs a machine's vCPUs. The machine does
 * not choose (no branch on the backend's kind): it hands its exit server to
 * `Vm.runVcpus()`, and each backend drives with the schedule that suits it.
 *
 * - `driveOnThisThread`: one vCPU, KVM_RUN on the devices' thread, the
 *   fastest exit path (one synchronous native call per exit). It yields to
 *   the event loop after a kick (an eventfd line, input, a signal) and every
 *   few thousand exits, so eventfds, timers and stdin are served.
 * - `driveOnThreads`: each vCPU enters KVM_RUN on a thread of its own
 *   (Vcpu.runOnThread); their exits are served here, one at a time.
 * - `driveRoundRobin`: several vCPUs on this thread in vCPU order, a
 *   deterministic schedule (the sim).
 * The synchronous variants serve no event loop: a machine with eventfd lines
 * or watched input must not use them (X86Machine.run() refuses).
 *
 * Drivers know nothing of devices or stop reasons: the server serves exits
 * and says when to stop.
 */
import type { Vcpu, VcpuExit } from './types.js';

export interface ExitServer {
  /** Before every KVM_RUN of `vcpu` (e.g. to inject ExtINT or ask for an interrupt window). */
  beforeRun?(vcpu: Vcpu): void;
  /**
   * After every KVM_RUN of `vcpu`, whatever it returned -- `intr` included,
   * which is not served -- before serve(): arm64 reads the user-IRQ levels
   * (device_irq_level) here, as the kernel contract asks. Returns true when
   * the exit was KVM reporting a level change, now served: an `intr` that
   * was no kick then needs no trip through the event loop.
   */
  afterRun?(vcpu: Vcpu, exit: VcpuExit): boolean | void;
  /** Serves one exit of `vcpu`. */
  serve(vcpu: Vcpu, exit: VcpuExit): void;
  /** True once the run must end (checked after every exit). */
  stopping(): boolean;
  /** Ends the run from the driver's side (a vCPU's loop ended on its thread): every other loop then ends. */
  stop(): void;
  /**
   * No vCPU can make progress (all halted without a timer, or waiting for a
   * SIPI): true when something outside may still wake one (an eventfd line,
   * input), and the driver then waits for the event loop; false ends the run
   * `idle`.
   */
  mayWake?(): boolean;
}

/** How a run ended: the server said stop, or no vCPU could run and nothing could wake one. */
export type DriveEnd = 'stopped' | 'idle';

/** Exits between forced yields to the event loop (timers, stdin, poller callbacks). */
const YIELD_EVERY = 4096;

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A yield that is sure to pass the event loop's poll phase, where a poller
 * callback queued before the kick that caused an `intr` is served: one
 * setImmediate hop does that only when it is scheduled from the check
 * phase; from the poll phase it would run in the same turn's check phase,
 * and the vCPU could re-enter KVM_RUN (and sleep in HLT) with the event
 * still queued. Two hops pass a poll phase from either.
 */
const yieldThroughPoll = async (): Promise<void> => { await yieldToEventLoop(); await yieldToEventLoop(); };

/** One vCPU on this thread, synchronously: nothing else runs meanwhile. */
export function driveOnThisThreadSync(vcpu: Vcpu, s: ExitServer): DriveEnd {
  const { beforeRun, afterRun } = s;
  if (beforeRun || afterRun) {
    while (!s.stopping()) {
      beforeRun?.call(s, vcpu);
      const e = vcpu.run();
      afterRun?.call(s, vcpu, e);
      s.serve(vcpu, e);
    }
  } else {
    while (!s.stopping()) s.serve(vcpu, vcpu.run());
  }
  return 'stopped';
}

/** Kicks served on this thread in a row before a trip through the event loop anyway. */
const SERVED_KICKS_PER_YIELD = 64;

/**
 * One vCPU on this thread, yielding to the event loop after a kick and every
 * few thousand exits. `serveKick`, called after a kick, may serve what the
 * kick was for at once (KVM: the eventfd watches its poller found readable)
 * and return true; the driver then goes back into KVM_RUN without the
 * event-loop trip, which costs more than the service itself (an eventfd
 * served in userspace: a doorbell miss, an eventfd IRQ line).
 */
export async function driveOnThisThread(vcpu: Vcpu, s: ExitServer, serveKick?: () => boolean): Promise<DriveEnd> {
  let sinceYield = 0;
  let servedKicks = 0;
  while (!s.stopping()) {
    s.beforeRun?.(vcpu);
    const e = vcpu.run();
    const levelReport = s.afterRun?.(vcpu, e) === true;
    s.serve(vcpu, e);
    // An intr that was KVM's level report and no kick (arm64: every timer tick) is served: no yield,
    // which would cost two event-loop turns per tick. A kick or a signal still yields, unless the
    // kick (only a kick: a signal's handler runs in the event loop) was for watches now served --
    // and even then the event loop gets a turn every SERVED_KICKS_PER_YIELD kicks, for timers and
    // input. (A signal that lands in the same KVM_RUN interruption as such a kick waits for that
    // turn or the next exit.)
    if (e.kind === 'intr' && !(levelReport && e.kicked === false)) {
      if (e.kicked === true && serveKick?.() === true && ++servedKicks < SERVED_KICKS_PER_YIELD) continue;
      servedKicks = 0;
      sinceYield = 0;
      await yieldThroughPoll();
    } else if (++sinceYield >= YIELD_EVERY) {
      sinceYield = 0;
      await yieldToEventLoop();
    }
  }
  return 'stopped';
}

/**
 * Each vCPU on its own thread. When one of them ends the run (the server
 * stops, or its loop fails), every other vCPU is kicked out of KVM_RUN and
 * the driver returns once all are out; a failure is rethrown.
 *
 * A run that comes back while its caller still spins for it (the KVM
 * backend's hand-over, for a fast exit) resolves in a microtask: exit after
 * exit, nothing else would run on this thread. So every YIELD_EVERY exits
 * the loops give the event loop a turn through its poll phase, where
 * eventfd watches are served: a guest polling a device register by MMIO
 * (a PBA bit that a doorbell ring sets) would otherwise wait forever for
 * the ring that only this thread can serve.
 */
export async function driveOnThreads(vcpus: readonly Vcpu[], s: ExitServer): Promise<DriveEnd> {
  const stopAll = (): void => { for (const v of vcpus) v.kick(); };
  let sinceYield = 0; // exits served, by all vCPUs, since the event loop last had a turn here
  const results = await Promise.allSettled(vcpus.map(async (v) => {
    try {
      while (!s.stopping()) {
        s.beforeRun?.(v);
        const e = await v.runOnThread();
        s.afterRun?.(v, e);
        if (s.stopping()) break; // stopping: this exit (often the kick itself) needs no service
        s.serve(v, e);
        if (++sinceYield >= YIELD_EVERY) {
          sinceYield = 0;
          await yieldThroughPoll();
        }
      }
    } finally {
      // Whatever ended this vCPU's loop ends the others'.
      s.stop();
      stopAll();
    }
  }));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return 'stopped';
}

/**
 * One round-robin turn: each vCPU runs until its run() says `intr` (its
 * scheduling quantum ended, it is halted or waiting for a SIPI, or it was
 * kicked), its exits served in between. Returns whether any instruction
 * retired, i.e. whether the machine made progress.
 */
function roundRobinTurn(vcpus: readonly Vcpu[], s: ExitServer): 'progress' | 'kicked' | 'none' {
  let progress = false;
  let anyKicked = false;
  for (const v of vcpus) {
    const before = v.instructionsRetired ?? 0;
    let kicked = false;
    // A turn ends at the vCPU's quantum (run() says intr) or after YIELD_EVERY exits: a guest that
    // exits every few instructions never reaches the quantum, and would hold the other vCPUs and the
    // event loop (its signals, a SIGTERM among them) for as long as it runs.
    for (let exits = 0; exits < YIELD_EVERY; exits++) {
      s.beforeRun?.(v);
      const at = v.instructionsRetired ?? 0;
      const e = v.run();
      s.afterRun?.(v, e);
      if (e.kind === 'intr') {
        // A kick (an eventfd watch, a stop) makes run() return at once, like KVM_RUN with
        // immediate_exit: a runnable vCPU that retired nothing was kicked, not unable to run.
        kicked = (v.instructionsRetired ?? 0) === at && v.getMpState() === 'runnable';
        break;
      }
      s.serve(v, e);
      if (s.stopping()) return 'progress';
    }
    if ((v.instructionsRetired ?? 0) !== before) progress = true;
    else if (kicked) anyKicked = true;
  }
  return progress ? 'progress' : anyKicked ? 'kicked' : 'none';
}

/**
 * Several vCPUs on this thread, round robin in vCPU order. When no vCPU
 * can make progress it waits for the event loop if `mayWake` says something
 * may still wake them, else the run ends `idle`.
 */
export async function driveRoundRobin(vcpus: readonly Vcpu[], s: ExitServer): Promise<DriveEnd> {
  let turns = 0;
  let idleTurns = 0;
  let kickedTurns = 0;
  while (!s.stopping()) {
    let turn = roundRobinTurn(vcpus, s);
    if (s.stopping()) break;
    // Only kicked: whatever kicked it (an eventfd callback) runs in the event loop; give it a turn.
    // A vCPU that keeps returning at once for long is not kicked but stuck: count it as no progress.
    if (turn === 'kicked' && ++kickedTurns <= 64) {
      await yieldToEventLoop();
      continue;
    }
    if (turn === 'kicked') turn = 'none';
    if (turn === 'none') {
      if (!s.mayWake?.()) return 'idle';
      // Only something outside can wake a vCPU now (an eventfd line, input): wait for the event
      // loop, first at once, then backing off to a few milliseconds, not spinning a core meanwhile.
      const wait = idleTurns < 16 ? 0 : Math.min(1 << Math.min(idleTurns - 16, 3), 8);
      idleTurns++;
      await (wait === 0 ? yieldToEventLoop() : new Promise<void>((resolve) => setTimeout(resolve, wait)));
    } else {
      idleTurns = 0;
      kickedTurns = 0;
      // Every turn lets queued microtasks run (the sim's eventfd watches call back that way after
      // kicking the vCPU out of its slice); every 16th passes the whole event loop.
      if (++turns % 16 === 0) await yieldToEventLoop();
      else await Promise.resolve();
    }
  }
  return 'stopped';
}

/** driveRoundRobin without the event loop: runs to the end, synchronously. */
export function driveRoundRobinSync(vcpus: readonly Vcpu[], s: ExitServer): DriveEnd {
  let kickedTurns = 0;
  while (!s.stopping()) {
    const turn = roundRobinTurn(vcpus, s);
    if (turn === 'progress') kickedTurns = 0;
    else if ((turn === 'none' || ++kickedTurns > 64) && !s.stopping()) return 'idle';
  }
  return 'stopped';
}

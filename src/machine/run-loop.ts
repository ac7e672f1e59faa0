/**
 * The vCPU run loop: KVM_RUN, decode, dispatch to the buses, repeat.
 * A plain function over decoded exits (unit-testable with a fake vCPU).
 *
 * Threading: the device models are owned by one JS thread, the one that
 * runs these loops. With one vCPU, KVM_RUN is called on that thread too:
 * the exit path is then a synchronous native call plus a table lookup,
 * which is what keeps it within a few percent of raw C. With several vCPUs
 * on KVM each enters KVM_RUN on its own thread (`runVcpusThreaded`) and
 * its exits come back here one at a time; the sim runs them round robin
 * on this thread (`runVcpusRoundRobin`), deterministically.
 */
import type { Vcpu, VcpuExit } from '../backend/types.js';
import { channel } from '../trace/events.js';
import { readLe, writeLe, type MmioBus, type PioBus } from './bus.js';

export type StopReason =
  | { kind: 'debug-exit'; status: number }
  | { kind: 'shutdown' }
  | { kind: 'halted' }
  | { kind: 'stopped' }
  | { kind: 'signal'; signal: 'SIGINT' | 'SIGTERM' }
  | { kind: 'vcpu-error'; exit: VcpuExit };

export interface RunContext {
  /** The vCPU of the single-vCPU loops (the BSP). */
  vcpu: Vcpu;
  pio: PioBus;
  mmio: MmioBus;
  /** Set by devices (debug-exit) or by the owner to end the loop after the current exit. */
  stop: StopReason | null;
  /** Called on `hlt`; return true if the vCPU should run again (something will wake it). */
  onHalt?: () => boolean;
  /** Called before every KVM_RUN of `vcpu` (e.g. to inject ExtINT or ask for an interrupt window). */
  beforeRun?: (vcpu: Vcpu) => void;
  /** KVM_EXIT_IOAPIC_EOI (split irqchip): the guest EOId a vector the userspace IOAPIC owns. */
  onIoapicEoi?: (vector: number) => void;
  /** Exits handled so far. */
  exits: number;
}

const exitChannel = channel('vmm:vcpu:exit');

function handleExit(ctx: RunContext, e: VcpuExit): StopReason | null {
  switch (e.kind) {
    case 'io-out': {
      const { port, size, data } = e;
      if (e.count === 1) ctx.pio.write(port, size, readLe(data, 0, size));
      else for (let i = 0; i < e.count; i++) ctx.pio.write(port, size, readLe(data, i * size, size));
      return null;
    }
    case 'io-in': {
      const { port, size, data } = e;
      for (let i = 0; i < e.count; i++) writeLe(data, i * size, size, ctx.pio.read(port, size));
      return null;
    }
    case 'mmio-write':
      for (let off = 0; off < e.size; off += 4) {
        const n = Math.min(4, e.size - off);
        ctx.mmio.write(e.address + off, n, readLe(e.data, off, n));
      }
      return null;
    case 'mmio-read':
      for (let off = 0; off < e.size; off += 4) {
        const n = Math.min(4, e.size - off);
        writeLe(e.data, off, n, ctx.mmio.read(e.address + off, n));
      }
      return null;
    case 'hlt':
      return ctx.onHalt?.() ? null : { kind: 'halted' };
    case 'shutdown':
      return { kind: 'shutdown' };
    case 'ioapic-eoi':
      ctx.onIoapicEoi?.(e.vector);
      return null;
    case 'intr':
    case 'irq-window-open':
      return null;
    case 'fail-entry':
    case 'internal-error':
    case 'system-event':
    case 'debug':
    case 'unknown':
      return { kind: 'vcpu-error', exit: e };
    default: {
      const never: never = e;
      return { kind: 'vcpu-error', exit: never };
    }
  }
}

/** Counts, traces and handles one exit of `vcpu`; records a stop reason. */
function dispatch(ctx: RunContext, e: VcpuExit, vcpu: Vcpu = ctx.vcpu): void {
  ctx.exits++;
  if (exitChannel.hasSubscribers) {
    exitChannel.publish({
      vcpu: vcpu.id, kind: e.kind,
      ...(e.kind === 'io-in' || e.kind === 'io-out' ? { port: e.port } : {}),
      ...(e.kind === 'mmio-read' || e.kind === 'mmio-write' ? { address: e.address } : {}),
    });
  }
  const r = handleExit(ctx, e);
  if (r !== null && ctx.stop === null) ctx.stop = r;
}

/** Runs the vCPU until a device or an exit stops it (synchronously: nothing else runs meanwhile). */
export function runVcpu(ctx: RunContext): StopReason {
  const { vcpu, beforeRun } = ctx;
  if (beforeRun) {
    while (ctx.stop === null) {
      beforeRun(vcpu);
      dispatch(ctx, vcpu.run());
    }
  } else {
    while (ctx.stop === null) dispatch(ctx, vcpu.run());
  }
  return ctx.stop;
}

/** Exits between forced yields to the event loop in runVcpuAsync (timers, stdin, poller callbacks). */
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

/**
 * runVcpu for a VMM that also serves events: after an `intr` exit (a kick,
 * e.g. from the poller thread when an eventfd became readable) and every
 * few thousand exits it lets the event loop run, so eventfd callbacks,
 * timers and stdin reach the devices while the guest runs.
 */
export async function runVcpuAsync(ctx: RunContext): Promise<StopReason> {
  let sinceYield = 0;
  while (ctx.stop === null) {
    ctx.beforeRun?.(ctx.vcpu);
    const e = ctx.vcpu.run();
    dispatch(ctx, e);
    if (e.kind === 'intr') {
      sinceYield = 0;
      await yieldThroughPoll();
    } else if (++sinceYield >= YIELD_EVERY) {
      sinceYield = 0;
      await yieldToEventLoop();
    }
  }
  return ctx.stop;
}

/**
 * Several vCPUs, each entering KVM_RUN on its own thread (Vcpu.runOnThread);
 * their exits are handled here, on the devices' thread, one at a time. When
 * one of them stops the machine (debug-exit, shutdown, an error), every
 * other vCPU is kicked out of KVM_RUN and the loop returns once all are out.
 */
export async function runVcpusThreaded(ctx: RunContext, vcpus: readonly Vcpu[]): Promise<StopReason> {
  const stopAll = (): void => { for (const v of vcpus) v.kick(); };
  const results = await Promise.allSettled(vcpus.map(async (v) => {
    try {
      while (ctx.stop === null) {
        ctx.beforeRun?.(v);
        const e = await v.runOnThread();
        if (ctx.stop !== null) break; // stopping: this exit (often the kick itself) needs no service
        dispatch(ctx, e, v);
      }
    } finally {
      // Whatever ended this vCPU's loop ends the others'.
      ctx.stop ??= { kind: 'stopped' };
      stopAll();
    }
  }));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return ctx.stop!;
}

/**
 * One round-robin turn: each vCPU runs until its run() says `intr` (its
 * scheduling quantum ended, it is halted or waiting for a SIPI, or it was
 * kicked), handling its exits in between. Returns whether any instruction
 * retired, i.e. whether the machine made progress.
 */
function roundRobinTurn(ctx: RunContext, vcpus: readonly Vcpu[]): boolean {
  let progress = false;
  for (const v of vcpus) {
    const before = v.instructionsRetired ?? 0;
    for (;;) {
      ctx.beforeRun?.(v);
      const e = v.run();
      if (e.kind === 'intr') break;
      dispatch(ctx, e, v);
      if (ctx.stop !== null) return true;
    }
    if ((v.instructionsRetired ?? 0) !== before) progress = true;
  }
  return progress;
}

/**
 * Several vCPUs on this thread, round robin in vCPU order: a deterministic
 * schedule (the sim). When no vCPU can make progress (all halted with no
 * timer, or waiting for a SIPI) it waits for the event loop if `onIdle`
 * says something may still wake them (an eventfd line), else it stops with
 * `halted`.
 */
export async function runVcpusRoundRobin(
  ctx: RunContext, vcpus: readonly Vcpu[], onIdle: () => boolean = () => false,
): Promise<StopReason> {
  let turns = 0;
  while (ctx.stop === null) {
    const progress = roundRobinTurn(ctx, vcpus);
    if (ctx.stop !== null) break;
    if (!progress) {
      if (!onIdle()) return (ctx.stop = { kind: 'halted' });
      await yieldToEventLoop();
    } else if (++turns % 16 === 0) {
      await yieldToEventLoop();
    }
  }
  return ctx.stop;
}

/** runVcpusRoundRobin without the event loop: runs to the end, synchronously. */
export function runVcpusRoundRobinSync(ctx: RunContext, vcpus: readonly Vcpu[]): StopReason {
  while (ctx.stop === null) {
    if (!roundRobinTurn(ctx, vcpus) && ctx.stop === null) return (ctx.stop = { kind: 'halted' });
  }
  return ctx.stop;
}

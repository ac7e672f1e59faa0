/**
 * Serving vCPU exits: decode → dispatch to the buses → stop reasons. A plain
 * function over decoded exits (unit-testable with a fake vCPU), handed to
 * the backend's run-loop driver (src/backend/driver.ts, Vm.runVcpus) as an
 * ExitServer: the backend decides how its vCPUs run (on this thread, on
 * threads of their own, round robin), the machine what each exit means.
 */
import type { ExitServer } from '../backend/driver.js';
import type { Vcpu, VcpuExit, Vm } from '../backend/types.js';
import { performance } from 'node:perf_hooks';
import { channel } from '../trace/events.js';
import { readLe, writeLe, type MmioBus, type PioBus } from './bus.js';

export type StopReason =
  | { kind: 'debug-exit'; status: number }
  | { kind: 'shutdown' }
  /** arm64: PSCI SYSTEM_OFF / SYSTEM_RESET (KVM_EXIT_SYSTEM_EVENT). */
  | { kind: 'system-event'; event: 'shutdown' | 'reset' | 'crash' | 'other'; type: number }
  | { kind: 'halted' }
  | { kind: 'stopped' }
  | { kind: 'signal'; signal: 'SIGINT' | 'SIGTERM' }
  | { kind: 'vcpu-error'; exit: VcpuExit };

/**
 * The outside sources a machine was told of that may wake a guest halted
 * inside KVM_RUN, served by the event loop: input fds it watches
 * (Vm.kickOnReadable) and holds taken for sources it does not know of.
 * `count`: how many there are now; while any is, a halted guest waits.
 */
export class InputWatches {
  count = 0;

  /** Watches `fd`, kicking `kick` when it becomes readable; the returned unwatch is idempotent. */
  watch(vm: Pick<Vm, 'kickOnReadable'>, fd: number, kick: readonly Vcpu[]): () => void {
    const unwatch = vm.kickOnReadable(fd, kick);
    const release = this.hold();
    return () => {
      release();
      unwatch();
    };
  }

  /** Counts one source until the returned release is called (once is enough; more are no-ops). */
  hold(): () => void {
    this.count++;
    let held = true;
    return () => {
      if (held) this.count--;
      held = false;
    };
  }
}

export interface RunContext {
  pio: PioBus;
  mmio: MmioBus;
  /** Set by devices (debug-exit) or by the owner to end the loop after the current exit. */
  stop: StopReason | null;
  /** Called on `hlt`; return true if the vCPU should run again (something will wake it). */
  onHalt?: () => boolean;
  /** Called before every KVM_RUN of `vcpu` (e.g. to inject ExtINT or ask for an interrupt window). */
  beforeRun?: (vcpu: Vcpu) => void;
  /** Called after every KVM_RUN of `vcpu`, whatever it returned (arm64: the user-IRQ levels); true: a level change was served. */
  afterRun?: (vcpu: Vcpu, exit: VcpuExit) => boolean | void;
  /** The vCPU whose exit is being served (devices with per-CPU registers, like the GIC's, read it). */
  current?: Vcpu | null;
  /** KVM_EXIT_IOAPIC_EOI (split irqchip): the guest EOId a vector the userspace IOAPIC owns. */
  onIoapicEoi?: (vector: number) => void;
  /** No vCPU can run: whether something outside (an eventfd line, input) may still wake one. */
  mayWake?: () => boolean;
  /** Exits handled so far. */
  exits: number;
  /** Names the VM in trace events. */
  vmId?: number;
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
    case 'system-event': {
      const event = e.type === 1 ? 'shutdown' : e.type === 2 ? 'reset' : e.type === 3 ? 'crash' : 'other';
      return event === 'other' ? { kind: 'vcpu-error', exit: e } : { kind: 'system-event', event, type: e.type };
    }
    case 'fail-entry':
    case 'internal-error':
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
function dispatch(ctx: RunContext, e: VcpuExit, vcpu: Vcpu): void {
  ctx.exits++;
  ctx.current = vcpu;
  let r: StopReason | null;
  if (exitChannel.hasSubscribers) {
    const t0 = performance.now();
    r = handleExit(ctx, e);
    exitChannel.publish({
      vm: ctx.vmId ?? 0, vcpu: vcpu.id, kind: e.kind,
      ...(e.kind === 'io-in' || e.kind === 'io-out' ? { port: e.port } : {}),
      ...(e.kind === 'mmio-read' || e.kind === 'mmio-write' ? { address: e.address } : {}),
      us: (performance.now() - t0) * 1000,
    });
  } else {
    r = handleExit(ctx, e);
  }
  if (r !== null && ctx.stop === null) ctx.stop = r;
}

/**
 * The exit server over `ctx` for a backend's driver: serves each exit,
 * counts and traces it, and says stop once a device or an exit recorded a
 * stop reason (a driver ending the run records `stopped`).
 */
export function exitServer(ctx: RunContext): ExitServer {
  return {
    ...(ctx.beforeRun ? { beforeRun: ctx.beforeRun } : {}),
    ...(ctx.afterRun ? { afterRun: ctx.afterRun } : {}),
    serve: (vcpu, e) => dispatch(ctx, e, vcpu),
    stopping: () => ctx.stop !== null,
    stop: () => { ctx.stop ??= { kind: 'stopped' }; },
    ...(ctx.mayWake ? { mayWake: ctx.mayWake } : {}),
  };
}

/**
 * What both machines' command lines share: exit codes, failing with a
 * message, opening the backend with the trace writer, stdin for the guest's
 * UART.
 */
import { fstatSync, readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { openHypervisor, type BackendChoice } from './backend/index.js';
import type { Arch, Hypervisor } from './backend/types.js';
import { ChromeTraceWriter } from './trace/chrome.js';
import { trace } from './trace/events.js';
import { VmmError } from './errors.js';
import type { RunResult } from './machine/x86-pc.js';
import type { StopReason } from './machine/run-loop.js';

export const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;
export const EX_USAGE = 64;
export const EX_SOFTWARE = 70;

export function fail(message: string, status: number): number {
  process.stderr.write(`vmm: ${message}\n`);
  return status;
}

/** The backend a run uses and the trace file it writes; close() releases both and the log subscription. */
export interface RunSession {
  hypervisor: Hypervisor;
  close(): void;
}

/**
 * Opens the backend for `arch` (saying which and why: on stderr for `auto`,
 * in the log, as a trace event) and `--trace`'s writer. On failure returns
 * the exit status after saying why, with everything released, `unsubscribe`
 * (the log's trace subscription) included.
 */
export function openSession(o: { backend: BackendChoice; arch: Arch; trace: string | undefined; log: Logger; unsubscribe: () => void }): RunSession | number {
  let opened;
  try {
    opened = openHypervisor(o.backend, o.arch);
  } catch (e) {
    o.unsubscribe();
    return fail((e as Error).message, EX_SOFTWARE);
  }
  const { hypervisor, reason } = opened;
  let chrome: ChromeTraceWriter | undefined;
  if (o.trace !== undefined) {
    try {
      chrome = new ChromeTraceWriter(o.trace);
    } catch (e) {
      hypervisor.close();
      o.unsubscribe();
      return fail(`--trace ${o.trace}: ${(e as Error).message}`, EX_USAGE);
    }
  }
  o.log.info({ backend: hypervisor.kind, reason }, `backend: ${hypervisor.kind}`);
  if (o.backend === 'auto') process.stderr.write(`vmm: ${reason}\n`);
  trace('vmm:machine:backend', { backend: hypervisor.kind, reason });
  return {
    hypervisor,
    close: () => {
      hypervisor.close();
      o.unsubscribe();
      chrome?.close();
    },
  };
}

/** A machine with a UART that takes input and can be woken by it. */
export interface SerialInput {
  serialIn(bytes: Uint8Array): void;
  wakeOnInput(fd: number): () => void;
}

/** stdin carries input for the guest: a terminal, a pipe, a file or a socket (not /dev/null or closed). */
export function stdinHasInput(): boolean {
  try {
    const st = fstatSync(0);
    return process.stdin.isTTY === true || st.isFIFO() || st.isFile() || st.isSocket();
  } catch {
    return false;
  }
}

/**
 * Feeds stdin into the UART's receiver until stopped; stopping releases
 * stdin so the process can exit. A regular file is read whole, up front (the
 * UART takes it in as the guest makes room); a pipe, terminal or socket is
 * read as data comes, and the machine wakes a vCPU halted in KVM_RUN on this
 * thread when it does -- so the vCPU stays on this thread, the fast path.
 */
export function feedSerial(machine: SerialInput): () => void {
  if (fstatSync(0).isFile()) {
    machine.serialIn(readFileSync(0));
    return () => {};
  }
  const unwatch = machine.wakeOnInput(0);
  const onData = (chunk: Buffer): void => machine.serialIn(chunk);
  process.stdin.on('data', onData);
  process.stdin.on('error', () => {});
  return () => {
    unwatch();
    process.stdin.off('data', onData);
    process.stdin.pause();
    process.stdin.destroy();
  };
}

/** What runMachine needs of a machine (X86Machine and Arm64Machine both are one). */
export interface RunnableMachine extends SerialInput {
  runAsync(): Promise<RunResult>;
  stop(reason: StopReason): void;
  close(): void;
}

/**
 * Builds the machine with `build`, feeds it stdin, stops it on SIGINT or
 * SIGTERM (every vCPU kicked out, serial output flushed, fds closed), runs
 * it to the end, logs how it ended and hands the result to `done`; returns
 * the exit status. A failure to build or run it is the VMM's (70, with the
 * error's code). Releases stdin, the signal handlers, the machine and the
 * session whatever happens.
 */
export async function runMachine<M extends RunnableMachine>(session: RunSession, log: Logger, build: () => M,
  done: (machine: M, result: RunResult) => void): Promise<number> {
  let machine: M | undefined;
  let stopStdin = (): void => {};
  let stopSignals = (): void => {};
  try {
    machine = build();
    if (stdinHasInput()) stopStdin = feedSerial(machine);
    const m = machine;
    const onSignal = (signal: NodeJS.Signals): void => m.stop({ kind: 'signal', signal: signal === 'SIGINT' ? 'SIGINT' : 'SIGTERM' });
    for (const sig of STOP_SIGNALS) process.on(sig, onSignal);
    stopSignals = () => { for (const sig of STOP_SIGNALS) process.off(sig, onSignal); };
    const result = await machine.runAsync();
    log.info({ reason: result.reason.kind, status: result.status, exits: result.exits, instructions: result.instructions }, 'guest stopped');
    done(machine, result);
    return result.status;
  } catch (e) {
    const code = e instanceof VmmError || (e as { code?: string }).code ? ` [${(e as { code?: string }).code}]` : '';
    return fail(`${(e as Error).message}${code}`, EX_SOFTWARE);
  } finally {
    stopSignals();
    stopStdin();
    machine?.close();
    session.close();
  }
}

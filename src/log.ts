/**
 * Logging: pino on stderr (the guest's serial console owns stdout), pretty
 * when stderr is a terminal. One subscriber turns trace events into debug logs.
 */
import { createRequire } from 'node:module';
import { pino, type Logger, type Level } from 'pino';
import type PinoPretty from 'pino-pretty';
import { subscribe, type TraceEvents } from './trace/events.js';

type TracePayload<N extends keyof TraceEvents> = TraceEvents[N];

// pino-pretty costs 34-43 ms to load on the development hosts (a tenth or
// more of a `vmm run`): loaded only when stderr is a terminal, where it is used.
const requireCjs = createRequire(import.meta.url);
const loadPretty = (): typeof PinoPretty => requireCjs('pino-pretty') as typeof PinoPretty;

export type LogLevel = Level | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function createLogger(level: LogLevel = 'info'): Logger {
  if (process.stderr.isTTY) {
    return pino({ level }, loadPretty()({ destination: 2, sync: true, colorize: true }));
  }
  return pino({ level }, pino.destination({ fd: 2, sync: true }));
}

export interface TraceLogOptions {
  /** A hint for the first unhandled access at an address (e.g. "try --irqchip split"). */
  unhandledHint?: (space: 'pio' | 'mmio', address: number) => string | undefined;
}

/**
 * Routes trace events to the log: all at debug level; above it, guest
 * errors as warnings, and the first unhandled access at each address as a
 * warning with a hint (a guest spinning on a missing device would otherwise
 * flood the log, or, with the warnings off, spin in silence). Returns the
 * unsubscribe function.
 */
export function logTraceEvents(log: Logger, opts: TraceLogOptions = {}): () => void {
  const seen = new Set<string>();
  const firstUnhandled = (payload: TracePayload<'vmm:bus:unhandled'>): void => {
    const key = `${payload.space}:${payload.address}`;
    if (seen.has(key)) return;
    seen.add(key);
    const hint = opts.unhandledHint?.(payload.space, payload.address);
    const where = `${payload.space === 'pio' ? 'port' : 'MMIO address'} 0x${payload.address.toString(16)}`;
    log.warn({ event: 'vmm:bus:unhandled', ...payload, ...(hint ? { hint } : {}) },
      `guest ${payload.write ? 'wrote' : 'read'} ${where}, where no device is (reads give all ones, writes are dropped; ` +
      `later accesses there are not logged)${hint ? `: ${hint}` : ''}`);
  };
  if (!log.isLevelEnabled('debug')) {
    // Below debug only guest errors and first unhandled accesses are logged; the hot trace points stay unsubscribed.
    return subscribe((name, payload) => {
      if (name === 'vmm:bus:unhandled') firstUnhandled(payload as TracePayload<'vmm:bus:unhandled'>);
      else log.warn({ event: name, ...(payload as object) }, name);
    }, ['vmm:device:guest-error', 'vmm:bus:unhandled']);
  }
  return subscribe((name, payload) => {
    if (name === 'vmm:bus:unhandled') firstUnhandled(payload as TracePayload<'vmm:bus:unhandled'>);
    log.debug({ event: name, ...(payload as object) }, name);
  });
}

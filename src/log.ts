/**
 * Logging: pino on stderr (the guest's serial console owns stdout), pretty
 * when stderr is a terminal. One subscriber turns trace events into debug logs.
 */
import { createRequire } from 'node:module';
import { pino, type Logger, type Level } from 'pino';
import type PinoPretty from 'pino-pretty';
import { subscribe } from './trace/events.js';

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

/** Routes trace events to the log: all at debug level, or only guest errors (as warnings) above it. Returns the unsubscribe function. */
export function logTraceEvents(log: Logger): () => void {
  if (!log.isLevelEnabled('debug')) {
    // Below debug only guest errors are logged; the hot trace points stay unsubscribed.
    return subscribe((name, payload) => log.warn({ event: name, ...(payload as object) }, name),
      ['vmm:device:guest-error', 'vmm:bus:unhandled']);
  }
  return subscribe((name, payload) => log.debug({ event: name, ...(payload as object) }, name));
}

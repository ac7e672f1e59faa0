/**
 * QEMU's isa-debug-exit (hw/misc/debugexit.c for the semantics): a write of
 * `v` ends the VM with exit status `(v << 1) | 1`, so a guest can never
 * produce status 0 and the VMM's own statuses stay distinguishable. The
 * process exit code is that value modulo 256, as exit(2) keeps. Reads return
 * all ones, like an unassigned port.
 */
import { StateReader } from './state.js';
import { allOnes } from '../machine/bus.js';

export interface DebugExitDeps { onExit(status: number): void }
/** isa-debug-exit keeps no state (a write acts at once): a version and nothing else. */
export interface DebugExitState { version: 1 }

export class DebugExit {
  constructor(private readonly deps: DebugExitDeps) {}

  /** The exit status for a written value: (v << 1) | 1, truncated to 8 bits as exit(2) does. */
  static statusFor(value: number): number {
    return ((value << 1) | 1) & 0xff;
  }

  read(_offset: number, size: number): number {
    return allOnes(size);
  }

  write(_offset: number, _size: number, value: number): void {
    this.deps.onExit(DebugExit.statusFor(value >>> 0));
  }

  snapshot(): DebugExitState { return { version: 1 }; }

  /** Throws InvalidArgumentError on a malformed state. */
  static restore(state: DebugExitState, deps: DebugExitDeps): DebugExit {
    StateReader.open('isa-debug-exit', state, 1);
    return new DebugExit(deps);
  }
}

/**
 * QEMU's isa-debug-exit (hw/misc/debugexit.c for the semantics): a write of
 * `v` ends the VM with exit status `(v << 1) | 1`, so a guest can never
 * produce status 0 and the VMM's own statuses stay distinguishable. The
 * process exit code is that value modulo 256, as exit(2) keeps. Reads return
 * all ones, like an unassigned port.
 */
export interface DebugExitDeps { onExit(status: number): void }

export class DebugExit {
  constructor(private readonly deps: DebugExitDeps) {}

  /** The exit status for a written value: (v << 1) | 1, truncated to 8 bits as exit(2) does. */
  static statusFor(value: number): number {
    return ((value << 1) | 1) & 0xff;
  }

  read(_offset: number, size: number): number {
    return size >= 4 ? 0xffff_ffff : (1 << (8 * size)) - 1;
  }

  write(_offset: number, _size: number, value: number): void {
    this.deps.onExit(DebugExit.statusFor(value >>> 0));
  }
}

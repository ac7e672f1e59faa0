/**
 * The sim's eventfd: a 64-bit counter with eventfd(2) semantics
 * (write adds, read returns and clears, read of 0 would block → null).
 * The kernel-side consumers (irqfd) subscribe to writes the way the
 * kernel's wait-queue callbacks do.
 */
import { BackendError } from '../../errors.js';
import type { EventFd } from '../types.js';

const MAX = 0xffff_ffff_ffff_fffen;

let nextFd = 1000;

export class SimEventFd implements EventFd {
  readonly fd = nextFd++;
  private counter: bigint;
  private isClosed = false;
  /** Kernel-side wake-up callbacks (irqfd). Called after each write. */
  readonly waiters = new Set<(fd: SimEventFd) => void>();
  /** Userspace readiness callbacks (the poller's job on KVM). */
  readonly readable = new Set<(fd: SimEventFd) => void>();

  constructor(initial = 0) {
    this.counter = BigInt(initial);
  }

  get closed(): boolean { return this.isClosed; }
  /** The current counter, without consuming it. */
  peek(): bigint { return this.counter; }

  write(value = 1): void {
    if (this.isClosed) throw new BackendError('EBADF', 'write', `eventfd ${this.fd} is closed`);
    const v = BigInt(value);
    if (v < 0n || v > MAX) throw new BackendError('EINVAL', 'write', `eventfd value ${value} out of range`);
    if (this.counter + v > MAX) throw new BackendError('EAGAIN', 'write', `eventfd ${this.fd} counter would overflow`);
    this.counter += v;
    for (const w of this.waiters) w(this);
    if (this.counter > 0n) for (const r of this.readable) r(this);
  }

  read(): bigint | null {
    if (this.isClosed) throw new BackendError('EBADF', 'read', `eventfd ${this.fd} is closed`);
    if (this.counter === 0n) return null;
    const v = this.counter;
    this.counter = 0n;
    return v;
  }

  /** What the kernel's irqfd does on wake-up: consume the counter. */
  consume(): bigint {
    const v = this.counter;
    this.counter = 0n;
    return v;
  }

  close(): void {
    this.isClosed = true;
    this.waiters.clear();
    this.readable.clear();
  }
}

/**
 * Our arm64 test device (not in QEMU's map; like x86's pc-testdev, for the
 * guests that prove what only this VMM does): a level-triggered interrupt
 * source fed from another thread through eventfds, and an MMIO doorbell
 * claimed by an ioeventfd.
 *
 * Level source (SPI TESTDEV_SPI): a write of n to LEVEL_REQUEST has a
 * ringer thread write the device's `events` eventfd n times. The device
 * counts them (PENDING) and holds its line -- an EventfdIrqLine, trigger and
 * resample eventfds, as VFIO INTx does with KVM -- high while any is
 * pending: the guest acknowledges one event per write to LEVEL_ACK; when it
 * deactivates the interrupt the GIC resamples the line (deassert, signal
 * `resample`), and the device raises it again if events remain. So the
 * guest takes exactly one interrupt per event, however they coalesce.
 *
 * Doorbell: a 32-bit write of DOORBELL_MAGIC to DOORBELL is claimed by a
 * KVM_IOEVENTFD with datamatch: the kernel (or the sim's model of it)
 * signals an eventfd and the vCPU goes on without an exit. Any other value
 * exits to userspace and counts as UNMATCHED. DOORBELL_COUNT reads (and
 * drains) the rings the eventfd collected.
 *
 * The eventfds, the line and the ioeventfd are made at the guest's first
 * access, so a machine whose guest never touches the device has none (and a
 * halted guest still ends `halted`).
 */
import type { EventFd, Vcpu, Vm } from '../../backend/types.js';
import type { EventfdIrqLine } from '../../irq/line.js';
import type { Ringer } from '../../backend/ringer.js';

export const TESTDEV_BASE = 0x0911_0000;
export const TESTDEV_SIZE = 0x1000;
/** The level source's SPI (INTID 32 + 32 = 64). */
export const TESTDEV_SPI = 32;
export const TESTDEV_ID = 0x5453_5444; // 'TSTD'
export const DOORBELL_MAGIC = 0x600d_b311;

export const TD_ID = 0x00;
export const TD_LEVEL_REQUEST = 0x04;
export const TD_LEVEL_PENDING = 0x08;
export const TD_LEVEL_ACK = 0x0c;
export const TD_DOORBELL = 0x10;
export const TD_DOORBELL_COUNT = 0x14;
export const TD_DOORBELL_UNMATCHED = 0x18;

export interface TestDevDeps {
  vm: Vm;
  /** Creates the level line on TESTDEV_SPI (the machine's addIrqLine). */
  addLevelLine(): EventfdIrqLine;
  /** vCPUs to kick when the device's eventfds fire (those on this thread). */
  kick(): readonly Vcpu[];
  onGuestError?(what: string): void;
}

export class Arm64TestDev {
  private events: EventFd | null = null;
  private doorbell: EventFd | null = null;
  private line: EventfdIrqLine | null = null;
  private readonly unwatch: (() => void)[] = [];
  private ringers: Ringer[] = [];
  private pending = 0;
  private doorbellRings = 0;
  private unmatched = 0;
  private closed = false;

  constructor(private readonly deps: TestDevDeps) {}

  /** Whether the device can still wake a halted guest (a ring may come). */
  get active(): boolean { return this.events !== null && !this.closed; }

  private setUp(): void {
    if (this.events || this.closed) return;
    const { vm } = this.deps;
    this.events = vm.createEventFd();
    this.doorbell = vm.createEventFd();
    this.line = this.deps.addLevelLine();
    const line = this.line;
    this.unwatch.push(vm.watchEventFd(this.events, () => {
      const n = this.events?.read();
      if (n) this.pending += Number(n);
      this.update();
    }, this.deps.kick()));
    // The GIC deactivated the interrupt: the line was lowered and `resample` written; raise it again if events remain.
    this.unwatch.push(vm.watchEventFd(line.resample!, () => {
      line.resample!.read();
      this.update();
    }, this.deps.kick()));
    vm.ioeventfd({ eventfd: this.doorbell, space: 'mmio', address: TESTDEV_BASE + TD_DOORBELL, length: 4, datamatch: BigInt(DOORBELL_MAGIC) });
  }

  /**
   * `n` events pending now, and the line raised at once (synchronously, into
   * the GIC): how a test has an interrupt arrive before the first vCPU run.
   */
  preload(n: number): void {
    this.setUp();
    this.pending += n;
    if (this.pending > 0 && this.line && !this.line.level) {
      this.line.trigger.write(1);
      this.line.serve();
    }
  }

  /** Holds the line high while events are pending (a write to the trigger eventfd asserts it). */
  private update(): void {
    if (this.pending > 0 && this.line && !this.line.level) this.line.trigger.write(1);
  }

  read(offset: number, size: number): number {
    if (size !== 4) {
      this.deps.onGuestError?.(`testdev: ${size}-byte read at 0x${offset.toString(16)}`);
      return 0;
    }
    switch (offset) {
      case TD_ID: return TESTDEV_ID;
      case TD_LEVEL_PENDING: this.setUp(); return this.pending;
      case TD_DOORBELL_COUNT: {
        this.setUp();
        const n = this.doorbell!.read();
        if (n) this.doorbellRings += Number(n);
        const v = this.doorbellRings;
        this.doorbellRings = 0;
        return v;
      }
      case TD_DOORBELL_UNMATCHED: return this.unmatched;
      default:
        this.deps.onGuestError?.(`testdev: read of 0x${offset.toString(16)}`);
        return 0;
    }
  }

  write(offset: number, size: number, value: number): void {
    if (size !== 4) {
      this.deps.onGuestError?.(`testdev: ${size}-byte write at 0x${offset.toString(16)}`);
      return;
    }
    switch (offset) {
      case TD_LEVEL_REQUEST: {
        this.setUp();
        const n = Math.min(value >>> 0, 1 << 16);
        if (n === 0) return;
        const r = this.deps.vm.ringEventFds([this.events!], { count: n, intervalNs: 20_000 });
        this.ringers.push(r);
        void r.finished.then(() => { this.ringers = this.ringers.filter((x) => x !== r); });
        return;
      }
      case TD_LEVEL_ACK:
        if (this.pending > 0) this.pending--;
        else this.deps.onGuestError?.('testdev: LEVEL_ACK with no event pending');
        return;
      case TD_DOORBELL:
        this.setUp();
        this.unmatched++;
        return;
      default:
        this.deps.onGuestError?.(`testdev: write of 0x${(value >>> 0).toString(16)} to 0x${offset.toString(16)}`);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const r of this.ringers) r.stop();
    for (const u of this.unwatch) u();
    if (this.doorbell) {
      try {
        this.deps.vm.ioeventfdDeassign({ eventfd: this.doorbell, space: 'mmio', address: TESTDEV_BASE + TD_DOORBELL, length: 4, datamatch: BigInt(DOORBELL_MAGIC) });
      } catch { /* the VM may be closing */ }
    }
    this.events?.close();
    this.doorbell?.close();
  }
}

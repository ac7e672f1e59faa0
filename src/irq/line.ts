/**
 * An interrupt input line backed by eventfds, the one way devices drive
 * the IOAPIC (DESIGN.md, kernel contract 6):
 * - a trigger eventfd: any thread or process writes it to assert the line;
 * - for level lines, a resample eventfd: signalled when the guest EOIs the
 *   pin, after the line has been deasserted — the device re-triggers if its
 *   condition still holds. The kernel refuses resample irqfds in split-irqchip
 *   mode, so this is the userspace emulation of KVM_IRQFD_FLAG_RESAMPLE.
 * The trigger eventfd is watched by the VM's poller, which kicks the given
 * vCPUs out of KVM_RUN so the event is served even while they run or halt.
 */
import type { EventFd, Vcpu, Vm } from '../backend/types.js';

export interface IrqSink { setIrq(pin: number, level: boolean): void }

export type LineKind = 'edge' | 'level';

/**
 * An eventfd-backed input line as its users see it: write `trigger` to
 * assert it; a level line's `resample` is signalled after the guest's EOI.
 * EventfdIrqLine serves every trigger in userspace; the split irqchip's
 * edge lines may instead be served by a cached irqfd (src/machine/
 * split-irqchip.ts), and then `triggers` counts only the events userspace saw.
 */
export interface IrqLine {
  readonly trigger: EventFd;
  readonly resample: EventFd | null;
  readonly pin: number;
  readonly kind: LineKind;
  /** Trigger events served in userspace (a write of n counts once: eventfds coalesce). */
  readonly triggers: number;
  /** Whether a level line is asserted now (an edge line: false). */
  readonly level: boolean;
  /** The pin's EOI (level lines): deassert and signal `resample`. */
  resampled(): void;
  /** Stops serving and closes the eventfds. Idempotent. */
  close(): void;
}

export class EventfdIrqLine implements IrqLine {
  readonly trigger: EventFd;
  readonly resample: EventFd | null;
  /** Trigger events served (a write of n counts once: eventfds coalesce). */
  triggers = 0;
  private asserted = false;
  private readonly unwatch: () => void;
  private closed = false;

  constructor(vm: Pick<Vm, 'createEventFd' | 'watchEventFd'>, private readonly sink: IrqSink, readonly pin: number,
    readonly kind: LineKind, kick: readonly Vcpu[] = []) {
    this.trigger = vm.createEventFd();
    this.resample = kind === 'level' ? vm.createEventFd() : null;
    this.unwatch = vm.watchEventFd(this.trigger, () => this.serve(), kick);
  }

  /** Reads the trigger eventfd and drives the pin (runs on the VMM's JS thread). */
  serve(): void {
    if (this.closed || this.trigger.read() === null) return;
    this.triggers++;
    if (this.kind === 'edge') {
      this.sink.setIrq(this.pin, true);
      this.sink.setIrq(this.pin, false);
      return;
    }
    this.asserted = true;
    this.sink.setIrq(this.pin, true);
  }

  /** The IOAPIC's EOI of this pin: deassert, then tell the device through the resample eventfd. */
  resampled(): void {
    if (this.closed || this.kind !== 'level' || !this.asserted) return;
    this.asserted = false;
    this.sink.setIrq(this.pin, false);
    this.resample!.write(1);
  }

  get level(): boolean { return this.asserted; }

  /** Stops watching and closes both eventfds. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unwatch();
    this.trigger.close();
    this.resample?.close();
  }
}

/**
 * A userspace 82093AA I/O APIC (version 0x20, 24 pins) as an MSI
 * translator: a pure state machine whose outputs are injected.
 *
 * Outputs, in the order they happen:
 *   updateRoute(pin, msi)   the pin's MSI as computed from its current RTE
 *                           (the split-irqchip adapter turns it into a GSI
 *                           route so KVM knows which vectors need an EOI exit);
 *   deliver(pin, msi)       an interrupt, built from the current RTE;
 *   resample(pin)           the pin's level line was EOId (the resample
 *                           eventfd a level device waits on).
 * Every RTE write emits updateRoute *before* any delivery the write causes
 * (seed 002: redelivering first sent a migrated interrupt to the old CPU).
 *
 * Input levels are logical (asserted / deasserted), as QEMU's qemu_irq
 * lines are; the polarity bit is stored and reported but not applied.
 *
 * Each step is a trace event (src/trace/events.ts: vmm:ioapic:set_irq,
 * service, route_update, eoi, remote_irr; the adapter adds deliver).
 */
import { parseRte, encodeRte, rteToMsi, RTE_RESET_LO, type MsiMessage, type Rte } from './rte.js';
import { trace } from '../trace/events.js';
import { StateReader } from '../devices/state.js';

export const IOAPIC_PINS = 24;
export const IOAPIC_VERSION = 0x20;

/** MMIO offsets inside the 4 KiB window at 0xfec00000. */
export const IOREGSEL = 0x00;
export const IOWIN = 0x10;
/** Directed EOI register (version 0x20 and later). */
export const IOEOI = 0x40;

/** Indirect register indexes. */
export const IOAPICID = 0x00;
export const IOAPICVER = 0x01;
export const IOAPICARB = 0x02;
export const IOREDTBL = 0x10;

export interface IoapicOutputs {
  updateRoute(pin: number, msi: MsiMessage): void;
  deliver(pin: number, msi: MsiMessage): void;
  resample(pin: number): void;
  onGuestError?(what: string): void;
}

export interface IoapicState {
  version: 1;
  id: number;
  ioregsel: number;
  rteLo: number[];
  rteHi: number[];
  /** Current input levels. */
  lines: boolean[];
  /** Edge latch: an edge seen while deliverable but not yet serviced. */
  irr: boolean[];
}

export class Ioapic {
  private id = 0;
  private ioregsel = 0;
  private readonly rteLo = new Array<number>(IOAPIC_PINS).fill(RTE_RESET_LO);
  private readonly rteHi = new Array<number>(IOAPIC_PINS).fill(0);
  private readonly lines = new Array<boolean>(IOAPIC_PINS).fill(false);
  private readonly irr = new Array<boolean>(IOAPIC_PINS).fill(false);
  guestErrors = 0;

  /** `vm`: the VM id its trace events carry (0 for a model on its own). */
  constructor(private readonly out: IoapicOutputs, private readonly vm = 0) {}

  /** Pushes every pin's route (at machine start, so KVM's EOI bitmap is right from the first entry). */
  publishRoutes(): void {
    for (let pin = 0; pin < IOAPIC_PINS; pin++) this.out.updateRoute(pin, rteToMsi(this.rte(pin)));
  }

  rte(pin: number): Rte {
    return parseRte(this.rteLo[pin]!, this.rteHi[pin]!);
  }

  private guestError(what: string): void {
    this.guestErrors++;
    this.out.onGuestError?.(what);
  }

  /** Sets input line `pin` to `level` (logical). */
  setIrq(pin: number, level: boolean): void {
    if (!Number.isInteger(pin) || pin < 0 || pin >= IOAPIC_PINS) {
      this.guestError(`set_irq on pin ${pin}, outside 0..${IOAPIC_PINS - 1}`);
      return;
    }
    const was = this.lines[pin]!;
    this.lines[pin] = level;
    trace('vmm:ioapic:set_irq', { vm: this.vm, pin, level });
    const r = this.rte(pin);
    if (r.level) {
      if (level) this.service(pin);
      return;
    }
    // Edge: a rising edge latches, unless masked (82093AA: edges on a masked pin are lost).
    if (level && !was) {
      if (r.masked) {
        trace('vmm:ioapic:service', { vm: this.vm, pin, result: 'masked' });
        return;
      }
      this.irr[pin] = true;
      this.service(pin);
    }
  }

  /** Delivers `pin` if it is deliverable now. */
  private service(pin: number): void {
    const lo = this.rteLo[pin]!;
    const r = parseRte(lo, this.rteHi[pin]!);
    if (r.masked) return void trace('vmm:ioapic:service', { vm: this.vm, pin, result: 'masked' });
    if (r.level) {
      if (!this.lines[pin]) return void trace('vmm:ioapic:service', { vm: this.vm, pin, result: 'line-low' });
      if (r.remoteIrr) return void trace('vmm:ioapic:service', { vm: this.vm, pin, result: 'remote-irr' });
      this.rteLo[pin] = (lo | (1 << 14)) >>> 0;
      trace('vmm:ioapic:remote_irr', { vm: this.vm, pin, set: true });
      trace('vmm:ioapic:service', { vm: this.vm, pin, result: 'delivered' });
      this.out.deliver(pin, rteToMsi(r));
      return;
    }
    if (!this.irr[pin]) return void trace('vmm:ioapic:service', { vm: this.vm, pin, result: 'no-edge' });
    this.irr[pin] = false;
    trace('vmm:ioapic:service', { vm: this.vm, pin, result: 'delivered' });
    this.out.deliver(pin, rteToMsi(r));
  }

  /** The EOI of `vector` (a KVM_EXIT_IOAPIC_EOI, the sim LAPIC's broadcast, or the EOI register). */
  eoi(vector: number): void {
    const completed: number[] = [];
    for (let pin = 0; pin < IOAPIC_PINS; pin++) {
      const lo = this.rteLo[pin]!;
      if ((lo & 0xff) === vector && (lo >>> 15) & 1 && (lo >>> 14) & 1) completed.push(pin);
    }
    trace('vmm:ioapic:eoi', { vm: this.vm, vector, pins: completed });
    for (const pin of completed) {
      this.rteLo[pin] = (this.rteLo[pin]! & ~(1 << 14)) >>> 0;
      trace('vmm:ioapic:remote_irr', { vm: this.vm, pin, set: false });
      this.out.resample(pin);
      // Still asserted: the device did not deassert in its handler; deliver again.
      this.service(pin);
    }
  }

  private writeRte(pin: number, high: boolean, value: number): void {
    const oldLo = this.rteLo[pin]!;
    if (high) {
      // Destination (63:56) and the extended destination / interrupt format (55:48); 47:32 are reserved.
      this.rteHi[pin] = (value & 0xffff_0000) >>> 0;
    } else {
      // Delivery status (12) and remote IRR (14) are read-only.
      const ro = (1 << 12) | (1 << 14);
      let lo = ((value & ~ro) | (oldLo & ro)) >>> 0;
      // Switching to edge clears remote IRR (it only has meaning for level pins).
      if (!((lo >>> 15) & 1) && (lo >>> 14) & 1) {
        lo &= ~(1 << 14);
        trace('vmm:ioapic:remote_irr', { vm: this.vm, pin, set: false });
      }
      this.rteLo[pin] = lo >>> 0;
    }
    // Route first, from the new RTE; only then anything the write makes deliverable.
    const msi = rteToMsi(this.rte(pin));
    trace('vmm:ioapic:route_update', { vm: this.vm, pin, addressLo: msi.addressLo, data: msi.data });
    this.out.updateRoute(pin, msi);
    const r = this.rte(pin);
    if (r.masked) return;
    if (r.level) this.service(pin);
    else if (this.irr[pin]) this.service(pin);
  }

  private readIndirect(index: number): number {
    if (index === IOAPICID) return (this.id & 0xf) << 24;
    if (index === IOAPICVER) return ((IOAPIC_PINS - 1) << 16) | IOAPIC_VERSION;
    if (index === IOAPICARB) return (this.id & 0xf) << 24;
    if (index >= IOREDTBL && index < IOREDTBL + 2 * IOAPIC_PINS) {
      const pin = (index - IOREDTBL) >>> 1;
      return (index & 1 ? this.rteHi[pin]! : this.rteLo[pin]!) >>> 0;
    }
    this.guestError(`read of unimplemented register index 0x${index.toString(16)}`);
    return 0;
  }

  private writeIndirect(index: number, value: number): void {
    if (index === IOAPICID) { this.id = (value >>> 24) & 0xf; return; }
    if (index === IOAPICVER || index === IOAPICARB) { this.guestError(`write to read-only register 0x${index.toString(16)}`); return; }
    if (index >= IOREDTBL && index < IOREDTBL + 2 * IOAPIC_PINS) {
      this.writeRte((index - IOREDTBL) >>> 1, (index & 1) === 1, value >>> 0);
      return;
    }
    this.guestError(`write to unimplemented register index 0x${index.toString(16)}`);
  }

  /**
   * MMIO read at `offset` in the 4 KiB window. IOWIN takes dword accesses only (82093AA: the registers are
   * 32 bits wide; QEMU answers a narrower IOWIN read with 0, and so do we). IOREGSEL reads at any width.
   */
  read(offset: number, size: number): number {
    if (size !== 4) this.guestError(`${size}-byte read at 0x${offset.toString(16)}`);
    if (offset === IOREGSEL) return this.ioregsel;
    if (offset === IOWIN) return size === 4 ? this.readIndirect(this.ioregsel) : 0;
    if (offset !== IOEOI) this.guestError(`read at unimplemented offset 0x${offset.toString(16)}`);
    return 0;
  }

  /**
   * MMIO write at `offset` in the 4 KiB window. A write narrower than a dword to IOWIN or the EOI register is
   * ignored (as QEMU does): its value holds only the low bytes, and acting on it would clear the others (a
   * byte write to an RTE's low word would unmask the pin).
   */
  write(offset: number, size: number, value: number): void {
    if (size !== 4) this.guestError(`${size}-byte write at 0x${offset.toString(16)}`);
    if (offset === IOREGSEL) this.ioregsel = value & 0xff;
    else if (offset === IOWIN) { if (size === 4) this.writeIndirect(this.ioregsel, value); }
    else if (offset === IOEOI) { if (size === 4) this.eoi(value & 0xff); }
    else this.guestError(`write at unimplemented offset 0x${offset.toString(16)}`);
  }

  snapshot(): IoapicState {
    return {
      version: 1, id: this.id, ioregsel: this.ioregsel,
      rteLo: [...this.rteLo], rteHi: [...this.rteHi], lines: [...this.lines], irr: [...this.irr],
    };
  }

  /** Rebuilds an IOAPIC from `snapshot()`'s state; throws InvalidArgumentError (naming the field) on a malformed state. */
  static restore(state: IoapicState, out: IoapicOutputs): Ioapic {
    const r = StateReader.open('IOAPIC', state, 1);
    const a = new Ioapic(out);
    a.id = r.int('id', 0, 0xf);
    a.ioregsel = r.int('ioregsel', 0, 0xff);
    const rteLo = r.ints('rteLo', IOAPIC_PINS, 0, 0xffff_ffff);
    const rteHi = r.ints('rteHi', IOAPIC_PINS, 0, 0xffff_ffff);
    const lines = r.bools('lines', IOAPIC_PINS);
    const irr = r.bools('irr', IOAPIC_PINS);
    for (let i = 0; i < IOAPIC_PINS; i++) {
      const rte = parseRte(rteLo[i]!, rteHi[i]!);
      r.check(!rte.remoteIrr || rte.level, `pin ${i} has remote IRR set but is edge-triggered`);
      r.check(!rte.deliveryStatus, `pin ${i} has delivery status set (delivery is immediate)`);
      r.check((rteHi[i]! & 0x0000_ffff) === 0, `pin ${i}'s RTE high word has bits below 16 set`);
      a.rteLo[i] = rteLo[i]!;
      a.rteHi[i] = rteHi[i]!;
      a.lines[i] = lines[i]!;
      a.irr[i] = irr[i]!;
    }
    return a;
  }
}

export { encodeRte, parseRte, rteToMsi };

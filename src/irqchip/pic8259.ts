/**
 * The PC's pair of 8259A programmable interrupt controllers (Intel 8259A
 * datasheet), as pure state machines: master at 0x20/0x21 with the slave
 * cascaded on its IR2, slave at 0xa0/0xa1. Offsets are 0 (command) and 1
 * (data) from each chip's base; the bus owns the bases.
 *
 * Output: the master's INT line (`intr.set(level)`); the owner acknowledges
 * with `acknowledge()` (INTA) to get the vector — with split irqchip that is
 * ExtINT through KVM_INTERRUPT. Edge-triggered inputs (the ELCR level mode
 * is not modelled); special fully nested mode, buffered mode and the
 * MCS-80/85 mode are accepted and ignored, as a PC's chips behave.
 * When INTA finds no request any more (it was withdrawn), the chip answers
 * with IR7 of its vector base without setting ISR: the spurious interrupt
 * the datasheet describes (IRQ 7 on the master, IRQ 15 on the slave).
 */
import type { IrqLine } from '../devices/irq.js';
import { StateReader } from '../devices/state.js';

export interface PicChipState {
  irr: number; isr: number; imr: number; lines: number;
  vectorBase: number; initStep: number; icw4Needed: boolean; single: boolean; autoEoi: boolean;
  readIsr: boolean; poll: boolean; specialMask: boolean; rotateOnAutoEoi: boolean; lowestPriority: number;
}

class PicChip {
  irr = 0;
  isr = 0;
  imr = 0;
  /** Input levels, for edge detection. */
  lines = 0;
  vectorBase = 0;
  /** 0: operational; 2..4: expecting ICW2..ICW4. */
  initStep = 0;
  icw4Needed = false;
  single = false;
  autoEoi = false;
  readIsr = false;
  poll = false;
  specialMask = false;
  rotateOnAutoEoi = false;
  /** The IR with the lowest priority (7 after init: IR0 highest). */
  lowestPriority = 7;

  /** IRs in priority order. */
  private order(): number[] {
    const out: number[] = [];
    for (let i = 1; i <= 8; i++) out.push((this.lowestPriority + i) & 7);
    return out;
  }

  /** The IR to request now, or -1: the highest-priority unmasked request above everything in service. */
  pending(): number {
    const req = this.irr & ~this.imr;
    if (!req) return -1;
    for (const ir of this.order()) {
      if (this.isr & (1 << ir)) {
        // In special mask mode, in-service IRs do not block the other levels ("enables interrupts from all
        // other levels", 8259A datasheet); but an IR already in service is not requested again (Bochs, QEMU).
        if (!this.specialMask) return -1;
        continue;
      }
      if (req & (1 << ir)) return ir;
    }
    return -1;
  }

  setLine(ir: number, level: boolean): void {
    const bit = 1 << ir;
    if (level && !(this.lines & bit)) this.irr |= bit;
    if (level) this.lines |= bit; else this.lines &= ~bit;
  }

  /** INTA on this chip: moves `ir` to in service (unless auto-EOI) and clears its request. */
  ack(ir: number): void {
    this.irr &= ~(1 << ir);
    if (this.autoEoi) {
      if (this.rotateOnAutoEoi) this.lowestPriority = ir;
    } else this.isr |= 1 << ir;
  }

  private highestInService(): number {
    for (const ir of this.order()) if (this.isr & (1 << ir)) return ir;
    return -1;
  }

  writeCommand(v: number, guestError: (what: string) => void): void {
    if (v & 0x10) { // ICW1
      this.initStep = 2;
      this.icw4Needed = (v & 1) !== 0;
      this.single = (v & 2) !== 0;
      this.imr = 0;
      this.isr = 0;
      this.irr = 0;
      this.lines = 0;
      this.lowestPriority = 7;
      this.specialMask = false;
      this.readIsr = false;
      this.autoEoi = false;
      this.rotateOnAutoEoi = false;
      if (v & 0x08) guestError('ICW1 asks for level-triggered mode, which the PC wiring does not use');
      return;
    }
    if (v & 0x08) { // OCW3
      if (v & 0x04) this.poll = true;
      if (v & 0x02) this.readIsr = (v & 1) !== 0;
      if (v & 0x40) this.specialMask = (v & 0x20) !== 0;
      return;
    }
    // OCW2
    const level = v & 7;
    switch (v >> 5) {
      case 0b001: { const ir = this.highestInService(); if (ir >= 0) this.isr &= ~(1 << ir); return; } // non-specific EOI
      case 0b011: this.isr &= ~(1 << level); return; // specific EOI
      case 0b101: { const ir = this.highestInService(); if (ir >= 0) { this.isr &= ~(1 << ir); this.lowestPriority = ir; } return; } // rotate on non-specific EOI
      case 0b100: this.rotateOnAutoEoi = true; return;
      case 0b000: this.rotateOnAutoEoi = false; return;
      case 0b111: this.isr &= ~(1 << level); this.lowestPriority = level; return; // rotate on specific EOI
      case 0b110: this.lowestPriority = level; return; // set priority
      default: return; // 0b010: no operation
    }
  }

  writeData(v: number): void {
    switch (this.initStep) {
      case 2:
        this.vectorBase = v & 0xf8;
        this.initStep = this.single ? (this.icw4Needed ? 4 : 0) : 3;
        return;
      case 3:
        this.initStep = this.icw4Needed ? 4 : 0;
        return;
      case 4:
        this.autoEoi = (v & 2) !== 0;
        this.initStep = 0;
        return;
      default:
        this.imr = v & 0xff; // OCW1
    }
  }

  readCommand(): number { return this.readIsr ? this.isr : this.irr; }
}

export interface Pic8259State { version: 1; master: PicChipState; slave: PicChipState }

/** The two chips; pins 0–7 are the master's IRs, 8–15 the slave's. */
export class Pic8259Pair {
  private readonly master = new PicChip();
  private readonly slave = new PicChip();
  private intrLevel = false;
  guestErrors = 0;

  constructor(private readonly deps: { intr: IrqLine; onGuestError?: (what: string) => void }) {}

  private guestError = (what: string): void => {
    this.guestErrors++;
    this.deps.onGuestError?.(what);
  };

  private update(): void {
    // The slave's INT drives the master's IR2.
    this.master.setLine(2, this.slave.pending() >= 0);
    const level = this.master.pending() >= 0;
    if (level !== this.intrLevel) {
      this.intrLevel = level;
      this.deps.intr.set(level);
    }
  }

  /** ISA IRQ `irq` (0–15) to `level` (edge-triggered: a rising edge requests). */
  setIrq(irq: number, level: boolean): void {
    if (!Number.isInteger(irq) || irq < 0 || irq > 15 || irq === 2) {
      this.guestError(`IRQ ${irq} is not an input of the PC's 8259 pair`);
      return;
    }
    if (irq < 8) this.master.setLine(irq, level); else this.slave.setLine(irq - 8, level);
    this.update();
  }

  /** INTA: the vector to deliver (spurious IR7 of a chip whose request went away). */
  acknowledge(): number {
    const ir = this.master.pending();
    if (ir < 0) return this.master.vectorBase | 7;
    if (ir === 2 && !this.master.single) {
      this.master.ack(2);
      const sir = this.slave.pending();
      const vector = sir < 0 ? this.slave.vectorBase | 7 : this.slave.vectorBase | sir;
      if (sir >= 0) this.slave.ack(sir);
      this.update();
      return vector;
    }
    this.master.ack(ir);
    this.update();
    return this.master.vectorBase | ir;
  }

  get intr(): boolean { return this.intrLevel; }

  private chipAt(base: 'master' | 'slave'): PicChip { return base === 'master' ? this.master : this.slave; }

  /** Port access: `chip` by its base, `offset` 0 (command) or 1 (data). */
  read(chip: 'master' | 'slave', offset: number): number {
    const c = this.chipAt(chip);
    if (offset === 0) {
      if (c.poll) {
        // Poll mode: the read is the acknowledge, answered as an 8-bit status.
        c.poll = false;
        const ir = c.pending();
        if (ir < 0) return 0;
        c.ack(ir);
        this.update();
        return 0x80 | ir;
      }
      return c.readCommand();
    }
    if (offset === 1) return c.imr;
    this.guestError(`read at offset ${offset}`);
    return 0xff;
  }

  write(chip: 'master' | 'slave', offset: number, value: number): void {
    const c = this.chipAt(chip);
    if (offset === 0) c.writeCommand(value & 0xff, this.guestError);
    else if (offset === 1) c.writeData(value & 0xff);
    else this.guestError(`write at offset ${offset}`);
    this.update();
  }

  /** Bus devices for the two chips' port pairs. */
  device(chip: 'master' | 'slave'): { read(off: number): number; write(off: number, size: number, v: number): void } {
    return { read: (off) => this.read(chip, off), write: (off, _size, v) => this.write(chip, off, v) };
  }

  snapshot(): Pic8259State {
    const s = (c: PicChip): PicChipState => ({ ...c });
    return { version: 1, master: s(this.master), slave: s(this.slave) };
  }

  /**
   * Rebuilds the pair from `snapshot()`'s state; throws InvalidArgumentError (naming the field) on a
   * malformed state. The INT output is not part of the state: it follows from IRR, IMR and ISR, and the
   * restored pair starts with the level they give (without calling `intr.set`: the wire is the owner's).
   */
  static restore(state: Pic8259State, deps: { intr: IrqLine; onGuestError?: (what: string) => void }): Pic8259Pair {
    const r = StateReader.open('8259 PIC pair', state, 1);
    const p = new Pic8259Pair(deps);
    for (const name of ['master', 'slave'] as const) {
      const c = r.object(name);
      const chip: PicChipState = {
        irr: c.int('irr', 0, 0xff), isr: c.int('isr', 0, 0xff), imr: c.int('imr', 0, 0xff), lines: c.int('lines', 0, 0xff),
        vectorBase: c.bits('vectorBase', 0xf8), initStep: c.int('initStep', 0, 4), icw4Needed: c.bool('icw4Needed'),
        single: c.bool('single'), autoEoi: c.bool('autoEoi'), readIsr: c.bool('readIsr'), poll: c.bool('poll'),
        specialMask: c.bool('specialMask'), rotateOnAutoEoi: c.bool('rotateOnAutoEoi'), lowestPriority: c.int('lowestPriority', 0, 7),
      };
      r.check(chip.initStep !== 1, `${name}.initStep 1 does not exist (0: operational, 2..4: expecting ICW2..ICW4)`);
      Object.assign(p.chipAt(name), chip);
    }
    r.check(((p.master.lines >> 2) & 1) === Number(p.slave.pending() >= 0), "the master's IR2 input must be the slave's INT output");
    p.intrLevel = p.master.pending() >= 0;
    return p;
  }
}

/**
 * An Arm PrimeCell UART (PL011, ARM DDI 0183G) as a pure state machine.
 * Offsets are relative to the device's 4 KiB frame; the bus owns the base.
 * Outputs are injected: the interrupt line (the OR of the masked interrupt
 * status, SPI 1 on `virt`) and a byte sink.
 *
 * Deviations from the chip, chosen on purpose (QEMU's model does the same,
 * so transcripts agree):
 * - transmission is instantaneous: the TX FIFO is always empty (FR.TXFE = 1,
 *   TXFF = 0, BUSY = 0), and each write to DR raises the TX interrupt (the
 *   FIFO level just passed its trigger level on the way down);
 * - a byte written to DR is sent whatever CR.UARTEN/TXE say (firmware and
 *   early consoles write before enabling);
 * - the receive timeout (RT) is raised as soon as a batch of input ends
 *   with bytes below the RX trigger level (there is no bit clock to wait 32
 *   bit periods on).
 * Errors: received bytes never carry framing/parity/break errors, so
 * RSR/ECR reads 0 unless the guest overran the FIFO (OE).
 */
import type { IrqLine } from './irq.js';
import { StateReader } from './state.js';

export const PL011_DR = 0x000;
export const PL011_RSR_ECR = 0x004;
export const PL011_FR = 0x018;
export const PL011_ILPR = 0x020;
export const PL011_IBRD = 0x024;
export const PL011_FBRD = 0x028;
export const PL011_LCR_H = 0x02c;
export const PL011_CR = 0x030;
export const PL011_IFLS = 0x034;
export const PL011_IMSC = 0x038;
export const PL011_RIS = 0x03c;
export const PL011_MIS = 0x040;
export const PL011_ICR = 0x044;
export const PL011_DMACR = 0x048;

export const FR_BUSY = 1 << 3;
export const FR_RXFE = 1 << 4;
export const FR_TXFF = 1 << 5;
export const FR_RXFF = 1 << 6;
export const FR_TXFE = 1 << 7;

export const INT_RX = 1 << 4;
export const INT_TX = 1 << 5;
export const INT_RT = 1 << 6;
export const INT_OE = 1 << 10;
const INT_ALL = 0x7ff;

export const LCR_H_FEN = 1 << 4;
export const CR_RESET = 0x300; // TXE | RXE

/** PeriphID0..3 then PCellID0..3 at 0xfe0..0xffc: PL011 r1p5, the PrimeCell signature. */
const ID = [0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1];
const FIFO_SIZE = 16;

export interface Pl011Deps {
  irq: IrqLine;
  tx: (byte: number) => void;
  /** A guest access the hardware would ignore (logged by the machine). */
  onGuestError?: (what: string) => void;
}

export interface Pl011State {
  version: 1;
  rx: number[];
  rsr: number; ris: number; imsc: number;
  ibrd: number; fbrd: number; lcrh: number; cr: number; ifls: number; ilpr: number; dmacr: number;
  irqLevel: boolean;
}

export class Pl011 {
  private rx: number[] = [];
  private rsr = 0;
  private ris = 0;
  private imsc = 0;
  private ibrd = 0;
  private fbrd = 0;
  private lcrh = 0;
  private cr = CR_RESET;
  private ifls = 0x12;
  private ilpr = 0;
  private dmacr = 0;
  private irqLevel = false;

  constructor(private readonly deps: Pl011Deps) {}

  private get fifoDepth(): number { return this.lcrh & LCR_H_FEN ? FIFO_SIZE : 1; }

  /** The RX trigger level in bytes (IFLS bits 5:3: 1/8, 1/4, 1/2, 3/4, 7/8 of the FIFO; 1 without the FIFO). */
  private get rxTrigger(): number {
    if (!(this.lcrh & LCR_H_FEN)) return 1;
    const sel = (this.ifls >> 3) & 7;
    return [2, 4, 8, 12, 14][sel] ?? 8;
  }

  private update(): void {
    const level = (this.ris & this.imsc) !== 0;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.deps.irq.set(level);
    }
  }

  /** Room in the RX FIFO (for the host side's flow control). */
  get rxSpace(): number { return this.fifoDepth - this.rx.length; }

  /**
   * Input from the host: queued while there is room; a byte beyond a full
   * FIFO sets the overrun error (OE) and is lost, as on the chip. Returns how
   * many bytes were taken.
   */
  receive(bytes: Uint8Array | readonly number[]): number {
    let taken = 0;
    for (const b of bytes) {
      if (this.rx.length >= this.fifoDepth) {
        this.rsr |= 1 << 3; // OE
        this.ris |= INT_OE;
        break;
      }
      this.rx.push(b & 0xff);
      taken++;
    }
    if (this.rx.length >= this.rxTrigger) this.ris |= INT_RX;
    if (this.rx.length > 0) this.ris |= INT_RT;
    this.update();
    return taken;
  }

  read(offset: number, size: number): number {
    if (offset >= 0xfe0 && offset < 0x1000 && (offset & 3) === 0) return ID[(offset - 0xfe0) >> 2]!;
    switch (offset) {
      case PL011_DR: {
        const b = this.rx.shift();
        if (b === undefined) return 0;
        if (this.rx.length < this.rxTrigger) this.ris &= ~INT_RX;
        if (this.rx.length === 0) this.ris &= ~INT_RT;
        this.update();
        return b;
      }
      case PL011_RSR_ECR: return this.rsr;
      case PL011_FR: {
        let fr = FR_TXFE;
        if (this.rx.length === 0) fr |= FR_RXFE;
        if (this.rx.length >= this.fifoDepth) fr |= FR_RXFF;
        return fr;
      }
      case PL011_ILPR: return this.ilpr;
      case PL011_IBRD: return this.ibrd;
      case PL011_FBRD: return this.fbrd;
      case PL011_LCR_H: return this.lcrh;
      case PL011_CR: return this.cr;
      case PL011_IFLS: return this.ifls;
      case PL011_IMSC: return this.imsc;
      case PL011_RIS: return this.ris;
      case PL011_MIS: return this.ris & this.imsc;
      case PL011_DMACR: return this.dmacr;
      default:
        this.deps.onGuestError?.(`pl011: read of unknown register 0x${offset.toString(16)} (size ${size})`);
        return 0;
    }
  }

  write(offset: number, size: number, value: number): void {
    switch (offset) {
      case PL011_DR:
        this.deps.tx(value & 0xff);
        this.ris |= INT_TX;
        this.update();
        return;
      case PL011_RSR_ECR: this.rsr = 0; return;
      case PL011_ILPR: this.ilpr = value & 0xff; return;
      case PL011_IBRD: this.ibrd = value & 0xffff; return;
      case PL011_FBRD: this.fbrd = value & 0x3f; return;
      case PL011_LCR_H:
        // Turning the FIFOs on keeps what was received (QEMU's model too): a byte that came
        // while the receiver held one must not be lost to the guest's own setup.
        this.lcrh = value & 0xff;
        return;
      case PL011_CR: this.cr = value & 0xff87; return;
      case PL011_IFLS: this.ifls = value & 0x3f; return;
      case PL011_IMSC: this.imsc = value & INT_ALL; this.update(); return;
      case PL011_ICR: this.ris &= ~value; this.update(); return;
      case PL011_DMACR: this.dmacr = value & 7; return;
      default:
        this.deps.onGuestError?.(`pl011: write of 0x${(value >>> 0).toString(16)} to ${offset >= 0xfe0 ? 'read-only ID' : 'unknown'} register 0x${offset.toString(16)} (size ${size})`);
    }
  }

  snapshot(): Pl011State {
    return {
      version: 1, rx: [...this.rx], rsr: this.rsr, ris: this.ris, imsc: this.imsc, ibrd: this.ibrd, fbrd: this.fbrd,
      lcrh: this.lcrh, cr: this.cr, ifls: this.ifls, ilpr: this.ilpr, dmacr: this.dmacr, irqLevel: this.irqLevel,
    };
  }

  /** Throws InvalidArgumentError on a malformed state. The line is driven to the restored level. */
  static restore(state: Pl011State, deps: Pl011Deps): Pl011 {
    const r = StateReader.open('pl011', state, 1);
    const u = new Pl011(deps);
    u.rx = r.ints('rx', { max: FIFO_SIZE }, 0, 255);
    u.rsr = r.bits('rsr', 0xf);
    u.ris = r.bits('ris', INT_ALL);
    u.imsc = r.bits('imsc', INT_ALL);
    u.ibrd = r.bits('ibrd', 0xffff);
    u.fbrd = r.bits('fbrd', 0x3f);
    u.lcrh = r.bits('lcrh', 0xff);
    u.cr = r.bits('cr', 0xff87);
    u.ifls = r.bits('ifls', 0x3f);
    u.ilpr = r.bits('ilpr', 0xff);
    u.dmacr = r.bits('dmacr', 7);
    r.bool('irqLevel');
    u.update();
    return u;
  }
}

/**
 * A 16550A UART as a pure state machine (National Semiconductor PC16550D
 * datasheet). Offsets 0–7 are relative to the device's base; the bus owns
 * the base. Outputs are injected: the interrupt line and a byte sink.
 *
 * Deviations from the chip, chosen on purpose:
 * - transmission is instantaneous: THR/TSR are empty again right after a
 *   write, so THRE and TEMT always read 1 outside of a write;
 * - no character-timeout interrupt (there is no baud-rate clock);
 * - modem inputs: CTS, DSR and DCD are asserted (a connected terminal), RI
 *   is not; in loopback they follow MCR as the datasheet says.
 * The interrupt output is gated by MCR OUT2, as on the PC's wiring.
 */
import type { IrqLine } from './irq.js';
import { StateReader } from './state.js';

export const UART_RBR_THR = 0; // DLAB=0: receive buffer (read) / transmit holding (write)
export const UART_IER = 1; //     DLAB=0: interrupt enable
export const UART_IIR_FCR = 2; // interrupt identification (read) / FIFO control (write)
export const UART_LCR = 3; //     line control
export const UART_MCR = 4; //     modem control
export const UART_LSR = 5; //     line status
export const UART_MSR = 6; //     modem status
export const UART_SCR = 7; //     scratch

export const IER_RDA = 0b0001; // received data available
export const IER_THRE = 0b0010; // transmitter holding register empty
export const IER_RLS = 0b0100; // receiver line status
export const IER_MS = 0b1000; // modem status

export const IIR_NONE = 0b0001;
export const IIR_MS = 0b0000;
export const IIR_THRE = 0b0010;
export const IIR_RDA = 0b0100;
export const IIR_RLS = 0b0110;
export const IIR_FIFO_ENABLED = 0b1100_0000;

export const LCR_DLAB = 0b1000_0000;

export const MCR_DTR = 0b0_0001;
export const MCR_RTS = 0b0_0010;
export const MCR_OUT1 = 0b0_0100;
export const MCR_OUT2 = 0b0_1000;
export const MCR_LOOP = 0b1_0000;

export const LSR_DR = 0b0000_0001; // data ready
export const LSR_OE = 0b0000_0010; // overrun error
export const LSR_PE = 0b0000_0100;
export const LSR_FE = 0b0000_1000;
export const LSR_BI = 0b0001_0000;
export const LSR_THRE = 0b0010_0000;
export const LSR_TEMT = 0b0100_0000;
export const LSR_FIFO_ERR = 0b1000_0000;

export const MSR_DCTS = 0b0000_0001;
export const MSR_DDSR = 0b0000_0010;
export const MSR_TERI = 0b0000_0100;
export const MSR_DDCD = 0b0000_1000;
export const MSR_CTS = 0b0001_0000;
export const MSR_DSR = 0b0010_0000;
export const MSR_RI = 0b0100_0000;
export const MSR_DCD = 0b1000_0000;

const FIFO_SIZE = 16;

export interface Uart16550Deps {
  irq: IrqLine;
  tx: (byte: number) => void;
  onGuestError?: (what: string) => void;
}

export interface Uart16550State {
  version: 1;
  ier: number; lcr: number; mcr: number; lsr: number; msr: number; scr: number;
  dll: number; dlm: number; fcr: number;
  rx: number[];
  thrIpending: boolean;
  irqLevel: boolean;
}

export class Uart16550 {
  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private lsr = LSR_THRE | LSR_TEMT;
  private msr = MSR_CTS | MSR_DSR | MSR_DCD;
  private scr = 0;
  /** Divisor 12: 9600 baud from the PC's 1.8432 MHz clock. */
  private dll = 12;
  private dlm = 0;
  private fcr = 0;
  private rx: number[] = [];
  /** The THRE interrupt is pending (set when THR empties or IER.THRE is enabled; cleared by an IIR read reporting it or a THR write). */
  private thriPending = false;
  private irqLevel = false;
  guestErrors = 0;

  constructor(private readonly deps: Uart16550Deps) {}

  private get fifoEnabled(): boolean { return (this.fcr & 1) !== 0; }

  /** The highest-priority pending, enabled interrupt as an IIR code, or IIR_NONE. */
  private pendingIir(): number {
    if (this.ier & IER_RLS && this.lsr & (LSR_OE | LSR_PE | LSR_FE | LSR_BI)) return IIR_RLS;
    if (this.ier & IER_RDA && this.lsr & LSR_DR) return IIR_RDA;
    if (this.ier & IER_THRE && this.thriPending) return IIR_THRE;
    if (this.ier & IER_MS && this.msr & 0x0f) return IIR_MS;
    return IIR_NONE;
  }

  /** The interrupt output the registers call for: an enabled interrupt pending, gated by OUT2. */
  private lineLevel(): boolean {
    return this.pendingIir() !== IIR_NONE && (this.mcr & MCR_OUT2) !== 0;
  }

  private updateIrq(): void {
    const level = this.lineLevel();
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.deps.irq.set(level);
    }
  }

  private guestError(what: string): void {
    this.guestErrors++;
    this.deps.onGuestError?.(what);
  }

  /** How many more bytes the receiver takes without an overrun (QEMU's can_receive): the FIFO's room, or the holding register's. */
  get rxSpace(): number {
    return Math.max(0, (this.fifoEnabled ? FIFO_SIZE : 1) - this.rx.length);
  }

  /** Bytes from the outside world (stdin) into the receiver; beyond rxSpace they overrun, as on the wire. */
  receive(bytes: Iterable<number>): void {
    for (const b of bytes) this.receiveByte(b & 0xff);
    this.updateIrq();
  }

  private receiveByte(b: number): void {
    const capacity = this.fifoEnabled ? FIFO_SIZE : 1;
    if (this.rx.length >= capacity) {
      // Overrun: the FIFO keeps its contents, the new character is lost (the holding register is overwritten without FIFO).
      this.lsr |= LSR_OE;
      if (!this.fifoEnabled) this.rx[0] = b;
      return;
    }
    this.rx.push(b);
    this.lsr |= LSR_DR;
  }

  private transmit(b: number): void {
    if (this.mcr & MCR_LOOP) this.receiveByte(b);
    else this.deps.tx(b);
    // Instantaneous transmission: THR is empty again, which raises the THRE interrupt.
    this.thriPending = true;
  }

  private loopbackMsr(): number {
    const m = this.mcr;
    return ((m & MCR_RTS) ? MSR_CTS : 0) | ((m & MCR_DTR) ? MSR_DSR : 0) | ((m & MCR_OUT1) ? MSR_RI : 0) | ((m & MCR_OUT2) ? MSR_DCD : 0);
  }

  read(offset: number): number {
    let v: number;
    switch (offset) {
      case UART_RBR_THR:
        if (this.lcr & LCR_DLAB) { v = this.dll; break; }
        v = this.rx.shift() ?? 0;
        if (this.rx.length === 0) this.lsr &= ~LSR_DR;
        break;
      case UART_IER:
        v = this.lcr & LCR_DLAB ? this.dlm : this.ier;
        break;
      case UART_IIR_FCR: {
        const code = this.pendingIir();
        v = code | (this.fifoEnabled ? IIR_FIFO_ENABLED : 0);
        // Reading IIR while it reports THRE clears that interrupt (datasheet table IV).
        if (code === IIR_THRE) this.thriPending = false;
        break;
      }
      case UART_LCR: v = this.lcr; break;
      case UART_MCR: v = this.mcr; break;
      case UART_LSR:
        v = this.lsr;
        // Error bits clear on read.
        this.lsr &= ~(LSR_OE | LSR_PE | LSR_FE | LSR_BI | LSR_FIFO_ERR);
        break;
      case UART_MSR:
        v = this.mcr & MCR_LOOP ? (this.loopbackMsr() | (this.msr & 0x0f)) : this.msr;
        this.msr &= 0xf0;
        break;
      case UART_SCR: v = this.scr; break;
      default:
        this.guestError(`read at offset ${offset}`);
        return 0xff;
    }
    this.updateIrq();
    return v;
  }

  write(offset: number, value: number): void {
    const v = value & 0xff;
    switch (offset) {
      case UART_RBR_THR:
        if (this.lcr & LCR_DLAB) this.dll = v;
        else {
          // The write clears the THRE interrupt, and the line drops, before the byte leaves and
          // THR empties again: a handler that answers THRE with the next byte (without reading
          // IIR) makes the line fall and rise, a new edge for an edge-triggered input, as on the
          // chip and in QEMU.
          this.thriPending = false;
          this.updateIrq();
          this.transmit(v);
        }
        break;
      case UART_IER:
        if (this.lcr & LCR_DLAB) { this.dlm = v; break; }
        if (!(this.ier & IER_THRE) && v & IER_THRE && this.lsr & LSR_THRE) this.thriPending = true;
        this.ier = v & 0x0f;
        break;
      case UART_IIR_FCR:
        if (v & 0b010) this.rx = [];
        if ((v & 1) !== (this.fcr & 1)) this.rx = []; // switching FIFO mode resets the FIFOs
        this.fcr = v & 0b1100_1001;
        if (this.rx.length === 0) this.lsr &= ~LSR_DR;
        break;
      case UART_LCR: this.lcr = v; break;
      case UART_MCR: {
        const old = this.mcr;
        this.mcr = v & 0x1f;
        if ((old ^ this.mcr) & MCR_LOOP) this.msr &= 0xf0;
        break;
      }
      case UART_LSR:
      case UART_MSR:
        // Read-only on the 16550 (writes are factory test functions): ignore.
        this.guestError(`write of 0x${v.toString(16)} to read-only register ${offset}`);
        break;
      case UART_SCR: this.scr = v; break;
      default:
        this.guestError(`write at offset ${offset}`);
        return;
    }
    this.updateIrq();
  }

  snapshot(): Uart16550State {
    return {
      version: 1, ier: this.ier, lcr: this.lcr, mcr: this.mcr, lsr: this.lsr, msr: this.msr, scr: this.scr,
      dll: this.dll, dlm: this.dlm, fcr: this.fcr, rx: [...this.rx], thrIpending: this.thriPending, irqLevel: this.irqLevel,
    };
  }

  /** Rebuilds a UART from `snapshot()`'s state; throws InvalidArgumentError (naming the field) on a malformed state. */
  static restore(state: Uart16550State, deps: Uart16550Deps): Uart16550 {
    const r = StateReader.open('UART 16550', state, 1);
    const fcr = r.bits('fcr', 0b1100_1001);
    const lsr = r.int('lsr', 0, 0xff);
    const rx = r.ints('rx', { max: fcr & 1 ? FIFO_SIZE : 1 }, 0, 0xff);
    r.check(((lsr & LSR_DR) !== 0) === (rx.length > 0), 'LSR data-ready must be set exactly when the receiver holds data');
    const u = new Uart16550(deps);
    Object.assign(u, {
      ier: r.bits('ier', 0x0f), lcr: r.int('lcr', 0, 0xff), mcr: r.bits('mcr', 0x1f), lsr, msr: r.int('msr', 0, 0xff),
      scr: r.int('scr', 0, 0xff), dll: r.int('dll', 0, 0xff), dlm: r.int('dlm', 0, 0xff), fcr,
      rx: [...rx], thriPending: r.bool('thrIpending'), irqLevel: r.bool('irqLevel'),
    });
    r.check(u.irqLevel === u.lineLevel(), 'irqLevel must be the level the registers give (an enabled interrupt pending and OUT2 set)');
    return u;
  }
}

/**
 * QEMU's pc-testdev, the parts guest test suites use (hw/misc/pc-testdev.c
 * in QEMU for the semantics):
 * - the IRQ block, ports 0x2000 + n (n = 0..23): a byte write sets input
 *   line n of the IOAPIC to (value != 0), as a level;
 * - port 0xe0: a 4-byte scratch register that reads back what was last
 *   written, for 1-, 2- and 4-byte accesses at any of its offsets 0-3 (an
 *   access running past its end keeps the bytes that fit, as QEMU's
 *   test_ioport_read/write do).
 * Two bus devices, each taking offsets from its own base; an offset outside
 * a device is a counted guest error (port 0xe0: reads all ones, writes dropped).
 */
import { StateReader } from './state.js';
import { allOnes } from '../machine/bus.js';

export const PC_TESTDEV_IRQ_BASE = 0x2000;
export const PC_TESTDEV_IRQ_LINES = 24;
export const PC_TESTDEV_IOPORT = 0xe0;

export interface LineSink { setIrq(line: number, level: boolean): void }

/** The IRQ block keeps no state of its own (the levels live in the interrupt controller): a version and nothing else. */
export interface PcTestdevIrqState { version: 1 }
export interface PcTestdevIoportState { version: 1; value: number }

export class PcTestdevIrq {
  guestErrors = 0;
  constructor(private readonly lines: LineSink) {}
  read(): number { return 0; }
  write(offset: number, _size: number, value: number): void {
    if (offset < 0 || offset >= PC_TESTDEV_IRQ_LINES) { this.guestErrors++; return; }
    this.lines.setIrq(offset, (value & 0xff) !== 0);
  }

  snapshot(): PcTestdevIrqState { return { version: 1 }; }

  /** Throws InvalidArgumentError on a malformed state. */
  static restore(state: PcTestdevIrqState, lines: LineSink): PcTestdevIrq {
    StateReader.open('pc-testdev IRQ block', state, 1);
    return new PcTestdevIrq(lines);
  }
}

export class PcTestdevIoport {
  private value = 0;
  guestErrors = 0;

  /** The bytes of the register an access covers: from `offset`, `size` bytes, cut at the register's end (QEMU's test_ioport_*). */
  private static mask(offset: number, size: number): number {
    return (allOnes(size) << (8 * offset)) >>> 0;
  }

  read(offset: number, size: number): number {
    if (!Number.isInteger(offset) || offset < 0 || offset > 3) {
      this.guestErrors++;
      return allOnes(size);
    }
    return (this.value & PcTestdevIoport.mask(offset, size)) >>> (8 * offset);
  }

  write(offset: number, size: number, value: number): void {
    if (!Number.isInteger(offset) || offset < 0 || offset > 3) { this.guestErrors++; return; }
    const mask = PcTestdevIoport.mask(offset, size);
    this.value = ((this.value & ~mask) | ((value << (8 * offset)) & mask)) >>> 0;
  }

  snapshot(): PcTestdevIoportState { return { version: 1, value: this.value }; }

  /** Throws InvalidArgumentError on a malformed state. */
  static restore(state: PcTestdevIoportState): PcTestdevIoport {
    const r = StateReader.open('pc-testdev port 0xe0', state, 1);
    const d = new PcTestdevIoport();
    d.value = r.int('value', 0, 0xffff_ffff);
    return d;
  }
}

/**
 * QEMU's pc-testdev, the parts guest test suites use (hw/misc/pc-testdev.c
 * in QEMU for the semantics):
 * - the IRQ block, ports 0x2000 + n (n = 0..23): a byte write sets input
 *   line n of the IOAPIC to (value != 0), as a level;
 * - port 0xe0: a scratch register that reads back what was last written,
 *   for 1-, 2- and 4-byte accesses.
 * Two bus devices, each taking offsets from its own base.
 */
export const PC_TESTDEV_IRQ_BASE = 0x2000;
export const PC_TESTDEV_IRQ_LINES = 24;
export const PC_TESTDEV_IOPORT = 0xe0;

export interface LineSink { setIrq(line: number, level: boolean): void }

export class PcTestdevIrq {
  guestErrors = 0;
  constructor(private readonly lines: LineSink) {}
  read(): number { return 0; }
  write(offset: number, _size: number, value: number): void {
    if (offset < 0 || offset >= PC_TESTDEV_IRQ_LINES) { this.guestErrors++; return; }
    this.lines.setIrq(offset, (value & 0xff) !== 0);
  }
}

export class PcTestdevIoport {
  private value = 0;
  read(offset: number, size: number): number {
    const v = this.value >>> (8 * offset);
    return size >= 4 ? v >>> 0 : v & ((1 << (8 * size)) - 1);
  }
  write(offset: number, size: number, value: number): void {
    if (offset !== 0 || size === 4) { this.value = value >>> 0; return; }
    const mask = ((1 << (8 * size)) - 1) << (8 * offset);
    this.value = ((this.value & ~mask) | ((value << (8 * offset)) & mask)) >>> 0;
  }
}

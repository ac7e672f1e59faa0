/**
 * The doorbell device's control registers (issue 8): a PCI device whose
 * MSI-X vectors are each backed by an eventfd that something outside the
 * guest rings -- what vhost and VFIO do. This file is the register block
 * (BAR2), a pure state machine with one injected output, `ring`; the PCI
 * function, MSI-X and the eventfds are in src/machine/doorbell-pci.ts.
 *
 * BAR2, 4 KiB, dword accesses only:
 *   0x00 R  ID       0x4c425244 ('DRBL')
 *   0x04 R  VECTORS  number of MSI-X vectors (1..2048)
 *   0x08 W  RING     ring vector `value` once (the VMM writes its eventfd)
 *   0x0c W  RANGE    ring vectors first .. first + count - 1 once each,
 *                    value = first | count << 16
 *   0x10 R  RINGS    rings made through these registers, low 32 bits
 *   0x14 R  LOAD     load generators still ringing this device (0 when done:
 *                    a guest counting interrupts under --doorbell-load stops
 *                    when it reads 0 and the last interrupt has arrived)
 * Other offsets read 0 and ignore writes; other sizes and out-of-range
 * vectors are guest errors (reads of them answer all ones), as a device
 * that decodes only dwords would.
 */
/** A register block on a bus (the shape of src/machine/bus.ts's BusDevice). */
interface MmioDevice {
  read(offset: number, size: number): number;
  write(offset: number, size: number, value: number): void;
}

export const DOORBELL_VENDOR_ID = 0x1234;
/** Not a real product's ID: the device exists only in this VMM. */
export const DOORBELL_DEVICE_ID = 0xd00b;
export const DOORBELL_MAGIC = 0x4c42_5244;
export const DOORBELL_REGS_SIZE = 0x1000;
export const DOORBELL_MAX_VECTORS = 2048;

export const DOORBELL_REG_ID = 0x00;
export const DOORBELL_REG_VECTORS = 0x04;
export const DOORBELL_REG_RING = 0x08;
export const DOORBELL_REG_RANGE = 0x0c;
export const DOORBELL_REG_RINGS = 0x10;
export const DOORBELL_REG_LOAD = 0x14;

export interface DoorbellOutputs {
  /** Ring vector `n` (write 1 to its eventfd). */
  ring(n: number): void;
  /** Load generators still ringing (the LOAD register). */
  load?(): number;
  onGuestError?(what: string): void;
}

export class DoorbellRegs implements MmioDevice {
  /** Rings made through the registers. */
  rings = 0;

  constructor(readonly vectors: number, private readonly out: DoorbellOutputs) {}

  read(off: number, size: number): number {
    if (size !== 4 || off % 4 !== 0) {
      this.out.onGuestError?.(`read of ${size} bytes at 0x${off.toString(16)} (dword registers)`);
      return size >= 4 ? 0xffff_ffff : 2 ** (8 * size) - 1;
    }
    switch (off) {
      case DOORBELL_REG_ID: return DOORBELL_MAGIC;
      case DOORBELL_REG_VECTORS: return this.vectors;
      case DOORBELL_REG_RINGS: return this.rings >>> 0;
      case DOORBELL_REG_LOAD: return (this.out.load?.() ?? 0) >>> 0;
      default: return 0;
    }
  }

  write(off: number, size: number, value: number): void {
    if (size !== 4 || off % 4 !== 0) {
      this.out.onGuestError?.(`write of ${size} bytes at 0x${off.toString(16)} (dword registers)`);
      return;
    }
    if (off === DOORBELL_REG_RING) {
      if (value >>> 0 >= this.vectors) { this.out.onGuestError?.(`RING of vector ${value >>> 0} (the device has ${this.vectors})`); return; }
      this.ringOne(value >>> 0);
    } else if (off === DOORBELL_REG_RANGE) {
      const first = value & 0xffff;
      const count = value >>> 16;
      if (first + count > this.vectors) { this.out.onGuestError?.(`RANGE of vectors ${first}..${first + count - 1} (the device has ${this.vectors})`); return; }
      for (let n = first; n < first + count; n++) this.ringOne(n);
    }
  }

  private ringOne(n: number): void {
    this.rings++;
    this.out.ring(n);
  }
}

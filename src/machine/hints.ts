/**
 * What a guest that touches an address no device answers was most likely
 * looking for, and what to do about it: a hint for the first unhandled
 * access at each address (the log shows it once; the bus still answers as
 * a PC does, all ones / dropped).
 */
export type IrqchipMode = 'none' | 'split';

interface Range { space: 'pio' | 'mmio'; from: number; to: number; what: string; splitHas?: boolean }

const RANGES: readonly Range[] = [
  { space: 'mmio', from: 0xfec0_0000, to: 0xfec0_0fff, what: 'the IOAPIC', splitHas: true },
  { space: 'mmio', from: 0xfee0_0000, to: 0xfee0_0fff, what: 'the local APIC (KVM\'s, in the kernel)', splitHas: true },
  { space: 'pio', from: 0x20, to: 0x21, what: 'the master 8259 PIC', splitHas: true },
  { space: 'pio', from: 0xa0, to: 0xa1, what: 'the slave 8259 PIC', splitHas: true },
  { space: 'pio', from: 0x510, to: 0x511, what: 'QEMU\'s fw_cfg', splitHas: true },
  { space: 'pio', from: 0xe0, to: 0xe3, what: 'pc-testdev\'s scratch port', splitHas: true },
  { space: 'pio', from: 0x2000, to: 0x2017, what: 'pc-testdev\'s IRQ lines', splitHas: true },
  { space: 'pio', from: 0x40, to: 0x43, what: 'the i8254 PIT, which this machine does not model (use the LAPIC timer)' },
  { space: 'pio', from: 0x61, to: 0x61, what: 'port 0x61 (PIT gate / speaker), which this machine does not model' },
  { space: 'pio', from: 0x60, to: 0x60, what: 'the i8042 keyboard controller, which this machine does not model' },
  { space: 'pio', from: 0x64, to: 0x64, what: 'the i8042 keyboard controller, which this machine does not model' },
  { space: 'pio', from: 0x70, to: 0x71, what: 'the RTC/CMOS, which this machine does not model' },
  { space: 'pio', from: 0xcf8, to: 0xcff, what: 'the PCI configuration ports', splitHas: true },
  { space: 'pio', from: 0x2f8, to: 0x2ff, what: 'COM2; only COM1 (0x3f8) exists' },
  { space: 'pio', from: 0x3e8, to: 0x3ef, what: 'COM3; only COM1 (0x3f8) exists' },
  { space: 'pio', from: 0x2e8, to: 0x2ef, what: 'COM4; only COM1 (0x3f8) exists' },
  { space: 'pio', from: 0x3b0, to: 0x3df, what: 'VGA, which this machine does not have (use the serial port)' },
];

/** A one-line hint for an unhandled access, or undefined when there is nothing useful to say. */
export function unhandledAccessHint(space: 'pio' | 'mmio', address: number, irqchip: IrqchipMode): string | undefined {
  const r = RANGES.find((x) => x.space === space && address >= x.from && address <= x.to);
  if (!r) return undefined;
  if (r.splitHas) return irqchip === 'split' ? undefined : `looks like ${r.what}: try --irqchip split`;
  return `looks like ${r.what}`;
}

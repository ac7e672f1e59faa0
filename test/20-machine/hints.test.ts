/**
 * The hint for a guest's first access where no device is: what it probably
 * wanted, and the option that gives it when there is one.
 */
import { describe, expect, it } from 'vitest';
import { unhandledAccessHint } from '../../src/machine/hints.js';
import { exitStatusFor } from '../../src/machine/x86-pc.js';

describe('unhandled-access hints', () => {
  it.each([
    ['mmio', 0xfec0_0000, 'none', 'looks like the IOAPIC: try --irqchip split'],
    ['mmio', 0xfec0_0010, 'none', 'looks like the IOAPIC: try --irqchip split'],
    ['mmio', 0xfee0_00f0, 'none', "looks like the local APIC (KVM's, in the kernel): try --irqchip split"],
    ['pio', 0x21, 'none', 'looks like the master 8259 PIC: try --irqchip split'],
    ['pio', 0x2005, 'none', "looks like pc-testdev's IRQ lines: try --irqchip split"],
    ['pio', 0x510, 'none', "looks like QEMU's fw_cfg: try --irqchip split"],
    ['pio', 0x43, 'split', 'looks like the i8254 PIT, which this machine does not model (use the LAPIC timer)'],
    ['pio', 0xcf8, 'none', 'looks like the PCI configuration ports: try --irqchip split'],
    ['pio', 0x2f8, 'none', 'looks like COM2; only COM1 (0x3f8) exists'],
  ] as const)('%s 0x%s with --irqchip %s: %s', (space, address, irqchip, hint) => {
    expect(unhandledAccessHint(space, address, irqchip)).toBe(hint);
  });

  it('says nothing where the split machine has the device, or nothing is known', () => {
    expect(unhandledAccessHint('mmio', 0xfec0_0000, 'split')).toBeUndefined();
    expect(unhandledAccessHint('pio', 0x21, 'split')).toBeUndefined();
    expect(unhandledAccessHint('pio', 0x1234, 'none')).toBeUndefined();
    expect(unhandledAccessHint('mmio', 0xfed0_0000, 'none')).toBeUndefined();
    // A port number is not an MMIO address.
    expect(unhandledAccessHint('mmio', 0x21, 'none')).toBeUndefined();
  });
});

describe('exit status of a signal stop', () => {
  it('is 128 + the signal number, as a shell reports it', () => {
    expect(exitStatusFor({ kind: 'signal', signal: 'SIGINT' })).toBe(130);
    expect(exitStatusFor({ kind: 'signal', signal: 'SIGTERM' })).toBe(143);
  });
});

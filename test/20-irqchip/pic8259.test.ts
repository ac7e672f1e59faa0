/**
 * The 8259A pair as a PC guest programs it: ICW1–4, masks, IRR/ISR reads,
 * priorities, EOIs, cascade through IR2, spurious IRQ 7/15, poll mode.
 */
import { describe, expect, it } from 'vitest';
import { RecordingIrqLine } from '../../src/devices/irq.js';
import { Pic8259Pair } from '../../src/irqchip/pic8259.js';

/** The usual PC initialisation: master at vector 0x20, slave at 0x28, cascade on IR2, 8086 mode. */
function initPc(pic: Pic8259Pair, autoEoi = false): void {
  pic.write('master', 0, 0x11);
  pic.write('master', 1, 0x20);
  pic.write('master', 1, 0x04);
  pic.write('master', 1, autoEoi ? 0x03 : 0x01);
  pic.write('slave', 0, 0x11);
  pic.write('slave', 1, 0x28);
  pic.write('slave', 1, 0x02);
  pic.write('slave', 1, 0x01);
}

function make() {
  const intr = new RecordingIrqLine();
  const pic = new Pic8259Pair({ intr });
  initPc(pic);
  return { pic, intr };
}

describe('8259A pair', () => {
  it('a rising edge raises INT; INTA gives base + IR and moves it to ISR; EOI clears it', () => {
    const { pic, intr } = make();
    pic.setIrq(4, true);
    expect(intr.calls).toEqual([true]);
    expect(pic.acknowledge()).toBe(0x24);
    expect(intr.level).toBe(false);
    pic.write('master', 0, 0x0b); // OCW3: read ISR
    expect(pic.read('master', 0)).toBe(0x10);
    pic.write('master', 0, 0x20); // non-specific EOI
    expect(pic.read('master', 0)).toBe(0);
  });

  it('IMR masks a request until unmasked; IRR shows it meanwhile', () => {
    const { pic, intr } = make();
    pic.write('master', 1, 0xff);
    expect(pic.read('master', 1)).toBe(0xff);
    pic.setIrq(3, true);
    expect(intr.calls).toEqual([]);
    pic.write('master', 0, 0x0a); // OCW3: read IRR
    expect(pic.read('master', 0)).toBe(0x08);
    pic.write('master', 1, 0xf7);
    expect(intr.level).toBe(true);
    expect(pic.acknowledge()).toBe(0x23);
  });

  it('a level held high requests once (edge-triggered); lower priority waits for the EOI of a higher one', () => {
    const { pic } = make();
    pic.setIrq(1, true);
    pic.setIrq(5, true);
    expect(pic.acknowledge()).toBe(0x21);
    expect(pic.intr).toBe(false); // IR5 is blocked by IR1 in service
    pic.write('master', 0, 0x61); // specific EOI for IR1
    expect(pic.intr).toBe(true);
    expect(pic.acknowledge()).toBe(0x25);
    pic.setIrq(1, true); // still high: no new edge
    pic.write('master', 0, 0x20);
    expect(pic.intr).toBe(false);
  });

  it('cascade: a slave IRQ arrives through master IR2 with the slave vector', () => {
    const { pic } = make();
    pic.setIrq(12, true);
    expect(pic.intr).toBe(true);
    expect(pic.acknowledge()).toBe(0x2c);
    pic.write('slave', 0, 0x0b);
    expect(pic.read('slave', 0)).toBe(0x10);
    pic.write('master', 0, 0x0b);
    expect(pic.read('master', 0)).toBe(0x04);
  });

  it('a request withdrawn before INTA gives the spurious vector (IRQ 7) without setting ISR', () => {
    const { pic } = make();
    pic.setIrq(3, true);
    pic.write('master', 1, 0x08); // masked before the CPU acknowledges
    expect(pic.acknowledge()).toBe(0x27);
    pic.write('master', 0, 0x0b);
    expect(pic.read('master', 0)).toBe(0);
  });

  it('auto-EOI leaves nothing in service', () => {
    const intr = new RecordingIrqLine();
    const pic = new Pic8259Pair({ intr });
    initPc(pic, true);
    pic.setIrq(6, true);
    expect(pic.acknowledge()).toBe(0x26);
    pic.write('master', 0, 0x0b);
    expect(pic.read('master', 0)).toBe(0);
  });

  it('poll mode: the command-port read acknowledges and returns 0x80 | IR', () => {
    const { pic } = make();
    pic.setIrq(5, true);
    pic.write('master', 0, 0x0c);
    expect(pic.read('master', 0)).toBe(0x85);
  });

  it('IRQ 2 and out-of-range IRQs are guest errors, not throws', () => {
    const { pic } = make();
    pic.setIrq(2, true);
    pic.setIrq(16, true);
    expect(pic.guestErrors).toBe(2);
  });
});

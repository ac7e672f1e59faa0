import { describe, expect, it } from 'vitest';
import { RecordingIrqLine } from '../../src/devices/irq.js';
import {
  FR_RXFE, FR_RXFF, FR_TXFE, INT_OE, INT_RT, INT_RX, INT_TX, LCR_H_FEN, Pl011, PL011_CR, PL011_DR, PL011_FR, PL011_ICR,
  PL011_IFLS, PL011_IMSC, PL011_LCR_H, PL011_MIS, PL011_RIS, PL011_RSR_ECR,
} from '../../src/devices/pl011.js';

function rig() {
  const irq = new RecordingIrqLine();
  const out: number[] = [];
  const errors: string[] = [];
  const u = new Pl011({ irq, tx: (b) => out.push(b), onGuestError: (w) => errors.push(w) });
  return { u, irq, out, errors };
}

describe('PL011', () => {
  it('resets as the TRM says: CR = TXE|RXE, IFLS = 1/2, FR = TXFE|RXFE, no interrupt', () => {
    const { u, irq } = rig();
    expect(u.read(PL011_CR, 4)).toBe(0x300);
    expect(u.read(PL011_IFLS, 4)).toBe(0x12);
    expect(u.read(PL011_FR, 4)).toBe(FR_TXFE | FR_RXFE);
    expect(u.read(PL011_RIS, 4)).toBe(0);
    expect(irq.calls).toEqual([]);
  });

  it('reads the PrimeCell and PL011 ids that Linux matches (part 0x011, designer 0x41, 0xb105f00d)', () => {
    const { u } = rig();
    const id = Array.from({ length: 8 }, (_, i) => u.read(0xfe0 + 4 * i, 4));
    expect(id[0]! | ((id[1]! & 0xf) << 8)).toBe(0x011);
    expect(((id[1]! >> 4) | ((id[2]! & 0xf) << 4))).toBe(0x41);
    expect(id.slice(4)).toEqual([0x0d, 0xf0, 0x05, 0xb1]);
  });

  it('sends DR writes and raises TX; the line follows RIS & IMSC, only on changes', () => {
    const { u, irq, out } = rig();
    u.write(PL011_DR, 4, 0x141); // only the low byte is data
    expect(out).toEqual([0x41]);
    expect(u.read(PL011_RIS, 4)).toBe(INT_TX);
    expect(irq.calls).toEqual([]); // masked
    u.write(PL011_IMSC, 4, INT_TX);
    u.write(PL011_DR, 4, 0x42);
    expect(irq.calls).toEqual([true]);
    expect(u.read(PL011_MIS, 4)).toBe(INT_TX);
    u.write(PL011_ICR, 4, INT_TX);
    expect(irq.calls).toEqual([true, false]);
  });

  it('without FIFOs holds one byte: RX at 1 byte, overrun sets OE in RSR and RIS and loses the byte', () => {
    const { u, irq } = rig();
    u.write(PL011_IMSC, 4, INT_RX | INT_RT);
    expect(u.receive([0x61, 0x62])).toBe(1);
    expect(u.read(PL011_RIS, 4)).toBe(INT_RX | INT_RT | INT_OE);
    expect(u.read(PL011_FR, 4) & (FR_RXFF | FR_RXFE)).toBe(FR_RXFF);
    expect(u.read(PL011_RSR_ECR, 4)).toBe(8);
    expect(u.read(PL011_DR, 4)).toBe(0x61);
    expect(u.read(PL011_RIS, 4)).toBe(INT_OE);
    expect(irq.calls).toEqual([true, false]);
    u.write(PL011_RSR_ECR, 4, 0);
    expect(u.read(PL011_RSR_ECR, 4)).toBe(0);
    expect(u.read(PL011_DR, 4)).toBe(0); // empty FIFO
  });

  it('with FIFOs: RX at the IFLS trigger level, RT below it, both cleared as the FIFO drains', () => {
    const { u } = rig();
    u.write(PL011_LCR_H, 4, LCR_H_FEN);
    u.write(PL011_IFLS, 4, 0); // RX trigger 1/8 = 2 bytes
    u.receive([1]);
    expect(u.read(PL011_RIS, 4)).toBe(INT_RT);
    u.receive([2, 3]);
    expect(u.read(PL011_RIS, 4)).toBe(INT_RX | INT_RT);
    expect(u.read(PL011_DR, 4)).toBe(1);
    expect(u.read(PL011_RIS, 4)).toBe(INT_RX | INT_RT); // 2 left: still at the trigger
    expect(u.read(PL011_DR, 4)).toBe(2);
    expect(u.read(PL011_RIS, 4)).toBe(INT_RT);
    expect(u.read(PL011_DR, 4)).toBe(3);
    expect(u.read(PL011_RIS, 4)).toBe(0);
    expect(u.receive(new Uint8Array(20))).toBe(16);
    expect(u.rxSpace).toBe(0);
  });

  it('logs and ignores garbage, never throws', () => {
    const { u, errors } = rig();
    expect(u.read(0x800, 4)).toBe(0);
    u.write(0xfe0, 4, 1);
    u.write(0x7fc, 1, 0xff);
    expect(errors.length).toBe(3);
    expect(u.read(0xfe0, 4)).toBe(0x11);
  });

  it('snapshot/restore round trip; a malformed state is ERR_INVALID_ARG', () => {
    const { u } = rig();
    u.write(PL011_LCR_H, 4, LCR_H_FEN);
    u.write(PL011_IMSC, 4, INT_RX | INT_RT);
    u.receive([9, 8, 7]);
    const s = u.snapshot();
    const irq = new RecordingIrqLine();
    const v = Pl011.restore(JSON.parse(JSON.stringify(s)) as typeof s, { irq, tx: () => {} });
    expect(v.snapshot()).toEqual(s);
    expect(irq.level).toBe(true);
    expect(() => Pl011.restore({ ...s, rx: new Array(17).fill(0) }, { irq, tx: () => {} })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
  });
});

/**
 * The 16550A UART at register level, asserting the exact list of IRQ line
 * changes and transmitted bytes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecordingIrqLine } from '../../src/devices/irq.js';
import {
  IER_RDA, IER_THRE, LCR_DLAB, LSR_DR, LSR_OE, LSR_TEMT, LSR_THRE, MCR_LOOP, MCR_OUT2, MCR_RTS, MSR_CTS,
  Uart16550, UART_IER, UART_IIR_FCR, UART_LCR, UART_LSR, UART_MCR, UART_MSR, UART_RBR_THR, UART_SCR,
} from '../../src/devices/uart16550.js';

function make() {
  const irq = new RecordingIrqLine();
  const tx: number[] = [];
  const errors: string[] = [];
  const u = new Uart16550({ irq, tx: (b) => tx.push(b), onGuestError: (w) => errors.push(w) });
  return { u, irq, tx, errors };
}

describe('16550A UART', () => {
  it('resets as the datasheet says: IIR 0x01, LSR THRE|TEMT, LCR/MCR/IER 0', () => {
    const { u } = make();
    expect(u.read(UART_IIR_FCR)).toBe(0x01);
    expect(u.read(UART_LSR)).toBe(LSR_THRE | LSR_TEMT);
    expect(u.read(UART_IER)).toBe(0);
    expect(u.read(UART_LCR)).toBe(0);
    expect(u.read(UART_MCR)).toBe(0);
  });

  it('THR writes go to tx in order', () => {
    const { u, tx } = make();
    for (const c of 'hi\n') u.write(UART_RBR_THR, c.charCodeAt(0));
    expect(String.fromCharCode(...tx)).toBe('hi\n');
  });

  it('DLAB switches offsets 0/1 to the divisor latch without transmitting', () => {
    const { u, tx } = make();
    u.write(UART_LCR, LCR_DLAB | 0x03);
    u.write(UART_RBR_THR, 0x01);
    u.write(UART_IER, 0x02);
    expect(u.read(UART_RBR_THR)).toBe(0x01);
    expect(u.read(UART_IER)).toBe(0x02);
    u.write(UART_LCR, 0x03);
    expect(u.read(UART_IER)).toBe(0);
    expect(tx).toEqual([]);
  });

  it('enabling THRE raises the line (with OUT2); reading IIR=THRE clears it', () => {
    const { u, irq } = make();
    u.write(UART_MCR, MCR_OUT2);
    u.write(UART_IER, IER_THRE);
    expect(irq.calls).toEqual([true]);
    expect(u.read(UART_IIR_FCR)).toBe(0x02);
    expect(irq.calls).toEqual([true, false]);
    expect(u.read(UART_IIR_FCR)).toBe(0x01);
  });

  it('without OUT2 the interrupt is pending but the line stays low', () => {
    const { u, irq } = make();
    u.write(UART_IER, IER_THRE);
    expect(irq.calls).toEqual([]);
    expect(u.read(UART_IIR_FCR)).toBe(0x02);
  });

  it('a THR write re-arms THRE (transmission is instantaneous)', () => {
    const { u, irq } = make();
    u.write(UART_MCR, MCR_OUT2);
    u.write(UART_IER, IER_THRE);
    u.read(UART_IIR_FCR);
    u.write(UART_RBR_THR, 0x41);
    expect(irq.calls).toEqual([true, false, true]);
  });

  it('a THR write while THRE is pending drops the line and raises it again: one edge per byte', () => {
    const { u, irq, tx } = make();
    u.write(UART_MCR, MCR_OUT2);
    u.write(UART_IER, IER_THRE);
    for (const b of [0x61, 0x62, 0x63]) u.write(UART_RBR_THR, b); // the handler answers THRE without reading IIR
    expect(irq.calls).toEqual([true, false, true, false, true, false, true]);
    expect(tx).toEqual([0x61, 0x62, 0x63]);
    expect(u.read(UART_IIR_FCR)).toBe(0x02);
  });

  it('received data: DR, RDA interrupt with priority over THRE, read clears', () => {
    const { u, irq } = make();
    u.write(UART_MCR, MCR_OUT2);
    u.write(UART_IER, IER_RDA | IER_THRE);
    u.receive([0x61]);
    expect(u.read(UART_IIR_FCR)).toBe(0x04);
    expect(u.read(UART_LSR) & LSR_DR).toBe(LSR_DR);
    expect(u.read(UART_RBR_THR)).toBe(0x61);
    expect(u.read(UART_IIR_FCR)).toBe(0x02);
    expect(irq.calls).toEqual([true, false]);
  });

  it('FIFO holds 16 bytes; the 17th sets overrun, which clears on LSR read', () => {
    const { u } = make();
    u.write(UART_IIR_FCR, 0x01);
    expect(u.read(UART_IIR_FCR) & 0xc0).toBe(0xc0);
    u.receive(Array.from({ length: 17 }, (_, i) => i));
    expect(u.read(UART_LSR) & LSR_OE).toBe(LSR_OE);
    expect(u.read(UART_LSR) & LSR_OE).toBe(0);
    const got = Array.from({ length: 16 }, () => u.read(UART_RBR_THR));
    expect(got).toEqual(Array.from({ length: 16 }, (_, i) => i));
    expect(u.read(UART_LSR) & LSR_DR).toBe(0);
  });

  it('loopback: THR goes to the receiver, MSR follows MCR', () => {
    const { u, tx } = make();
    u.write(UART_MCR, MCR_LOOP | MCR_RTS);
    u.write(UART_RBR_THR, 0x55);
    expect(tx).toEqual([]);
    expect(u.read(UART_RBR_THR)).toBe(0x55);
    expect(u.read(UART_MSR) & 0xf0).toBe(MSR_CTS);
  });

  it('scratch register round-trips; garbage offsets are counted, not thrown', () => {
    const { u, errors } = make();
    u.write(UART_SCR, 0x5a);
    expect(u.read(UART_SCR)).toBe(0x5a);
    expect(u.read(9)).toBe(0xff);
    u.write(-1, 1);
    expect(u.guestErrors).toBe(2);
    expect(errors.length).toBe(2);
  });

  it('property: never throws; the line is high iff an enabled interrupt is pending and OUT2 is set; restore replays', () => {
    const step = fc.oneof(
      fc.record({ k: fc.constant('r' as const), off: fc.integer({ min: -1, max: 8 }) }),
      fc.record({ k: fc.constant('w' as const), off: fc.integer({ min: -1, max: 8 }), v: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ k: fc.constant('rx' as const), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 20 }) }),
    );
    fc.assert(fc.property(fc.array(step, { maxLength: 60 }), fc.array(step, { maxLength: 20 }), (ops, tail) => {
      const a = make();
      const apply = (u: Uart16550, o: (typeof ops)[number]): number | undefined =>
        o.k === 'r' ? u.read(o.off) : o.k === 'w' ? (u.write(o.off, o.v), undefined) : (u.receive(o.bytes), undefined);
      for (const o of ops) {
        apply(a.u, o);
        const s = a.u.snapshot();
        const pendingIir = s.ier & 0x0f ? peekIir(s) : 1;
        expect(a.irq.level).toBe(pendingIir !== 1 && (s.mcr & MCR_OUT2) !== 0);
      }
      const b = make();
      const restored = Uart16550.restore(a.u.snapshot(), { irq: b.irq, tx: (x) => b.tx.push(x) });
      const outA = tail.map((o) => apply(a.u, o));
      const outB = tail.map((o) => apply(restored, o));
      expect(outB).toEqual(outA);
    }), { numRuns: 200 });
  });
});

/** The IIR code a snapshot implies (a reference for the property). */
function peekIir(s: ReturnType<Uart16550['snapshot']>): number {
  if (s.ier & 0b0100 && s.lsr & 0b1_1110) return 0b0110;
  if (s.ier & 0b0001 && s.lsr & 0b1) return 0b0100;
  if (s.ier & 0b0010 && s.thrIpending) return 0b0010;
  if (s.ier & 0b1000 && s.msr & 0x0f) return 0;
  return 1;
}

/**
 * The local APIC model under recording outputs: priorities, EOI with the
 * trigger mode, timer modes on injected time, IPIs, destination matching.
 */
import { describe, expect, it } from 'vitest';
import {
  APIC_EOI, APIC_ESR, APIC_ICR_HIGH, APIC_ICR_LOW, APIC_ISR, APIC_LDR, APIC_DFR, APIC_LVT_TIMER, APIC_PPR, APIC_SVR,
  APIC_TIMER_CURRENT, APIC_TIMER_DIVIDE, APIC_TIMER_INITIAL, APIC_TPR, APIC_VERSION, APIC_ID, Lapic, type IpiMessage,
} from '../../src/irqchip/lapic.js';

function make(id = 0) {
  const eois: [number, boolean][] = [];
  const ipis: IpiMessage[] = [];
  const special: [string, number][] = [];
  const a = new Lapic(id, { eoi: (v, l) => eois.push([v, l]), ipi: (m) => ipis.push(m), special: (k, v) => special.push([k, v]) });
  a.write(APIC_SVR, 0x1ff);
  return { a, eois, ipis, special };
}

describe('local APIC', () => {
  it('reports its ID and version 0x14 with 6 LVT entries', () => {
    const { a } = make(3);
    expect(a.read(APIC_ID)).toBe(3 << 24);
    expect(a.read(APIC_VERSION)).toBe(0x0005_0014);
  });

  it('delivers the highest vector first; ISR blocks same or lower classes until EOI', () => {
    const { a, eois } = make();
    a.acceptFixed(0x31, false);
    a.acceptFixed(0x51, true);
    expect(a.hasInterrupt()).toBe(true);
    expect(a.acknowledge()).toBe(0x51);
    expect(a.read(APIC_PPR)).toBe(0x50);
    expect(a.hasInterrupt()).toBe(false); // 0x31's class 3 < 5
    a.write(APIC_EOI, 0);
    expect(eois).toEqual([[0x51, true]]);
    expect(a.acknowledge()).toBe(0x31);
    a.write(APIC_EOI, 0);
    expect(eois).toEqual([[0x51, true], [0x31, false]]);
    expect(a.read(APIC_ISR + 0x10)).toBe(0);
  });

  it('TPR masks classes at or below it', () => {
    const { a } = make();
    a.write(APIC_TPR, 0x40);
    a.acceptFixed(0x45, false);
    expect(a.hasInterrupt()).toBe(false);
    a.write(APIC_TPR, 0x30);
    expect(a.hasInterrupt()).toBe(true);
  });

  it('a software-disabled APIC delivers nothing and masks its LVTs', () => {
    const { a } = make();
    a.write(APIC_LVT_TIMER, 0x40);
    a.write(APIC_SVR, 0xff);
    a.acceptFixed(0x40, false);
    expect(a.hasInterrupt()).toBe(false);
    expect(a.read(APIC_LVT_TIMER) & (1 << 16)).toBe(1 << 16);
  });

  it('one-shot timer: fires once at initial × divisor ticks; current count runs down', () => {
    const { a } = make();
    a.write(APIC_TIMER_DIVIDE, 0b0001); // divide by 4
    a.write(APIC_LVT_TIMER, 0x40);
    a.advance(100);
    a.write(APIC_TIMER_INITIAL, 10);
    expect(a.nextDeadline()).toBe(140);
    a.advance(120);
    expect(a.read(APIC_TIMER_CURRENT)).toBe(5);
    a.advance(140);
    expect(a.acknowledge()).toBe(0x40);
    expect(a.nextDeadline()).toBe(Infinity);
    expect(a.read(APIC_TIMER_CURRENT)).toBe(0);
  });

  it('periodic timer: reloads, and coalesces expiries into one pending interrupt', () => {
    const { a } = make();
    a.write(APIC_TIMER_DIVIDE, 0b1011); // divide by 1
    a.write(APIC_LVT_TIMER, 0x40 | (1 << 17));
    a.write(APIC_TIMER_INITIAL, 10);
    a.advance(35);
    expect(a.nextDeadline()).toBe(40);
    expect(a.acknowledge()).toBe(0x40);
    expect(a.hasInterrupt()).toBe(false);
  });

  it('ICR write sends an IPI with the fields decoded; vectors below 16 set ESR instead', () => {
    const { a, ipis } = make(1);
    a.write(APIC_ICR_HIGH, 2 << 24);
    a.write(APIC_ICR_LOW, 0x4031);
    expect(ipis).toEqual([{ vector: 0x31, deliveryMode: 0, destLogical: false, assert: true, level: false, shorthand: 0, destination: 2, source: 1 }]);
    a.write(APIC_ICR_LOW, 0x000c_4005); // all-excluding-self, vector 5: illegal
    expect(ipis.length).toBe(1);
    a.write(APIC_ESR, 0);
    expect(a.read(APIC_ESR)).toBe(1 << 5);
  });

  it('INIT, SIPI and NMI go to the vCPU model', () => {
    const { a, special } = make();
    a.accept(5, 0, false);
    a.accept(6, 0x08, false);
    a.accept(4, 0, false);
    expect(special).toEqual([['init', 0], ['sipi', 0x08], ['nmi', 2]]);
  });

  it('destination matching: physical, broadcast, flat and cluster logical', () => {
    const { a } = make(2);
    expect(a.matches(2, false)).toBe(true);
    expect(a.matches(3, false)).toBe(false);
    expect(a.matches(0xff, false)).toBe(true);
    a.write(APIC_LDR, 0x04 << 24);
    expect(a.matches(0x06, true)).toBe(true);
    expect(a.matches(0x01, true)).toBe(false);
    a.write(APIC_DFR, 0x0fff_ffff); // cluster model
    a.write(APIC_LDR, 0x21 << 24); // cluster 2, member bit 0
    expect(a.matches(0x21, true)).toBe(true);
    expect(a.matches(0x11, true)).toBe(false);
    expect(a.matches(0xf1, true)).toBe(true);
  });

  it('snapshot → restore gives the same future behaviour', () => {
    const { a } = make();
    a.write(APIC_LVT_TIMER, 0x40 | (1 << 17));
    a.write(APIC_TIMER_INITIAL, 7);
    a.acceptFixed(0x33, true);
    const out = { eoi: () => {}, ipi: () => {} };
    const b = Lapic.restore(a.snapshot(), out);
    a.advance(50);
    b.advance(50);
    expect(b.snapshot()).toEqual(a.snapshot());
    expect(b.acknowledge()).toBe(a.acknowledge());
  });

  it('misaligned and reserved accesses are counted, not thrown', () => {
    const { a } = make();
    a.read(0x21);
    a.write(0x3f0, 1);
    expect(a.guestErrors).toBe(2);
  });
});

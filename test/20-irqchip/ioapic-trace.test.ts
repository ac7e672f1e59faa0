/**
 * The IOAPIC's trace events (declared in src/trace/events.ts): the exact
 * sequence for a level interrupt's life, a masked edge, and an RTE write
 * that redelivers (route_update before service, seed 002). Every event
 * carries the VM id the model was given; the lines below leave it out.
 */
import diagnostics_channel from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { Ioapic, IOREGSEL, IOWIN, IOREDTBL } from '../../src/irqchip/ioapic.js';
import { TRACE_NAMES, type TraceName } from '../../src/trace/events.js';

const VM = 7;
const IOAPIC_EVENTS = TRACE_NAMES.filter((n) => n.startsWith('vmm:ioapic:'));
const unsubscribe: (() => void)[] = [];
afterEach(() => { for (const u of unsubscribe.splice(0)) u(); });

function record(): string[] {
  const log: string[] = [];
  for (const name of IOAPIC_EVENTS) {
    const fn = (m: unknown): void => {
      const { vm, ...rest } = m as { vm: number };
      log.push(vm === VM ? `${name.slice('vmm:ioapic:'.length)} ${JSON.stringify(rest)}` : `vm ${vm}, not ${VM}`);
    };
    diagnostics_channel.subscribe(name, fn);
    unsubscribe.push(() => diagnostics_channel.unsubscribe(name, fn));
  }
  return log;
}

function ioapic(log: string[]): Ioapic {
  return new Ioapic({
    updateRoute: () => {},
    deliver: (pin) => log.push(`(deliver pin ${pin})`),
    resample: (pin) => log.push(`(resample pin ${pin})`),
  }, VM);
}

function writeRte(a: Ioapic, pin: number, lo: number): void {
  a.write(IOREGSEL, 4, IOREDTBL + 2 * pin);
  a.write(IOWIN, 4, lo);
}

describe('IOAPIC trace events', () => {
  it('are all declared in the registry', () => {
    for (const n of ['set_irq', 'service', 'route_update', 'eoi', 'remote_irr']) {
      expect(TRACE_NAMES).toContain(`vmm:ioapic:${n}` as TraceName);
    }
  });

  it('a level interrupt: set_irq, remote IRR, delivery, EOI, remote IRR cleared, resample, line low', () => {
    const log = record();
    const a = ioapic(log);
    writeRte(a, 5, 0x8045);
    a.setIrq(5, true);
    a.setIrq(5, false);
    a.eoi(0x45);
    expect(log).toEqual([
      'route_update {"pin":5,"addressLo":4276092928,"data":49221}',
      'service {"pin":5,"result":"line-low"}',
      'set_irq {"pin":5,"level":true}',
      'remote_irr {"pin":5,"set":true}',
      'service {"pin":5,"result":"delivered"}',
      '(deliver pin 5)',
      'set_irq {"pin":5,"level":false}',
      'eoi {"vector":69,"pins":[5]}',
      'remote_irr {"pin":5,"set":false}',
      '(resample pin 5)',
      'service {"pin":5,"result":"line-low"}',
    ]);
  });

  it('an edge on a masked pin is reported as masked and dropped', () => {
    const log = record();
    const a = ioapic(log);
    writeRte(a, 3, 0x10033);
    log.length = 0;
    a.setIrq(3, true);
    expect(log).toEqual(['set_irq {"pin":3,"level":true}', 'service {"pin":3,"result":"masked"}']);
  });

  it('an unmask with the level line high: route_update comes before the service that delivers', () => {
    const log = record();
    const a = ioapic(log);
    writeRte(a, 9, 0x18051);
    a.setIrq(9, true);
    log.length = 0;
    writeRte(a, 9, 0x8062);
    expect(log).toEqual([
      'route_update {"pin":9,"addressLo":4276092928,"data":49250}',
      'remote_irr {"pin":9,"set":true}',
      'service {"pin":9,"result":"delivered"}',
      '(deliver pin 9)',
    ]);
  });
});

/**
 * The eventfd-backed IRQ line with a recording sink, on the sim's eventfds
 * (same semantics as the kernel's): edge pulses, level assertion until the
 * EOI resample, the resample eventfd, coalesced triggers.
 */
import { describe, expect, it } from 'vitest';
import { SimHypervisor } from '../../src/backend/sim/index.js';
import { EventfdIrqLine } from '../../src/irq/line.js';

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

function rig(kind: 'edge' | 'level') {
  const vm = new SimHypervisor().createVm();
  const calls: [number, boolean][] = [];
  const line = new EventfdIrqLine(vm, { setIrq: (p, l) => calls.push([p, l]) }, 9, kind);
  return { vm, line, calls };
}

describe('eventfd IRQ line', () => {
  it('edge: each served trigger is one pulse on the pin', async () => {
    const { line, calls } = rig('edge');
    line.trigger.write(1);
    await flush();
    expect(calls).toEqual([[9, true], [9, false]]);
    expect(line.resample).toBeNull();
  });

  it('level: asserted until the EOI resample, which deasserts and signals the resample eventfd', async () => {
    const { line, calls } = rig('level');
    line.trigger.write(1);
    await flush();
    expect(calls).toEqual([[9, true]]);
    expect(line.level).toBe(true);
    line.resampled();
    expect(calls).toEqual([[9, true], [9, false]]);
    expect(line.resample!.read()).toBe(1n);
    line.resampled(); // not asserted: nothing
    expect(line.resample!.read()).toBeNull();
  });

  it('writes before the callback runs coalesce into one trigger, as eventfd counters do', async () => {
    const { line } = rig('level');
    line.trigger.write(1);
    line.trigger.write(1);
    await flush();
    expect(line.triggers).toBe(1);
  });

  it('close() stops serving and closes both eventfds', async () => {
    const { line, calls } = rig('level');
    line.close();
    line.close();
    expect(line.trigger.closed).toBe(true);
    expect(line.resample!.closed).toBe(true);
    await flush();
    expect(calls).toEqual([]);
  });
});

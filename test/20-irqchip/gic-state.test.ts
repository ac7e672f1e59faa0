/**
 * The GIC IRQ-state core: one test per rule of seed 003 (and DESIGN.md
 * arm64 #6/#7), latching before enable (seed 000), and the saved state.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IrqStateCore, GIC_NR_SGIS } from '../../src/irqchip/gic/irq-state.js';
import { InvalidArgumentError } from '../../src/errors.js';

const SPI = 40;
const PPI = 27;

function core(cpus = 2, spis = 64): IrqStateCore {
  return new IrqStateCore(cpus, spis);
}

describe('edge interrupts', () => {
  it('latch pending on a rising edge, and only on a rising edge', () => {
    const c = core();
    c.setTrigger(SPI, 0, 'edge');
    expect(c.isPending(SPI, 0)).toBe(false);
    expect(c.setLine(SPI, 0, true)).toBe(true);
    expect(c.isPending(SPI, 0)).toBe(true);
    // The falling edge does not unpend.
    c.setLine(SPI, 0, false);
    expect(c.isPending(SPI, 0)).toBe(true);
    c.acknowledge(SPI, 0);
    expect(c.isPending(SPI, 0)).toBe(false);
    // A line already high does not latch again; a level that does not change is no edge.
    c.setLine(SPI, 0, true);
    c.acknowledge(SPI, 0);
    expect(c.setLine(SPI, 0, true)).toBe(false);
    expect(c.isPending(SPI, 0)).toBe(false);
  });

  it('acknowledge clears pending and sets active', () => {
    const c = core();
    c.setTrigger(SPI, 0, 'edge');
    c.setLine(SPI, 0, true);
    expect(c.acknowledge(SPI, 0)).toBe(SPI);
    expect(c.isActive(SPI, 0)).toBe(true);
    expect(c.isPending(SPI, 0)).toBe(false);
    // The line is still high: an edge interrupt is not pending because of its level.
    expect(c.lineLevel(SPI, 0)).toBe(true);
  });

  it('a rising edge while active makes it active and pending', () => {
    const c = core();
    c.setTrigger(SPI, 0, 'edge');
    c.setLine(SPI, 0, true);
    c.acknowledge(SPI, 0);
    c.setLine(SPI, 0, false);
    c.setLine(SPI, 0, true);
    expect(c.view(SPI, 0)).toMatchObject({ active: true, pending: true });
    // ... and an active interrupt is not a candidate until deactivated.
    c.setEnabled(SPI, 0, true);
    c.setTargets(SPI, 1);
    expect(c.highestPendingCandidate(0, 3)).toBe(-1);
    c.clearActive(SPI, 0);
    expect(c.highestPendingCandidate(0, 3)).toBe(SPI);
  });
});

describe('level interrupts', () => {
  it('are pending while the line is high, and not after it falls', () => {
    const c = core();
    expect(c.trigger(SPI, 0)).toBe('level');
    c.setLine(SPI, 0, true);
    expect(c.isPending(SPI, 0)).toBe(true);
    expect(c.isLatched(SPI, 0)).toBe(false);
    c.setLine(SPI, 0, false);
    expect(c.isPending(SPI, 0)).toBe(false);
  });

  it('are pending while a soft pend (ISPENDR) is set, line low', () => {
    const c = core();
    c.setPending(SPI, 0);
    expect(c.isPending(SPI, 0)).toBe(true);
    c.setLine(SPI, 0, true);
    c.setLine(SPI, 0, false);
    // The line going away does not take the soft pend with it.
    expect(c.isPending(SPI, 0)).toBe(true);
  });

  it('ICPENDR clears the soft pend, but a line that is high keeps it pending', () => {
    const c = core();
    c.setPending(SPI, 0);
    c.setLine(SPI, 0, true);
    c.clearPending(SPI, 0);
    expect(c.isLatched(SPI, 0)).toBe(false);
    expect(c.isPending(SPI, 0)).toBe(true);
    c.setLine(SPI, 0, false);
    expect(c.isPending(SPI, 0)).toBe(false);
  });

  it('ICPENDR clears an edge latch', () => {
    const c = core();
    c.setTrigger(SPI, 0, 'edge');
    c.setLine(SPI, 0, true);
    c.clearPending(SPI, 0);
    expect(c.isPending(SPI, 0)).toBe(false);
  });

  it('acknowledge clears the soft pend, sets active, and leaves pending equal to the line (line high)', () => {
    const c = core();
    c.setPending(SPI, 0);
    c.setLine(SPI, 0, true);
    c.acknowledge(SPI, 0);
    expect(c.view(SPI, 0)).toMatchObject({ active: true, latch: false, line: true, pending: true });
    c.setLine(SPI, 0, false);
    expect(c.isPending(SPI, 0)).toBe(false);
  });

  it('acknowledge leaves pending equal to the line (line low, soft pend only)', () => {
    const c = core();
    c.setPending(SPI, 0);
    c.acknowledge(SPI, 0);
    expect(c.view(SPI, 0)).toMatchObject({ active: true, latch: false, line: false, pending: false });
  });

  it('PPIs are banked: CPU 1\'s line does not pend CPU 0\'s PPI', () => {
    const c = core();
    c.setLine(PPI, 1, true);
    expect(c.isPending(PPI, 1)).toBe(true);
    expect(c.isPending(PPI, 0)).toBe(false);
  });
});

describe('active is always preserved', () => {
  it('nothing but acknowledge, deactivate and the active calls change it (property)', () => {
    type Op = [kind: number, intid: number, cpu: number, arg: number];
    const op = fc.tuple(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 16, max: 95 }), fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 255 }));
    fc.assert(fc.property(fc.array(op, { maxLength: 60 }), fc.integer({ min: 16, max: 95 }), (ops: Op[], watched) => {
      const c = core();
      c.setLine(watched, 0, true);
      c.acknowledge(watched, 0);
      c.setLine(watched, 0, false);
      const apply = ([k, id, cpu, arg]: Op): void => {
        switch (k) {
          case 0: c.setLine(id, cpu, (arg & 1) === 1); break;
          case 1: c.setPending(id, cpu); break;
          case 2: c.clearPending(id, cpu); break;
          case 3: c.setEnabled(id, cpu, (arg & 1) === 1); break;
          case 4: c.setTrigger(id, cpu, arg & 1 ? 'edge' : 'level'); break;
          case 5: c.setPriority(id, cpu, arg); break;
          case 6: c.setGroup(id, cpu, arg & 1); break;
          case 7: c.setTargets(id, arg); break;
          case 8: c.sendSgi(arg & 15, cpu, arg); break;
          case 9: c.addSgiSources(arg & 15, cpu, arg); break;
          default: c.clearSgiSources(arg & 15, cpu, arg); break;
        }
      };
      // Every operation hits its own interrupt and the watched one (CPU 0's bank, where it is active).
      for (const o of ops) {
        apply(o);
        apply([o[0], watched, 0, o[3]]);
      }
      expect(c.isActive(watched, 0)).toBe(true);
    }));
  });

  it('deactivation does not touch pending', () => {
    const c = core();
    c.setTrigger(SPI, 0, 'edge');
    c.setLine(SPI, 0, true);
    c.acknowledge(SPI, 0);
    c.setLine(SPI, 0, false);
    c.setLine(SPI, 0, true);
    expect(c.clearActive(SPI, 0)).toBe(true);
    expect(c.isPending(SPI, 0)).toBe(true);
    expect(c.clearActive(SPI, 0)).toBe(false);
  });
});

describe('SGIs', () => {
  it('keep one pending bit per source CPU; acknowledge takes the lowest source and clears only it', () => {
    const c = core(4);
    c.sendSgi(5, 0, 0b0010);
    c.sendSgi(5, 2, 0b0010);
    c.sendSgi(5, 3, 0b0010);
    expect(c.sgiSources(5, 1)).toBe(0b1101);
    expect(c.acknowledge(5, 1)).toBe(5 | (0 << 10));
    expect(c.sgiSources(5, 1)).toBe(0b1100);
    // Still pending from the other sources (and now active too).
    expect(c.view(5, 1)).toMatchObject({ pending: true, active: true });
    c.clearActive(5, 1);
    expect(c.acknowledge(5, 1)).toBe(5 | (2 << 10));
    c.clearActive(5, 1);
    expect(c.acknowledge(5, 1)).toBe(5 | (3 << 10));
    expect(c.isPending(5, 1)).toBe(false);
  });

  it('are pending per target CPU', () => {
    const c = core(4);
    c.sendSgi(3, 0, 0b0110);
    expect([0, 1, 2, 3].map((cpu) => c.sgiSources(3, cpu))).toEqual([0, 1, 1, 0]);
    c.acknowledge(3, 1);
    expect(c.isPending(3, 2)).toBe(true);
  });

  it('a second send from the same source does not count twice', () => {
    const c = core();
    c.sendSgi(1, 0, 0b10);
    c.sendSgi(1, 0, 0b10);
    c.acknowledge(1, 1);
    expect(c.isPending(1, 1)).toBe(false);
  });

  it('have no line and are always edge and enabled after reset', () => {
    const c = core();
    expect(() => c.setLine(3, 0, true)).toThrow(InvalidArgumentError);
    expect(() => c.setPending(3, 0)).toThrow(InvalidArgumentError);
    c.setTrigger(3, 0, 'level');
    expect(c.view(3, 0)).toMatchObject({ trigger: 'edge', enabled: true });
  });

  it('clearSgiSources / addSgiSources act on the given sources only (CPENDSGIR/SPENDSGIR)', () => {
    const c = core(4);
    c.addSgiSources(7, 2, 0b1011);
    c.clearSgiSources(7, 2, 0b0010);
    expect(c.sgiSources(7, 2)).toBe(0b1001);
    // Sources that do not exist are dropped.
    c.addSgiSources(7, 0, 0xf0);
    expect(c.sgiSources(7, 0)).toBe(0);
  });
});

describe('latched before enable, never dropped (seed 000)', () => {
  it('an edge on a disabled, untargeted SPI is latched and becomes a candidate once enabled and targeted', () => {
    const c = core();
    c.setTrigger(SPI, 0, 'edge');
    c.setLine(SPI, 0, true);
    c.setLine(SPI, 0, false);
    expect(c.isPending(SPI, 0)).toBe(true);
    expect(c.highestPendingCandidate(0, 3)).toBe(-1);
    c.setEnabled(SPI, 0, true);
    expect(c.highestPendingCandidate(0, 3)).toBe(-1); // targets no CPU yet: still pending
    c.setTargets(SPI, 0b10);
    expect(c.highestPendingCandidate(0, 3)).toBe(-1);
    expect(c.highestPendingCandidate(1, 3)).toBe(SPI);
  });

  it('a level PPI raised while disabled is pending when enabled', () => {
    const c = core();
    c.setLine(PPI, 0, true);
    c.setEnabled(PPI, 0, true);
    expect(c.highestPendingCandidate(0, 1)).toBe(PPI);
  });

  it('an SGI sent before anything is enabled stays pending', () => {
    const c = core();
    c.sendSgi(0, 1, 1);
    expect(c.highestPendingCandidate(0, 1)).toBe(0);
  });
});

describe('arbitration query', () => {
  it('picks the lowest priority value, lowest ID on a tie, honouring the group mask and targets', () => {
    const c = core(2, 64);
    for (const id of [33, 34, 35, 36]) {
      c.setEnabled(id, 0, true);
      c.setTargets(id, 1);
      c.setPending(id, 0);
    }
    c.setPriority(33, 0, 0x80);
    c.setPriority(34, 0, 0x40);
    c.setPriority(35, 0, 0x40);
    c.setPriority(36, 0, 0x10);
    c.setGroup(36, 0, 1);
    expect(c.highestPendingCandidate(0, 0b11)).toBe(36);
    expect(c.highestPendingCandidate(0, 0b01)).toBe(34);
    expect(c.highestPendingCandidate(0, 0b10)).toBe(36);
    expect(c.highestPendingCandidate(1, 0b11)).toBe(-1);
    c.setTargets(34, 0b11);
    expect(c.highestPendingCandidate(1, 0b01)).toBe(34);
  });

  it('an SPI is one interrupt: acknowledged by one CPU, it is no longer pending for the other', () => {
    const c = core();
    c.setEnabled(SPI, 0, true);
    c.setTargets(SPI, 0b11);
    c.setTrigger(SPI, 0, 'edge');
    c.setLine(SPI, 0, true);
    c.acknowledge(SPI, 1);
    expect(c.view(SPI, 0)).toMatchObject({ pending: false, active: true });
  });
});

describe('reset', () => {
  it('clears latches, active and SGIs but keeps line levels', () => {
    const c = core();
    c.setLine(SPI, 0, true);
    c.setTrigger(SPI + 1, 0, 'edge');
    c.setLine(SPI + 1, 0, true);
    c.acknowledge(SPI, 0);
    c.sendSgi(2, 0, 3);
    c.setPriority(SPI, 0, 0x20);
    c.reset();
    // SPI is level after reset: its high line makes it pending again; SPI+1's edge latch is gone.
    expect(c.view(SPI, 0)).toMatchObject({ line: true, pending: true, active: false, priority: 0, enabled: false });
    expect(c.view(SPI + 1, 0)).toMatchObject({ line: true, latch: false, trigger: 'level' });
    expect(c.sgiSources(2, 0)).toBe(0);
  });

  it('a uniprocessor GIC targets every SPI at CPU 0', () => {
    expect(core(1).targets(SPI, 0)).toBe(1);
    expect(core(2).targets(SPI, 0)).toBe(0);
  });
});

describe('arguments and saved state', () => {
  it('rejects sizes and IDs that do not exist', () => {
    expect(() => new IrqStateCore(0, 32)).toThrow(InvalidArgumentError);
    expect(() => new IrqStateCore(9, 32)).toThrow(InvalidArgumentError);
    expect(() => new IrqStateCore(1, 33)).toThrow(InvalidArgumentError);
    expect(() => new IrqStateCore(1, 992)).toThrow(InvalidArgumentError);
    const c = core(2, 32);
    expect(() => c.setLine(64, 0, true)).toThrow(InvalidArgumentError);
    expect(() => c.setLine(PPI, 2, true)).toThrow(InvalidArgumentError);
    expect(() => c.sendSgi(16, 0, 1)).toThrow(InvalidArgumentError);
    let err: unknown;
    try {
      c.setLine(-1, 0, true);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ERR_INVALID_ARG' });
  });

  it('snapshot → JSON → restore gives the same state and the same future', () => {
    const c = core(2, 64);
    c.setTrigger(SPI, 0, 'edge');
    c.setLine(SPI, 0, true);
    c.setLine(PPI, 1, true);
    c.setPending(SPI + 1, 0);
    c.setPriority(PPI, 1, 0xa0);
    c.setGroup(SPI, 0, 1);
    c.setTargets(SPI, 2);
    c.sendSgi(4, 1, 3);
    c.acknowledge(4, 0);
    const snap = JSON.parse(JSON.stringify(c.snapshot())) as unknown;
    const d = IrqStateCore.restore(snap);
    expect(d.snapshot()).toEqual(c.snapshot());
    for (const x of [c, d]) {
      x.setLine(SPI, 0, false);
      x.setLine(SPI, 0, true);
    }
    expect(d.acknowledge(4, 1)).toBe(c.acknowledge(4, 1));
    expect(d.snapshot()).toEqual(c.snapshot());
  });

  it('restore rejects garbage with ERR_INVALID_ARG', () => {
    const good = core(2, 32).snapshot();
    const bad: unknown[] = [
      null, 7, [], { ...good, version: 2 }, { ...good, cpus: 9 }, { ...good, spis: 33 },
      { ...good, line: good.line.slice(1) }, { ...good, active: good.active.map(() => 2) },
      { ...good, priority: good.priority.map(() => 256) }, { ...good, targets: good.targets.map(() => 4) },
      { ...good, enabled: good.enabled.map(() => 0) }, // SGIs must stay enabled
      { ...good, sgiSources: good.sgiSources.map(() => 0x80) },
    ];
    for (const b of bad) {
      expect(() => IrqStateCore.restore(b), JSON.stringify(b)?.slice(0, 60)).toThrow(InvalidArgumentError);
    }
    expect(GIC_NR_SGIS).toBe(16);
  });
});

describe('arbitration bound', () => {
  it('finds a high SPI once enabled, after a disable and re-enable, and in a restored copy; a reset forgets it', () => {
    const c = new IrqStateCore(1, 256);
    const HIGH = 32 + 250;
    c.setPriority(HIGH, 0, 0x40);
    c.setPending(HIGH, 0);
    expect(c.highestPendingCandidate(0, 3)).toBe(-1); // pending but disabled
    c.setEnabled(HIGH, 0, true);
    expect(c.highestPendingCandidate(0, 3)).toBe(HIGH);
    c.setEnabled(HIGH, 0, false);
    c.setEnabled(40, 0, true);
    c.setEnabled(HIGH, 0, true);
    expect(c.highestPendingCandidate(0, 3)).toBe(HIGH);
    const copy = IrqStateCore.restore(JSON.parse(JSON.stringify(c.snapshot())));
    expect(copy.highestPendingCandidate(0, 3)).toBe(HIGH);
    c.reset();
    c.setPending(HIGH, 0);
    expect(c.highestPendingCandidate(0, 3)).toBe(-1);
  });
});

describe('arbitration over the pending slots', () => {
  /** The rule, from the public view of every ID: enabled, pending, not active, targeting cpu, in the mask; lowest priority value, then lowest ID. */
  function reference(c: IrqStateCore, cpu: number, groupMask: number): number {
    let best = -1;
    let bestPrio = 0x100;
    for (let id = 0; id < c.lines; id++) {
      const v = c.view(id, cpu);
      if (!v.enabled || !v.pending || v.active || ((groupMask >>> v.group) & 1) === 0 || ((v.targets >>> cpu) & 1) === 0) continue;
      if (v.priority < bestPrio) { best = id; bestPrio = v.priority; }
    }
    return best;
  }

  it('picks what a scan of every ID picks, after any sequence of state changes, restores and resets (property)', () => {
    type Op = [kind: number, intid: number, cpu: number, arg: number];
    // A few IDs of each kind (SGIs, PPIs, SPIs in each word), so that operations meet on the same interrupt.
    const ID_SET = [0, 1, 15, 16, 27, 31, 32, 33, 63, 64, 100, 127];
    const op = fc.tuple(fc.integer({ min: 0, max: 15 }), fc.constantFrom(...ID_SET), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 255 }));
    fc.assert(fc.property(fc.array(op, { minLength: 20, maxLength: 120 }), (ops: Op[]) => {
      let c = new IrqStateCore(3, 96);
      // Everything enabled and targeted at every CPU to begin with, so that any pend is a candidate until an operation says otherwise.
      for (const id of ID_SET) {
        for (let cpu = 0; cpu < 3; cpu++) c.setEnabled(id, cpu, true);
        c.setTargets(id, 7);
      }
      for (const [k, id, cpu, arg] of ops) {
        const sgi = arg & 15;
        switch (k) {
          case 0: if (id >= GIC_NR_SGIS) c.setLine(id, cpu, (arg & 1) === 1); break;
          case 1: if (id >= GIC_NR_SGIS) c.setPending(id, cpu); break;
          case 2: if (id >= GIC_NR_SGIS) c.clearPending(id, cpu); break;
          case 3: c.setEnabled(id, cpu, (arg & 3) !== 0); break;
          case 4: c.setTrigger(id, cpu, arg & 1 ? 'edge' : 'level'); break;
          case 5: c.setPriority(id, cpu, arg & 0xf0); break;
          case 6: c.setGroup(id, cpu, arg & 1); break;
          case 7: c.setTargets(id, arg); break;
          case 8: c.sendSgi(sgi, cpu, arg >>> 4); break;
          case 9: c.addSgiSources(sgi, cpu, arg >>> 4); break;
          case 10: c.clearSgiSources(sgi, cpu, arg >>> 4); break;
          case 11: { const hit = c.highestPendingCandidate(cpu, 3); if (hit >= 0) c.acknowledge(hit, cpu); break; }
          case 12: c.clearActive(id, cpu); break;
          case 13: c.setActive(id, cpu); break;
          case 14: c = IrqStateCore.restore(JSON.parse(JSON.stringify(c.snapshot()))); break;
          default: if (arg < 16) c.reset(); break;
        }
        for (let cpu2 = 0; cpu2 < 3; cpu2++) {
          for (const mask of [1, 2, 3]) expect(c.highestPendingCandidate(cpu2, mask)).toBe(reference(c, cpu2, mask));
        }
      }
    }), { numRuns: 300 });
  });
});

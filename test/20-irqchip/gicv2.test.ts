/**
 * The GICv2 front end at register level, under recording outputs: the
 * exact list of irqLine / fiqLine / deactivated calls is asserted, so a
 * line copied from an input or reported twice fails.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  GicV2, GICD_CTLR, GICD_TYPER, GICD_IIDR, GICD_IGROUPR, GICD_ISENABLER, GICD_ICENABLER, GICD_ISPENDR, GICD_ICPENDR,
  GICD_ISACTIVER, GICD_ICACTIVER, GICD_IPRIORITYR, GICD_ITARGETSR, GICD_ICFGR, GICD_SGIR, GICD_CPENDSGIR,
  GICD_SPENDSGIR, GICD_PIDR0, GICD_PIDR2, GICD_PIDR4, GICD_CIDR0, GICC_CTLR, GICC_PMR, GICC_BPR, GICC_IAR, GICC_EOIR,
  GICC_RPR, GICC_HPPIR, GICC_ABPR, GICC_AIAR, GICC_AEOIR, GICC_AHPPIR, GICC_APR0, GICC_NSAPR0, GICC_IIDR, GICC_DIR,
  GICC_CTLR_ACK_CTL, GICC_CTLR_FIQ_EN, GICC_CTLR_EOIMODE, GICC_CTLR_CBPR, type GicV2Outputs, type GicV2State,
} from '../../src/irqchip/gic/gicv2.js';
import { InvalidArgumentError } from '../../src/errors.js';

interface Rig {
  gic: GicV2;
  /** Output calls so far, e.g. 'irq0=1', 'fiq1=0', 'deact 33@0'; take() empties it. */
  take(): string[];
  logs: string[];
}

function rig(cpus = 2, spis = 64, hooks: { onDeactivate?: (gic: GicV2, id: number, cpu: number) => void } = {}): Rig {
  const calls: string[] = [];
  const logs: string[] = [];
  const box: { gic?: GicV2 } = {};
  const outputs: GicV2Outputs = {
    irqLine: (cpu, level) => calls.push(`irq${cpu}=${level ? 1 : 0}`),
    fiqLine: (cpu, level) => calls.push(`fiq${cpu}=${level ? 1 : 0}`),
    deactivated: (id, cpu) => {
      calls.push(`deact ${id}@${cpu}`);
      hooks.onDeactivate?.(box.gic!, id, cpu);
    },
  };
  box.gic = new GicV2({ cpus, spis, outputs, log: (m) => logs.push(m) });
  return { gic: box.gic, take: () => calls.splice(0), logs };
}

/** Distributor on for group 0 (as Linux does), every CPU interface on with PMR 0xff. */
function enable(g: GicV2, groups = 1, cpuCtlr = 1): void {
  g.distWrite(GICD_CTLR, 4, groups);
  for (let c = 0; c < g.cpus; c++) {
    g.cpuWrite(c, GICC_CTLR, 4, cpuCtlr);
    g.cpuWrite(c, GICC_PMR, 4, 0xff);
  }
}

/** Enables SPI/PPI `id` with `prio`, targeting `targets` (SPIs), from `cpu`'s view (PPIs). */
function setup(g: GicV2, id: number, prio: number, opts: { targets?: number; edge?: boolean; cpu?: number; group?: number } = {}): void {
  const cpu = opts.cpu ?? 0;
  g.distWrite(GICD_IPRIORITYR + id, 1, prio, cpu);
  if (id >= 32) g.distWrite(GICD_ITARGETSR + id, 1, opts.targets ?? 1, cpu);
  if (opts.edge) {
    const off = GICD_ICFGR + 4 * (id >> 4);
    g.distWrite(off, 4, g.distRead(off, 4, cpu) | (2 << (2 * (id & 15))), cpu);
  }
  if (opts.group) {
    const off = GICD_IGROUPR + 4 * (id >> 5);
    g.distWrite(off, 4, g.distRead(off, 4, cpu) | (1 << (id & 31)), cpu);
  }
  g.distWrite(GICD_ISENABLER + 4 * (id >> 5), 4, 1 << (id & 31), cpu);
}

const iar = (g: GicV2, cpu = 0): number => g.cpuRead(cpu, GICC_IAR, 4);
const eoi = (g: GicV2, v: number, cpu = 0): void => g.cpuWrite(cpu, GICC_EOIR, 4, v);
const rpr = (g: GicV2, cpu = 0): number => g.cpuRead(cpu, GICC_RPR, 4);

describe('identification registers', () => {
  it('reads TYPER, IIDRs and the CoreSight IDs as QEMU\'s GICv2', () => {
    const { gic } = rig(2, 256);
    expect(gic.distRead(GICD_TYPER, 4)).toBe(8 | (1 << 5));
    expect(rig(8, 0).gic.distRead(GICD_TYPER, 4)).toBe(0 | (7 << 5));
    expect(gic.distRead(GICD_IIDR, 4)).toBe(0x43b);
    expect(gic.cpuRead(0, GICC_IIDR, 4)).toBe(0x0002_043b);
    expect(gic.distRead(GICD_PIDR2, 4)).toBe(0x2b);
    expect(gic.distRead(GICD_PIDR0, 4)).toBe(0x90);
    expect(gic.distRead(GICD_PIDR4, 4)).toBe(0x04);
    expect([0, 4, 8, 12].map((o) => gic.distRead(GICD_CIDR0 + o, 4))).toEqual([0x0d, 0xf0, 0x05, 0xb1]);
  });

  it('keeps only EnableGrp0/EnableGrp1 in GICD_CTLR and 0x21f in GICC_CTLR', () => {
    const { gic } = rig();
    gic.distWrite(GICD_CTLR, 4, 0xffff_ffff);
    expect(gic.distRead(GICD_CTLR, 4)).toBe(3);
    gic.cpuWrite(1, GICC_CTLR, 4, 0xffff_ffff);
    expect(gic.cpuRead(1, GICC_CTLR, 4)).toBe(0x21f);
    expect(gic.cpuRead(0, GICC_CTLR, 4)).toBe(0);
  });
});

describe('access sizes and garbage', () => {
  it('IPRIORITYR and ITARGETSR take bytes and words', () => {
    const { gic } = rig();
    gic.distWrite(GICD_IPRIORITYR + 33, 1, 0xa0);
    expect(gic.distRead(GICD_IPRIORITYR + 32, 4)).toBe(0x0000_a000);
    gic.distWrite(GICD_IPRIORITYR + 36, 4, 0x1122_3344);
    expect([36, 37, 38, 39].map((i) => gic.distRead(GICD_IPRIORITYR + i, 1))).toEqual([0x44, 0x33, 0x22, 0x11]);
    gic.distWrite(GICD_ITARGETSR + 34, 1, 0x02);
    gic.distWrite(GICD_ITARGETSR + 35, 1, 0xff); // CPUs that do not exist are dropped
    expect(gic.distRead(GICD_ITARGETSR + 32, 4)).toBe(0x0302_0000);
  });

  it('8 priority bits are implemented (QEMU virt), on GICC_PMR too', () => {
    const { gic } = rig();
    gic.distWrite(GICD_IPRIORITYR + 40, 1, 0xff);
    expect(gic.distRead(GICD_IPRIORITYR + 40, 1)).toBe(0xff);
    gic.cpuWrite(0, GICC_PMR, 4, 0x1ff);
    expect(gic.cpuRead(0, GICC_PMR, 4)).toBe(0xff);
  });

  it('SGI, PPI priorities and ITARGETSR 0..31 are banked per CPU', () => {
    const { gic } = rig(4);
    gic.distWrite(GICD_IPRIORITYR + 27, 1, 0x10, 1);
    expect(gic.distRead(GICD_IPRIORITYR + 27, 1, 1)).toBe(0x10);
    expect(gic.distRead(GICD_IPRIORITYR + 27, 1, 0)).toBe(0);
    expect(gic.distRead(GICD_ITARGETSR + 0, 4, 2)).toBe(0x0404_0404);
    gic.distWrite(GICD_ITARGETSR + 28, 4, 0x0f0f_0f0f, 2); // read-only
    expect(gic.distRead(GICD_ITARGETSR + 28, 4, 2)).toBe(0x0404_0404);
  });

  it('a uniprocessor GIC has RAZ/WI ITARGETSR and every SPI goes to CPU 0', () => {
    const r = rig(1, 32);
    enable(r.gic);
    r.gic.distWrite(GICD_ITARGETSR + 40, 1, 0);
    expect(r.gic.distRead(GICD_ITARGETSR + 40, 1)).toBe(0);
    setup(r.gic, 40, 0x80, { targets: 0 });
    r.take();
    r.gic.setSpi(40, true);
    expect(r.take()).toEqual(['irq0=1']);
    expect(iar(r.gic)).toBe(40);
  });

  it('logs, reads 0 and ignores: wrong sizes, unaligned, unknown, out of frame, wrong direction; never throws', () => {
    const r = rig();
    const { gic } = r;
    const before = JSON.stringify(gic.snapshot());
    const n0 = gic.guestErrors;
    expect(gic.distRead(GICD_ISENABLER + 4, 1)).toBe(0); // word-only register, byte read
    gic.distWrite(GICD_ISENABLER + 4, 1, 0xff); // byte write: ignored
    gic.distWrite(GICD_ISENABLER + 4, 2, 0xffff); // halfword: ignored
    expect(gic.distRead(GICD_IPRIORITYR + 32, 2)).toBe(0); // halfword on a byte register
    expect(gic.distRead(GICD_ISENABLER + 1, 4)).toBe(0); // unaligned word
    expect(gic.distRead(0x00c, 4)).toBe(0); // reserved
    expect(gic.distRead(0xd00, 4)).toBe(0); // implementation defined, not implemented
    expect(gic.distRead(GICD_ISENABLER + 0x7c, 4)).toBe(0); // IDs beyond ITLinesNumber
    expect(gic.distRead(GICD_IPRIORITYR + 0x100, 4)).toBe(0);
    gic.distWrite(GICD_ITARGETSR + 0x100, 1, 1);
    expect(gic.distRead(0x1000, 4)).toBe(0); // outside the frame
    expect(gic.distRead(GICD_SGIR, 4)).toBe(0); // write-only
    gic.distWrite(GICD_TYPER, 4, 0); // read-only
    gic.distWrite(GICD_PIDR2, 4, 0);
    expect(gic.cpuRead(0, GICC_CTLR, 1)).toBe(0); // CPU interface: word-only
    gic.cpuWrite(0, GICC_PMR, 1, 0xff);
    expect(gic.cpuRead(0, GICC_EOIR, 4)).toBe(0); // write-only
    expect(gic.cpuRead(0, GICC_DIR, 4)).toBe(0);
    gic.cpuWrite(0, GICC_IAR, 4, 0); // read-only
    expect(gic.cpuRead(0, 0x40, 4)).toBe(0);
    expect(gic.cpuRead(0, 0x2000, 4)).toBe(0);
    gic.cpuWrite(0, 0x1004, 4, 0);
    expect(gic.guestErrors - n0).toBe(22);
    expect(r.logs).toHaveLength(22);
    expect(JSON.stringify(gic.snapshot())).toBe(before);
    expect(r.take()).toEqual([]);
  });

  it('random guest accesses never throw (property)', () => {
    const { gic } = rig(3, 64);
    const access = fc.record({
      dist: fc.boolean(), write: fc.boolean(), cpu: fc.integer({ min: 0, max: 2 }),
      offset: fc.oneof(fc.integer({ min: 0, max: 0x2003 }), fc.constantFrom(-4, 0.5, 0x1_0000_0000, Number.NaN)),
      size: fc.constantFrom(0, 1, 2, 3, 4, 8), value: fc.integer({ min: 0, max: 0xffff_ffff }),
    });
    fc.assert(fc.property(fc.array(access, { maxLength: 40 }), (as) => {
      for (const a of as) {
        if (a.dist) {
          if (a.write) gic.distWrite(a.offset, a.size, a.value, a.cpu);
          else gic.distRead(a.offset, a.size, a.cpu);
        } else if (a.write) gic.cpuWrite(a.cpu, a.offset, a.size, a.value);
        else gic.cpuRead(a.cpu, a.offset, a.size);
      }
    }));
  });

  it('VMM misuse (CPUs and IDs that do not exist) throws InvalidArgumentError', () => {
    const { gic } = rig(2, 32);
    expect(() => new GicV2({ cpus: 9, spis: 32, outputs: { irqLine: () => {} } })).toThrow(InvalidArgumentError);
    expect(() => new GicV2({ cpus: 1, spis: 48, outputs: { irqLine: () => {} } })).toThrow(InvalidArgumentError);
    expect(() => gic.setPpi(0, 15, true)).toThrow(InvalidArgumentError);
    expect(() => gic.setPpi(2, 27, true)).toThrow(InvalidArgumentError);
    expect(() => gic.setSpi(31, true)).toThrow(InvalidArgumentError);
    expect(() => gic.setSpi(64, true)).toThrow(InvalidArgumentError);
    expect(() => gic.cpuRead(2, GICC_IAR, 4)).toThrow(InvalidArgumentError);
    expect(() => gic.distRead(0, 4, -1)).toThrow(InvalidArgumentError);
  });
});

describe('enables and configuration', () => {
  it('SGIs are always enabled and edge; PPI/SPI enables and configs are writable', () => {
    const { gic } = rig();
    expect(gic.distRead(GICD_ISENABLER, 4)).toBe(0x0000_ffff);
    gic.distWrite(GICD_ICENABLER, 4, 0xffff_ffff);
    expect(gic.distRead(GICD_ISENABLER, 4)).toBe(0x0000_ffff);
    gic.distWrite(GICD_ISENABLER, 4, 0x0800_0000);
    expect(gic.distRead(GICD_ICENABLER, 4)).toBe(0x0800_ffff);
    expect(gic.distRead(GICD_ISENABLER, 4, 1)).toBe(0x0000_ffff); // banked
    expect(gic.distRead(GICD_ICFGR, 4)).toBe(0xaaaa_aaaa);
    gic.distWrite(GICD_ICFGR, 4, 0);
    expect(gic.distRead(GICD_ICFGR, 4)).toBe(0xaaaa_aaaa);
    expect(gic.distRead(GICD_ICFGR + 4, 4)).toBe(0);
    gic.distWrite(GICD_ICFGR + 4, 4, 0xffff_ffff);
    expect(gic.distRead(GICD_ICFGR + 4, 4)).toBe(0xaaaa_aaaa); // bit 0 of each field reads 0
    expect(gic.distRead(GICD_ICFGR + 4, 4, 1)).toBe(0); // PPI config is banked
    gic.distWrite(GICD_ICFGR + 8, 4, 0x8);
    expect(gic.state(33).trigger).toBe('edge');
    expect(gic.state(32).trigger).toBe('level');
  });

  it('IGROUPR is banked for 0..31 and shared for SPIs', () => {
    const { gic } = rig();
    gic.distWrite(GICD_IGROUPR, 4, 0xffff_ffff, 1);
    gic.distWrite(GICD_IGROUPR + 4, 4, 0x0000_0005);
    expect(gic.distRead(GICD_IGROUPR, 4, 1)).toBe(0xffff_ffff);
    expect(gic.distRead(GICD_IGROUPR, 4, 0)).toBe(0);
    expect(gic.distRead(GICD_IGROUPR + 4, 4, 1)).toBe(5);
  });

  it('ISPENDR/ICPENDR bits of SGIs are WI; ISPENDR reads the SGI pending state', () => {
    const { gic } = rig();
    gic.distWrite(GICD_ISPENDR, 4, 0x0000_ffff);
    expect(gic.distRead(GICD_ISPENDR, 4)).toBe(0);
    gic.distWrite(GICD_SGIR, 4, (2 << 24) | 3);
    expect(gic.distRead(GICD_ISPENDR, 4)).toBe(1 << 3);
    gic.distWrite(GICD_ICPENDR, 4, 0xffff_ffff);
    expect(gic.distRead(GICD_ICPENDR, 4)).toBe(1 << 3);
  });
});

describe('SGIs', () => {
  it('SGIR target list filters 0, 1, 2; filter 3 is logged and ignored', () => {
    const r = rig(4);
    const { gic } = r;
    const pendingOn = (sgi: number): number[] => [0, 1, 2, 3].map((c) => gic.state(sgi, c).sgiSources);
    gic.distWrite(GICD_SGIR, 4, (0 << 24) | (0b1010 << 16) | 1, 0);
    expect(pendingOn(1)).toEqual([0, 1, 0, 1]);
    gic.distWrite(GICD_SGIR, 4, (1 << 24) | (0xff << 16) | 2, 1);
    expect(pendingOn(2)).toEqual([2, 0, 2, 2]);
    gic.distWrite(GICD_SGIR, 4, (2 << 24) | 3, 3);
    expect(pendingOn(3)).toEqual([0, 0, 0, 8]);
    gic.distWrite(GICD_SGIR, 4, (3 << 24) | (0xff << 16) | 4, 0);
    expect(pendingOn(4)).toEqual([0, 0, 0, 0]);
    expect(r.logs).toHaveLength(1);
    // NSATT (bit 15) is ignored without the security extensions.
    gic.distWrite(GICD_SGIR, 4, (2 << 24) | (1 << 15) | 5, 2);
    expect(pendingOn(5)).toEqual([0, 0, 4, 0]);
  });

  it('several sources: IAR returns each source in bits 12:10 and the SGI stays pending until the last', () => {
    const r = rig(3);
    const { gic } = r;
    enable(gic);
    r.take();
    gic.distWrite(GICD_SGIR, 4, (0b010 << 16) | 5, 2);
    expect(r.take()).toEqual(['irq1=1']);
    gic.distWrite(GICD_SGIR, 4, (0b010 << 16) | 5, 0);
    expect(r.take()).toEqual([]);
    expect(gic.cpuRead(1, GICC_HPPIR, 4)).toBe(5 | (0 << 10));
    expect(iar(gic, 1)).toBe(5 | (0 << 10));
    // Active and still pending from CPU 2: not signaled until deactivated.
    expect(r.take()).toEqual(['irq1=0']);
    expect(gic.state(5, 1)).toMatchObject({ active: true, pending: true, sgiSources: 0b100 });
    eoi(gic, 5 | (0 << 10), 1);
    expect(r.take()).toEqual(['deact 5@1', 'irq1=1']);
    expect(iar(gic, 1)).toBe(5 | (2 << 10));
    eoi(gic, 5 | (2 << 10), 1);
    expect(r.take()).toEqual(['irq1=0', 'deact 5@1']);
    expect(iar(gic, 1)).toBe(1023);
  });

  it('CPENDSGIR/SPENDSGIR are byte-accessible and act on the accessing CPU\'s sources', () => {
    const { gic } = rig(4);
    gic.distWrite(GICD_SPENDSGIR + 6, 1, 0b1011, 2);
    expect(gic.distRead(GICD_SPENDSGIR + 6, 1, 2)).toBe(0b1011);
    expect(gic.distRead(GICD_CPENDSGIR + 4, 4, 2)).toBe(0b1011 << 16);
    gic.distWrite(GICD_CPENDSGIR + 6, 1, 0b0001, 2);
    expect(gic.state(6, 2).sgiSources).toBe(0b1010);
    expect(gic.state(6, 1).sgiSources).toBe(0);
    gic.distWrite(GICD_CPENDSGIR + 4, 4, 0xffff_ffff, 2);
    expect(gic.state(6, 2).pending).toBe(false);
  });
});

describe('priorities and preemption', () => {
  it('a higher priority interrupt preempts an active one; RPR follows; EOI drops in order', () => {
    const r = rig();
    const { gic } = r;
    enable(gic);
    setup(gic, 40, 0x80);
    setup(gic, 41, 0x40);
    r.take();
    gic.setSpi(40, true);
    expect(r.take()).toEqual(['irq0=1']);
    expect(iar(gic)).toBe(40);
    expect(r.take()).toEqual(['irq0=0']);
    expect(rpr(gic)).toBe(0x80);
    // Preemption level = priority >> 1: 0x80 is level 64, GICC_APR2 bit 0.
    expect([0, 4, 8, 12].map((o) => gic.cpuRead(0, GICC_APR0 + o, 4))).toEqual([0, 0, 1, 0]);
    gic.setSpi(41, true);
    expect(r.take()).toEqual(['irq0=1']);
    expect(iar(gic)).toBe(41);
    expect(r.take()).toEqual(['irq0=0']);
    expect(rpr(gic)).toBe(0x40);
    expect([0, 4, 8, 12].map((o) => gic.cpuRead(0, GICC_APR0 + o, 4))).toEqual([0, 1, 1, 0]); // + level 32
    gic.setSpi(41, false);
    eoi(gic, 41);
    expect(rpr(gic)).toBe(0x80);
    expect(r.take()).toEqual(['deact 41@0']);
    gic.setSpi(40, false);
    eoi(gic, 40);
    expect(rpr(gic)).toBe(0xff);
    expect(r.take()).toEqual(['deact 40@0']);
  });

  it('an interrupt of equal or lower priority does not preempt; IAR returns 1023 but HPPIR shows it', () => {
    const r = rig();
    const { gic } = r;
    enable(gic);
    setup(gic, 40, 0x40);
    setup(gic, 41, 0x40);
    setup(gic, 42, 0x60);
    gic.setSpi(40, true);
    expect(iar(gic)).toBe(40);
    r.take();
    gic.setSpi(41, true);
    gic.setSpi(42, true);
    expect(r.take()).toEqual([]);
    expect(gic.cpuRead(0, GICC_HPPIR, 4)).toBe(41);
    expect(iar(gic)).toBe(1023);
    expect(gic.state(41).active).toBe(false);
    gic.setSpi(40, false);
    eoi(gic, 40);
    expect(r.take()).toEqual(['deact 40@0', 'irq0=1']);
    expect(iar(gic)).toBe(41);
  });

  it('PMR masks interrupts whose priority is not strictly below it', () => {
    const r = rig();
    const { gic } = r;
    enable(gic);
    gic.cpuWrite(0, GICC_PMR, 4, 0x80);
    setup(gic, 40, 0x80);
    r.take();
    gic.setSpi(40, true);
    expect(r.take()).toEqual([]);
    expect(gic.cpuRead(0, GICC_HPPIR, 4)).toBe(1023);
    expect(iar(gic)).toBe(1023);
    gic.cpuWrite(0, GICC_PMR, 4, 0x81);
    expect(r.take()).toEqual(['irq0=1']);
    gic.cpuWrite(0, GICC_PMR, 4, 0x00);
    expect(r.take()).toEqual(['irq0=0']);
  });

  it('BPR: preemption compares group priorities', () => {
    for (const [bpr, expectRpr, preempts] of [[0, 0x48, true], [3, 0x40, false]] as const) {
      const r = rig();
      const { gic } = r;
      enable(gic);
      gic.cpuWrite(0, GICC_BPR, 4, bpr);
      setup(gic, 40, 0x48);
      setup(gic, 41, 0x42);
      gic.setSpi(40, true);
      expect(iar(gic)).toBe(40);
      expect(rpr(gic)).toBe(expectRpr);
      r.take();
      gic.setSpi(41, true);
      expect(r.take()).toEqual(preempts ? ['irq0=1'] : []);
    }
  });

  it('group 1 uses ABPR unless CBPR; BPR/ABPR clamp to their minimums', () => {
    const { gic } = rig();
    gic.cpuWrite(0, GICC_BPR, 4, 0xf8);
    expect(gic.cpuRead(0, GICC_BPR, 4)).toBe(0);
    gic.cpuWrite(0, GICC_ABPR, 4, 0);
    expect(gic.cpuRead(0, GICC_ABPR, 4)).toBe(1);
    enable(gic, 3, 3 | GICC_CTLR_ACK_CTL);
    gic.cpuWrite(0, GICC_ABPR, 4, 4); // group 1 group priority mask: bits 7:4 (ABPR - 1 = 3)
    setup(gic, 40, 0x48, { group: 1 });
    gic.setSpi(40, true);
    expect(iar(gic)).toBe(40);
    expect(rpr(gic)).toBe(0x40);
    expect(gic.cpuRead(0, GICC_NSAPR0 + 4, 4)).toBe(1);
    expect(gic.cpuRead(0, GICC_APR0 + 4, 4)).toBe(0);
    gic.setSpi(40, false);
    eoi(gic, 40);
    gic.cpuWrite(0, GICC_CTLR, 4, 3 | GICC_CTLR_ACK_CTL | GICC_CTLR_CBPR); // now BPR (0) applies
    gic.setSpi(40, true);
    expect(iar(gic)).toBe(40);
    expect(rpr(gic)).toBe(0x48);
  });

  it('writing the active priority registers moves the running priority', () => {
    const r = rig();
    const { gic } = r;
    enable(gic);
    setup(gic, 40, 0x80);
    gic.cpuWrite(0, GICC_APR0, 4, 1 << 16); // level 16: priority 0x20
    expect(rpr(gic)).toBe(0x20);
    r.take();
    gic.setSpi(40, true);
    expect(r.take()).toEqual([]);
    gic.cpuWrite(0, GICC_APR0, 4, 0);
    expect(r.take()).toEqual(['irq0=1']);
  });
});

describe('acknowledge and the output line', () => {
  it('IAR drops the line even though the level input stays high; EOI re-raises it (no copy of the input)', () => {
    const r = rig();
    const { gic } = r;
    enable(gic);
    setup(gic, 27, 0xa0);
    r.take();
    gic.setPpi(0, 27, true);
    gic.setPpi(0, 27, true); // same level again: nothing
    expect(r.take()).toEqual(['irq0=1']);
    expect(iar(gic)).toBe(27);
    expect(r.take()).toEqual(['irq0=0']);
    expect(gic.irqLevel(0)).toBe(false);
    gic.setPpi(0, 27, false);
    gic.setPpi(0, 27, true);
    expect(r.take()).toEqual([]); // active: the line's comings and goings are not signaled
    eoi(gic, 27);
    expect(r.take()).toEqual(['deact 27@0', 'irq0=1']);
    gic.setPpi(0, 27, false);
    expect(r.take()).toEqual(['irq0=0']);
  });

  it('PPIs are per CPU', () => {
    const r = rig();
    enable(r.gic);
    setup(r.gic, 30, 0x80, { cpu: 1 });
    r.take();
    r.gic.setPpi(0, 30, true);
    expect(r.take()).toEqual([]);
    r.gic.setPpi(1, 30, true);
    expect(r.take()).toEqual(['irq1=1']);
    expect(iar(r.gic, 1)).toBe(30);
  });

  it('nothing pending: IAR and HPPIR read 1023 and change nothing; EOIR 1023 is silently ignored', () => {
    const r = rig();
    enable(r.gic);
    const before = JSON.stringify(r.gic.snapshot());
    expect(iar(r.gic)).toBe(1023);
    expect(r.gic.cpuRead(0, GICC_HPPIR, 4)).toBe(1023);
    eoi(r.gic, 1023);
    expect(JSON.stringify(r.gic.snapshot())).toBe(before);
    expect(r.logs).toEqual([]);
  });

  it('EOI of an inactive interrupt, or with nothing active, is logged and ignored', () => {
    const r = rig();
    const { gic } = r;
    enable(gic);
    setup(gic, 40, 0x80);
    setup(gic, 41, 0x80);
    eoi(gic, 40);
    expect(r.logs).toHaveLength(1);
    gic.setSpi(40, true);
    expect(iar(gic)).toBe(40);
    eoi(gic, 41);
    expect(r.logs).toHaveLength(2);
    expect(rpr(gic)).toBe(0x80);
    eoi(gic, 500); // does not exist: UNPREDICTABLE, ignored
    expect(r.logs).toHaveLength(3);
    expect(gic.state(40).active).toBe(true);
  });

  it('group 0 goes to FIQ with FIQEn, group 1 to IRQ', () => {
    const r = rig();
    const { gic } = r;
    enable(gic, 3, 3 | GICC_CTLR_ACK_CTL | GICC_CTLR_FIQ_EN);
    setup(gic, 40, 0x80);
    setup(gic, 41, 0x40, { group: 1 });
    r.take();
    gic.setSpi(40, true);
    expect(r.take()).toEqual(['fiq0=1']);
    gic.setSpi(41, true);
    expect(r.take()).toEqual(['irq0=1', 'fiq0=0']);
    gic.cpuWrite(0, GICC_CTLR, 4, 3 | GICC_CTLR_ACK_CTL);
    expect(r.take()).toEqual([]); // 41 is still the best
    gic.setSpi(41, false);
    expect(r.take()).toEqual([]); // now 40, without FIQEn: IRQ
    expect(gic.irqLevel(0)).toBe(true);
    expect(gic.fiqLevel(0)).toBe(false);
  });

  it('group 1 with AckCtl 0: IAR/HPPIR read 1022 and do not acknowledge; AIAR/AHPPIR serve it; AEOIR ends it', () => {
    const r = rig();
    const { gic } = r;
    enable(gic, 3, 3);
    setup(gic, 40, 0x80, { group: 1 });
    gic.setSpi(40, true);
    expect(r.take()).toEqual(['irq0=1']);
    expect(gic.cpuRead(0, GICC_HPPIR, 4)).toBe(1022);
    expect(iar(gic)).toBe(1022);
    expect(gic.state(40).active).toBe(false);
    expect(gic.cpuRead(0, GICC_AHPPIR, 4)).toBe(40);
    expect(gic.cpuRead(0, GICC_AIAR, 4)).toBe(40);
    expect(r.take()).toEqual(['irq0=0']);
    gic.setSpi(40, false);
    gic.cpuWrite(0, GICC_AEOIR, 4, 40);
    expect(r.take()).toEqual(['deact 40@0']);
    expect(rpr(gic)).toBe(0xff);
    // AIAR does not take group 0, AEOIR does not end it.
    setup(gic, 41, 0x80);
    gic.setSpi(41, true);
    expect(gic.cpuRead(0, GICC_AIAR, 4)).toBe(1023);
    expect(gic.cpuRead(0, GICC_AHPPIR, 4)).toBe(1023);
    expect(iar(gic)).toBe(41);
    gic.cpuWrite(0, GICC_AEOIR, 4, 41);
    expect(gic.state(41).active).toBe(true);
    gic.cpuWrite(0, GICC_CTLR, 4, 3 | GICC_CTLR_ACK_CTL);
    eoi(gic, 41);
    expect(gic.state(41).active).toBe(false);
  });

  it('a group disabled in GICC_CTLR or GICD_CTLR is not signaled, and the other group still is', () => {
    const r = rig();
    const { gic } = r;
    enable(gic, 3, 1); // CPU interface: group 0 only
    setup(gic, 40, 0x40, { group: 1 });
    setup(gic, 41, 0x80);
    r.take();
    gic.setSpi(40, true);
    expect(r.take()).toEqual([]);
    gic.setSpi(41, true);
    expect(r.take()).toEqual(['irq0=1']);
    expect(gic.cpuRead(0, GICC_HPPIR, 4)).toBe(41);
    gic.distWrite(GICD_CTLR, 4, 2);
    expect(r.take()).toEqual(['irq0=0']);
  });
});

describe('EOImode', () => {
  it('EOImode 0: EOIR drops priority and deactivates; a level line still high is signaled again', () => {
    const r = rig();
    const { gic } = r;
    enable(gic);
    setup(gic, 33, 0x80);
    r.take();
    gic.setSpi(33, true);
    expect(iar(gic)).toBe(33);
    eoi(gic, 33);
    expect(r.take()).toEqual(['irq0=1', 'irq0=0', 'deact 33@0', 'irq0=1']);
  });

  it('EOImode 0: a resample handler that lowers the line at deactivation causes no blip', () => {
    const r = rig(2, 64, { onDeactivate: (g, id) => g.setSpi(id, false) });
    const { gic } = r;
    enable(gic);
    setup(gic, 33, 0x80);
    r.take();
    gic.setSpi(33, true);
    expect(iar(gic)).toBe(33);
    eoi(gic, 33);
    expect(r.take()).toEqual(['irq0=1', 'irq0=0', 'deact 33@0']);
  });

  it('EOImode 1: EOIR only drops priority; DIR deactivates (and resamples); the interrupt is not re-taken while active', () => {
    const r = rig();
    const { gic } = r;
    enable(gic, 1, 1 | GICC_CTLR_EOIMODE);
    setup(gic, 33, 0x80);
    setup(gic, 34, 0x90);
    r.take();
    gic.setSpi(33, true);
    expect(iar(gic)).toBe(33);
    eoi(gic, 33);
    expect(rpr(gic)).toBe(0xff);
    expect(gic.state(33).active).toBe(true);
    expect(r.take()).toEqual(['irq0=1', 'irq0=0']); // still active: the high line is not signaled
    gic.setSpi(34, true); // a lower priority interrupt can now be taken
    expect(r.take()).toEqual(['irq0=1']);
    expect(iar(gic)).toBe(34);
    gic.setSpi(34, false);
    eoi(gic, 34);
    gic.cpuWrite(0, GICC_DIR, 4, 34);
    gic.cpuWrite(0, GICC_DIR, 4, 33);
    expect(r.take()).toEqual(['irq0=0', 'deact 34@0', 'deact 33@0', 'irq0=1']);
    expect(iar(gic)).toBe(33);
  });

  it('DIR with EOImode 0, or of an inactive interrupt, is logged and ignored', () => {
    const r = rig();
    const { gic } = r;
    enable(gic);
    setup(gic, 33, 0x80);
    gic.setSpi(33, true);
    expect(iar(gic)).toBe(33);
    gic.cpuWrite(0, GICC_DIR, 4, 33);
    expect(gic.state(33).active).toBe(true);
    expect(r.logs).toHaveLength(1);
    gic.cpuWrite(0, GICC_CTLR, 4, 1 | GICC_CTLR_EOIMODE);
    gic.cpuWrite(0, GICC_DIR, 4, 34);
    expect(r.logs).toHaveLength(2);
    gic.cpuWrite(0, GICC_DIR, 4, 1023); // spurious: silently ignored
    expect(r.logs).toHaveLength(2);
  });
});

describe('distributor state registers', () => {
  it('ISPENDR soft-pends a level SPI; ICPENDR clears it, but not while its line is high', () => {
    const r = rig();
    const { gic } = r;
    enable(gic);
    setup(gic, 40, 0x80);
    r.take();
    gic.distWrite(GICD_ISPENDR + 4, 4, 1 << 8);
    expect(r.take()).toEqual(['irq0=1']);
    gic.distWrite(GICD_ICPENDR + 4, 4, 1 << 8);
    expect(r.take()).toEqual(['irq0=0']);
    gic.setSpi(40, true);
    gic.distWrite(GICD_ICPENDR + 4, 4, 1 << 8);
    expect(r.take()).toEqual(['irq0=1']);
    expect(gic.distRead(GICD_ISPENDR + 4, 4)).toBe(1 << 8);
  });

  it('ISACTIVER blocks an interrupt; ICACTIVER deactivates it (with resample)', () => {
    const r = rig();
    const { gic } = r;
    enable(gic);
    setup(gic, 40, 0x80);
    gic.distWrite(GICD_ISACTIVER + 4, 4, 1 << 8);
    r.take();
    gic.setSpi(40, true);
    expect(r.take()).toEqual([]);
    expect(gic.distRead(GICD_ICACTIVER + 4, 4)).toBe(1 << 8);
    gic.distWrite(GICD_ICACTIVER + 4, 4, (1 << 8) | (1 << 9));
    expect(r.take()).toEqual(['deact 40@0', 'irq0=1']);
  });

  it('ICENABLER, ICPENDR, ICFGR, IPRIORITYR, IGROUPR and ITARGETSR writes leave an active interrupt active', () => {
    const r = rig();
    const { gic } = r;
    enable(gic);
    setup(gic, 40, 0x80);
    gic.setSpi(40, true);
    expect(iar(gic)).toBe(40);
    gic.distWrite(GICD_ICENABLER + 4, 4, 0xffff_ffff);
    gic.distWrite(GICD_ICPENDR + 4, 4, 0xffff_ffff);
    gic.distWrite(GICD_ICFGR + 8, 4, 0xffff_ffff);
    gic.distWrite(GICD_IPRIORITYR + 40, 1, 0x10);
    gic.distWrite(GICD_IGROUPR + 4, 4, 0xffff_ffff);
    gic.distWrite(GICD_ITARGETSR + 40, 1, 2);
    gic.setSpi(40, false);
    expect(gic.state(40).active).toBe(true);
    expect(gic.distRead(GICD_ISACTIVER + 4, 4)).toBe(1 << 8);
  });

  it('ICENABLER stops signaling but the interrupt stays pending; ISENABLER brings it back', () => {
    const r = rig();
    const { gic } = r;
    enable(gic);
    setup(gic, 40, 0x80, { edge: true });
    r.take();
    gic.setSpi(40, true);
    gic.setSpi(40, false);
    gic.distWrite(GICD_ICENABLER + 4, 4, 1 << 8);
    expect(r.take()).toEqual(['irq0=1', 'irq0=0']);
    expect(gic.state(40).pending).toBe(true);
    gic.distWrite(GICD_ISENABLER + 4, 4, 1 << 8);
    expect(r.take()).toEqual(['irq0=1']);
  });

  it('retargeting a pending SPI moves the output to the new CPU', () => {
    const r = rig();
    const { gic } = r;
    enable(gic);
    setup(gic, 40, 0x80, { targets: 1 });
    r.take();
    gic.setSpi(40, true);
    expect(r.take()).toEqual(['irq0=1']);
    gic.distWrite(GICD_ITARGETSR + 40, 1, 2);
    expect(r.take()).toEqual(['irq0=0', 'irq1=1']);
    gic.distWrite(GICD_ITARGETSR + 40, 1, 3);
    expect(r.take()).toEqual(['irq0=1']);
    expect(iar(gic, 1)).toBe(40);
    // 1-N: taken by CPU 1, no longer offered to CPU 0.
    expect(r.take()).toEqual(['irq0=0', 'irq1=0']);
    expect(iar(gic, 0)).toBe(1023);
  });
});

describe('latched before enable (seed 000)', () => {
  it('an edge pulse before the distributor, CPU interface, SPI or target is set up is delivered once they are', () => {
    const r = rig();
    const { gic } = r;
    gic.distWrite(GICD_ICFGR + 8, 4, 2 << (2 * (40 - 32)));
    gic.setSpi(40, true);
    gic.setSpi(40, false);
    gic.setPpi(1, 27, true);
    gic.distWrite(GICD_SGIR, 4, (1 << 24) | 9, 1);
    expect(r.take()).toEqual([]);
    gic.distWrite(GICD_IPRIORITYR + 40, 1, 0x80);
    gic.distWrite(GICD_ISENABLER + 4, 4, 1 << 8);
    gic.distWrite(GICD_CTLR, 4, 1);
    expect(r.take()).toEqual([]);
    gic.cpuWrite(0, GICC_CTLR, 4, 1);
    expect(r.take()).toEqual([]); // PMR is 0: everything masked
    gic.cpuWrite(0, GICC_PMR, 4, 0xf0);
    expect(r.take()).toEqual(['irq0=1']); // the SGI (priority 0) from CPU 1
    expect(iar(gic)).toBe(9 | (1 << 10));
    eoi(gic, 9 | (1 << 10));
    expect(r.take()).toEqual(['irq0=0', 'deact 9@0']); // the SPI targets no CPU yet
    gic.distWrite(GICD_ITARGETSR + 40, 1, 1);
    expect(r.take()).toEqual(['irq0=1']);
    expect(iar(gic)).toBe(40);
    // CPU 1's timer PPI waited too.
    gic.distWrite(GICD_ISENABLER, 4, 1 << 27, 1);
    gic.cpuWrite(1, GICC_CTLR, 4, 1);
    gic.cpuWrite(1, GICC_PMR, 4, 0xf0);
    expect(r.take()).toEqual(['irq0=0', 'irq1=1']);
    expect(iar(gic, 1)).toBe(27);
  });
});

describe('reset and saved state', () => {
  it('reset drops the outputs and keeps the line levels', () => {
    const r = rig();
    const { gic } = r;
    enable(gic);
    setup(gic, 40, 0x80);
    gic.setSpi(40, true);
    r.take();
    gic.reset();
    expect(r.take()).toEqual(['irq0=0']);
    expect(gic.state(40)).toMatchObject({ line: true, enabled: false, pending: true });
    enable(gic);
    setup(gic, 40, 0x80);
    expect(r.take()).toEqual(['irq0=1']);
  });

  it('snapshot → JSON → restore: the same state, the same outputs, the same future', () => {
    const a = rig(2, 64);
    const g = a.gic;
    enable(g, 3, 3 | GICC_CTLR_ACK_CTL | GICC_CTLR_EOIMODE);
    g.cpuWrite(0, GICC_BPR, 4, 2);
    setup(g, 40, 0x80, { targets: 3 });
    setup(g, 41, 0x40, { group: 1, edge: true, targets: 2 });
    setup(g, 27, 0xa0, { cpu: 1 });
    g.setSpi(40, true);
    expect(iar(g)).toBe(40);
    g.distWrite(GICD_SGIR, 4, (1 << 24) | 3, 0);
    g.setPpi(1, 27, true);
    g.setSpi(41, true);
    const snap = JSON.parse(JSON.stringify(g.snapshot())) as GicV2State;
    const b = rig(2, 64);
    b.gic.restore(snap);
    expect(b.gic.snapshot()).toEqual(g.snapshot());
    expect(b.take()).toEqual(['irq1=1']);
    expect([0, 1].map((c) => b.gic.irqLevel(c))).toEqual([g.irqLevel(0), g.irqLevel(1)]);
    a.take();
    const script = (x: GicV2): number[] => {
      const out = [iar(x, 1), iar(x, 1)];
      x.cpuWrite(0, GICC_EOIR, 4, 40);
      x.cpuWrite(0, GICC_DIR, 4, 40);
      x.setSpi(40, false);
      out.push(iar(x, 0), rpr(x, 0), rpr(x, 1));
      return out;
    };
    expect(script(b.gic)).toEqual(script(g));
    expect(b.take()).toEqual(a.take());
    expect(b.gic.snapshot()).toEqual(g.snapshot());
  });

  it('restore rejects garbage with ERR_INVALID_ARG and leaves the GIC untouched', () => {
    const r = rig(2, 64);
    enable(r.gic);
    const good = r.gic.snapshot();
    const before = JSON.stringify(good);
    const bad: unknown[] = [
      undefined, 'x', { ...good, version: 0 }, { ...good, cpus: 1 }, { ...good, spis: 32 }, { ...good, dctlr: 4 },
      { ...good, ctlr: [0x400, 0] }, { ...good, pmr: [0] }, { ...good, bpr: [8, 0] }, { ...good, abpr: [0, 1] },
      { ...good, apr: [0] }, { ...good, nsapr: good.nsapr.map(() => -1) }, { ...good, irqs: null },
      { ...good, irqs: { ...good.irqs, cpus: 1 } }, { ...good, irqs: { ...good.irqs, latch: 'no' } },
      { ...good, irqs: rig(2, 32).gic.snapshot().irqs },
    ];
    for (const b of bad) {
      let err: unknown;
      try {
        r.gic.restore(b as GicV2State);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(b)?.slice(0, 80)).toBeInstanceOf(InvalidArgumentError);
      expect(err).toMatchObject({ code: 'ERR_INVALID_ARG' });
    }
    expect(JSON.stringify(r.gic.snapshot())).toBe(before);
  });
});

describe('output discipline (property)', () => {
  it('irqLine is only ever called with a level different from the last one, and irqLevel agrees', () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant('spi' as const), id: fc.integer({ min: 32, max: 35 }), level: fc.boolean() }),
      fc.record({ k: fc.constant('ppi' as const), cpu: fc.integer({ min: 0, max: 1 }), level: fc.boolean() }),
      fc.record({ k: fc.constant('iar' as const), cpu: fc.integer({ min: 0, max: 1 }) }),
      fc.record({ k: fc.constant('eoi' as const), cpu: fc.integer({ min: 0, max: 1 }), id: fc.constantFrom(27, 32, 33, 34, 35, 1) }),
      fc.record({ k: fc.constant('sgi' as const), cpu: fc.integer({ min: 0, max: 1 }), filter: fc.integer({ min: 0, max: 2 }) }),
      fc.record({ k: fc.constant('pmr' as const), cpu: fc.integer({ min: 0, max: 1 }), v: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ k: fc.constant('dist' as const), v: fc.integer({ min: 0, max: 3 }) }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 50 }), (ops) => {
      const last = [false, false];
      let bad = false;
      const g = new GicV2({
        cpus: 2, spis: 32,
        outputs: { irqLine: (c, l) => { if (last[c] === l) bad = true; last[c] = l; } },
      });
      enable(g);
      for (let id = 32; id < 36; id++) setup(g, id, 0x10 * (id - 30), { targets: id & 1 ? 2 : 3, edge: id === 34 });
      for (const c of [0, 1]) setup(g, 27, 0xc0, { cpu: c });
      const acked: number[][] = [[], []];
      for (const o of ops) {
        switch (o.k) {
          case 'spi': g.setSpi(o.id, o.level); break;
          case 'ppi': g.setPpi(o.cpu, 27, o.level); break;
          case 'iar': { const v = iar(g, o.cpu); if (v < 1020) acked[o.cpu]!.push(v); break; }
          case 'eoi': eoi(g, acked[o.cpu]!.pop() ?? o.id, o.cpu); break;
          case 'sgi': g.distWrite(GICD_SGIR, 4, (o.filter << 24) | (3 << 16) | 1, o.cpu); break;
          case 'pmr': g.cpuWrite(o.cpu, GICC_PMR, 4, o.v); break;
          default: g.distWrite(GICD_CTLR, 4, o.v); break;
        }
        expect(bad).toBe(false);
        expect([g.irqLevel(0), g.irqLevel(1)]).toEqual(last);
      }
    }));
  });
});

/**
 * String instructions (MOVS CMPS STOS LODS SCAS INS OUTS, with REP/REPE/
 * REPNE) and port I/O.
 *
 * A REP instruction runs up to REP_CHUNK iterations per step; if it is not
 * done it leaves EIP on itself (as an interrupted REP does on hardware), so
 * interrupts and the run budget are looked at in between. An iteration
 * that reached outside RAM (a port or MMIO) ends the step too: string I/O
 * and MMIO string accesses exit once per element (count = 1), and the
 * re-execution after a read exit replays exactly one iteration.
 */
import { DS, ES, F_DF } from './consts.js';
import { CpuSystem } from './system.js';

const REP_CHUNK = 4096;

export const STR_MOVS = 0, STR_CMPS = 1, STR_STOS = 2, STR_LODS = 3, STR_SCAS = 4, STR_INS = 5, STR_OUTS = 6;

export class CpuStrings extends CpuSystem {
  portIn(port: number, sz: number): number {
    return this.extRead(true, port & 0xffff, sz === 0 ? 4 : sz === 1 ? 2 : 1);
  }

  portOut(port: number, sz: number, v: number): void {
    this.extWrite(true, port & 0xffff, sz === 0 ? 4 : sz === 1 ? 2 : 1, v);
  }

  /** One string instruction (`kind` STR_*, operand size code `sz`), honouring the REP prefix. */
  stringOp(kind: number, sz: number): void {
    const n = sz === 0 ? 4 : sz === 1 ? 2 : 1;
    const delta = (this.eflags & F_DF) !== 0 ? -n : n;
    const srcBase = this.segBase[this.segOv >= 0 ? this.segOv : DS]!;
    const dstBase = this.segBase[ES]!;
    if (this.rep === 0) {
      this.stringStep(kind, sz, delta, srcBase, dstBase);
      return;
    }
    for (let left = REP_CHUNK; ; left--) {
      if (this.idx(1) === 0) return;
      this.stringStep(kind, sz, delta, srcBase, dstBase);
      this.idxAdd(1, -1);
      if (kind === STR_CMPS || kind === STR_SCAS) {
        // REPE stops on ZF = 0, REPNE on ZF = 1.
        if (this.getZF() !== (this.rep === 0xf3)) return;
      }
      if (this.idx(1) === 0) return;
      if (left === 1 || this.ridx > 0 || this.wdone > 0) {
        this.eip = this.start;
        return;
      }
    }
  }

  private stringStep(kind: number, sz: number, delta: number, srcBase: number, dstBase: number): void {
    switch (kind) {
      case STR_MOVS: {
        const v = this.rd(sz, srcBase + this.idx(6));
        this.wr(sz, dstBase + this.idx(7), v);
        this.idxAdd(6, delta);
        this.idxAdd(7, delta);
        return;
      }
      case STR_CMPS: {
        const a = this.rd(sz, srcBase + this.idx(6));
        const b = this.rd(sz, dstBase + this.idx(7));
        this.alu(7, a, b, sz);
        this.idxAdd(6, delta);
        this.idxAdd(7, delta);
        return;
      }
      case STR_STOS:
        this.wr(sz, dstBase + this.idx(7), this.getReg(sz, 0));
        this.idxAdd(7, delta);
        return;
      case STR_LODS: {
        const v = this.rd(sz, srcBase + this.idx(6));
        this.setReg(sz, 0, v);
        this.idxAdd(6, delta);
        return;
      }
      case STR_SCAS: {
        const b = this.rd(sz, dstBase + this.idx(7));
        this.alu(7, this.getReg(sz, 0), b, sz);
        this.idxAdd(7, delta);
        return;
      }
      case STR_INS: {
        const v = this.portIn(this.r[2]!, sz);
        this.wr(sz, dstBase + this.idx(7), v);
        this.idxAdd(7, delta);
        return;
      }
      default: { // OUTS
        const v = this.rd(sz, srcBase + this.idx(6));
        this.portOut(this.r[2]!, sz, v);
        this.idxAdd(6, delta);
      }
    }
  }
}

/**
 * A64 decode and execute: one instruction per call, dispatched on the
 * top-level encoding group (bits 28:25), then on the group's own fields.
 * Every handler is entered with this.pc already at pc + 4 (branches
 * overwrite it, MMIO exits put it back) and returns null, an exit, or EXC
 * when it took a synchronous exception.
 */
import { bitMasks, TMASK, WMASK } from './bitmask.js';
import {
  A64State, EC_BRK, EC_SVC, ESR_IL, EXC, TWO32, loHiToBig,
} from './state.js';
import * as S from './sysregs.js';
import type { A64Exit } from './types.js';

const WFI_EXIT: A64Exit = Object.freeze({ kind: 'wfi' });

/** Byte sizes of MMIO accesses, to type the exit. */
type Size = 1 | 2 | 4 | 8;

/** The high word of a 32x32 unsigned product (a, b taken as uint32). */
function umulhi32(a: number, b: number): number {
  const bu = b >>> 0;
  const p0 = (a & 0xffff) * bu;
  const p1 = (a >>> 16) * bu;
  return Math.floor((p1 + Math.floor(p0 / 65536)) / 65536) | 0;
}

export class A64Exec extends A64State {
  // Operands of MMIO exits (reused buffer; `data` views of it per size).
  protected readonly mmioBuf = new Uint8Array(8);
  protected readonly mmioViews = [1, 2, 4, 8].map((n) => this.mmioBuf.subarray(0, n));
  /** The load/store waiting for the next run() to complete it: -1 none; else rt | kind << 5 | log2(size) << 8. */
  protected mmioPending = -1;
  /** Scratch for 128-bit products: words 0..3. */
  private readonly w4 = new Int32Array(4);

  // ---- 64-bit helpers (low word returned, high word in this.rhi) ------------------------------------------

  protected add64(alo: number, ahi: number, blo: number, bhi: number, cin: number, setf: boolean): number {
    const l = (alo >>> 0) + (blo >>> 0) + cin;
    const h = (ahi >>> 0) + (bhi >>> 0) + (l > 0xffffffff ? 1 : 0);
    const rl = l | 0, rh = h | 0;
    this.rhi = rh;
    if (setf) {
      this.nf = rh >>> 31;
      this.zf = (rl | rh) === 0 ? 1 : 0;
      this.cf = h > 0xffffffff ? 1 : 0;
      this.vf = ((ahi ^ rh) & (bhi ^ rh)) >>> 31;
    }
    return rl;
  }

  protected add32(a: number, b: number, cin: number, setf: boolean): number {
    const l = (a >>> 0) + (b >>> 0) + cin;
    const r = l | 0;
    if (setf) {
      this.nf = r >>> 31;
      this.zf = r === 0 ? 1 : 0;
      this.cf = l > 0xffffffff ? 1 : 0;
      this.vf = ((a ^ r) & (b ^ r)) >>> 31;
    }
    return r;
  }

  /** base + off (a small signed number), 64-bit. */
  protected addOff(lo: number, hi: number, off: number): number {
    const s = (lo >>> 0) + off;
    this.rhi = (hi + Math.floor(s / TWO32)) | 0;
    return s | 0;
  }

  protected lsl64(lo: number, hi: number, s: number): number {
    if (s === 0) { this.rhi = hi; return lo; }
    if (s < 32) { this.rhi = (hi << s) | (lo >>> (32 - s)); return lo << s; }
    this.rhi = lo << (s - 32);
    return 0;
  }

  protected lsr64(lo: number, hi: number, s: number): number {
    if (s === 0) { this.rhi = hi; return lo; }
    if (s < 32) { this.rhi = hi >>> s | 0; return (lo >>> s) | (hi << (32 - s)); }
    this.rhi = 0;
    return (hi >>> (s - 32)) | 0;
  }

  protected asr64(lo: number, hi: number, s: number): number {
    if (s === 0) { this.rhi = hi; return lo; }
    if (s < 32) { this.rhi = hi >> s; return (lo >>> s) | (hi << (32 - s)); }
    this.rhi = hi >> 31;
    return hi >> (s - 32);
  }

  protected ror64(lo: number, hi: number, s: number): number {
    if (s >= 32) { const t = lo; lo = hi; hi = t; s -= 32; }
    if (s === 0) { this.rhi = hi; return lo; }
    this.rhi = (hi >>> s) | (lo << (32 - s));
    return (lo >>> s) | (hi << (32 - s));
  }

  /** Unsigned 64x64 -> 128 product into this.w4 (little-endian words). */
  private umul128(alo: number, ahi: number, blo: number, bhi: number): void {
    const w = this.w4;
    const p00l = Math.imul(alo, blo) >>> 0, p00h = umulhi32(alo, blo) >>> 0;
    const p01l = Math.imul(alo, bhi) >>> 0, p01h = umulhi32(alo, bhi) >>> 0;
    const p10l = Math.imul(ahi, blo) >>> 0, p10h = umulhi32(ahi, blo) >>> 0;
    const p11l = Math.imul(ahi, bhi) >>> 0, p11h = umulhi32(ahi, bhi) >>> 0;
    w[0] = p00l;
    const t1 = p00h + p01l + p10l;
    w[1] = t1 % TWO32;
    const t2 = p01h + p10h + p11l + Math.floor(t1 / TWO32);
    w[2] = t2 % TWO32;
    w[3] = (p11h + Math.floor(t2 / TWO32)) % TWO32;
  }

  /** Low 64 bits of a 64x64 product. */
  protected mul64(alo: number, ahi: number, blo: number, bhi: number): number {
    this.rhi = (umulhi32(alo, blo) + Math.imul(alo, bhi) + Math.imul(ahi, blo)) | 0;
    return Math.imul(alo, blo);
  }

  protected cond(c: number): boolean {
    let r: boolean;
    switch (c >>> 1) {
      case 0: r = this.zf !== 0; break;
      case 1: r = this.cf !== 0; break;
      case 2: r = this.nf !== 0; break;
      case 3: r = this.vf !== 0; break;
      case 4: r = this.cf !== 0 && this.zf === 0; break;
      case 5: r = this.nf === this.vf; break;
      case 6: r = this.nf === this.vf && this.zf === 0; break;
      default: return true;
    }
    return (c & 1) !== 0 ? !r : r;
  }

  /** Sets X[d] (d = 31: XZR, discarded). */
  protected wx(d: number, lo: number, hi: number): void {
    if (d !== 31) {
      this.x[2 * d] = lo;
      this.x[2 * d + 1] = hi;
    }
  }

  // ---- dispatch -------------------------------------------------------------------------------------------

  protected exec(i: number, pc: number): A64Exit | null {
    switch ((i >>> 25) & 15) {
      case 8: case 9: return this.dpImm(i, pc);
      case 10: case 11: return this.branchSys(i, pc);
      case 4: case 6: case 12: case 14: return this.ldst(i, pc);
      case 5: case 13: return this.dpReg(i, pc);
      case 7: case 15: return this.simd(i, pc);
      default: return this.undef(pc);
    }
  }

  // ---- data processing, immediate -------------------------------------------------------------------------

  private dpImm(i: number, pc: number): A64Exit | null {
    const x = this.x;
    const rd = i & 31, rn = (i >>> 5) & 31, sf = i < 0;
    switch ((i >>> 23) & 7) {
      case 0: case 1: { // ADR, ADRP
        const imm = (((i << 8) >> 13) * 4) + ((i >>> 29) & 3);
        const v = sf ? (pc - (pc % 4096)) + imm * 4096 : pc + imm;
        this.wx(rd, v | 0, Math.floor(v / TWO32) | 0);
        return null;
      }
      case 2: { // ADD/ADDS/SUB/SUBS (immediate)
        let imm = (i >>> 10) & 0xfff;
        if ((i & (1 << 22)) !== 0) imm <<= 12;
        const sub = (i & (1 << 30)) !== 0, setf = (i & (1 << 29)) !== 0;
        const n = rn === 31 ? 64 : 2 * rn;
        const d = setf ? rd : rd === 31 ? 32 : rd;
        if (sf) {
          const lo = sub ? this.add64(x[n]!, x[n + 1]!, ~imm, -1, 1, setf) : this.add64(x[n]!, x[n + 1]!, imm, 0, 0, setf);
          if (d !== 31) { x[2 * d] = lo; x[2 * d + 1] = this.rhi; }
        } else {
          const r = sub ? this.add32(x[n]!, ~imm, 1, setf) : this.add32(x[n]!, imm, 0, setf);
          if (d !== 31) { x[2 * d] = r; x[2 * d + 1] = 0; }
        }
        return null;
      }
      case 4: { // logical (immediate)
        const nbit = (i >>> 22) & 1;
        if (!sf && nbit !== 0) return this.undef(pc);
        const k = (i >>> 10) & 0x1fff;
        if (bitMasks(k) !== 3) return this.undef(pc);
        const mlo = WMASK[2 * k]!, mhi = sf ? WMASK[2 * k + 1]! : 0;
        const alo = x[2 * rn]!, ahi = sf ? x[2 * rn + 1]! : 0;
        let lo: number, hi: number;
        const opc = (i >>> 29) & 3;
        switch (opc) {
          case 0: lo = alo & mlo; hi = ahi & mhi; break;
          case 1: lo = alo | mlo; hi = ahi | mhi; break;
          case 2: lo = alo ^ mlo; hi = ahi ^ mhi; break;
          default:
            lo = alo & mlo; hi = ahi & mhi;
            this.nf = (sf ? hi : lo) >>> 31; this.zf = (lo | hi) === 0 ? 1 : 0; this.cf = 0; this.vf = 0;
            this.wx(rd, lo, hi);
            return null;
        }
        const d = rd === 31 ? 32 : rd; // AND/ORR/EOR (immediate) write SP
        x[2 * d] = lo; x[2 * d + 1] = hi;
        return null;
      }
      case 5: { // MOVN/MOVZ/MOVK
        const opc = (i >>> 29) & 3, hw = (i >>> 21) & 3, imm = (i >>> 5) & 0xffff;
        if (opc === 1 || (!sf && hw >= 2)) return this.undef(pc);
        if (rd === 31 && opc === 3) return null;
        const pos = (hw & 1) * 16, word = hw >>> 1;
        if (opc === 3) {
          const j = 2 * rd + word;
          x[j] = (x[j]! & ~(0xffff << pos)) | (imm << pos);
          if (!sf) x[2 * rd + 1] = 0;
          return null;
        }
        let lo = word === 0 ? imm << pos : 0, hi = word === 1 ? imm << pos : 0;
        if (opc === 0) { lo = ~lo; hi = sf ? ~hi : 0; }
        this.wx(rd, lo, hi);
        return null;
      }
      case 6: { // SBFM/BFM/UBFM
        const opc = (i >>> 29) & 3, nbit = (i >>> 22) & 1;
        if (opc === 3 || nbit !== (sf ? 1 : 0) || (!sf && (i & 0x208000) !== 0)) return this.undef(pc);
        const k = (i >>> 10) & 0x1fff;
        if (bitMasks(k) === 1) return this.undef(pc);
        const r = (i >>> 16) & 63, s = (i >>> 10) & 63;
        this.bitfield(opc, sf, rd, rn, r, s, k);
        return null;
      }
      case 7: { // EXTR
        const nbit = (i >>> 22) & 1, lsb = (i >>> 10) & 63, rm = (i >>> 16) & 31;
        if ((i & 0x60200000) !== 0 || nbit !== (sf ? 1 : 0) || (!sf && lsb >= 32)) return this.undef(pc);
        if (sf) {
          const mlo = x[2 * rm]!, mhi = x[2 * rm + 1]!;
          if (lsb === 0) { this.wx(rd, mlo, mhi); return null; }
          const lo1 = this.lsr64(mlo, mhi, lsb), hi1 = this.rhi;
          const lo2 = this.lsl64(x[2 * rn]!, x[2 * rn + 1]!, 64 - lsb), hi2 = this.rhi;
          this.wx(rd, lo1 | lo2, hi1 | hi2);
        } else {
          const m = x[2 * rm]!;
          this.wx(rd, lsb === 0 ? m : (m >>> lsb) | (x[2 * rn]! << (32 - lsb)), 0);
        }
        return null;
      }
      default: return this.undef(pc); // add/sub immediate with tags (MTE)
    }
  }

  /** SBFM (opc 0), BFM (1), UBFM (2), after the Arm ARM's pseudocode with precomputed masks. */
  private bitfield(opc: number, sf: boolean, rd: number, rn: number, r: number, s: number, k: number): void {
    const x = this.x;
    const slo = x[2 * rn]!, shi = x[2 * rn + 1]!;
    if (sf) {
      const wl = WMASK[2 * k]!, wh = WMASK[2 * k + 1]!, tl = TMASK[2 * k]!, th = TMASK[2 * k + 1]!;
      const rl = this.ror64(slo, shi, r), rh = this.rhi;
      let dl = 0, dh = 0;
      if (opc === 1) { dl = x[2 * rd]!; dh = x[2 * rd + 1]!; }
      const bl = (dl & ~wl) | (rl & wl), bh = (dh & ~wh) | (rh & wh);
      let tpl: number, tph: number;
      if (opc === 0) {
        const bit = s < 32 ? (slo >>> s) & 1 : (shi >>> (s - 32)) & 1;
        tpl = tph = -bit;
      } else { tpl = dl; tph = dh; }
      this.wx(rd, (tpl & ~tl) | (bl & tl), (tph & ~th) | (bh & th));
    } else {
      const wl = WMASK[2 * k]!, tl = TMASK[2 * k]!;
      const rl = r === 0 ? slo : (slo >>> r) | (slo << (32 - r));
      const dl = opc === 1 ? x[2 * rd]! : 0;
      const bl = (dl & ~wl) | (rl & wl);
      const tpl = opc === 0 ? -((slo >>> s) & 1) : dl;
      this.wx(rd, (tpl & ~tl) | (bl & tl), 0);
    }
  }

  // ---- branches, exception generation, system -------------------------------------------------------------

  private branchSys(i: number, pc: number): A64Exit | null {
    const x = this.x;
    const top = i >>> 26;
    if ((top & 0x1f) === 5) { // B, BL
      if (i < 0) {
        const ret = pc + 4;
        x[60] = ret | 0; x[61] = Math.floor(ret / TWO32) | 0;
      }
      this.pc = pc + ((i << 6) >> 4);
      return null;
    }
    const b3125 = i >>> 25;
    if ((b3125 & 0x3f) === 0x1a) { // CBZ, CBNZ
      const rt = i & 31;
      const zero = i < 0 ? (x[2 * rt]! | x[2 * rt + 1]!) === 0 : x[2 * rt] === 0;
      if (zero === ((i & (1 << 24)) === 0)) this.pc = pc + ((i << 8) >> 13) * 4;
      return null;
    }
    if ((b3125 & 0x3f) === 0x1b) { // TBZ, TBNZ
      const rt = i & 31, bit = ((i >>> 26) & 32) | ((i >>> 19) & 31);
      const set = (x[2 * rt + (bit >>> 5)]! >>> (bit & 31)) & 1;
      if (set === ((i >>> 24) & 1)) this.pc = pc + ((i << 13) >> 18) * 4;
      return null;
    }
    if (b3125 === 0x2a) { // B.cond
      if ((i & 0x01000010) !== 0) return this.undef(pc);
      if (this.cond(i & 15)) this.pc = pc + ((i << 8) >> 13) * 4;
      return null;
    }
    if (b3125 === 0x6b) return this.branchReg(i, pc);
    if ((i >>> 24) === 0xd4) return this.excGen(i, pc);
    if ((i >>> 22) === 0x354) return this.system(i, pc);
    return this.undef(pc);
  }

  private branchReg(i: number, pc: number): A64Exit | null {
    const opc = (i >>> 21) & 15, rn = (i >>> 5) & 31;
    if (((i >>> 16) & 31) !== 31 || ((i >>> 10) & 63) !== 0 || (i & 31) !== 0) return this.undef(pc);
    const x = this.x;
    switch (opc) {
      case 0: case 2: // BR, RET
        this.setPcLoHi(x[2 * rn]!, x[2 * rn + 1]!);
        return null;
      case 1: { // BLR
        const lo = x[2 * rn]!, hi = x[2 * rn + 1]!;
        const ret = pc + 4;
        x[60] = ret | 0; x[61] = Math.floor(ret / TWO32) | 0;
        this.setPcLoHi(lo, hi);
        return null;
      }
      case 4: { // ERET
        if (rn !== 31 || this.el === 0) return this.undef(pc);
        const spsr = this.spsr, m = spsr & 0x1f;
        this.setFlagsDaif(spsr);
        if (A64Exec.validMode(m) && (m >>> 2) <= this.el) this.setElSp(m >>> 2, m & 1);
        else this.il = 1; // illegal exception return: stay, and the next instruction takes an Illegal State exception
        this.monValid = false;
        this.event = true; // an exception return sets the event register
        this.setPcLoHi(this.elrLo, this.elrHi);
        this.updateAttention();
        return null;
      }
      default: return this.undef(pc);
    }
  }

  private excGen(i: number, pc: number): A64Exit | null {
    const opc = (i >>> 21) & 7, ll = i & 3, imm = (i >>> 5) & 0xffff;
    if (((i >>> 2) & 7) !== 0) return this.undef(pc);
    if (opc === 0) {
      if (ll === 1) { // SVC: ELR = the next instruction
        this.takeSync((EC_SVC << 26) | ESR_IL | imm, pc + 4);
        return EXC;
      }
      if (ll === 2) return { kind: 'hvc', imm };
      return this.undef(pc); // SMC (no EL3) and LL = 0
    }
    if (opc === 1 && ll === 0) { // BRK
      this.takeSync((EC_BRK << 26) | ESR_IL | imm, pc);
      return EXC;
    }
    return this.undef(pc);
  }

  private system(i: number, pc: number): A64Exit | null {
    const l = (i >>> 21) & 1, op0 = (i >>> 19) & 3, op1 = (i >>> 16) & 7, crn = (i >>> 12) & 15;
    const crm = (i >>> 8) & 15, op2 = (i >>> 5) & 7, rt = i & 31;
    if (op0 === 0 && l === 0) {
      if (crn === 2 && rt === 31) { // hints
        switch ((crm << 3) | op2) {
          case 2: // WFE
            if (this.event) { this.event = false; return null; }
            return this.irqLine || this.fiqLine ? null : WFI_EXIT;
          case 3: // WFI
            return this.irqLine || this.fiqLine ? null : WFI_EXIT;
          case 4: case 5: // SEV, SEVL: one CPU per interpreter, both set the local event register
            this.event = true;
            return null;
          default: return null; // NOP, YIELD, PACIASP, AUTIASP, BTI, CSDB, ESB, ...: NOPs
        }
      }
      if (crn === 3 && rt === 31) { // barriers
        if (op2 === 2) { this.monValid = false; return null; } // CLREX
        if (op2 >= 4 || (op2 === 1 && op1 === 0)) return null; // DSB, DMB, ISB, SB
        return this.undef(pc);
      }
      if (crn === 4 && rt === 31) { // MSR (immediate)
        if (op1 === 3 && op2 === 6) { this.daif |= crm << 6; this.updateAttention(); return null; } // DAIFSet
        if (op1 === 3 && op2 === 7) { this.daif &= ~(crm << 6); this.updateAttention(); return null; } // DAIFClr
        if (op1 === 0 && op2 === 5) { // SPSel
          if (this.el === 0) return this.undef(pc);
          this.setElSp(this.el, crm & 1);
          return null;
        }
        return this.undef(pc);
      }
      return this.undef(pc);
    }
    if (op0 === 1) { // SYS/SYSL: cache and TLB maintenance, AT
      if (l === 1) return this.undef(pc);
      if (op1 === 3 && crn === 7 && crm === 4 && op2 === 1) return this.dcZva(rt, pc); // DC ZVA
      if (crn === 7 && crm === 8 && op2 < 4) { // AT S1E*: MMU off, the PA is the VA
        const x = this.x;
        this.sysStore.set(S.PAR_EL1, loHiToBig(x[2 * rt]! & ~0xfff, x[2 * rt + 1]! & 0xffff));
        return null;
      }
      return null; // DC, IC, TLBI: nothing to do without caches or an MMU
    }
    if (op0 >= 2) { // MRS, MSR (register)
      const key = (i >>> 5) & 0xffff;
      if ((key === S.FPCR || key === S.FPSR) && !this.fpCheck(pc)) return EXC;
      const x = this.x;
      if (l === 1) {
        const v = this.readSys(key);
        if (v === undefined) return this.undef(pc);
        this.wx(rt, Number(BigInt.asIntN(32, v)), Number(BigInt.asIntN(32, v >> 32n)));
        return null;
      }
      if (!this.writeSys(key, loHiToBig(x[2 * rt]!, x[2 * rt + 1]!))) return this.undef(pc);
      return null;
    }
    return this.undef(pc);
  }

  /** DC ZVA: zero the 64-byte block holding the address. */
  private dcZva(rt: number, pc: number): A64Exit | null {
    const lo = this.x[2 * rt]! & ~63, hi = this.x[2 * rt + 1]!;
    const off = this.ramOffset(lo, hi, 64, true);
    if (off >= 0) { this.dBytes.fill(0, off, off + 64); return null; }
    if (off === -2) return this.addressSizeFault(pc, lo, hi, true);
    this.pc = pc;
    return { kind: 'mmio-nisv', address: (hi >>> 0) * TWO32 + (lo >>> 0), isWrite: true };
  }

  // ---- loads and stores -----------------------------------------------------------------------------------

  private ldst(i: number, pc: number): A64Exit | null {
    switch ((i >>> 27) & 7) {
      case 1: return (i & (1 << 26)) !== 0 ? this.undef(pc) : this.exclusive(i, pc);
      case 3: return (i & (1 << 24)) !== 0 ? this.undef(pc) : this.literal(i, pc);
      case 5: return this.pair(i, pc);
      default: return this.ldstReg(i, pc);
    }
  }

  /**
   * A single general-register access. kind: 0 store, 1 load zero-extended,
   * 2 load sign-extended to 64 bits, 3 load sign-extended to 32 bits.
   * `isv`: an MMIO access exits as `mmio` (else `mmio-nisv`).
   */
  protected accessGpr(rt: number, lo: number, hi: number, size: number, kind: number, isv: boolean, pc: number): A64Exit | null {
    const off = this.ramOffset(lo, hi, size, kind === 0);
    const x = this.x;
    if (off >= 0) {
      const dv = this.dDv;
      if (kind === 0) {
        switch (size) {
          case 1: dv.setUint8(off, x[2 * rt]!); break;
          case 2: dv.setUint16(off, x[2 * rt]!, true); break;
          case 4: dv.setInt32(off, x[2 * rt]!, true); break;
          default: dv.setInt32(off, x[2 * rt]!, true); dv.setInt32(off + 4, x[2 * rt + 1]!, true);
        }
        return null;
      }
      if (rt === 31) return null;
      let v: number;
      switch (size) {
        case 1: v = kind === 1 ? dv.getUint8(off) : dv.getInt8(off); break;
        case 2: v = kind === 1 ? dv.getUint16(off, true) : dv.getInt16(off, true); break;
        case 4: v = dv.getInt32(off, true); break;
        default:
          x[2 * rt] = dv.getInt32(off, true); x[2 * rt + 1] = dv.getInt32(off + 4, true);
          return null;
      }
      x[2 * rt] = v;
      x[2 * rt + 1] = kind === 2 ? v >> 31 : 0;
      return null;
    }
    if (off === -2) return this.addressSizeFault(pc, lo, hi, kind === 0);
    this.pc = pc;
    const address = (hi >>> 0) * TWO32 + (lo >>> 0);
    if (!isv) return { kind: 'mmio-nisv', address, isWrite: kind === 0 };
    const lg = size === 1 ? 0 : size === 2 ? 1 : size === 4 ? 2 : 3;
    const buf = this.mmioBuf;
    if (kind === 0) {
      const l = x[2 * rt]!, h = x[2 * rt + 1]!;
      buf[0] = l; buf[1] = l >>> 8; buf[2] = l >>> 16; buf[3] = l >>> 24;
      buf[4] = h; buf[5] = h >>> 8; buf[6] = h >>> 16; buf[7] = h >>> 24;
    } else buf.fill(0);
    this.mmioPending = rt | (kind << 5) | (lg << 8);
    return { kind: 'mmio', isWrite: kind === 0, address, size: size as Size, data: this.mmioViews[lg]! };
  }

  /** Completes the MMIO access run() returned: a load takes the caller's data; then PC moves on. */
  protected completeMmio(): void {
    const p = this.mmioPending;
    this.mmioPending = -1;
    const rt = p & 31, kind = (p >>> 5) & 3, size = 1 << (p >>> 8);
    if (kind !== 0 && rt !== 31) {
      const b = this.mmioBuf;
      let lo = (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24));
      let hi = (b[4]! | (b[5]! << 8) | (b[6]! << 16) | (b[7]! << 24));
      if (size < 8) {
        hi = 0;
        if (size < 4) {
          const sh = 32 - 8 * size;
          lo = kind === 1 ? (lo << sh) >>> sh : (lo << sh) >> sh;
        }
        if (kind === 2) hi = lo >> 31;
      }
      this.x[2 * rt] = lo | 0;
      this.x[2 * rt + 1] = hi;
    }
    this.pc += 4;
  }

  /** Load/store register: unsigned offset, unscaled, pre/post-index, unprivileged, register offset, atomics. */
  private ldstReg(i: number, pc: number): A64Exit | null {
    const x = this.x;
    const size = i >>> 30, opc = (i >>> 22) & 3, rt = i & 31, rn = (i >>> 5) & 31;
    if ((i & (1 << 26)) !== 0) return this.ldstFp(i, pc);
    const bn = rn === 31 ? 64 : 2 * rn;
    let kind: number;
    let prfm = false;
    switch (opc) {
      case 0: kind = 0; break;
      case 1: kind = 1; break;
      case 2:
        if (size === 3) { prfm = true; kind = 1; } else kind = 2;
        break;
      default:
        if (size >= 2) return this.undef(pc);
        kind = 3;
    }
    const bytes = 1 << size;
    if ((i & (1 << 24)) !== 0) { // unsigned offset
      if (prfm) return null;
      const lo = this.addOff(x[bn]!, x[bn + 1]!, ((i >>> 10) & 0xfff) << size);
      return this.accessGpr(rt, lo, this.rhi, bytes, kind, true, pc);
    }
    if ((i & (1 << 21)) !== 0) {
      const op4 = (i >>> 10) & 3;
      if (op4 === 0) return this.atomic(i, pc);
      if (op4 !== 2) return this.undef(pc);
      const option = (i >>> 13) & 7;
      if ((option & 2) === 0) return this.undef(pc);
      if (prfm) return null;
      const olo = this.extend((i >>> 16) & 31, option, (i & (1 << 12)) !== 0 ? size : 0), ohi = this.rhi;
      const lo = this.add64(x[bn]!, x[bn + 1]!, olo, ohi, 0, false);
      return this.accessGpr(rt, lo, this.rhi, bytes, kind, true, pc);
    }
    const imm9 = (i << 11) >> 23;
    const mode = (i >>> 10) & 3;
    if (mode === 0 || mode === 2) { // LDUR/STUR/PRFUM, LDTR/STTR
      if (prfm) return mode === 0 ? null : this.undef(pc);
      const lo = this.addOff(x[bn]!, x[bn + 1]!, imm9);
      return this.accessGpr(rt, lo, this.rhi, bytes, kind, true, pc);
    }
    if (prfm) return this.undef(pc);
    const blo = x[bn]!, bhi = x[bn + 1]!;
    const wlo = this.addOff(blo, bhi, imm9), whi = this.rhi;
    const r = mode === 1 ? this.accessGpr(rt, blo, bhi, bytes, kind, false, pc) : this.accessGpr(rt, wlo, whi, bytes, kind, false, pc);
    if (r !== null) return r;
    x[bn] = wlo; x[bn + 1] = whi;
    return null;
  }

  /** Xm extended by `option` (UXTB..SXTX) and shifted left by `shift`. */
  protected extend(rm: number, option: number, shift: number): number {
    let lo = this.x[2 * rm]!, hi = this.x[2 * rm + 1]!;
    switch (option) {
      case 0: lo &= 0xff; hi = 0; break;
      case 1: lo &= 0xffff; hi = 0; break;
      case 2: hi = 0; break;
      case 3: break;
      case 4: lo = (lo << 24) >> 24; hi = lo >> 31; break;
      case 5: lo = (lo << 16) >> 16; hi = lo >> 31; break;
      case 6: hi = lo >> 31; break;
      default: break;
    }
    return this.lsl64(lo, hi, shift);
  }

  private literal(i: number, pc: number): A64Exit | null {
    const opc = i >>> 30, rt = i & 31;
    const a = pc + ((i << 8) >> 13) * 4;
    const lo = a | 0, hi = Math.floor(a / TWO32) | 0;
    if ((i & (1 << 26)) !== 0) {
      if (opc === 3) return this.undef(pc);
      if (!this.fpCheck(pc)) return EXC;
      return this.accessFp(rt, lo, hi, 4 << opc, true, pc);
    }
    switch (opc) {
      case 0: return this.accessGpr(rt, lo, hi, 4, 1, true, pc);
      case 1: return this.accessGpr(rt, lo, hi, 8, 1, true, pc);
      case 2: return this.accessGpr(rt, lo, hi, 4, 2, true, pc);
      default: return null; // PRFM (literal)
    }
  }

  private pair(i: number, pc: number): A64Exit | null {
    const x = this.x;
    const opc = i >>> 30, v = (i & (1 << 26)) !== 0, load = (i & (1 << 22)) !== 0, mode = (i >>> 23) & 3;
    const rt = i & 31, rn = (i >>> 5) & 31, rt2 = (i >>> 10) & 31;
    let bytes: number, kind: number;
    if (v) {
      if (opc === 3) return this.undef(pc);
      if (!this.fpCheck(pc)) return EXC;
      bytes = 4 << opc; kind = load ? 1 : 0;
    } else if (opc === 0) { bytes = 4; kind = load ? 1 : 0; }
    else if (opc === 2) { bytes = 8; kind = load ? 1 : 0; }
    else if (opc === 1 && load) { bytes = 4; kind = 2; }
    else return this.undef(pc);
    if (mode === 0 && kind === 2) return this.undef(pc);
    const bn = rn === 31 ? 64 : 2 * rn;
    const blo = x[bn]!, bhi = x[bn + 1]!;
    const off = ((i << 10) >> 25) * bytes;
    const wlo = this.addOff(blo, bhi, off), whi = this.rhi;
    const alo = mode === 1 ? blo : wlo, ahi = mode === 1 ? bhi : whi;
    const o = this.ramOffset(alo, ahi, 2 * bytes, !load);
    if (o < 0) {
      if (o === -2) return this.addressSizeFault(pc, alo, ahi, !load);
      this.pc = pc;
      return { kind: 'mmio-nisv', address: (ahi >>> 0) * TWO32 + (alo >>> 0), isWrite: !load };
    }
    const dv = this.dDv;
    if (v) {
      this.fpMem(dv, o, rt, bytes, load);
      this.fpMem(dv, o + bytes, rt2, bytes, load);
    } else if (!load) {
      dv.setInt32(o, x[2 * rt]!, true);
      if (bytes === 8) {
        dv.setInt32(o + 4, x[2 * rt + 1]!, true);
        dv.setInt32(o + 8, x[2 * rt2]!, true);
        dv.setInt32(o + 12, x[2 * rt2 + 1]!, true);
      } else dv.setInt32(o + 4, x[2 * rt2]!, true);
    } else if (bytes === 8) {
      this.wx(rt, dv.getInt32(o, true), dv.getInt32(o + 4, true));
      this.wx(rt2, dv.getInt32(o + 8, true), dv.getInt32(o + 12, true));
    } else {
      const a = dv.getInt32(o, true), b = dv.getInt32(o + 4, true);
      this.wx(rt, a, kind === 2 ? a >> 31 : 0);
      this.wx(rt2, b, kind === 2 ? b >> 31 : 0);
    }
    if (mode === 1 || mode === 3) { x[bn] = wlo; x[bn + 1] = whi; }
    return null;
  }

  /** Exclusives, load-acquire/store-release, compare-and-swap. */
  private exclusive(i: number, pc: number): A64Exit | null {
    const x = this.x;
    const size = i >>> 30, o2 = (i >>> 23) & 1, load = (i >>> 22) & 1, o1 = (i >>> 21) & 1;
    const rs = (i >>> 16) & 31, rt2 = (i >>> 10) & 31, rn = (i >>> 5) & 31, rt = i & 31;
    const bn = rn === 31 ? 64 : 2 * rn;
    const lo = x[bn]!, hi = x[bn + 1]!;
    const bytes = 1 << size;
    if (o2 === 1) {
      if (o1 === 0) return this.accessGpr(rt, lo, hi, bytes, load, true, pc); // LDAR/STLR, LDLAR/STLLR
      if (rt2 !== 31) return this.undef(pc);
      return this.cas(rs, rt, lo, hi, bytes, pc);
    }
    if (o1 === 1 && size < 2) return this.casp(i, lo, hi, pc);
    const n = o1 === 1 ? 2 : 1; // pairs: LDXP/STXP
    const total = n * bytes;
    const address = (hi >>> 0) * TWO32 + (lo >>> 0);
    if (load === 1) {
      const off = this.ramOffset(lo, hi, total, false);
      if (off < 0) {
        if (off === -2) return this.addressSizeFault(pc, lo, hi, false);
        this.pc = pc;
        return { kind: 'mmio-nisv', address, isWrite: false };
      }
      this.monValid = true; this.monAddr = address; this.monSize = total;
      if (n === 2) {
        const r = this.accessGpr(rt, lo, hi, bytes, 1, false, pc);
        const lo2 = this.addOff(lo, hi, bytes);
        return r ?? this.accessGpr(rt2, lo2, this.rhi, bytes, 1, false, pc);
      }
      return this.accessGpr(rt, lo, hi, bytes, 1, false, pc);
    }
    // STXR/STLXR/STXP: Ws = 0 on success, 1 on failure.
    const off = this.ramOffset(lo, hi, total, true);
    if (off < 0) {
      if (off === -2) return this.addressSizeFault(pc, lo, hi, true);
      this.pc = pc;
      return { kind: 'mmio-nisv', address, isWrite: true };
    }
    const ok = this.monValid && this.monAddr === address && this.monSize === total;
    this.monValid = false;
    if (ok) {
      this.accessGpr(rt, lo, hi, bytes, 0, false, pc);
      if (n === 2) {
        const lo2 = this.addOff(lo, hi, bytes);
        this.accessGpr(rt2, lo2, this.rhi, bytes, 0, false, pc);
      }
    }
    this.wx(rs, ok ? 0 : 1, 0);
    return null;
  }

  /** The `bytes`-sized value at offset `off` of the data region, zero-extended (high word in rhi). */
  private memRead(off: number, bytes: number): number {
    const dv = this.dDv;
    this.rhi = 0;
    switch (bytes) {
      case 1: return dv.getUint8(off);
      case 2: return dv.getUint16(off, true);
      case 4: return dv.getInt32(off, true);
      default: this.rhi = dv.getInt32(off + 4, true); return dv.getInt32(off, true);
    }
  }

  private memWrite(off: number, bytes: number, lo: number, hi: number): void {
    const dv = this.dDv;
    switch (bytes) {
      case 1: dv.setUint8(off, lo); break;
      case 2: dv.setUint16(off, lo, true); break;
      case 4: dv.setInt32(off, lo, true); break;
      default: dv.setInt32(off, lo, true); dv.setInt32(off + 4, hi, true);
    }
  }

  private cas(rs: number, rt: number, lo: number, hi: number, bytes: number, pc: number): A64Exit | null {
    const off = this.ramOffset(lo, hi, bytes, true);
    if (off < 0) {
      if (off === -2) return this.addressSizeFault(pc, lo, hi, true);
      this.pc = pc;
      return { kind: 'mmio-nisv', address: (hi >>> 0) * TWO32 + (lo >>> 0), isWrite: true };
    }
    const x = this.x;
    const ol = this.memRead(off, bytes), oh = this.rhi;
    const mask = bytes === 8 ? -1 : bytes === 4 ? -1 : (1 << (8 * bytes)) - 1;
    const cl = x[2 * rs]! & mask, ch = bytes === 8 ? x[2 * rs + 1]! : 0;
    if ((ol | 0) === (cl | 0) && oh === ch) this.memWrite(off, bytes, x[2 * rt]!, x[2 * rt + 1]!);
    this.wx(rs, ol, oh);
    return null;
  }

  /** CASP/CASPA/CASPL/CASPAL: compare (Rs, Rs+1) with the pair in memory; if equal store (Rt, Rt+1); Rs, Rs+1 = old. */
  private casp(i: number, lo: number, hi: number, pc: number): A64Exit | null {
    const rs = (i >>> 16) & 31, rt = i & 31, eb = (i & (1 << 30)) !== 0 ? 8 : 4;
    if (((i >>> 10) & 31) !== 31 || (rs & 1) !== 0 || (rt & 1) !== 0) return this.undef(pc);
    const off = this.ramOffset(lo, hi, 2 * eb, true);
    if (off < 0) {
      if (off === -2) return this.addressSizeFault(pc, lo, hi, true);
      this.pc = pc;
      return { kind: 'mmio-nisv', address: (hi >>> 0) * TWO32 + (lo >>> 0), isWrite: true };
    }
    const x = this.x;
    const al = this.memRead(off, eb), ah = this.rhi;
    const bl = this.memRead(off + eb, eb), bh = this.rhi;
    const s1 = 2 * rs, s2 = 2 * rs + 2;
    const c1h = eb === 8 ? x[s1 + 1]! : 0, c2h = eb === 8 ? x[s2 + 1]! : 0;
    if (al === x[s1] && ah === c1h && bl === x[s2] && bh === c2h) {
      this.memWrite(off, eb, x[2 * rt]!, x[2 * rt + 1]!);
      this.memWrite(off + eb, eb, x[2 * rt + 2]!, x[2 * rt + 3]!);
    }
    this.wx(rs, al, ah);
    this.wx(rs + 1, bl, bh);
    return null;
  }

  /** LSE atomic memory operations (LDADD, LDCLR, LDEOR, LDSET, LD{S,U}{MAX,MIN}, SWP) and LDAPR. */
  private atomic(i: number, pc: number): A64Exit | null {
    const x = this.x;
    const size = i >>> 30, rs = (i >>> 16) & 31, o3 = (i >>> 15) & 1, opc = (i >>> 12) & 7;
    const rn = (i >>> 5) & 31, rt = i & 31, bytes = 1 << size;
    const bn = rn === 31 ? 64 : 2 * rn;
    const lo = x[bn]!, hi = x[bn + 1]!;
    if (o3 === 1) {
      if (opc === 4 && rs === 31 && (i & (3 << 22)) === 1 << 23) return this.accessGpr(rt, lo, hi, bytes, 1, true, pc); // LDAPR
      if (opc !== 0) return this.undef(pc);
    }
    const off = this.ramOffset(lo, hi, bytes, true);
    if (off < 0) {
      if (off === -2) return this.addressSizeFault(pc, lo, hi, true);
      this.pc = pc;
      return { kind: 'mmio-nisv', address: (hi >>> 0) * TWO32 + (lo >>> 0), isWrite: true };
    }
    const ol = this.memRead(off, bytes), oh = this.rhi;
    const sl = x[2 * rs]!, sh = x[2 * rs + 1]!;
    let nl: number, nh: number;
    if (o3 === 1) { nl = sl; nh = sh; } // SWP
    else {
      switch (opc) {
        case 0: nl = this.add64(ol, oh, sl, sh, 0, false); nh = this.rhi; break;
        case 1: nl = ol & ~sl; nh = oh & ~sh; break;
        case 2: nl = ol ^ sl; nh = oh ^ sh; break;
        case 3: nl = ol | sl; nh = oh | sh; break;
        default: {
          // Compare as signed (4, 5) or unsigned (6, 7) values of the access size.
          let a1: number, a0: number, b1: number, b0: number;
          if (bytes === 8) { a1 = oh; a0 = ol >>> 0; b1 = sh; b0 = sl >>> 0; }
          else {
            const sft = 32 - 8 * bytes;
            a1 = 0; b1 = 0;
            a0 = opc < 6 ? (ol << sft) >> sft : (ol << sft) >>> sft;
            b0 = opc < 6 ? (sl << sft) >> sft : (sl << sft) >>> sft;
          }
          if (opc >= 6) { a1 >>>= 0; b1 >>>= 0; }
          const aGreater = a1 !== b1 ? a1 > b1 : a0 > b0;
          const takeOld = (opc & 1) === 0 ? aGreater || (a1 === b1 && a0 === b0) : !aGreater;
          nl = takeOld ? ol : sl; nh = takeOld ? oh : sh;
        }
      }
    }
    this.memWrite(off, bytes, nl, nh);
    this.wx(rt, ol, oh);
    return null;
  }

  // ---- SIMD&FP loads and stores -------------------------------------------------------------------------

  /** Moves `bytes` (1..16) between V[t] and the data region at `off`; loads zero the rest of V[t]. */
  protected fpMem(dv: DataView, off: number, t: number, bytes: number, load: boolean): void {
    const v = this.v, b = 4 * t;
    if (load) {
      switch (bytes) {
        case 1: v[b] = dv.getUint8(off); v[b + 1] = 0; v[b + 2] = 0; v[b + 3] = 0; break;
        case 2: v[b] = dv.getUint16(off, true); v[b + 1] = 0; v[b + 2] = 0; v[b + 3] = 0; break;
        case 4: v[b] = dv.getInt32(off, true); v[b + 1] = 0; v[b + 2] = 0; v[b + 3] = 0; break;
        case 8: v[b] = dv.getInt32(off, true); v[b + 1] = dv.getInt32(off + 4, true); v[b + 2] = 0; v[b + 3] = 0; break;
        default:
          v[b] = dv.getInt32(off, true); v[b + 1] = dv.getInt32(off + 4, true);
          v[b + 2] = dv.getInt32(off + 8, true); v[b + 3] = dv.getInt32(off + 12, true);
      }
    } else {
      switch (bytes) {
        case 1: dv.setUint8(off, v[b]!); break;
        case 2: dv.setUint16(off, v[b]!, true); break;
        case 4: dv.setInt32(off, v[b]!, true); break;
        case 8: dv.setInt32(off, v[b]!, true); dv.setInt32(off + 4, v[b + 1]!, true); break;
        default:
          dv.setInt32(off, v[b]!, true); dv.setInt32(off + 4, v[b + 1]!, true);
          dv.setInt32(off + 8, v[b + 2]!, true); dv.setInt32(off + 12, v[b + 3]!, true);
      }
    }
  }

  /** A SIMD&FP register load/store of `bytes`: RAM, or mmio-nisv (no ISV for SIMD&FP registers). */
  protected accessFp(t: number, lo: number, hi: number, bytes: number, load: boolean, pc: number): A64Exit | null {
    const off = this.ramOffset(lo, hi, bytes, !load);
    if (off >= 0) { this.fpMem(this.dDv, off, t, bytes, load); return null; }
    if (off === -2) return this.addressSizeFault(pc, lo, hi, !load);
    this.pc = pc;
    return { kind: 'mmio-nisv', address: (hi >>> 0) * TWO32 + (lo >>> 0), isWrite: !load };
  }

  private ldstFp(i: number, pc: number): A64Exit | null {
    const x = this.x;
    const size = i >>> 30, opc = (i >>> 22) & 3, rt = i & 31, rn = (i >>> 5) & 31;
    let lg: number;
    if ((opc & 2) !== 0) {
      if (size !== 0) return this.undef(pc);
      lg = 4;
    } else lg = size;
    if (!this.fpCheck(pc)) return EXC;
    const load = (opc & 1) !== 0, bytes = 1 << lg;
    const bn = rn === 31 ? 64 : 2 * rn;
    if ((i & (1 << 24)) !== 0) {
      const lo = this.addOff(x[bn]!, x[bn + 1]!, ((i >>> 10) & 0xfff) << lg);
      return this.accessFp(rt, lo, this.rhi, bytes, load, pc);
    }
    if ((i & (1 << 21)) !== 0) {
      const option = (i >>> 13) & 7;
      if (((i >>> 10) & 3) !== 2 || (option & 2) === 0) return this.undef(pc);
      const olo = this.extend((i >>> 16) & 31, option, (i & (1 << 12)) !== 0 ? lg : 0), ohi = this.rhi;
      const lo = this.add64(x[bn]!, x[bn + 1]!, olo, ohi, 0, false);
      return this.accessFp(rt, lo, this.rhi, bytes, load, pc);
    }
    const imm9 = (i << 11) >> 23, mode = (i >>> 10) & 3;
    if (mode === 2) return this.undef(pc);
    const blo = x[bn]!, bhi = x[bn + 1]!;
    const wlo = this.addOff(blo, bhi, imm9), whi = this.rhi;
    if (mode === 0) return this.accessFp(rt, wlo, whi, bytes, load, pc);
    const r = mode === 1 ? this.accessFp(rt, blo, bhi, bytes, load, pc) : this.accessFp(rt, wlo, whi, bytes, load, pc);
    if (r !== null) return r;
    x[bn] = wlo; x[bn + 1] = whi;
    return null;
  }

  // ---- data processing, register --------------------------------------------------------------------------

  /** Xm (or Wm) shifted by type 0 LSL, 1 LSR, 2 ASR, 3 ROR. */
  private shifted(rm: number, type: number, amt: number, sf: boolean): number {
    const lo = this.x[2 * rm]!;
    if (sf) {
      const hi = this.x[2 * rm + 1]!;
      switch (type) {
        case 0: return this.lsl64(lo, hi, amt);
        case 1: return this.lsr64(lo, hi, amt);
        case 2: return this.asr64(lo, hi, amt);
        default: return this.ror64(lo, hi, amt);
      }
    }
    this.rhi = 0;
    if (amt === 0) return lo;
    switch (type) {
      case 0: return lo << amt;
      case 1: return (lo >>> amt) | 0;
      case 2: return lo >> amt;
      default: return (lo >>> amt) | (lo << (32 - amt));
    }
  }

  private dpReg(i: number, pc: number): A64Exit | null {
    if ((i & (1 << 28)) !== 0) return this.dpRegMisc(i, pc);
    return (i & (1 << 24)) === 0 ? this.logicalReg(i, pc) : this.addSubReg(i, pc);
  }

  /** AND, BIC, ORR, ORN, EOR, EON, ANDS, BICS (shifted register). */
  private logicalReg(i: number, pc: number): A64Exit | null {
    const x = this.x;
    const sf = i < 0, rd = i & 31, rn = (i >>> 5) & 31, rm = (i >>> 16) & 31;
    const amt = (i >>> 10) & 63;
    if (!sf && amt >= 32) return this.undef(pc);
    let bl: number, bh: number;
    if (amt === 0) { bl = x[2 * rm]!; bh = sf ? x[2 * rm + 1]! : 0; } else { bl = this.shifted(rm, (i >>> 22) & 3, amt, sf); bh = this.rhi; }
    if ((i & (1 << 21)) !== 0) { bl = ~bl; bh = sf ? ~bh : 0; }
    const al = x[2 * rn]!, ah = sf ? x[2 * rn + 1]! : 0;
    let lo: number, hi: number;
    switch ((i >>> 29) & 3) {
      case 0: lo = al & bl; hi = ah & bh; break;
      case 1: lo = al | bl; hi = ah | bh; break;
      case 2: lo = al ^ bl; hi = ah ^ bh; break;
      default:
        lo = al & bl; hi = ah & bh;
        this.nf = (sf ? hi : lo) >>> 31; this.zf = (lo | hi) === 0 ? 1 : 0; this.cf = 0; this.vf = 0;
    }
    if (rd !== 31) { x[2 * rd] = lo; x[2 * rd + 1] = hi; }
    return null;
  }

  /** ADD, ADDS, SUB, SUBS (shifted and extended register). */
  private addSubReg(i: number, pc: number): A64Exit | null {
    const x = this.x;
    const sf = i < 0, rd = i & 31, rn = (i >>> 5) & 31, rm = (i >>> 16) & 31;
    const sub = (i & (1 << 30)) !== 0, setf = (i & (1 << 29)) !== 0;
    let bl: number, bh: number, al: number, ah: number, d: number;
    if ((i & (1 << 21)) === 0) { // shifted register
      const type = (i >>> 22) & 3, amt = (i >>> 10) & 63;
      if (type === 3 || (!sf && amt >= 32)) return this.undef(pc);
      if (amt === 0) { bl = x[2 * rm]!; bh = x[2 * rm + 1]!; } else { bl = this.shifted(rm, type, amt, sf); bh = this.rhi; }
      al = x[2 * rn]!; ah = x[2 * rn + 1]!;
      d = rd;
    } else { // extended register
      const amt = (i >>> 10) & 7;
      if ((i & (3 << 22)) !== 0 || amt > 4) return this.undef(pc);
      bl = this.extend(rm, (i >>> 13) & 7, amt); bh = this.rhi;
      const n = rn === 31 ? 64 : 2 * rn;
      al = x[n]!; ah = x[n + 1]!;
      d = setf || rd !== 31 ? rd : 32;
    }
    if (sf) {
      const lo = sub ? this.add64(al, ah, ~bl, ~bh, 1, setf) : this.add64(al, ah, bl, bh, 0, setf);
      if (d !== 31) { x[2 * d] = lo; x[2 * d + 1] = this.rhi; }
    } else {
      const r = sub ? this.add32(al, ~bl, 1, setf) : this.add32(al, bl, 0, setf);
      if (d !== 31) { x[2 * d] = r; x[2 * d + 1] = 0; }
    }
    return null;
  }

  /** ADC/SBC, CCMP/CCMN, CSEL family, 1- and 2-source, 3-source. */
  private dpRegMisc(i: number, pc: number): A64Exit | null {
    const x = this.x;
    const sf = i < 0, rd = i & 31, rn = (i >>> 5) & 31, rm = (i >>> 16) & 31;
    switch ((i >>> 21) & 15) {
      case 0: { // ADC/ADCS/SBC/SBCS
        if ((i & 0xfc00) !== 0) return this.undef(pc);
        const sub = (i & (1 << 30)) !== 0, setf = (i & (1 << 29)) !== 0;
        let bl = x[2 * rm]!, bh = x[2 * rm + 1]!;
        if (sub) { bl = ~bl; bh = ~bh; }
        if (sf) {
          const lo = this.add64(x[2 * rn]!, x[2 * rn + 1]!, bl, bh, this.cf, setf);
          this.wx(rd, lo, this.rhi);
        } else this.wx(rd, this.add32(x[2 * rn]!, bl, this.cf, setf), 0);
        return null;
      }
      case 2: { // CCMN/CCMP (register, immediate)
        if ((i & (1 << 29)) === 0 || (i & 0x410) !== 0) return this.undef(pc);
        if (this.cond((i >>> 12) & 15)) {
          let bl: number, bh: number;
          if ((i & (1 << 11)) !== 0) { bl = rm; bh = 0; } else { bl = x[2 * rm]!; bh = sf ? x[2 * rm + 1]! : 0; }
          const sub = (i & (1 << 30)) !== 0;
          if (sub) { bl = ~bl; bh = ~bh; }
          if (sf) this.add64(x[2 * rn]!, x[2 * rn + 1]!, bl, bh, sub ? 1 : 0, true);
          else this.add32(x[2 * rn]!, bl, sub ? 1 : 0, true);
        } else {
          this.nf = (i >>> 3) & 1; this.zf = (i >>> 2) & 1; this.cf = (i >>> 1) & 1; this.vf = i & 1;
        }
        return null;
      }
      case 4: { // CSEL/CSINC/CSINV/CSNEG
        if ((i & (1 << 29)) !== 0 || (i & 0x800) !== 0) return this.undef(pc);
        if (this.cond((i >>> 12) & 15)) {
          this.wx(rd, x[2 * rn]!, sf ? x[2 * rn + 1]! : 0);
          return null;
        }
        let lo = x[2 * rm]!, hi = sf ? x[2 * rm + 1]! : 0;
        const inv = (i & (1 << 30)) !== 0, inc = (i & (1 << 10)) !== 0;
        if (inv) { lo = ~lo; hi = sf ? ~hi : 0; }
        if (inc) {
          if (sf) { lo = this.add64(lo, hi, 1, 0, 0, false); hi = this.rhi; } else lo = (lo + 1) | 0;
        }
        this.wx(rd, lo, hi);
        return null;
      }
      case 6:
        return (i & (1 << 30)) !== 0 ? this.dp1(i, pc) : this.dp2(i, pc);
      default:
        if ((i & (1 << 24)) !== 0) return this.dp3(i, pc);
        return this.undef(pc);
    }
  }

  /** RBIT, REV16, REV32, REV, CLZ, CLS. */
  private dp1(i: number, pc: number): A64Exit | null {
    const x = this.x;
    const sf = i < 0, rd = i & 31, rn = (i >>> 5) & 31, op = (i >>> 10) & 63;
    if (((i >>> 16) & 31) !== 0 || (i & (1 << 29)) !== 0) return this.undef(pc);
    const lo = x[2 * rn]!, hi = x[2 * rn + 1]!;
    switch (op) {
      case 0: // RBIT
        if (sf) this.wx(rd, rbit32(hi), rbit32(lo)); else this.wx(rd, rbit32(lo), 0);
        return null;
      case 1: // REV16
        this.wx(rd, rev16(lo), sf ? rev16(hi) : 0);
        return null;
      case 2: // REV32 (64-bit) / REV (32-bit)
        this.wx(rd, bswap(lo), sf ? bswap(hi) : 0);
        return null;
      case 3: // REV (64-bit)
        if (!sf) return this.undef(pc);
        this.wx(rd, bswap(hi), bswap(lo));
        return null;
      case 4: // CLZ
        this.wx(rd, sf ? (hi !== 0 ? Math.clz32(hi) : 32 + Math.clz32(lo)) : Math.clz32(lo), 0);
        return null;
      case 5: { // CLS
        let r: number;
        if (sf) {
          const s = hi >> 31;
          const h = hi ^ s;
          r = h !== 0 ? Math.clz32(h) - 1 : 31 + Math.clz32(lo ^ s);
        } else r = Math.clz32(lo ^ (lo >> 31)) - 1;
        this.wx(rd, r, 0);
        return null;
      }
      default: return this.undef(pc);
    }
  }

  /** UDIV, SDIV, LSLV, LSRV, ASRV, RORV. */
  private dp2(i: number, pc: number): A64Exit | null {
    const x = this.x;
    const sf = i < 0, rd = i & 31, rn = (i >>> 5) & 31, rm = (i >>> 16) & 31, op = (i >>> 10) & 63;
    if ((i & (1 << 29)) !== 0) return this.undef(pc);
    const al = x[2 * rn]!, ah = x[2 * rn + 1]!, bl = x[2 * rm]!, bh = x[2 * rm + 1]!;
    if (op >= 8 && op <= 11) {
      if (sf) {
        const s = bl & 63;
        let lo: number;
        switch (op) {
          case 8: lo = this.lsl64(al, ah, s); break;
          case 9: lo = this.lsr64(al, ah, s); break;
          case 10: lo = this.asr64(al, ah, s); break;
          default: lo = this.ror64(al, ah, s);
        }
        this.wx(rd, lo, this.rhi);
      } else {
        const s = bl & 31;
        let r: number;
        switch (op) {
          case 8: r = al << s; break;
          case 9: r = al >>> s; break;
          case 10: r = al >> s; break;
          default: r = s === 0 ? al : (al >>> s) | (al << (32 - s));
        }
        this.wx(rd, r | 0, 0);
      }
      return null;
    }
    if (op === 2 || op === 3) {
      const signed = op === 3;
      if (!sf) {
        if (bl === 0) { this.wx(rd, 0, 0); return null; }
        const q = signed ? (bl === -1 ? -al : Math.trunc(al / bl)) : Math.floor((al >>> 0) / (bl >>> 0));
        this.wx(rd, q | 0, 0);
        return null;
      }
      if ((bl | bh) === 0) { this.wx(rd, 0, 0); return null; }
      if (!signed && ah === 0 && bh === 0) {
        this.wx(rd, Math.floor((al >>> 0) / (bl >>> 0)) | 0, 0);
        return null;
      }
      if (signed && ah === al >> 31 && bh === bl >> 31 && !(al === -0x80000000 && bl === -1)) {
        const q = Math.trunc(al / bl);
        this.wx(rd, q | 0, q < 0 ? -1 : 0);
        return null;
      }
      const a = loHiToBig(al, ah), b = loHiToBig(bl, bh);
      const q = signed ? BigInt.asUintN(64, BigInt.asIntN(64, a) / BigInt.asIntN(64, b)) : a / b;
      this.wx(rd, Number(BigInt.asIntN(32, q)), Number(BigInt.asIntN(32, q >> 32n)));
      return null;
    }
    return this.undef(pc);
  }

  /** MADD, MSUB, SMADDL, SMSUBL, UMADDL, UMSUBL, SMULH, UMULH. */
  private dp3(i: number, pc: number): A64Exit | null {
    const x = this.x;
    const sf = i < 0, rd = i & 31, rn = (i >>> 5) & 31, rm = (i >>> 16) & 31, ra = (i >>> 10) & 31;
    const op31 = (i >>> 21) & 7, o0 = (i >>> 15) & 1;
    if ((i & (3 << 29)) !== 0) return this.undef(pc);
    const nl = x[2 * rn]!, nh = x[2 * rn + 1]!, ml = x[2 * rm]!, mh = x[2 * rm + 1]!;
    switch (op31) {
      case 0: { // MADD/MSUB
        if (!sf) {
          const p = Math.imul(nl, ml);
          this.wx(rd, (o0 ? x[2 * ra]! - p : x[2 * ra]! + p) | 0, 0);
          return null;
        }
        let pl = this.mul64(nl, nh, ml, mh), ph = this.rhi;
        let cin = 0;
        if (o0) { pl = ~pl; ph = ~ph; cin = 1; }
        const lo = this.add64(x[2 * ra]!, x[2 * ra + 1]!, pl, ph, cin, false);
        this.wx(rd, lo, this.rhi);
        return null;
      }
      case 1: case 5: { // SMADDL/SMSUBL, UMADDL/UMSUBL
        if (!sf) return this.undef(pc);
        let pl = Math.imul(nl, ml), ph = umulhi32(nl, ml);
        if (op31 === 1) ph = (ph - (nl < 0 ? ml : 0) - (ml < 0 ? nl : 0)) | 0;
        let cin = 0;
        if (o0) { pl = ~pl; ph = ~ph; cin = 1; }
        const lo = this.add64(x[2 * ra]!, x[2 * ra + 1]!, pl, ph, cin, false);
        this.wx(rd, lo, this.rhi);
        return null;
      }
      case 2: case 6: { // SMULH, UMULH
        if (!sf || o0 !== 0) return this.undef(pc);
        this.umul128(nl, nh, ml, mh);
        let hl = this.w4[2]!, hh = this.w4[3]!;
        if (op31 === 2) {
          if (nh < 0) { hl = this.add64(hl, hh, ~ml, ~mh, 1, false); hh = this.rhi; }
          if (mh < 0) { hl = this.add64(hl, hh, ~nl, ~nh, 1, false); hh = this.rhi; }
        }
        this.wx(rd, hl, hh);
        return null;
      }
      default: return this.undef(pc);
    }
  }

  // ---- SIMD&FP data processing (the moves compilers emit around memcpy/memset) ---------------------------

  private simd(i: number, pc: number): A64Exit | null {
    const x = this.x, v = this.v;
    const rd = i & 31, rn = (i >>> 5) & 31;
    // FMOV (general): between W/X and S/D/V.D[1].
    if ((i & 0x7f20fc00) === 0x1e200000) {
      const sf = i < 0, type = (i >>> 22) & 3, rmode = (i >>> 19) & 3, opcode = (i >>> 16) & 7;
      if (rmode === 0 && (opcode === 6 || opcode === 7) && ((!sf && type === 0) || (sf && type === 1))) {
        if (!this.fpCheck(pc)) return EXC;
        if (opcode === 6) this.wx(rd, v[4 * rn]!, sf ? v[4 * rn + 1]! : 0); // FMOV Wd, Sn / Xd, Dn
        else {
          const b = 4 * rd;
          v[b] = x[2 * rn]!; v[b + 1] = sf ? x[2 * rn + 1]! : 0; v[b + 2] = 0; v[b + 3] = 0;
        }
        return null;
      }
      if (sf && type === 2 && rmode === 1 && (opcode === 6 || opcode === 7)) {
        if (!this.fpCheck(pc)) return EXC;
        if (opcode === 6) this.wx(rd, v[4 * rn + 2]!, v[4 * rn + 3]!); // FMOV Xd, Vn.D[1]
        else { v[4 * rd + 2] = x[2 * rn]!; v[4 * rd + 3] = x[2 * rn + 1]!; }
        return null;
      }
      return this.undef(pc);
    }
    if ((i & 0x9ff80400) === 0x0f000400) return this.simdModImm(i, pc);
    const q = (i >>> 30) & 1;
    // Vector logical (three registers same): AND, BIC, ORR, ORN, EOR, BSL, BIT, BIF.
    if ((i & 0x9f20fc00) === 0x0e201c00) {
      if (!this.fpCheck(pc)) return EXC;
      const rm = (i >>> 16) & 31, op = ((i >>> 27) & 4) | ((i >>> 22) & 3);
      const words = q ? 4 : 2;
      for (let k = 0; k < words; k++) {
        const a = v[4 * rn + k]!, b = v[4 * rm + k]!, d = v[4 * rd + k]!;
        let r: number;
        switch (op) {
          case 0: r = a & b; break;
          case 1: r = a & ~b; break;
          case 2: r = a | b; break;
          case 3: r = a | ~b; break;
          case 4: r = a ^ b; break;
          case 5: r = (d & a) | (~d & b); break; // BSL
          case 6: r = (b & a) | (~b & d); break; // BIT
          default: r = (~b & a) | (b & d); // BIF
        }
        this.w4[k] = r;
      }
      for (let k = 0; k < 4; k++) v[4 * rd + k] = k < words ? this.w4[k]! : 0;
      return null;
    }
    // DUP (general), INS (general), UMOV/SMOV.
    if ((i & 0x9fe08400) === 0x0e000400) {
      const imm5 = (i >>> 16) & 31, op = (i >>> 29) & 1, imm4 = (i >>> 11) & 15;
      if ((imm5 & 15) === 0 || op !== 0) return this.undef(pc);
      const lg = 31 - Math.clz32(imm5 & -imm5); // element size log2 bytes
      const idx = imm5 >>> (lg + 1);
      if (!this.fpCheck(pc)) return EXC;
      if (imm4 === 1) { // DUP Vd.<T>, Rn
        if (lg === 3 && q === 0) return this.undef(pc);
        const lo = x[2 * rn]!, hi = x[2 * rn + 1]!;
        const pat = lg === 0 ? (lo & 0xff) * 0x01010101 : lg === 1 ? (lo & 0xffff) * 0x10001 : lo;
        for (let k = 0; k < 4; k++) v[4 * rd + k] = k >= 2 && q === 0 ? 0 : lg === 3 && (k & 1) !== 0 ? hi : pat;
        return null;
      }
      if (imm4 === 3 && q === 1) { // INS Vd.<T>[idx], Rn
        this.setLane(rd, lg, idx, x[2 * rn]!, x[2 * rn + 1]!);
        return null;
      }
      if (imm4 === 7 || imm4 === 5) { // UMOV, SMOV
        if (imm4 === 7 && (lg === 3) !== (q === 1)) return this.undef(pc);
        if (imm4 === 5 && (lg >= 2 + q)) return this.undef(pc);
        let lo = this.getLane(rn, lg, idx), hi = lg === 3 ? this.rhi : 0;
        if (imm4 === 5) {
          const sh = 32 - (8 << lg);
          lo = (lo << sh) >> sh;
          hi = q ? lo >> 31 : 0;
          if (!q) lo |= 0;
        }
        this.wx(rd, lo, hi);
        return null;
      }
      return this.undef(pc);
    }
    return this.undef(pc);
  }

  private getLane(r: number, lg: number, idx: number): number {
    const v = this.v;
    if (lg === 3) { this.rhi = v[4 * r + 2 * idx + 1]!; return v[4 * r + 2 * idx]!; }
    const w = v[4 * r + ((idx << lg) >>> 2)]!;
    const sh = ((idx << lg) & 3) * 8;
    this.rhi = 0;
    return lg === 2 ? w : lg === 1 ? (w >>> sh) & 0xffff : (w >>> sh) & 0xff;
  }

  private setLane(r: number, lg: number, idx: number, lo: number, hi: number): void {
    const v = this.v;
    if (lg === 3) { v[4 * r + 2 * idx] = lo; v[4 * r + 2 * idx + 1] = hi; return; }
    const j = 4 * r + ((idx << lg) >>> 2);
    if (lg === 2) { v[j] = lo; return; }
    const sh = ((idx << lg) & 3) * 8, m = (lg === 1 ? 0xffff : 0xff) << sh;
    v[j] = (v[j]! & ~m) | ((lo << sh) & m);
  }

  /** MOVI, MVNI, ORR/BIC (vector, immediate); FMOV (vector, immediate) is not implemented. */
  private simdModImm(i: number, pc: number): A64Exit | null {
    const q = (i >>> 30) & 1, op = (i >>> 29) & 1, cmode = (i >>> 12) & 15, rd = i & 31;
    if ((i & 0x800) !== 0) return this.undef(pc);
    const imm8 = (((i >>> 16) & 7) << 5) | ((i >>> 5) & 31);
    let lo: number, hi: number;
    switch (cmode >>> 1) {
      case 0: case 1: case 2: case 3: lo = hi = imm8 << (8 * (cmode >>> 1)); break;
      case 4: case 5: { const h = imm8 << (8 * ((cmode >>> 1) & 1)); lo = hi = h | (h << 16); break; }
      case 6: lo = hi = (cmode & 1) === 0 ? (imm8 << 8) | 0xff : (imm8 << 16) | 0xffff; break;
      default:
        if ((cmode & 1) !== 0) return this.undef(pc); // FMOV (vector, immediate)
        if (op === 0) { lo = hi = imm8 * 0x01010101; break; }
        lo = 0; hi = 0;
        for (let b = 0; b < 8; b++) {
          if (((imm8 >>> b) & 1) === 0) continue;
          if (b < 4) lo |= 0xff << (8 * b); else hi |= 0xff << (8 * (b - 4));
        }
        break;
    }
    if (!this.fpCheck(pc)) return EXC;
    const v = this.v, b = 4 * rd;
    const shiftedLogical = cmode < 12 && (cmode & 1) === 1;
    const words = q ? 4 : 2;
    for (let k = 0; k < 4; k++) {
      if (k >= words) { v[b + k] = 0; continue; }
      const imm = (k & 1) === 0 ? lo : hi;
      if (shiftedLogical) v[b + k] = op === 0 ? v[b + k]! | imm : v[b + k]! & ~imm; // ORR / BIC
      else v[b + k] = op === 1 && cmode !== 14 ? ~imm : imm; // MOVI / MVNI (cmode 1110 op 1 is MOVI 64-bit)
    }
    return null;
  }
}

function rbit32(v: number): number {
  v = ((v >>> 1) & 0x55555555) | ((v & 0x55555555) << 1);
  v = ((v >>> 2) & 0x33333333) | ((v & 0x33333333) << 2);
  v = ((v >>> 4) & 0x0f0f0f0f) | ((v & 0x0f0f0f0f) << 4);
  return bswap(v);
}

function bswap(v: number): number {
  return ((v >>> 24) | ((v >>> 8) & 0xff00) | ((v << 8) & 0xff0000) | (v << 24)) | 0;
}

function rev16(v: number): number {
  return (((v >>> 8) & 0x00ff00ff) | ((v & 0x00ff00ff) << 8)) | 0;
}

/**
 * Arithmetic, logic, shifts, rotates, multiply, divide and bit operations.
 *
 * Values: 32-bit operands and results are int32; 8/16-bit ones are
 * zero-extended. Size codes: 0 = 32-bit, 1 = 16, 2 = 8.
 *
 * Flags the SDM leaves undefined follow a per-vendor model
 * (undefined-flags.ts, which tabulates both vendors), selected by the vendor
 * of the vCPU's CPUID. The rules below are AMD's (an AMD EPYC, measured
 * natively by test/10-sim-cpu/native/flags-vectors.c), with Intel's (an
 * Intel Xeon, the same way) in brackets where they differ:
 *   - AND/OR/XOR/TEST: AF = 0.
 *   - SHL/SHR/SAR with a non-zero count: AF = 1 [0]; OF for counts > 1
 *     uses the count-1 formula of the last step: SHL: MSB(result) ^ CF;
 *     SHR: bit w-1 ^ bit w-2 of the result; SAR: 0 [of the first step:
 *     SHL: bit w-1 ^ bit w-2 of the operand; SHR: its bit w-1; SAR: 0].
 *     CF is the last bit shifted out (0 once the count exceeds the width).
 *   - ROL/ROR/RCL/RCR: OF by the count-1 formula for every non-zero masked count
 *     [the first step's]; a masked count that is a multiple of the width still
 *     sets CF and OF [but RCL/RCR by a multiple of width + 1 change no flag].
 *   - SHLD/SHRD: AF = 1 [0]; OF as SHL/SHR above [the first step's]; 16-bit
 *     counts 17..31 shift the 48-bit value dst:src:src (SHLD) or src:src:dst
 *     (SHRD) with CF = 0 [dst:src:dst, CF the last bit out]; a 16-bit SHLD by
 *     16 has OF = CF, by 17..31 OF = 0.
 *   - MUL/IMUL: CF = OF = "high half significant"; SF ZF AF PF unchanged
 *     [SF and PF of the low half, ZF = AF = 0].
 *   - DIV/IDIV: CF and OF unchanged, AF = 1, SF = ZF = PF = 0 [all unchanged].
 *   - BSF/BSR: source 0: destination unchanged, ZF = PF = 1, the rest 0;
 *     otherwise ZF = 0, PF = parity of the index, the rest 0. (A family-25
 *     EPYC, on other development hosts, leaves every flag but ZF unchanged
 *     instead; the KVM differential test probes for it. The sim keeps one
 *     AMD model so that its runs are the same on every AMD host.) The
 *     destination of a zero source stays unchanged on Intel CPUs too, for
 *     32-bit operands (Linux's ffs() relies on it, arch/x86/include/asm/bitops.h).
 *   - BT/BTS/BTR/BTC: only CF changes.
 */
import { F_AF, F_CF, F_OF, F_PF, F_SF, F_ZF, V_DE } from './consts.js';
import { CpuFlags, K_ADC, K_ADD, K_DEC, K_INC, K_LOGIC, K_SBB, K_SUB, PARITY } from './flags.js';
import { DEFAULT_UNDEFINED_FLAGS, type UndefinedFlagsModel } from './undefined-flags.js';

/** High 32 bits of the unsigned 64-bit product of two 32-bit values. */
export function mulHiU32(a: number, b: number): number {
  const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
  const t = a0 * b0;
  const m1 = a1 * b0 + (t >>> 16);
  const m2 = a0 * b1 + (m1 % 65536);
  return (a1 * b1 + Math.floor(m1 / 65536) + Math.floor(m2 / 65536)) | 0;
}

/** High 32 bits of the signed 64-bit product. */
export function mulHiS32(a: number, b: number): number {
  return (mulHiU32(a, b) - (a < 0 ? b : 0) - (b < 0 ? a : 0)) | 0;
}

export class CpuAlu extends CpuFlags {
  private ufModel: UndefinedFlagsModel = DEFAULT_UNDEFINED_FLAGS;
  /** The model's values, copied into fields once (setUndefinedFlagsModel): a field read per use. */
  private shiftAf = DEFAULT_UNDEFINED_FLAGS.shiftAf;
  private ofFirstStep = DEFAULT_UNDEFINED_FLAGS.ofFirstStep;
  private refillDst = DEFAULT_UNDEFINED_FLAGS.doubleShiftRefill === 'dst';
  private mulSetsSzap = DEFAULT_UNDEFINED_FLAGS.mulSetsSzap;
  private divKeepsFlags = DEFAULT_UNDEFINED_FLAGS.divKeepsFlags;

  /** Whose undefined flags this CPU produces (undefined-flags.ts). */
  get undefinedFlags(): UndefinedFlagsModel { return this.ufModel; }

  /** Selects whose undefined flags to produce (the sim's setCpuid calls it with the model for the CPUID's vendor). */
  setUndefinedFlagsModel(model: UndefinedFlagsModel): void {
    this.ufModel = model;
    this.shiftAf = model.shiftAf;
    this.ofFirstStep = model.ofFirstStep;
    this.refillDst = model.doubleShiftRefill === 'dst';
    this.mulSetsSzap = model.mulSetsSzap;
    this.divKeepsFlags = model.divKeepsFlags;
  }

  /** The eight group-1 operations: 0 ADD, 1 OR, 2 ADC, 3 SBB, 4 AND, 5 SUB, 6 XOR, 7 CMP. */
  alu(op: number, a: number, b: number, sz: number): number {
    const sh = sz === 0 ? 0 : sz === 1 ? 16 : 24;
    const as = a << sh;
    const bs = b << sh;
    let rs: number;
    switch (op) {
      case 0: rs = (as + bs) | 0; this.fop = (K_ADD << 2) | sz; this.fsrc = bs; break;
      case 1: rs = as | bs; this.fop = (K_LOGIC << 2) | sz; break;
      case 2: {
        const c = this.getCF();
        rs = (as + bs + (c << sh)) | 0;
        this.fop = ((c ? K_ADC : K_ADD) << 2) | sz;
        this.fsrc = bs;
        break;
      }
      case 3: {
        const c = this.getCF();
        rs = (as - bs - (c << sh)) | 0;
        this.fop = ((c ? K_SBB : K_SUB) << 2) | sz;
        this.fsrc = bs;
        break;
      }
      case 4: rs = as & bs; this.fop = (K_LOGIC << 2) | sz; break;
      case 6: rs = as ^ bs; this.fop = (K_LOGIC << 2) | sz; break;
      default: rs = (as - bs) | 0; this.fop = (K_SUB << 2) | sz; this.fsrc = bs; break;
    }
    this.fres = rs;
    return sz === 0 ? rs : rs >>> sh;
  }

  /** INC (dec = false) or DEC: CF is kept. */
  incdec(dec: boolean, a: number, sz: number): number {
    const sh = sz === 0 ? 0 : sz === 1 ? 16 : 24;
    const c = this.getCF();
    const bs = 1 << sh;
    const rs = dec ? ((a << sh) - bs) | 0 : ((a << sh) + bs) | 0;
    this.fop = (((dec ? K_DEC : K_INC) + c) << 2) | sz;
    this.fres = rs;
    this.fsrc = bs;
    return sz === 0 ? rs : rs >>> sh;
  }

  /** Group 2: 0 ROL, 1 ROR, 2 RCL, 3 RCR, 4 SHL, 5 SHR, 6 SAL (= SHL), 7 SAR. */
  shift(op: number, a: number, count: number, sz: number): number {
    const c = count & 31;
    if (c === 0) return a; // flags unchanged
    const w = sz === 0 ? 32 : sz === 1 ? 16 : 8;
    const m = sz === 0 ? -1 : sz === 1 ? 0xffff : 0xff;
    const top = w - 1;
    let res: number;
    switch (op) {
      case 0: { // ROL
        const n = c & (w - 1);
        res = n === 0 ? a : ((a << n) | ((a & m) >>> (w - n))) & m;
        const cf = res & 1;
        const of = this.ofFirstStep ? ((a >>> top) ^ (a >>> (top - 1))) & 1 : ((res >>> top) & 1) ^ cf;
        this.setSomeFlags(F_CF | F_OF, cf | (of ? F_OF : 0));
        return res;
      }
      case 1: { // ROR
        const n = c & (w - 1);
        res = n === 0 ? a : (((a & m) >>> n) | (a << (w - n))) & m;
        const cf = (res >>> top) & 1;
        const of = this.ofFirstStep ? ((a >>> top) ^ a) & 1 : cf ^ ((res >>> (top - 1)) & 1);
        this.setSomeFlags(F_CF | F_OF, cf | (of ? F_OF : 0));
        return res;
      }
      case 2: case 3: { // RCL, RCR: rotate the (w+1)-bit value CF:dst
        const n = sz === 0 ? c : c % (w + 1);
        if (n === 0 && this.ofFirstStep) return a; // no step taken: no flag changes
        const cin = this.getCF();
        let cf = cin;
        res = a & m;
        for (let i = 0; i < n; i++) {
          if (op === 2) {
            const out = (res >>> top) & 1;
            res = ((res << 1) | cf) & m;
            cf = out;
          } else {
            const out = res & 1;
            res = ((res >>> 1) | (cf << top)) & m;
            cf = out;
          }
        }
        const msb = (res >>> top) & 1;
        const of = this.ofFirstStep
          ? (op === 2 ? (a >>> top) ^ (a >>> (top - 1)) : (a >>> top) ^ cin) & 1
          : op === 2 ? msb ^ cf : msb ^ ((res >>> (top - 1)) & 1);
        this.setSomeFlags(F_CF | F_OF, cf | (of ? F_OF : 0));
        return res;
      }
      case 4: case 6: { // SHL
        res = (a << c) & m;
        const cf = c <= w ? ((a & m) >>> (w - c)) & 1 : 0;
        const of = this.ofFirstStep ? ((a >>> top) ^ (a >>> (top - 1))) & 1 : ((res >>> top) & 1) ^ cf;
        this.setResultFlags(res, sz, cf | this.shiftAf | (of ? F_OF : 0));
        return res;
      }
      case 5: { // SHR
        const u = a & m;
        res = c < 32 ? u >>> c : 0;
        if (sz === 0) res |= 0;
        const cf = (u >>> (c - 1)) & 1;
        const of = c === 1 || this.ofFirstStep ? (u >>> top) & 1 : ((res >>> top) ^ (res >>> (top - 1))) & 1;
        this.setResultFlags(res, sz, cf | this.shiftAf | (of ? F_OF : 0));
        return res;
      }
      default: { // SAR
        const s = (a << (32 - w)) >> (32 - w);
        res = (s >> c) & m;
        const cf = (s >> (c - 1)) & 1;
        this.setResultFlags(res, sz, cf | this.shiftAf);
        return res;
      }
    }
  }

  /** SHLD (left) / SHRD: shift `a`, filling from `b`. 32- and 16-bit only. */
  doubleShift(left: boolean, a: number, b: number, count: number, sz: number): number {
    const c = count & 31;
    if (c === 0) return a;
    let res: number;
    let cf: number;
    let of: number;
    if (sz === 0) {
      if (left) {
        res = (a << c) | (b >>> (32 - c));
        cf = (a >>> (32 - c)) & 1;
        of = this.ofFirstStep ? (a >>> 31) ^ ((a >>> 30) & 1) : (res >>> 31) ^ cf;
      } else {
        res = (a >>> c) | (b << (32 - c));
        cf = (a >>> (c - 1)) & 1;
        of = this.ofFirstStep ? ((a >>> 31) ^ b) & 1 : ((res >>> 31) ^ (res >>> 30)) & 1;
      }
    } else {
      a &= 0xffff;
      b &= 0xffff;
      // Counts 17..31 reach past the source into the refill: the source again, or the destination.
      const refill = this.refillDst ? a : b;
      if (left) {
        if (c <= 16) {
          res = ((a << c) | (b >>> (16 - c))) & 0xffff;
          cf = (a >>> (16 - c)) & 1;
        } else {
          res = ((b << (c - 16)) | (refill >>> (32 - c))) & 0xffff;
          cf = this.refillDst ? (b >>> (32 - c)) & 1 : 0;
        }
        of = this.ofFirstStep ? ((a >>> 15) ^ (a >>> 14)) & 1 : c > 16 ? 0 : c === 16 ? cf : ((res >>> 15) & 1) ^ cf;
      } else {
        if (c <= 16) {
          res = ((a >>> c) | (b << (16 - c))) & 0xffff;
          cf = (a >>> (c - 1)) & 1;
        } else {
          res = ((b >>> (c - 16)) | (refill << (32 - c))) & 0xffff;
          cf = this.refillDst ? (b >>> (c - 17)) & 1 : 0;
        }
        of = this.ofFirstStep ? ((a >>> 15) ^ b) & 1 : ((res >>> 15) ^ (res >>> 14)) & 1;
      }
    }
    this.setResultFlags(res, sz, cf | this.shiftAf | (of ? F_OF : 0));
    return res;
  }

  /** Two- and three-operand IMUL: the truncated product; CF = OF = it did not fit. */
  imul2(a: number, b: number, sz: number): number {
    let res: number;
    let ov: boolean;
    if (sz === 0) {
      res = Math.imul(a, b);
      ov = (a | 0) * (b | 0) !== res;
    } else {
      const p = ((a << 16) >> 16) * ((b << 16) >> 16);
      res = p & 0xffff;
      ov = p !== ((p << 16) >> 16);
    }
    this.mulFlags(ov, res, sz);
    return res;
  }

  /** Group 3 MUL (signed = false) / IMUL with one operand: EDX:EAX, DX:AX or AX = accumulator * src. */
  mulAcc(src: number, sz: number, signed: boolean): void {
    const r = this.r;
    let ov: boolean;
    let low: number;
    if (sz === 2) {
      const p = signed ? ((r[0]! << 24) >> 24) * ((src << 24) >> 24) : (r[0]! & 0xff) * (src & 0xff);
      r[0] = (r[0]! & ~0xffff) | (p & 0xffff);
      ov = signed ? p !== ((p << 24) >> 24) : (p & 0xff00) !== 0;
      low = p & 0xff;
    } else if (sz === 1) {
      const p = signed ? ((r[0]! << 16) >> 16) * ((src << 16) >> 16) : (r[0]! & 0xffff) * (src & 0xffff);
      r[0] = (r[0]! & ~0xffff) | (p & 0xffff);
      r[2] = (r[2]! & ~0xffff) | ((p >> 16) & 0xffff);
      ov = signed ? p !== ((p << 16) >> 16) : (p >>> 16) !== 0;
      low = p & 0xffff;
    } else {
      const a = r[0]!;
      const lo = Math.imul(a, src);
      const hi = signed ? mulHiS32(a, src | 0) : mulHiU32(a, src);
      r[0] = lo;
      r[2] = hi;
      ov = signed ? hi !== (lo >> 31) : hi !== 0;
      low = lo;
    }
    this.mulFlags(ov, low, sz);
  }

  /** After a multiply: CF = OF = the product did not fit in `low`; the model's SF ZF AF PF. */
  private mulFlags(ov: boolean, low: number, sz: number): void {
    const cfOf = ov ? F_CF | F_OF : 0;
    if (this.mulSetsSzap) {
      const sign = sz === 0 ? low >>> 31 : sz === 1 ? low >>> 15 : low >>> 7;
      this.setArith(cfOf | (sign & 1 ? F_SF : 0) | PARITY[low & 0xff]!);
    } else {
      this.setSomeFlags(F_CF | F_OF, cfOf);
    }
  }

  /** Group 3 DIV / IDIV: #DE on a zero divisor or a quotient that does not fit. */
  divAcc(src: number, sz: number, signed: boolean): void {
    const r = this.r;
    if (sz === 2) {
      const n = r[0]! & 0xffff;
      const d = src & 0xff;
      if (d === 0) this.fault(V_DE);
      let q: number, rem: number;
      if (signed) {
        const sn = (n << 16) >> 16, sd = (d << 24) >> 24;
        q = Math.trunc(sn / sd);
        rem = sn - q * sd;
        if (q > 127 || q < -128) this.fault(V_DE);
      } else {
        q = Math.floor(n / d);
        rem = n - q * d;
        if (q > 0xff) this.fault(V_DE);
      }
      r[0] = (r[0]! & ~0xffff) | ((rem & 0xff) << 8) | (q & 0xff);
    } else if (sz === 1) {
      const n = ((r[2]! & 0xffff) << 16) | (r[0]! & 0xffff);
      const d = src & 0xffff;
      if (d === 0) this.fault(V_DE);
      let q: number, rem: number;
      if (signed) {
        const sd = (d << 16) >> 16;
        q = Math.trunc(n / sd);
        rem = n - q * sd;
        if (q > 32767 || q < -32768) this.fault(V_DE);
      } else {
        const un = n >>> 0;
        q = Math.floor(un / d);
        rem = un - q * d;
        if (q > 0xffff) this.fault(V_DE);
      }
      r[0] = (r[0]! & ~0xffff) | (q & 0xffff);
      r[2] = (r[2]! & ~0xffff) | (rem & 0xffff);
    } else {
      const lo = r[0]!, hi = r[2]!;
      if (src === 0) this.fault(V_DE);
      if (signed) this.idiv64(hi, lo, src | 0);
      else this.div64(hi >>> 0, lo >>> 0, src >>> 0);
    }
    if (!this.divKeepsFlags) this.setSomeFlags(F_SF | F_ZF | F_PF | F_AF, F_AF);
  }

  private div64(hi: number, lo: number, d: number): void {
    if (hi === 0) {
      const q = Math.floor(lo / d);
      this.r[0] = q;
      this.r[2] = lo - q * d;
      return;
    }
    if (hi >= d) this.fault(V_DE);
    const [q, rem] = udiv64(hi, lo, d);
    this.r[0] = q;
    this.r[2] = rem;
  }

  private idiv64(hi: number, lo: number, d: number): void {
    if (hi === (lo >> 31)) {
      // The dividend fits in 32 bits (the CDQ case).
      const q = Math.trunc(lo / d);
      if (q > 0x7fffffff) this.fault(V_DE); // -2^31 / -1
      this.r[0] = q;
      this.r[2] = lo - q * d;
      return;
    }
    const neg = hi < 0;
    let h = hi >>> 0, l = lo >>> 0;
    if (neg) { // two's complement negate of the 64-bit value
      l = (~l + 1) >>> 0;
      h = (~h + (l === 0 ? 1 : 0)) >>> 0;
    }
    const ad = Math.abs(d);
    if (h >= ad) this.fault(V_DE);
    const [uq, urem] = udiv64(h, l, ad);
    const q = neg !== d < 0 ? -uq : uq;
    if (q > 0x7fffffff || q < -0x80000000) this.fault(V_DE);
    this.r[0] = q;
    this.r[2] = neg ? -urem : urem;
  }

  /** BSF (reverse = false) / BSR: the destination value to write, or -1 to leave it (source 0). */
  bitScan(reverse: boolean, src: number): number {
    if (src === 0) {
      this.setArith(F_ZF | F_PF);
      return -1;
    }
    const idx = reverse ? 31 - Math.clz32(src) : 31 - Math.clz32(src & -src);
    this.setArith(PARITY[idx]!);
    return idx;
  }

  /** BT/BTS/BTR/BTC on `v` (bit already reduced to the operand width): the new value; sets CF. */
  bitOp(kind: number, v: number, bit: number): number {
    const m = 1 << bit;
    this.setSomeFlags(F_CF, (v & m) !== 0 ? F_CF : 0);
    switch (kind) {
      case 1: return v | m;
      case 2: return v & ~m;
      case 3: return v ^ m;
      default: return v;
    }
  }
}

/** Unsigned (hi:lo) / d with hi < d (so the quotient fits in 32 bits): [quotient, remainder]. */
function udiv64(hi: number, lo: number, d: number): [number, number] {
  let x = hi * 65536 + (lo >>> 16);
  const q1 = Math.floor(x / d);
  x = (x - q1 * d) * 65536 + (lo & 0xffff);
  const q0 = Math.floor(x / d);
  return [q1 * 65536 + q0, x - q0 * d];
}

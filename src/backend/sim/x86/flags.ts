/**
 * Lazy EFLAGS. An arithmetic instruction records what produced its flags
 * in three int32 fields instead of computing six bits:
 *
 *   fop  = (kind << 2) | size code   (size: 0 = 32-bit, 1 = 16, 2 = 8)
 *   fres = result << shift            (shift = 0, 16, 24: the operand's
 *   fsrc = source operand << shift     sign bit lands on bit 31)
 *
 * With operands pre-shifted, ZF is `fres === 0`, SF is `fres < 0`, and
 * the carry/overflow rules are plain 32-bit unsigned/signed compares for
 * every operand size; the destination operand is recovered from result and
 * source. Each flag is computed only when something reads it (Jcc, SETcc,
 * PUSHF...). Kind 0 means "eager": the six bits are in `eflags`.
 * Kind RES records a result plus explicit CF/AF/OF bits (shifts, rotates
 * through set*, bit scans): ZF, SF and PF still come from the result.
 */
import { F_AF, F_ARITH, F_CF, F_OF, F_PF, F_SF, F_ZF } from './consts.js';
import { CpuState } from './state.js';

export const K_EAGER = 0, K_ADD = 1, K_ADC = 2, K_SUB = 3, K_SBB = 4, K_LOGIC = 5;
/** INC/DEC keep CF: the kind says what it was (INC = CF 0, INC_C = CF 1). */
export const K_INC = 6, K_INC_C = 7, K_DEC = 8, K_DEC_C = 9;
export const K_RES = 10;

/** PARITY[b] = PF for low result byte b. */
export const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let n = 0;
  for (let b = i; b; b >>= 1) n += b & 1;
  PARITY[i] = n % 2 === 0 ? F_PF : 0;
}

function shiftOf(fop: number): number {
  const sz = fop & 3;
  return sz === 0 ? 0 : sz === 1 ? 16 : 24;
}

export class CpuFlags extends CpuState {
  /** The destination operand of the recorded operation (shifted form). */
  private lazyDst(): number {
    const k = this.fop >> 2;
    const res = this.fres;
    const src = this.fsrc;
    switch (k) {
      case K_ADD: case K_INC: case K_INC_C: return (res - src) | 0;
      case K_ADC: return (res - src - (1 << shiftOf(this.fop))) | 0;
      case K_SUB: case K_DEC: case K_DEC_C: return (res + src) | 0;
      case K_SBB: return (res + src + (1 << shiftOf(this.fop))) | 0;
      default: return res;
    }
  }

  /** CF as 0 or 1. */
  getCF(): number {
    switch (this.fop >> 2) {
      case K_EAGER: return this.eflags & F_CF;
      case K_ADD: return (this.fres >>> 0) < (this.fsrc >>> 0) ? 1 : 0;
      case K_ADC: return (this.fres >>> 0) <= (this.fsrc >>> 0) ? 1 : 0;
      case K_SUB: return ((this.fres + this.fsrc) >>> 0) < (this.fsrc >>> 0) ? 1 : 0;
      case K_SBB: return ((this.fres + this.fsrc + (1 << shiftOf(this.fop))) >>> 0) <= (this.fsrc >>> 0) ? 1 : 0;
      case K_INC_C: case K_DEC_C: return 1;
      case K_RES: return this.fsrc & F_CF;
      default: return 0; // LOGIC, INC, DEC
    }
  }

  getZF(): boolean {
    return this.fop === 0 ? (this.eflags & F_ZF) !== 0 : this.fres === 0;
  }

  getSF(): boolean {
    return this.fop === 0 ? (this.eflags & F_SF) !== 0 : this.fres < 0;
  }

  getPF(): boolean {
    return this.fop === 0 ? (this.eflags & F_PF) !== 0 : PARITY[(this.fres >>> shiftOf(this.fop)) & 0xff] !== 0;
  }

  getOF(): boolean {
    const k = this.fop >> 2;
    switch (k) {
      case K_EAGER: return (this.eflags & F_OF) !== 0;
      case K_ADD: case K_ADC: case K_INC: case K_INC_C: {
        const a = this.lazyDst();
        return ((a ^ this.fres) & (this.fsrc ^ this.fres)) < 0;
      }
      case K_SUB: case K_SBB: case K_DEC: case K_DEC_C: {
        const a = this.lazyDst();
        return ((a ^ this.fsrc) & (a ^ this.fres)) < 0;
      }
      case K_RES: return (this.fsrc & F_OF) !== 0;
      default: return false;
    }
  }

  getAF(): boolean {
    const k = this.fop >> 2;
    if (k === K_EAGER) return (this.eflags & F_AF) !== 0;
    if (k === K_LOGIC) return false; // undefined; Intel and AMD clear it
    if (k === K_RES) return (this.fsrc & F_AF) !== 0;
    const a = this.lazyDst();
    return (((a ^ this.fsrc ^ this.fres) >>> shiftOf(this.fop)) & 0x10) !== 0;
  }

  /** The six arithmetic flags as EFLAGS bits. */
  arithFlags(): number {
    if (this.fop === 0) return this.eflags & F_ARITH;
    return this.getCF() | (this.getPF() ? F_PF : 0) | (this.getAF() ? F_AF : 0) |
      (this.fres === 0 ? F_ZF : 0) | (this.fres < 0 ? F_SF : 0) | (this.getOF() ? F_OF : 0);
  }

  /** EFLAGS, materialized (bit 1 always set). */
  getEflags(): number {
    return ((this.eflags & ~F_ARITH) | this.arithFlags() | 2) >>> 0;
  }

  /** Replaces EFLAGS (bits 1 set; 3, 5, 15 and 22-31 clear, as the CPU keeps them). */
  setEflags(v: number): void {
    this.fop = 0;
    this.eflags = (v & 0x3f7fd5) | 2;
  }

  /** Makes the arithmetic flags eager (before changing single bits). */
  materialize(): void {
    if (this.fop !== 0) {
      this.eflags = (this.eflags & ~F_ARITH) | this.arithFlags();
      this.fop = 0;
    }
  }

  /** Sets the six arithmetic flags to `bits`, keeping the rest. */
  setArith(bits: number): void {
    this.eflags = (this.eflags & ~F_ARITH) | (bits & F_ARITH);
    this.fop = 0;
  }

  /** Replaces the flags in `mask` with `bits` (materializing first). */
  setSomeFlags(mask: number, bits: number): void {
    this.materialize();
    this.eflags = (this.eflags & ~mask) | (bits & mask);
  }

  /** Records a result whose ZF/SF/PF come from `res` and CF/AF/OF are given as EFLAGS bits. */
  setResultFlags(res: number, sz: number, cfAfOf: number): void {
    const sh = sz === 0 ? 0 : sz === 1 ? 16 : 24;
    this.fop = (K_RES << 2) | sz;
    this.fres = res << sh;
    this.fsrc = cfAfOf;
  }

  /** Condition code `cc` (low nibble of Jcc/SETcc/CMOVcc). */
  cond(cc: number): boolean {
    const k = this.fop >> 2;
    if (k === K_SUB) {
      // CMP/SUB: compare the operands themselves (the shifted forms keep signed and unsigned order).
      const b = this.fsrc;
      const a = (this.fres + b) | 0;
      switch (cc) {
        case 0x2: return (a >>> 0) < (b >>> 0);
        case 0x3: return (a >>> 0) >= (b >>> 0);
        case 0x4: return a === b;
        case 0x5: return a !== b;
        case 0x6: return (a >>> 0) <= (b >>> 0);
        case 0x7: return (a >>> 0) > (b >>> 0);
        case 0xc: return a < b;
        case 0xd: return a >= b;
        case 0xe: return a <= b;
        case 0xf: return a > b;
        default: break;
      }
    } else if (k === K_LOGIC) {
      const r = this.fres;
      switch (cc) {
        case 0x0: case 0x2: return false;
        case 0x1: case 0x3: return true;
        case 0x4: case 0x6: return r === 0;
        case 0x5: case 0x7: return r !== 0;
        case 0x8: case 0xc: return r < 0;
        case 0x9: case 0xd: return r >= 0;
        case 0xe: return r <= 0;
        case 0xf: return r > 0;
        default: break;
      }
    }
    let v: boolean;
    switch (cc >> 1) {
      case 0: v = this.getOF(); break;
      case 1: v = this.getCF() !== 0; break;
      case 2: v = this.getZF(); break;
      case 3: v = this.getCF() !== 0 || this.getZF(); break;
      case 4: v = this.getSF(); break;
      case 5: v = this.getPF(); break;
      case 6: v = this.getSF() !== this.getOF(); break;
      default: v = this.getZF() || this.getSF() !== this.getOF(); break;
    }
    return (cc & 1) !== 0 ? !v : v;
  }
}

/**
 * EFLAGS with lazy evaluation of the arithmetic flags: the hot ALU
 * instructions record (operation, operands, result, width) and each flag
 * is computed only when something reads it. Everything else (shifts,
 * rotates, multiplies, bit scans) sets the six flags eagerly.
 */

export const CF = 1 << 0;
export const PF = 1 << 2;
export const AF = 1 << 4;
export const ZF = 1 << 6;
export const SF = 1 << 7;
export const TF = 1 << 8;
export const IF = 1 << 9;
export const DF = 1 << 10;
export const OF = 1 << 11;
export const ARITH = CF | PF | AF | ZF | SF | OF;
/** Bits a ring-0 POPF/IRET may change: the arithmetic flags, TF, IF, DF, IOPL, NT, AC, ID. */
export const WRITABLE = ARITH | TF | IF | DF | (3 << 12) | (1 << 14) | (1 << 18) | (1 << 21);

export const enum Op { None, Add, Sub, Adc, Sbb, Logic, Inc, Dec }

const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let b = i;
  let n = 0;
  while (b) { n += b & 1; b >>= 1; }
  PARITY[i] = n % 2 === 0 ? 1 : 0;
}

export const MASK = [0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0, 0, 0, 0, 0, 0xffff] as const;

export function maskOf(bits: number): number {
  return bits === 32 ? 0xffff_ffff : bits === 16 ? 0xffff : 0xff;
}

export class Flags {
  op: Op = Op.None;
  /**
   * Result, operands and carry-in (adc/sbb) or preserved CF (inc/dec), as
   * int32 (32-bit operations) or small unsigned values (8/16-bit): in an
   * Int32Array so that no value ever needs a heap number.
   */
  private readonly v = new Int32Array(4);
  bits = 32;
  get res(): number { return this.v[0]!; }
  get dst(): number { return this.v[1]!; }
  get src(): number { return this.v[2]!; }
  get aux(): number { return this.v[3]!; }
  set aux(x: number) { this.v[3] = x; }
  /** With op None: all flags. Otherwise: the non-arithmetic bits only. */
  eager = 2;

  set(op: Op, dst: number, src: number, res: number, bits: number): void {
    this.op = op;
    const v = this.v;
    v[0] = res;
    v[1] = dst;
    v[2] = src;
    this.bits = bits;
  }

  cf(): boolean {
    switch (this.op) {
      case Op.None: return (this.eager & CF) !== 0;
      case Op.Add: return (this.res >>> 0) < (this.dst >>> 0);
      case Op.Adc: return this.aux ? (this.res >>> 0) <= (this.dst >>> 0) : (this.res >>> 0) < (this.dst >>> 0);
      case Op.Sub: return (this.dst >>> 0) < (this.src >>> 0);
      case Op.Sbb: return this.aux ? (this.dst >>> 0) <= (this.src >>> 0) : (this.dst >>> 0) < (this.src >>> 0);
      case Op.Logic: return false;
      case Op.Inc: case Op.Dec: return this.aux !== 0;
    }
  }

  zf(): boolean { return this.op === Op.None ? (this.eager & ZF) !== 0 : this.res === 0; }


  sf(): boolean { return this.op === Op.None ? (this.eager & SF) !== 0 : ((this.res >>> (this.bits - 1)) & 1) === 1; }

  of(): boolean {
    const s = this.bits - 1;
    switch (this.op) {
      case Op.None: return (this.eager & OF) !== 0;
      case Op.Add: case Op.Adc: case Op.Inc: return (((this.dst ^ this.res) & (this.src ^ this.res)) >>> s & 1) === 1;
      case Op.Sub: case Op.Sbb: case Op.Dec: return (((this.dst ^ this.src) & (this.dst ^ this.res)) >>> s & 1) === 1;
      case Op.Logic: return false;
    }
  }

  pf(): boolean { return this.op === Op.None ? (this.eager & PF) !== 0 : PARITY[this.res & 0xff] === 1; }

  af(): boolean {
    // Logic ops leave AF undefined; Intel CPUs clear it.
    if (this.op === Op.None) return (this.eager & AF) !== 0;
    if (this.op === Op.Logic) return false;
    return (((this.dst ^ this.src ^ this.res) >>> 4) & 1) === 1;
  }

  /** The whole EFLAGS value. */
  get value(): number {
    if (this.op === Op.None) return (this.eager | 2) >>> 0;
    let v = this.eager & ~ARITH;
    if (this.cf()) v |= CF;
    if (this.pf()) v |= PF;
    if (this.af()) v |= AF;
    if (this.zf()) v |= ZF;
    if (this.sf()) v |= SF;
    if (this.of()) v |= OF;
    return (v | 2) >>> 0;
  }

  set value(v: number) {
    this.op = Op.None;
    this.eager = (v | 2) >>> 0;
  }

  /** Sets the six arithmetic flags at once (eager instructions). */
  setArith(cf: boolean, pf: boolean, af: boolean, zf: boolean, sf: boolean, of: boolean): void {
    const other = this.eager & ~ARITH;
    this.op = Op.None;
    this.eager = other | (cf ? CF : 0) | (pf ? PF : 0) | (af ? AF : 0) | (zf ? ZF : 0) | (sf ? SF : 0) | (of ? OF : 0) | 2;
  }

  /** Sets flags from a result the usual way (ZF, SF, PF from res), with the given CF, OF, AF. */
  setResult(res: number, bits: number, cf: boolean, of: boolean, af = false): void {
    this.setArith(cf, PARITY[res & 0xff] === 1, af, (res & maskOf(bits)) === 0, ((res >>> (bits - 1)) & 1) === 1, of);
  }

  /** Materializes lazy flags so single bits can be changed. */
  materialize(): void {
    if (this.op !== Op.None) this.value = this.value;
  }

  /** Sets CF and OF, leaving the other arithmetic flags (rotates). */
  setBitArith(cf: boolean, of: boolean): void {
    this.materialize();
    this.eager = (this.eager & ~(CF | OF)) | (cf ? CF : 0) | (of ? OF : 0);
  }

  setCf(v: boolean): void {
    this.materialize();
    this.eager = v ? this.eager | CF : this.eager & ~CF;
  }

  /** Non-arithmetic bit (IF, DF, TF...). */
  bit(mask: number): boolean { return (this.eager & mask) !== 0; }

  setBit(mask: number, on: boolean): void {
    this.eager = on ? this.eager | mask : this.eager & ~mask;
  }

  /** Conditions straight from the operands after CMP/SUB (and TEST/AND/OR/XOR, where CF=OF=0). */
  private condFast(cc: number): boolean {
    const sh = 32 - this.bits;
    let r: boolean;
    if (this.op === Op.Sub) {
      const a = this.dst, b = this.src;
      switch (cc >> 1) {
        case 1: r = (a >>> 0) < (b >>> 0); break; //       B
        case 2: r = a === b; break; //                     E
        case 3: r = (a >>> 0) <= (b >>> 0); break; //      BE
        case 6: r = (a << sh) < (b << sh); break; //       L (signed)
        case 7: r = (a << sh) <= (b << sh); break; //      LE (signed)
        default: return this.condSlow(cc);
      }
    } else {
      const v = this.res << sh;
      switch (cc >> 1) {
        case 1: r = false; break; //          CF = 0
        case 2: case 3: r = v === 0; break; // ZF (CF = 0)
        case 6: r = v < 0; break; //          SF != OF with OF = 0
        case 7: r = v <= 0; break;
        default: return this.condSlow(cc);
      }
    }
    return (cc & 1) ? !r : r;
  }

  private condSlow(cc: number): boolean {
    let r: boolean;
    switch (cc >> 1) {
      case 0: r = this.of(); break;
      case 4: r = this.sf(); break;
      default: r = this.pf(); break;
    }
    return (cc & 1) ? !r : r;
  }

  /** Condition code `cc` (0..15) as used by Jcc/SETcc/CMOVcc. */
  cond(cc: number): boolean {
    if (this.op === Op.Sub || this.op === Op.Logic) return this.condFast(cc);
    let r: boolean;
    switch (cc >> 1) {
      case 0: r = this.of(); break;
      case 1: r = this.cf(); break;
      case 2: r = this.zf(); break;
      case 3: r = this.cf() || this.zf(); break;
      case 4: r = this.sf(); break;
      case 5: r = this.pf(); break;
      case 6: r = this.sf() !== this.of(); break;
      default: r = this.zf() || this.sf() !== this.of(); break;
    }
    return (cc & 1) ? !r : r;
  }
}

export function parity(v: number): boolean { return PARITY[v & 0xff] === 1; }

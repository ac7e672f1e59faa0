/**
 * The general decoder's pieces: instruction fetch through CS, prefix
 * state, ModRM/SIB effective addresses (16- and 32-bit forms, segment
 * defaults and overrides), register and r/m operand access, the stack.
 */
import { CS, DS, SS } from './consts.js';
import { CpuAlu } from './alu.js';

export class CpuDecode extends CpuAlu {
  /** Operand size code of a "v" operand for this instruction: 0 = 32-bit, 1 = 16-bit. */
  osz = 0;
  /** 16-bit addressing for this instruction. */
  a16 = false;
  /** Segment override prefix (segment index) or -1. */
  segOv = -1;
  /** REP prefix: 0, 0xf2 (REPNE) or 0xf3 (REP/REPE). */
  rep = 0;

  // The decoded ModRM operand.
  mreg = 0;
  mrm = 0;
  misReg = false;
  /** Linear address of a memory operand (int32). */
  mea = 0;
  /** Its offset within the segment (what LEA loads). */
  moff = 0;

  // ---- fetch ------------------------------------------------------------------------------------------

  fetch8(): number {
    const u = (this.segBase[CS]! + this.eip) >>> 0;
    this.eip = (this.eip + 1) | 0;
    return u < this.rl1 ? this.ram[u]! : this.fetchSlow(u);
  }

  fetch16(): number {
    const u = (this.segBase[CS]! + this.eip) >>> 0;
    if (u < this.rl2) {
      this.eip = (this.eip + 2) | 0;
      return this.dv.getUint16(u, true);
    }
    const lo = this.fetch8();
    return lo | (this.fetch8() << 8);
  }

  /** Returns an int32. */
  fetch32(): number {
    const u = (this.segBase[CS]! + this.eip) >>> 0;
    if (u < this.rl4) {
      this.eip = (this.eip + 4) | 0;
      return this.dv.getInt32(u, true);
    }
    const lo = this.fetch16();
    return lo | (this.fetch16() << 16);
  }

  /** Immediate of size code `sz` (8/16 zero-extended, 32 as int32). */
  fetchImm(sz: number): number {
    return sz === 0 ? this.fetch32() : sz === 1 ? this.fetch16() : this.fetch8();
  }

  /** A sign-extended 8-bit immediate or displacement. */
  fetchS8(): number {
    return (this.fetch8() << 24) >> 24;
  }

  // ---- ModRM --------------------------------------------------------------------------------------------

  /** Decodes a ModRM byte (plus SIB and displacement) for the current prefixes. */
  modrm(): void {
    const m = this.fetch8();
    this.mreg = (m >> 3) & 7;
    const mod = m >> 6;
    const rm = m & 7;
    if (mod === 3) {
      this.misReg = true;
      this.mrm = rm;
      return;
    }
    this.misReg = false;
    const r = this.r;
    let ea: number;
    let seg = DS;
    if (this.a16) {
      switch (rm) {
        case 0: ea = r[3]! + r[6]!; break; // [bx+si]
        case 1: ea = r[3]! + r[7]!; break; // [bx+di]
        case 2: ea = r[5]! + r[6]!; seg = SS; break; // [bp+si]
        case 3: ea = r[5]! + r[7]!; seg = SS; break; // [bp+di]
        case 4: ea = r[6]!; break; // [si]
        case 5: ea = r[7]!; break; // [di]
        case 6: if (mod === 0) ea = this.fetch16(); else { ea = r[5]!; seg = SS; } break; // [disp16] / [bp]
        default: ea = r[3]!; break; // [bx]
      }
      if (mod === 1) ea += this.fetchS8();
      else if (mod === 2) ea += this.fetch16();
      ea &= 0xffff;
    } else {
      if (rm === 4) {
        const sib = this.fetch8();
        const idx = (sib >> 3) & 7;
        const base = sib & 7;
        ea = idx === 4 ? 0 : r[idx]! << (sib >> 6);
        if (base === 5 && mod === 0) ea += this.fetch32();
        else {
          ea += r[base]!;
          if (base === 4 || base === 5) seg = SS;
        }
      } else if (rm === 5 && mod === 0) {
        ea = this.fetch32();
      } else {
        ea = r[rm]!;
        if (rm === 5) seg = SS;
      }
      if (mod === 1) ea += this.fetchS8();
      else if (mod === 2) ea += this.fetch32();
      ea |= 0;
    }
    if (this.segOv >= 0) seg = this.segOv;
    this.moff = ea;
    this.mea = (this.segBase[seg]! + ea) | 0;
  }

  /** Linear address of `off` in the data segment (DS or the override). */
  dataAddr(off: number): number {
    return (this.segBase[this.segOv >= 0 ? this.segOv : DS]! + off) | 0;
  }

  // ---- registers ----------------------------------------------------------------------------------------

  getReg(sz: number, i: number): number {
    if (sz === 0) return this.r[i]!;
    if (sz === 1) return this.r[i]! & 0xffff;
    return i < 4 ? this.r[i]! & 0xff : (this.r[i - 4]! >> 8) & 0xff;
  }

  setReg(sz: number, i: number, v: number): void {
    const r = this.r;
    if (sz === 0) r[i] = v;
    else if (sz === 1) r[i] = (r[i]! & ~0xffff) | (v & 0xffff);
    else if (i < 4) r[i] = (r[i]! & ~0xff) | (v & 0xff);
    else r[i - 4] = (r[i - 4]! & ~0xff00) | ((v & 0xff) << 8);
  }

  rmRead(sz: number): number {
    return this.misReg ? this.getReg(sz, this.mrm) : this.rd(sz, this.mea);
  }

  rmWrite(sz: number, v: number): void {
    if (this.misReg) this.setReg(sz, this.mrm, v);
    else this.wr(sz, this.mea, v);
  }

  // ---- stack --------------------------------------------------------------------------------------------

  /** Stack pointer as an offset (ESP or SP). */
  sp(): number {
    return this.stack32 ? this.r[4]! : this.r[4]! & 0xffff;
  }

  /** Adds `n` to ESP or SP. */
  spAdd(n: number): void {
    if (this.stack32) this.r[4] = this.r[4]! + n;
    else this.r[4] = (this.r[4]! & ~0xffff) | ((this.r[4]! + n) & 0xffff);
  }

  /** Linear address of stack offset sp + `delta`. */
  stackAddr(delta: number): number {
    const off = this.stack32 ? this.r[4]! + delta : (this.r[4]! + delta) & 0xffff;
    return (this.segBase[SS]! + off) | 0;
  }

  /** PUSH of a 32-bit (sz 0) or 16-bit (sz 1) value: writes first, then moves ESP. */
  push(sz: number, v: number): void {
    const n = sz === 0 ? 4 : 2;
    this.wr(sz, this.stackAddr(-n), v);
    this.spAdd(-n);
  }

  /** The value `index` slots above the top of stack (no ESP change). */
  peek(sz: number, index: number): number {
    return this.rd(sz, this.stackAddr(index * (sz === 0 ? 4 : 2)));
  }

  pop(sz: number): number {
    const v = this.peek(sz, 0);
    this.spAdd(sz === 0 ? 4 : 2);
    return v;
  }

  // ---- string-op index registers ------------------------------------------------------------------------------

  /** ESI/EDI/ECX as used by string ops (16-bit with 16-bit addressing). */
  idx(i: number): number {
    return this.a16 ? this.r[i]! & 0xffff : this.r[i]!;
  }

  idxAdd(i: number, n: number): void {
    if (this.a16) this.r[i] = (this.r[i]! & ~0xffff) | ((this.r[i]! + n) & 0xffff);
    else this.r[i] = this.r[i]! + n;
  }

  /** Near branch target: EIP wraps to 16 bits with a 16-bit operand size. */
  jumpTo(target: number): void {
    this.eip = this.osz === 1 ? target & 0xffff : target | 0;
  }
}

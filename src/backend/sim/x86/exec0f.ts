/**
 * The two-byte (0F xx) opcode map of the general decoder. What is not
 * here raises #UD: MMX/SSE, SYSENTER/SYSEXIT, RSM, VMX/SVM, POPCNT and the
 * other instructions the sim's CPUID does not advertise.
 */
import { FS, GS, SS, V_UD } from './consts.js';
import { CpuStrings } from './strings.js';

/** Debug registers are stored but do nothing (no breakpoints). */
const DR_DEFAULTS = [0, 0, 0, 0, 0xffff0ff0 | 0, 0x400, 0xffff0ff0 | 0, 0x400];

export class CpuExec0F extends CpuStrings {
  readonly dr = Int32Array.from(DR_DEFAULTS);

  exec0f(): void {
    const op = this.fetch8();
    const v = this.osz;
    switch (op) {
      case 0x00: this.group6(); return;
      case 0x01: this.group7(); return;
      case 0x06: this.cr0 &= ~8; return; // CLTS
      case 0x08: case 0x09: return; // INVD, WBINVD: no caches
      case 0x0d: case 0x18: case 0x19: case 0x1a: case 0x1b: case 0x1c: case 0x1d: case 0x1e: case 0x1f:
        this.modrm(); return; // prefetch hints and the multi-byte NOP
      case 0x20: { // MOV r32, CRn (the mod bits are ignored: always a register)
        this.modrm();
        this.r[this.mrm] = this.movFromCr(this.mreg);
        return;
      }
      case 0x21: this.modrm(); this.r[this.mrm] = this.dr[this.mreg]!; return;
      case 0x22: this.modrm(); this.movToCr(this.mreg, this.r[this.mrm]!); return;
      case 0x23: this.modrm(); this.dr[this.mreg] = this.r[this.mrm]!; return;
      case 0x30: this.wrmsr(this.r[1]! >>> 0, (BigInt(this.r[2]! >>> 0) << 32n) | BigInt(this.r[0]! >>> 0)); return;
      case 0x31: this.rdtsc(); return;
      case 0x32: {
        const x = this.rdmsr(this.r[1]! >>> 0);
        this.r[0] = Number(x & 0xffffffffn);
        this.r[2] = Number(x >> 32n);
        return;
      }
      case 0xa0: this.push(v, this.segs[FS]!.selector); return;
      case 0xa1: this.loadSeg(FS, this.peek(v, 0)); this.spAdd(v === 0 ? 4 : 2); return;
      case 0xa2: this.cpuid(); return;
      case 0xa3: this.btMem(0); return;
      case 0xa4: case 0xa5: case 0xac: case 0xad: { // SHLD / SHRD by imm8 or CL
        this.modrm();
        const a = this.rmRead(v);
        const count = (op & 1) !== 0 ? this.r[1]! : this.fetch8();
        const res = this.doubleShift(op < 0xa8, a, this.getReg(v, this.mreg), count, v);
        if ((count & 31) !== 0) this.rmWrite(v, res);
        return;
      }
      case 0xa8: this.push(v, this.segs[GS]!.selector); return;
      case 0xa9: this.loadSeg(GS, this.peek(v, 0)); this.spAdd(v === 0 ? 4 : 2); return;
      case 0xab: this.btMem(1); return;
      case 0xae: { // fences and CLFLUSH: nothing to order or flush
        this.modrm();
        if (this.misReg ? this.mreg < 5 : this.mreg !== 7) this.fault(V_UD);
        return;
      }
      case 0xaf: this.modrm(); this.setReg(v, this.mreg, this.imul2(this.getReg(v, this.mreg), this.rmRead(v), v)); return;
      case 0xb0: case 0xb1: { // CMPXCHG
        const sz = op === 0xb0 ? 2 : v;
        this.modrm();
        const dst = this.rmRead(sz);
        const acc = this.getReg(sz, 0);
        this.alu(7, acc, dst, sz);
        // Equal: store the source. Not equal: load the accumulator; like KVM's emulator, no write-back to memory.
        if (this.getZF()) this.rmWrite(sz, this.getReg(sz, this.mreg));
        else this.setReg(sz, 0, dst);
        return;
      }
      case 0xb2: this.loadFarPointer(SS); return;
      case 0xb3: this.btMem(2); return;
      case 0xb4: this.loadFarPointer(FS); return;
      case 0xb5: this.loadFarPointer(GS); return;
      case 0xb6: this.modrm(); this.setReg(v, this.mreg, this.rmRead(2)); return;
      case 0xb7: this.modrm(); this.setReg(v, this.mreg, this.rmRead(1)); return;
      case 0xba: { // group 8: BT/BTS/BTR/BTC r/m, imm8
        this.modrm();
        if (this.mreg < 4) this.fault(V_UD);
        const x = this.rmRead(v);
        const bit = this.fetch8() & (v === 0 ? 31 : 15);
        const res = this.bitOp(this.mreg - 4, x, bit);
        if (this.mreg !== 4) this.rmWrite(v, res);
        return;
      }
      case 0xbb: this.btMem(3); return;
      case 0xbc: case 0xbd: { // BSF / BSR (F3: TZCNT/LZCNT are not advertised, so they run as BSF/BSR)
        this.modrm();
        const idx = this.bitScan(op === 0xbd, this.rmRead(v));
        if (idx >= 0) this.setReg(v, this.mreg, idx);
        return;
      }
      case 0xbe: this.modrm(); this.setReg(v, this.mreg, (this.rmRead(2) << 24) >> 24); return;
      case 0xbf: this.modrm(); this.setReg(v, this.mreg, (this.rmRead(1) << 16) >> 16); return;
      case 0xc0: case 0xc1: { // XADD
        const sz = op === 0xc0 ? 2 : v;
        this.modrm();
        const dst = this.rmRead(sz);
        const src = this.getReg(sz, this.mreg);
        const sum = this.alu(0, dst, src, sz);
        this.setReg(sz, this.mreg, dst);
        this.rmWrite(sz, sum);
        return;
      }
      case 0xc7: { // group 9: CMPXCHG8B m64
        this.modrm();
        if (this.mreg !== 1 || this.misReg) this.fault(V_UD);
        const lo = this.rd32(this.mea);
        const hi = this.rd32(this.mea + 4);
        this.materialize();
        if (lo === this.r[0] && hi === this.r[2]) {
          this.wr32(this.mea, this.r[3]!);
          this.wr32(this.mea + 4, this.r[1]!);
          this.eflags |= 0x40;
        } else {
          this.r[0] = lo;
          this.r[2] = hi;
          this.eflags &= ~0x40;
        }
        return;
      }
      default:
        break;
    }
    if (op >= 0x80 && op <= 0x8f) { // Jcc rel16/32
      const d = v === 0 ? this.fetch32() : (this.fetch16() << 16) >> 16;
      if (this.cond(op & 15)) this.jumpTo(this.eip + d);
      return;
    }
    if (op >= 0x40 && op <= 0x4f) { // CMOVcc: the source is read either way
      this.modrm();
      const x = this.rmRead(v);
      if (this.cond(op & 15)) this.setReg(v, this.mreg, x);
      return;
    }
    if (op >= 0x90 && op <= 0x9f) { // SETcc
      this.modrm();
      this.rmWrite(2, this.cond(op & 15) ? 1 : 0);
      return;
    }
    if (op >= 0xc8 && op <= 0xcf) { // BSWAP (16-bit operand: undefined; the low word becomes 0 as on hardware)
      const i = op & 7;
      const x = this.r[i]!;
      if (v === 1) this.r[i] = x & ~0xffff;
      else this.r[i] = (x << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24);
      return;
    }
    this.fault(V_UD);
  }

  /** BT/BTS/BTR/BTC r/m, reg: a register bit offset reaches any bit of memory around the operand (signed). */
  private btMem(kind: number): void {
    const v = this.osz;
    this.modrm();
    const off = this.getReg(v, this.mreg);
    if (this.misReg) {
      const res = this.bitOp(kind, this.getReg(v, this.mrm), off & (v === 0 ? 31 : 15));
      if (kind !== 0) this.setReg(v, this.mrm, res);
      return;
    }
    let addr: number;
    let bit: number;
    if (v === 0) {
      addr = (this.mea + ((off >> 5) << 2)) | 0;
      bit = off & 31;
    } else {
      const s = (off << 16) >> 16;
      addr = (this.mea + ((s >> 4) << 1)) | 0;
      bit = s & 15;
    }
    const x = this.rd(v, addr);
    const res = this.bitOp(kind, x, bit);
    if (kind !== 0) this.wr(v, addr, res);
  }

  /** LSS/LFS/LGS (and LDS/LES from the one-byte map): a far pointer m16:16/32 into seg:reg. */
  loadFarPointer(seg: number): void {
    const v = this.osz;
    this.modrm();
    if (this.misReg) this.fault(V_UD);
    const off = this.rd(v, this.mea);
    const sel = this.rd16(this.mea + (v === 0 ? 4 : 2));
    this.loadSeg(seg, sel);
    this.setReg(v, this.mreg, off);
    if (seg === SS) {
      this.shadow = true;
      this.attention = 1;
    }
  }

  /** 0F 00: SLDT STR LLDT LTR (VERR/VERW: #UD). Real mode: #UD. */
  private group6(): void {
    if (!this.pe) this.fault(V_UD);
    this.modrm();
    switch (this.mreg) {
      case 0: this.rmWrite(this.misReg ? this.osz : 1, this.ldt.selector); return;
      case 1: this.rmWrite(this.misReg ? this.osz : 1, this.tr.selector); return;
      case 2: this.loadLdt(this.rmRead(1)); return;
      case 3: this.loadTaskRegister(this.rmRead(1)); return;
      default: this.fault(V_UD);
    }
  }

  /** 0F 01: SGDT SIDT LGDT LIDT SMSW LMSW INVLPG. */
  private group7(): void {
    this.modrm();
    switch (this.mreg) {
      case 0: case 1: this.storeTableRegister(this.mreg); return;
      case 2: case 3: this.loadTableRegister(this.mreg - 2); return;
      case 4: this.rmWrite(this.misReg ? this.osz : 1, this.cr0); return; // SMSW
      case 6: { // LMSW: PE can be set, not cleared
        const x = this.rmRead(1);
        this.setCr0((this.cr0 & ~0xe) | (x & 0xf) | (this.cr0 & 1));
        return;
      }
      case 7: if (this.misReg) this.fault(V_UD); return; // INVLPG: no TLB
      default: this.fault(V_UD);
    }
  }
}


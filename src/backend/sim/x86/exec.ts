/**
 * The general decoder: prefixes, then the one-byte opcode map. It runs
 * every instruction in every mode (real mode, 16-bit and 32-bit code,
 * segment overrides); the fast path (fast.ts) only takes over the common
 * unprefixed instructions of flat 32-bit code, and hands anything else to
 * stepGeneral().
 *
 * Not implemented (#UD): the BCD instructions (DAA DAS AAA AAS AAM AAD),
 * BOUND, ARPL, SALC, INT1; x87 escapes raise #NM when CR0.EM or CR0.TS is
 * set and #UD otherwise (there is no FPU).
 */
import { CS, DS, ES, FS, GS, SS, F_AF, F_CF, F_PF, F_SF, F_ZF, V_BP, V_GP, V_NM, V_OF, V_UD } from './consts.js';
import { CpuExec0F } from './exec0f.js';
import { STR_CMPS, STR_INS, STR_LODS, STR_MOVS, STR_OUTS, STR_SCAS, STR_STOS } from './strings.js';

export class CpuExec extends CpuExec0F {
  /** Executes one instruction at CS:EIP through the general decoder. */
  stepGeneral(): void {
    this.start = this.eip;
    this.ridx = 0;
    this.wdone = 0;
    const def = this.code32 ? 0 : 1;
    let osz = def;
    let a16 = !this.code32;
    let segOv = -1;
    let rep = 0;
    let op = this.fetch8();
    for (let n = 1; ; n++) {
      if (n > 14) this.fault(V_GP, 0); // longer than 15 bytes
      switch (op) {
        case 0x66: osz = def ^ 1; break;
        case 0x67: a16 = this.code32; break;
        case 0x26: segOv = ES; break;
        case 0x2e: segOv = CS; break;
        case 0x36: segOv = SS; break;
        case 0x3e: segOv = DS; break;
        case 0x64: segOv = FS; break;
        case 0x65: segOv = GS; break;
        case 0xf0: break; // LOCK: one CPU, nothing to lock
        case 0xf2: case 0xf3: rep = op; break;
        default: n = -1; break;
      }
      if (n < 0) break;
      op = this.fetch8();
    }
    this.osz = osz;
    this.a16 = a16;
    this.segOv = segOv;
    this.rep = rep;
    this.exec1(op);
  }

  private exec1(op: number): void {
    const v = this.osz;
    const r = this.r;
    if (op < 0x40 && (op & 7) < 6) { // ADD OR ADC SBB AND SUB XOR CMP, six forms each
      const alu = op >> 3;
      switch (op & 7) {
        case 0: case 1: { // r/m, reg
          const sz = op & 1 ? v : 2;
          this.modrm();
          const res = this.alu(alu, this.rmRead(sz), this.getReg(sz, this.mreg), sz);
          if (alu !== 7) this.rmWrite(sz, res);
          return;
        }
        case 2: case 3: { // reg, r/m
          const sz = op & 1 ? v : 2;
          this.modrm();
          const res = this.alu(alu, this.getReg(sz, this.mreg), this.rmRead(sz), sz);
          if (alu !== 7) this.setReg(sz, this.mreg, res);
          return;
        }
        case 4: { // AL, imm8
          const res = this.alu(alu, r[0]! & 0xff, this.fetch8(), 2);
          if (alu !== 7) this.setReg(2, 0, res);
          return;
        }
        default: { // eAX, imm
          const res = this.alu(alu, this.getReg(v, 0), this.fetchImm(v), v);
          if (alu !== 7) this.setReg(v, 0, res);
          return;
        }
      }
    }
    if (op >= 0x40 && op <= 0x4f) { // INC/DEC reg
      this.setReg(v, op & 7, this.incdec(op >= 0x48, this.getReg(v, op & 7), v));
      return;
    }
    if (op >= 0x50 && op <= 0x57) { // PUSH reg (PUSH ESP pushes the old value)
      this.push(v, this.getReg(v, op & 7));
      return;
    }
    if (op >= 0x58 && op <= 0x5f) { // POP reg (POP ESP loads the popped value)
      const x = this.peek(v, 0);
      this.spAdd(v === 0 ? 4 : 2);
      this.setReg(v, op & 7, x);
      return;
    }
    if (op >= 0x70 && op <= 0x7f) { // Jcc rel8
      const d = this.fetchS8();
      if (this.cond(op & 15)) this.jumpTo(this.eip + d);
      return;
    }
    if (op >= 0x91 && op <= 0x97) { // XCHG eAX, reg
      const x = this.getReg(v, 0);
      this.setReg(v, 0, this.getReg(v, op & 7));
      this.setReg(v, op & 7, x);
      return;
    }
    if (op >= 0xb0 && op <= 0xb7) { this.setReg(2, op & 7, this.fetch8()); return; }
    if (op >= 0xb8 && op <= 0xbf) { this.setReg(v, op & 7, this.fetchImm(v)); return; }
    if (op >= 0xd8 && op <= 0xdf) { // x87 escape
      this.modrm();
      this.fault((this.cr0 & 0xc) !== 0 ? V_NM : V_UD);
    }
    switch (op) {
      case 0x06: this.push(v, this.segs[ES]!.selector); return;
      case 0x07: this.popSeg(ES); return;
      case 0x0e: this.push(v, this.segs[CS]!.selector); return;
      case 0x0f: this.exec0f(); return;
      case 0x16: this.push(v, this.segs[SS]!.selector); return;
      case 0x17: this.popSeg(SS); return;
      case 0x1e: this.push(v, this.segs[DS]!.selector); return;
      case 0x1f: this.popSeg(DS); return;
      case 0x60: { // PUSHA
        const n = v === 0 ? 4 : 2;
        const sp = this.getReg(v, 4);
        for (let i = 0; i < 8; i++) this.wr(v, this.stackAddr(-(i + 1) * n), i === 4 ? sp : this.getReg(v, i));
        this.spAdd(-8 * n);
        return;
      }
      case 0x61: { // POPA (the ESP slot is skipped)
        const vals = [0, 0, 0, 0, 0, 0, 0, 0];
        for (let i = 0; i < 8; i++) vals[7 - i] = this.peek(v, i);
        this.spAdd(8 * (v === 0 ? 4 : 2));
        for (let i = 0; i < 8; i++) if (i !== 4) this.setReg(v, i, vals[i]!);
        return;
      }
      case 0x68: this.push(v, this.fetchImm(v)); return;
      case 0x69: case 0x6b: { // IMUL reg, r/m, imm
        this.modrm();
        const a = this.rmRead(v);
        const b = op === 0x69 ? this.fetchImm(v) : this.fetchS8();
        this.setReg(v, this.mreg, this.imul2(a, b, v));
        return;
      }
      case 0x6a: this.push(v, this.fetchS8()); return;
      case 0x6c: this.stringOp(STR_INS, 2); return;
      case 0x6d: this.stringOp(STR_INS, v); return;
      case 0x6e: this.stringOp(STR_OUTS, 2); return;
      case 0x6f: this.stringOp(STR_OUTS, v); return;
      case 0x80: case 0x82: case 0x81: case 0x83: { // group 1
        const sz = op === 0x81 || op === 0x83 ? v : 2;
        this.modrm();
        const a = this.rmRead(sz);
        const b = op === 0x81 ? this.fetchImm(v) : op === 0x83 ? this.fetchS8() : this.fetch8();
        const res = this.alu(this.mreg, a, b, sz);
        if (this.mreg !== 7) this.rmWrite(sz, res);
        return;
      }
      case 0x84: case 0x85: { // TEST r/m, reg
        const sz = op & 1 ? v : 2;
        this.modrm();
        this.alu(4, this.rmRead(sz), this.getReg(sz, this.mreg), sz);
        return;
      }
      case 0x86: case 0x87: { // XCHG r/m, reg
        const sz = op & 1 ? v : 2;
        this.modrm();
        const a = this.rmRead(sz);
        this.rmWrite(sz, this.getReg(sz, this.mreg));
        this.setReg(sz, this.mreg, a);
        return;
      }
      case 0x88: this.modrm(); this.rmWrite(2, this.getReg(2, this.mreg)); return;
      case 0x89: this.modrm(); this.rmWrite(v, this.getReg(v, this.mreg)); return;
      case 0x8a: this.modrm(); this.setReg(2, this.mreg, this.rmRead(2)); return;
      case 0x8b: this.modrm(); this.setReg(v, this.mreg, this.rmRead(v)); return;
      case 0x8c: { // MOV r/m, Sreg (a register destination gets the zero-extended selector)
        this.modrm();
        if (this.mreg > 5) this.fault(V_UD);
        const sel = this.segs[this.mreg]!.selector;
        if (this.misReg) this.setReg(v, this.mrm, sel);
        else this.wr16(this.mea, sel);
        return;
      }
      case 0x8d: { // LEA
        this.modrm();
        if (this.misReg) this.fault(V_UD);
        this.setReg(v, this.mreg, this.moff);
        return;
      }
      case 0x8e: { // MOV Sreg, r/m16
        this.modrm();
        if (this.mreg === CS || this.mreg > 5) this.fault(V_UD);
        this.loadSeg(this.mreg, this.rmRead(1));
        if (this.mreg === SS) this.setShadow();
        return;
      }
      case 0x8f: { // POP r/m: the address is computed after ESP moved
        const x = this.peek(v, 0);
        this.spAdd(v === 0 ? 4 : 2);
        this.modrm();
        if (this.mreg !== 0) {
          this.spAdd(v === 0 ? -4 : -2);
          this.fault(V_UD);
        }
        this.rmWrite(v, x);
        return;
      }
      case 0x90: return; // NOP, and PAUSE (F3 90)
      case 0x98: // CBW / CWDE
        if (v === 0) r[0] = (r[0]! << 16) >> 16;
        else this.setReg(1, 0, (r[0]! << 24) >> 24);
        return;
      case 0x99: // CWD / CDQ
        if (v === 0) r[2] = r[0]! >> 31;
        else this.setReg(1, 2, (r[0]! << 16) >> 31);
        return;
      case 0x9a: { // CALL ptr16:16/32
        const off = this.fetchImm(v);
        const sel = this.fetch16();
        this.farCall(sel, off);
        return;
      }
      case 0x9b: return; // WAIT: no FPU exceptions pending
      case 0x9c: this.push(v, this.getEflags() & (v === 0 ? 0xfcffff : 0xffff)); return; // PUSHF (VM and RF read as 0)
      case 0x9d: { // POPF
        const x = this.peek(v, 0);
        this.spAdd(v === 0 ? 4 : 2);
        this.loadFlags(x, v);
        return;
      }
      case 0x9e: this.setSomeFlags(F_SF | F_ZF | F_AF | F_PF | F_CF, (r[0]! >> 8) & 0xd5); return; // SAHF
      case 0x9f: this.setReg(2, 4, (this.getEflags() & 0xd5) | 2); return; // LAHF
      case 0xa0: case 0xa1: case 0xa2: case 0xa3: { // MOV AL/eAX <-> moffs
        const sz = op & 1 ? v : 2;
        const off = this.a16 ? this.fetch16() : this.fetch32();
        const a = this.dataAddr(off);
        if (op < 0xa2) this.setReg(sz, 0, this.rd(sz, a));
        else this.wr(sz, a, this.getReg(sz, 0));
        return;
      }
      case 0xa4: this.stringOp(STR_MOVS, 2); return;
      case 0xa5: this.stringOp(STR_MOVS, v); return;
      case 0xa6: this.stringOp(STR_CMPS, 2); return;
      case 0xa7: this.stringOp(STR_CMPS, v); return;
      case 0xa8: this.alu(4, r[0]! & 0xff, this.fetch8(), 2); return;
      case 0xa9: this.alu(4, this.getReg(v, 0), this.fetchImm(v), v); return;
      case 0xaa: this.stringOp(STR_STOS, 2); return;
      case 0xab: this.stringOp(STR_STOS, v); return;
      case 0xac: this.stringOp(STR_LODS, 2); return;
      case 0xad: this.stringOp(STR_LODS, v); return;
      case 0xae: this.stringOp(STR_SCAS, 2); return;
      case 0xaf: this.stringOp(STR_SCAS, v); return;
      case 0xc0: case 0xc1: case 0xd0: case 0xd1: case 0xd2: case 0xd3: { // group 2
        const sz = op & 1 ? v : 2;
        this.modrm();
        const a = this.rmRead(sz);
        const count = op <= 0xc1 ? this.fetch8() : op <= 0xd1 ? 1 : r[1]!;
        const res = this.shift(this.mreg, a, count, sz);
        if ((count & 31) !== 0) this.rmWrite(sz, res);
        return;
      }
      case 0xc2: case 0xc3: { // RET near (imm16)
        const release = op === 0xc2 ? this.fetch16() : 0;
        const ip = this.peek(v, 0);
        this.spAdd((v === 0 ? 4 : 2) + release);
        this.jumpTo(ip);
        return;
      }
      case 0xc4: this.loadFarPointer(ES); return; // LES
      case 0xc5: this.loadFarPointer(DS); return; // LDS
      case 0xc6: case 0xc7: { // MOV r/m, imm
        const sz = op & 1 ? v : 2;
        this.modrm();
        if (this.mreg !== 0) this.fault(V_UD);
        this.rmWrite(sz, this.fetchImm(sz));
        return;
      }
      case 0xc8: this.enter(this.fetch16(), this.fetch8() & 31); return;
      case 0xc9: { // LEAVE
        const bp = this.stack32 ? r[5]! : r[5]! & 0xffff;
        const x = this.rd(v, this.segBase[SS]! + bp);
        if (this.stack32) r[4] = bp + (v === 0 ? 4 : 2);
        else r[4] = (r[4]! & ~0xffff) | ((bp + (v === 0 ? 4 : 2)) & 0xffff);
        this.setReg(v, 5, x);
        return;
      }
      case 0xca: this.farReturn(this.fetch16()); return;
      case 0xcb: this.farReturn(0); return;
      case 0xcc: this.deliver(V_BP, -1, this.eip, true); return; // INT3
      case 0xcd: { const n = this.fetch8(); this.deliver(n, -1, this.eip, true); return; } // INT n
      case 0xce: if (this.getOF()) this.deliver(V_OF, -1, this.eip, true); return; // INTO
      case 0xcf: this.iret(); return;
      case 0xd7: { // XLAT
        const base = this.a16 ? r[3]! & 0xffff : r[3]!;
        const off = this.a16 ? (base + (r[0]! & 0xff)) & 0xffff : base + (r[0]! & 0xff);
        this.setReg(2, 0, this.rd8(this.dataAddr(off)));
        return;
      }
      case 0xe0: case 0xe1: case 0xe2: { // LOOPNE / LOOPE / LOOP
        const d = this.fetchS8();
        this.idxAdd(1, -1);
        let taken = this.idx(1) !== 0;
        if (op === 0xe0) taken = taken && !this.getZF();
        else if (op === 0xe1) taken = taken && this.getZF();
        if (taken) this.jumpTo(this.eip + d);
        return;
      }
      case 0xe3: { // JCXZ / JECXZ
        const d = this.fetchS8();
        if (this.idx(1) === 0) this.jumpTo(this.eip + d);
        return;
      }
      case 0xe4: this.setReg(2, 0, this.portIn(this.fetch8(), 2)); return;
      case 0xe5: this.setReg(v, 0, this.portIn(this.fetch8(), v)); return;
      case 0xe6: this.portOut(this.fetch8(), 2, r[0]!); return;
      case 0xe7: this.portOut(this.fetch8(), v, r[0]!); return;
      case 0xe8: { // CALL rel
        const d = v === 0 ? this.fetch32() : (this.fetch16() << 16) >> 16;
        this.push(v, this.eip);
        this.jumpTo(this.eip + d);
        return;
      }
      case 0xe9: { // JMP rel16/32
        const d = v === 0 ? this.fetch32() : (this.fetch16() << 16) >> 16;
        this.jumpTo(this.eip + d);
        return;
      }
      case 0xea: { // JMP ptr16:16/32
        const off = this.fetchImm(v);
        const sel = this.fetch16();
        this.farJump(sel, off);
        return;
      }
      case 0xeb: { const d = this.fetchS8(); this.jumpTo(this.eip + d); return; }
      case 0xec: this.setReg(2, 0, this.portIn(r[2]!, 2)); return;
      case 0xed: this.setReg(v, 0, this.portIn(r[2]!, v)); return;
      case 0xee: this.portOut(r[2]!, 2, r[0]!); return;
      case 0xef: this.portOut(r[2]!, v, r[0]!); return;
      case 0xf4: // HLT
        this.halted = true;
        this.attention = 1;
        return;
      case 0xf5: this.setSomeFlags(F_CF, this.getCF() ^ 1); return; // CMC
      case 0xf6: this.group3(2); return;
      case 0xf7: this.group3(v); return;
      case 0xf8: this.setSomeFlags(F_CF, 0); return; // CLC
      case 0xf9: this.setSomeFlags(F_CF, F_CF); return; // STC
      case 0xfa: this.cli(); return;
      case 0xfb: this.sti(); return;
      case 0xfc: this.setDF(false); return;
      case 0xfd: this.setDF(true); return;
      case 0xfe: { // group 4: INC/DEC r/m8
        this.modrm();
        if (this.mreg > 1) this.fault(V_UD);
        this.rmWrite(2, this.incdec(this.mreg === 1, this.rmRead(2), 2));
        return;
      }
      case 0xff: this.group5(); return;
      default:
        this.fault(V_UD);
    }
  }

  private popSeg(seg: number): void {
    const v = this.osz;
    this.loadSeg(seg, this.peek(v, 0));
    this.spAdd(v === 0 ? 4 : 2);
    if (seg === SS) this.setShadow();
  }

  /** MOV SS / POP SS: interrupts wait until after the next instruction. */
  private setShadow(): void {
    this.shadow = true;
    this.attention = 1;
  }

  private group3(sz: number): void {
    this.modrm();
    switch (this.mreg) {
      case 0: case 1: { // TEST r/m, imm
        const a = this.rmRead(sz);
        this.alu(4, a, this.fetchImm(sz), sz);
        return;
      }
      case 2: this.rmWrite(sz, ~this.rmRead(sz)); return; // NOT: no flags
      case 3: this.rmWrite(sz, this.alu(5, 0, this.rmRead(sz), sz)); return; // NEG
      case 4: this.mulAcc(this.rmRead(sz), sz, false); return;
      case 5: this.mulAcc(this.rmRead(sz), sz, true); return;
      case 6: this.divAcc(this.rmRead(sz), sz, false); return;
      default: this.divAcc(this.rmRead(sz), sz, true); return;
    }
  }

  private group5(): void {
    const v = this.osz;
    this.modrm();
    switch (this.mreg) {
      case 0: this.rmWrite(v, this.incdec(false, this.rmRead(v), v)); return;
      case 1: this.rmWrite(v, this.incdec(true, this.rmRead(v), v)); return;
      case 2: { // CALL near r/m
        const t = this.rmRead(v);
        this.push(v, this.eip);
        this.jumpTo(t);
        return;
      }
      case 3: case 5: { // CALL / JMP far m16:16/32
        if (this.misReg) this.fault(V_UD);
        const off = this.rd(v, this.mea);
        const sel = this.rd16(this.mea + (v === 0 ? 4 : 2));
        if (this.mreg === 3) this.farCall(sel, off);
        else this.farJump(sel, off);
        return;
      }
      case 4: this.jumpTo(this.rmRead(v)); return;
      case 6: this.push(v, this.rmRead(v)); return;
      default: this.fault(V_UD);
    }
  }

  private enter(size: number, level: number): void {
    const v = this.osz;
    const n = v === 0 ? 4 : 2;
    const ss = this.segBase[SS]!;
    const bpMask = this.stack32 ? -1 : 0xffff;
    let frame = (this.sp() - n) & bpMask;
    // Write everything first, then move ESP/EBP (so a fault or MMIO read re-executes cleanly).
    this.wr(v, ss + frame, this.getReg(v, 5));
    let bp = this.getReg(this.stack32 ? 0 : 1, 5);
    let at = frame;
    for (let i = 1; i < level; i++) {
      bp = (bp - n) & bpMask;
      at = (at - n) & bpMask;
      this.wr(v, ss + at, this.rd(v, ss + bp));
    }
    if (level > 0) {
      at = (at - n) & bpMask;
      this.wr(v, ss + at, frame);
    }
    frame &= v === 0 ? -1 : 0xffff;
    this.setReg(v, 5, frame);
    const newSp = (at - size) & bpMask;
    if (this.stack32) this.r[4] = newSp;
    else this.r[4] = (this.r[4]! & ~0xffff) | newSp;
  }
}


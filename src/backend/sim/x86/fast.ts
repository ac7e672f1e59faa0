/**
 * The fast path: unprefixed instructions of flat 32-bit protected-mode code
 * (CS/DS/ES/SS bases 0, 32-bit code and stack), which is what gcc -m32
 * output runs as after boot. EIP lives in a local, the fetch is a byte
 * array index (the instruction's 15 bytes are known to be in RAM), memory
 * operands in RAM are one compare and a DataView access, and flags are
 * recorded lazily. Everything else — prefixes, other opcodes, accesses
 * outside the RAM at GPA 0 — goes through the general decoder or the slow
 * memory path, so this file only decides speed, never behaviour: tests run
 * with `fastPath: false` too and must see the same results.
 */
import { V_UD } from './consts.js';
import { CpuExec } from './exec.js';
import { K_DEC, K_INC, K_LOGIC } from './flags.js';

/** Per opcode (0x000-0x0ff one-byte, 0x100-0x1ff after 0F): 0 general decoder, 1 fast, 2 fast with ModRM. */
const FAST = new Uint8Array(512);
function mark(kind: number, ...ops: (number | [number, number])[]): void {
  for (const o of ops) {
    if (typeof o === 'number') FAST[o] = kind;
    else for (let i = o[0]; i <= o[1]; i++) FAST[i] = kind;
  }
}
// ALU r/m forms of ADD OR ADC SBB AND SUB XOR CMP, and their accumulator-immediate forms.
for (let alu = 0; alu < 8; alu++) {
  mark(2, [alu * 8, alu * 8 + 3]);
  mark(1, alu * 8 + 4, alu * 8 + 5);
}
mark(1, [0x40, 0x5f], 0x68, 0x6a, [0x70, 0x7f], 0x90, 0x98, 0x99, 0xa1, 0xa3, 0xa8, 0xa9, [0xb0, 0xbf], 0xc2, 0xc3,
  0xc9, 0xe8, 0xe9, 0xeb, [0x180, 0x18f]);
mark(2, 0x69, 0x6b, 0x80, 0x81, 0x83, [0x84, 0x8b], 0x8d, 0xc0, 0xc1, 0xc6, 0xc7, [0xd0, 0xd3], 0xf6, 0xf7, 0xfe, 0xff,
  [0x140, 0x14f], [0x190, 0x19f], 0x1af, 0x1b6, 0x1b7, 0x1be, 0x1bf);

const LOGIC32 = K_LOGIC << 2;

export class CpuFast extends CpuExec {
  /** An exception or abort thrown inside runFast(), for the run loop to handle. */
  pendingThrow: unknown = null;

  /** One instruction through the general decoder from inside the fast loop; returns the new EIP. */
  private general(start: number, n: number): number {
    this.eip = start;
    this.curN = n;
    this.stepGeneral();
    return this.eip;
  }

  /** ADD OR ADC SBB AND SUB XOR CMP on 32-bit values, flags recorded lazily. */
  private alu32(op: number, a: number, b: number): number {
    let res: number;
    switch (op) {
      case 0: res = (a + b) | 0; this.fop = 4; this.fsrc = b; break; // K_ADD, 32-bit
      case 1: res = a | b; this.fop = LOGIC32; break;
      case 4: res = a & b; this.fop = LOGIC32; break;
      case 5: case 7: res = (a - b) | 0; this.fop = 12; this.fsrc = b; break; // K_SUB, 32-bit
      case 6: res = a ^ b; this.fop = LOGIC32; break;
      default: return this.alu(op, a, b, 0);
    }
    this.fres = res;
    return res;
  }

  /** CF for INC/DEC, cheaply when the last flag producer already tells it. */
  private carry(): number {
    const k = this.fop >> 2;
    if (k === K_LOGIC) return 0;
    if (k >= K_INC && k <= K_DEC + 1) return k & 1;
    return this.getCF();
  }

  /**
   * Runs from this.eip until `max` instructions have retired in this run()
   * (counting from `n`), or something needs the run loop's attention (an
   * exit, an interrupt check, a mode change). Returns the new count.
   */
  runFast(n: number, max: number): number {
    const r = this.r;
    const ram = this.ram;
    const dv = this.dv;
    const rl1 = this.rl1, rl4 = this.rl4, wl1 = this.wl1, wl4 = this.wl4;
    const codeLim = rl1 - 16;
    let eip = this.eip | 0;
    let start = eip;
    try {
      for (; n < max; n++) {
        if (this.attention !== 0) break;
        start = eip;
        if (eip < 0 || eip >= codeLim) {
          eip = this.general(start, n);
          continue;
        }
        let op = ram[eip]!;
        if (op === 0x0f) op = 0x100 | ram[eip + 1]!;
        const kind = FAST[op]!;
        if (kind === 0) {
          eip = this.general(start, n);
          continue;
        }
        eip += op > 0xff ? 2 : 1;
        // ModRM: register operand (isReg, rm) or the linear address ea (flat: the offset).
        let mr = 0, rm = 0, ea = 0;
        let isReg = false;
        if (kind === 2) {
          const m = ram[eip++]!;
          mr = (m >> 3) & 7;
          if (m >= 0xc0) {
            isReg = true;
            rm = m & 7;
          } else {
            const mod = m >> 6;
            const b = m & 7;
            if (b === 4) {
              const sib = ram[eip++]!;
              const base = sib & 7;
              const ix = (sib >> 3) & 7;
              ea = ix === 4 ? 0 : r[ix]! << (sib >> 6);
              if (base === 5 && mod === 0) {
                ea += dv.getInt32(eip, true);
                eip += 4;
              } else ea += r[base]!;
            } else if (b === 5 && mod === 0) {
              ea = dv.getInt32(eip, true);
              eip += 4;
            } else ea = r[b]!;
            if (mod === 1) ea += (ram[eip++]! << 24) >> 24;
            else if (mod === 2) {
              ea += dv.getInt32(eip, true);
              eip += 4;
            }
            ea |= 0;
          }
        }
        switch (op) {
          // ---- ALU ---------------------------------------------------------------------------------------
          case 0x01: case 0x09: case 0x11: case 0x19: case 0x21: case 0x29: case 0x31: case 0x39: { // op r/m32, r32
            const alu = op >> 3;
            if (isReg) {
              const res = this.alu32(alu, r[rm]!, r[mr]!);
              if (alu !== 7) r[rm] = res;
            } else {
              const u = ea >>> 0;
              const a = u < rl4 ? dv.getInt32(u, true) : this.rdSlow(u, 4);
              const res = this.alu32(alu, a, r[mr]!);
              if (alu !== 7) {
                if (u < wl4) dv.setInt32(u, res, true);
                else this.wrSlow(u, 4, res);
              }
            }
            break;
          }
          case 0x03: case 0x0b: case 0x13: case 0x1b: case 0x23: case 0x2b: case 0x33: case 0x3b: { // op r32, r/m32
            const alu = op >> 3;
            let b: number;
            if (isReg) b = r[rm]!;
            else {
              const u = ea >>> 0;
              b = u < rl4 ? dv.getInt32(u, true) : this.rdSlow(u, 4);
            }
            const res = this.alu32(alu, r[mr]!, b);
            if (alu !== 7) r[mr] = res;
            break;
          }
          case 0x00: case 0x08: case 0x10: case 0x18: case 0x20: case 0x28: case 0x30: case 0x38: { // op r/m8, r8
            const alu = op >> 3;
            if (isReg) {
              const res = this.alu(alu, this.getReg(2, rm), this.getReg(2, mr), 2);
              if (alu !== 7) this.setReg(2, rm, res);
            } else {
              const u = ea >>> 0;
              const a = u < rl1 ? ram[u]! : this.rdSlow(u, 1);
              const res = this.alu(alu, a, this.getReg(2, mr), 2);
              if (alu !== 7) {
                if (u < wl1) ram[u] = res;
                else this.wrSlow(u, 1, res);
              }
            }
            break;
          }
          case 0x02: case 0x0a: case 0x12: case 0x1a: case 0x22: case 0x2a: case 0x32: case 0x3a: { // op r8, r/m8
            const alu = op >> 3;
            let b: number;
            if (isReg) b = this.getReg(2, rm);
            else {
              const u = ea >>> 0;
              b = u < rl1 ? ram[u]! : this.rdSlow(u, 1);
            }
            const res = this.alu(alu, this.getReg(2, mr), b, 2);
            if (alu !== 7) this.setReg(2, mr, res);
            break;
          }
          case 0x04: case 0x0c: case 0x14: case 0x1c: case 0x24: case 0x2c: case 0x34: case 0x3c: { // op AL, imm8
            const alu = op >> 3;
            const res = this.alu(alu, r[0]! & 0xff, ram[eip++]!, 2);
            if (alu !== 7) r[0] = (r[0]! & ~0xff) | res;
            break;
          }
          case 0x05: case 0x0d: case 0x15: case 0x1d: case 0x25: case 0x2d: case 0x35: case 0x3d: { // op EAX, imm32
            const alu = op >> 3;
            const res = this.alu32(alu, r[0]!, dv.getInt32(eip, true));
            eip += 4;
            if (alu !== 7) r[0] = res;
            break;
          }
          case 0x80: case 0x81: case 0x83: { // group 1 r/m, imm
            const alu = mr;
            if (op === 0x80) {
              let a: number;
              let u = 0;
              if (isReg) a = this.getReg(2, rm);
              else {
                u = ea >>> 0;
                a = u < rl1 ? ram[u]! : this.rdSlow(u, 1);
              }
              const res = this.alu(alu, a, ram[eip++]!, 2);
              if (alu !== 7) {
                if (isReg) this.setReg(2, rm, res);
                else if (u < wl1) ram[u] = res;
                else this.wrSlow(u, 1, res);
              }
              break;
            }
            let b: number;
            if (op === 0x81) {
              b = dv.getInt32(eip, true);
              eip += 4;
            } else b = (ram[eip++]! << 24) >> 24;
            if (isReg) {
              const res = this.alu32(alu, r[rm]!, b);
              if (alu !== 7) r[rm] = res;
            } else {
              const u = ea >>> 0;
              const a = u < rl4 ? dv.getInt32(u, true) : this.rdSlow(u, 4);
              const res = this.alu32(alu, a, b);
              if (alu !== 7) {
                if (u < wl4) dv.setInt32(u, res, true);
                else this.wrSlow(u, 4, res);
              }
            }
            break;
          }
          case 0x84: { // TEST r/m8, r8
            const a = isReg ? this.getReg(2, rm) : this.rd8(ea);
            this.fop = (K_LOGIC << 2) | 2;
            this.fres = (a & this.getReg(2, mr)) << 24;
            break;
          }
          case 0x85: { // TEST r/m32, r32
            let a: number;
            if (isReg) a = r[rm]!;
            else {
              const u = ea >>> 0;
              a = u < rl4 ? dv.getInt32(u, true) : this.rdSlow(u, 4);
            }
            this.fop = LOGIC32;
            this.fres = a & r[mr]!;
            break;
          }
          case 0xa8: // TEST AL, imm8
            this.fop = (K_LOGIC << 2) | 2;
            this.fres = (r[0]! & ram[eip++]!) << 24;
            break;
          case 0xa9: // TEST EAX, imm32
            this.fop = LOGIC32;
            this.fres = r[0]! & dv.getInt32(eip, true);
            eip += 4;
            break;
          case 0x40: case 0x41: case 0x42: case 0x43: case 0x44: case 0x45: case 0x46: case 0x47: { // INC r32
            const c = this.carry();
            const res = (r[op & 7]! + 1) | 0;
            r[op & 7] = res;
            this.fop = (K_INC + c) << 2;
            this.fres = res;
            this.fsrc = 1;
            break;
          }
          case 0x48: case 0x49: case 0x4a: case 0x4b: case 0x4c: case 0x4d: case 0x4e: case 0x4f: { // DEC r32
            const c = this.carry();
            const res = (r[op & 7]! - 1) | 0;
            r[op & 7] = res;
            this.fop = (K_DEC + c) << 2;
            this.fres = res;
            this.fsrc = 1;
            break;
          }
          case 0x69: case 0x6b: { // IMUL r32, r/m32, imm
            const a = isReg ? r[rm]! : this.rd32(ea);
            let b: number;
            if (op === 0x69) {
              b = dv.getInt32(eip, true);
              eip += 4;
            } else b = (ram[eip++]! << 24) >> 24;
            r[mr] = this.imul2(a, b, 0);
            break;
          }
          case 0x1af: // IMUL r32, r/m32
            r[mr] = this.imul2(r[mr]!, isReg ? r[rm]! : this.rd32(ea), 0);
            break;
          // ---- moves ---------------------------------------------------------------------------------------------
          case 0x88: { // MOV r/m8, r8
            const x = this.getReg(2, mr);
            if (isReg) this.setReg(2, rm, x);
            else {
              const u = ea >>> 0;
              if (u < wl1) ram[u] = x;
              else this.wrSlow(u, 1, x);
            }
            break;
          }
          case 0x89: // MOV r/m32, r32
            if (isReg) r[rm] = r[mr]!;
            else {
              const u = ea >>> 0;
              if (u < wl4) dv.setInt32(u, r[mr]!, true);
              else this.wrSlow(u, 4, r[mr]!);
            }
            break;
          case 0x8a: { // MOV r8, r/m8
            let x: number;
            if (isReg) x = this.getReg(2, rm);
            else {
              const u = ea >>> 0;
              x = u < rl1 ? ram[u]! : this.rdSlow(u, 1);
            }
            if (mr < 4) r[mr] = (r[mr]! & ~0xff) | x;
            else r[mr - 4] = (r[mr - 4]! & ~0xff00) | (x << 8);
            break;
          }
          case 0x8b: // MOV r32, r/m32
            if (isReg) r[mr] = r[rm]!;
            else {
              const u = ea >>> 0;
              r[mr] = u < rl4 ? dv.getInt32(u, true) : this.rdSlow(u, 4);
            }
            break;
          case 0x8d: // LEA
            if (isReg) this.fault(V_UD);
            r[mr] = ea;
            break;
          case 0xc6: case 0xc7: { // MOV r/m, imm
            if (mr !== 0) this.fault(V_UD);
            if (op === 0xc6) {
              const x = ram[eip++]!;
              if (isReg) this.setReg(2, rm, x);
              else {
                const u = ea >>> 0;
                if (u < wl1) ram[u] = x;
                else this.wrSlow(u, 1, x);
              }
            } else {
              const x = dv.getInt32(eip, true);
              eip += 4;
              if (isReg) r[rm] = x;
              else {
                const u = ea >>> 0;
                if (u < wl4) dv.setInt32(u, x, true);
                else this.wrSlow(u, 4, x);
              }
            }
            break;
          }
          case 0xb0: case 0xb1: case 0xb2: case 0xb3: // MOV r8 (AL..BL), imm8
            r[op & 3] = (r[op & 3]! & ~0xff) | ram[eip++]!;
            break;
          case 0xb4: case 0xb5: case 0xb6: case 0xb7: // MOV r8 (AH..BH), imm8
            r[op & 3] = (r[op & 3]! & ~0xff00) | (ram[eip++]! << 8);
            break;
          case 0xb8: case 0xb9: case 0xba: case 0xbb: case 0xbc: case 0xbd: case 0xbe: case 0xbf: // MOV r32, imm32
            r[op & 7] = dv.getInt32(eip, true);
            eip += 4;
            break;
          case 0xa1: { // MOV EAX, moffs32
            const u = dv.getInt32(eip, true) >>> 0;
            eip += 4;
            r[0] = u < rl4 ? dv.getInt32(u, true) : this.rdSlow(u, 4);
            break;
          }
          case 0xa3: { // MOV moffs32, EAX
            const u = dv.getInt32(eip, true) >>> 0;
            eip += 4;
            if (u < wl4) dv.setInt32(u, r[0]!, true);
            else this.wrSlow(u, 4, r[0]!);
            break;
          }
          case 0x86: case 0x87: { // XCHG r/m, reg
            const sz = op === 0x86 ? 2 : 0;
            const a = isReg ? this.getReg(sz, rm) : this.rd(sz, ea);
            if (isReg) this.setReg(sz, rm, this.getReg(sz, mr));
            else this.wr(sz, ea, this.getReg(sz, mr));
            this.setReg(sz, mr, a);
            break;
          }
          case 0x1b6: // MOVZX r32, r/m8
            r[mr] = isReg ? this.getReg(2, rm) : this.rd8(ea);
            break;
          case 0x1b7: // MOVZX r32, r/m16
            r[mr] = isReg ? r[rm]! & 0xffff : this.rd16(ea);
            break;
          case 0x1be: // MOVSX r32, r/m8
            r[mr] = ((isReg ? this.getReg(2, rm) : this.rd8(ea)) << 24) >> 24;
            break;
          case 0x1bf: // MOVSX r32, r/m16
            r[mr] = ((isReg ? r[rm]! : this.rd16(ea)) << 16) >> 16;
            break;
          case 0x98: r[0] = (r[0]! << 16) >> 16; break; // CWDE
          case 0x99: r[2] = r[0]! >> 31; break; // CDQ
          case 0x90: break; // NOP
          // ---- stack ----------------------------------------------------------------------------------------------
          case 0x50: case 0x51: case 0x52: case 0x53: case 0x54: case 0x55: case 0x56: case 0x57: { // PUSH r32
            const x = r[op & 7]!;
            const sp = (r[4]! - 4) | 0;
            const u = sp >>> 0;
            if (u < wl4) dv.setInt32(u, x, true);
            else this.wrSlow(u, 4, x);
            r[4] = sp;
            break;
          }
          case 0x58: case 0x59: case 0x5a: case 0x5b: case 0x5c: case 0x5d: case 0x5e: case 0x5f: { // POP r32
            const u = r[4]! >>> 0;
            const x = u < rl4 ? dv.getInt32(u, true) : this.rdSlow(u, 4);
            r[4] = (r[4]! + 4) | 0;
            r[op & 7] = x;
            break;
          }
          case 0x68: case 0x6a: { // PUSH imm32 / imm8
            let x: number;
            if (op === 0x68) {
              x = dv.getInt32(eip, true);
              eip += 4;
            } else x = (ram[eip++]! << 24) >> 24;
            const sp = (r[4]! - 4) | 0;
            const u = sp >>> 0;
            if (u < wl4) dv.setInt32(u, x, true);
            else this.wrSlow(u, 4, x);
            r[4] = sp;
            break;
          }
          case 0xc9: { // LEAVE
            const u = r[5]! >>> 0;
            const x = u < rl4 ? dv.getInt32(u, true) : this.rdSlow(u, 4);
            r[4] = (r[5]! + 4) | 0;
            r[5] = x;
            break;
          }
          // ---- control transfer --------------------------------------------------------------------------------------
          case 0x70: case 0x71: case 0x72: case 0x73: case 0x74: case 0x75: case 0x76: case 0x77:
          case 0x78: case 0x79: case 0x7a: case 0x7b: case 0x7c: case 0x7d: case 0x7e: case 0x7f:
          case 0x180: case 0x181: case 0x182: case 0x183: case 0x184: case 0x185: case 0x186: case 0x187:
          case 0x188: case 0x189: case 0x18a: case 0x18b: case 0x18c: case 0x18d: case 0x18e: case 0x18f: { // Jcc rel8/rel32
            let d: number;
            if (op < 0x100) d = (ram[eip++]! << 24) >> 24;
            else {
              d = dv.getInt32(eip, true);
              eip += 4;
            }
            // The common producers inline (same rules as cond()): CMP/SUB compares its operands, TEST/AND... its result.
            const k = this.fop >> 2;
            let t: boolean;
            if (k === 3) { // K_SUB
              const b = this.fsrc;
              const a = (this.fres + b) | 0;
              switch (op & 15) {
                case 0x2: t = (a >>> 0) < (b >>> 0); break;
                case 0x3: t = (a >>> 0) >= (b >>> 0); break;
                case 0x4: t = a === b; break;
                case 0x5: t = a !== b; break;
                case 0x6: t = (a >>> 0) <= (b >>> 0); break;
                case 0x7: t = (a >>> 0) > (b >>> 0); break;
                case 0xc: t = a < b; break;
                case 0xd: t = a >= b; break;
                case 0xe: t = a <= b; break;
                case 0xf: t = a > b; break;
                default: t = this.cond(op & 15); break;
              }
            } else if (k === K_LOGIC && (op & 14) === 4) {
              t = (this.fres === 0) === ((op & 1) === 0); // JE/JNE after TEST/AND/OR/XOR
            } else t = this.cond(op & 15);
            if (t) eip = (eip + d) | 0;
            break;
          }
          case 0xeb: { // JMP rel8
            const d = (ram[eip++]! << 24) >> 24;
            eip = (eip + d) | 0;
            break;
          }
          case 0xe9: { // JMP rel32
            const d = dv.getInt32(eip, true);
            eip = (eip + 4 + d) | 0;
            break;
          }
          case 0xe8: { // CALL rel32
            const d = dv.getInt32(eip, true);
            eip += 4;
            const sp = (r[4]! - 4) | 0;
            const u = sp >>> 0;
            if (u < wl4) dv.setInt32(u, eip, true);
            else this.wrSlow(u, 4, eip);
            r[4] = sp;
            eip = (eip + d) | 0;
            break;
          }
          case 0xc3: case 0xc2: { // RET (imm16)
            const u = r[4]! >>> 0;
            const x = u < rl4 ? dv.getInt32(u, true) : this.rdSlow(u, 4);
            const release = op === 0xc2 ? dv.getUint16(eip, true) : 0;
            r[4] = (r[4]! + 4 + release) | 0;
            eip = x;
            break;
          }
          case 0x140: case 0x141: case 0x142: case 0x143: case 0x144: case 0x145: case 0x146: case 0x147:
          case 0x148: case 0x149: case 0x14a: case 0x14b: case 0x14c: case 0x14d: case 0x14e: case 0x14f: { // CMOVcc
            const x = isReg ? r[rm]! : this.rd32(ea);
            if (this.cond(op & 15)) r[mr] = x;
            break;
          }
          case 0x190: case 0x191: case 0x192: case 0x193: case 0x194: case 0x195: case 0x196: case 0x197:
          case 0x198: case 0x199: case 0x19a: case 0x19b: case 0x19c: case 0x19d: case 0x19e: case 0x19f: { // SETcc
            const x = this.cond(op & 15) ? 1 : 0;
            if (isReg) this.setReg(2, rm, x);
            else this.wr8(ea, x);
            break;
          }
          // ---- shifts, group 3, group 4/5 ----------------------------------------------------------------------------
          case 0xc0: case 0xc1: case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
            const sz = op & 1 ? 0 : 2;
            const a = isReg ? this.getReg(sz, rm) : this.rd(sz, ea);
            const count = op <= 0xc1 ? ram[eip++]! : op <= 0xd1 ? 1 : r[1]!;
            if ((count & 31) === 0) break;
            const res = this.shift(mr, a, count, sz);
            if (isReg) this.setReg(sz, rm, res);
            else this.wr(sz, ea, res);
            break;
          }
          case 0xf6: case 0xf7: {
            const sz = op === 0xf7 ? 0 : 2;
            const a = isReg ? this.getReg(sz, rm) : this.rd(sz, ea);
            switch (mr) {
              case 0: case 1: { // TEST r/m, imm
                let b: number;
                if (sz === 0) {
                  b = dv.getInt32(eip, true);
                  eip += 4;
                } else b = ram[eip++]!;
                this.alu(4, a, b, sz);
                break;
              }
              case 2: case 3: { // NOT, NEG
                const res = mr === 2 ? ~a : this.alu(5, 0, a, sz);
                if (isReg) this.setReg(sz, rm, res);
                else this.wr(sz, ea, res);
                break;
              }
              case 4: this.mulAcc(a, sz, false); break;
              case 5: this.mulAcc(a, sz, true); break;
              case 6: this.divAcc(a, sz, false); break;
              default: this.divAcc(a, sz, true); break;
            }
            break;
          }
          case 0xfe: { // INC/DEC r/m8
            if (mr > 1) this.fault(V_UD);
            const a = isReg ? this.getReg(2, rm) : this.rd8(ea);
            const res = this.incdec(mr === 1, a, 2);
            if (isReg) this.setReg(2, rm, res);
            else this.wr8(ea, res);
            break;
          }
          case 0xff: {
            switch (mr) {
              case 0: case 1: { // INC/DEC r/m32
                const a = isReg ? r[rm]! : this.rd32(ea);
                const res = this.incdec(mr === 1, a, 0);
                if (isReg) r[rm] = res;
                else this.wr32(ea, res);
                break;
              }
              case 2: { // CALL r/m32
                const t = isReg ? r[rm]! : this.rd32(ea);
                const sp = (r[4]! - 4) | 0;
                this.wr32(sp, eip);
                r[4] = sp;
                eip = t;
                break;
              }
              case 4: eip = isReg ? r[rm]! : this.rd32(ea); break; // JMP r/m32
              case 6: { // PUSH r/m32
                const x = isReg ? r[rm]! : this.rd32(ea);
                const sp = (r[4]! - 4) | 0;
                this.wr32(sp, x);
                r[4] = sp;
                break;
              }
              default: // far CALL/JMP and #UD
                eip = this.general(start, n);
                break;
            }
            break;
          }
          default:
            eip = this.general(start, n);
            break;
        }
      }
    } catch (e) {
      this.pendingThrow = e;
      this.start = start;
      this.eip = start;
      return n;
    }
    this.eip = eip;
    return n;
  }
}


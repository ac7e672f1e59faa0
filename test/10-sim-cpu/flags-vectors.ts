/**
 * The golden flag vectors (native/flags-vectors-<model>.txt, recorded by
 * native/flags-vectors.c on a CPU of one vendor) and how one runs as guest
 * code on the interpreter: POPF the input flags, the instruction, PUSHF.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { UndefinedFlagsModel } from '../../src/backend/sim/x86/index.js';
import { ARITH, CODE, le32, load, type Machine } from './helpers.js';

export interface Vector { name: string; a: number; b: number; fin: number; res: number; res2: number; fout: number }

/** The vector file recorded for `model`'s vendor (it may not exist yet). */
export const vectorFile = (m: UndefinedFlagsModel): string => join(import.meta.dirname, 'native', `flags-vectors-${m.id}.txt`);

export const hasVectors = (m: UndefinedFlagsModel): boolean => existsSync(vectorFile(m));

/** The vendor string of the header line ("# <vendor> <brand>") and the vectors. */
export function readVectors(path: string): { vendor: string; vectors: Vector[] } {
  const lines = readFileSync(path, 'utf8').split('\n');
  const vendor = /^# (\S+)/.exec(lines[0] ?? '')?.[1] ?? '';
  const vectors = lines.filter((l) => l && !l.startsWith('#')).map((l) => {
    const [name, ...hex] = l.split(' ');
    const [a, b, fin, res, res2, fout] = hex.map((h) => parseInt(h, 16) >>> 0);
    return { name: name!, a: a!, b: b!, fin: fin!, res: res!, res2: res2!, fout: fout! };
  });
  return { vendor, vectors };
}

const ALU: Record<string, number> = { add: 0, or: 1, adc: 2, sbb: 3, and: 4, sub: 5, xor: 6, cmp: 7 };
const SHIFT: Record<string, number> = { rol: 0, ror: 1, rcl: 2, rcr: 3, shl: 4, shr: 5, sar: 7 };
const BT: Record<string, number> = { bt: 0xa3, bts: 0xab, btr: 0xb3, btc: 0xbb };

export function split(name: string): { op: string; bits: number } {
  const m = /^(.*?)(8|16|32)$/.exec(name)!;
  return { op: m[1]!.replace(/_$/, ''), bits: Number(m[2]) };
}

/**
 * The instruction bytes for a vector: the destination is EAX (AL/AX), the
 * source ECX (CL/CX), the SHLD/SHRD fill register EDX; MUL/DIV use their
 * implicit registers with ECX as the operand.
 */
function encode(op: string, bits: number): number[] {
  const p = bits === 16 ? [0x66] : [];
  const w = bits === 8 ? 0 : 1;
  if (op in ALU) return [...p, ALU[op]! * 8 + w, 0xc8]; //        op eax, ecx
  if (op in SHIFT) return [...p, 0xd2 + w, 0xc0 | (SHIFT[op]! << 3)]; // op eax, cl
  if (op in BT) return [...p, 0x0f, BT[op]!, 0xc8]; //            bt eax, ecx
  switch (op) {
    case 'test': return [...p, 0x84 + w, 0xc8]; //               test eax, ecx
    case 'inc': return [...p, 0xfe + w, 0xc0]; //                inc eax
    case 'dec': return [...p, 0xfe + w, 0xc8]; //                dec eax
    case 'not': return [...p, 0xf6 + w, 0xd0]; //                not eax
    case 'neg': return [...p, 0xf6 + w, 0xd8]; //                neg eax
    case 'mul': return [...p, 0xf6 + w, 0xe1]; //                mul ecx
    case 'imul1': return [...p, 0xf6 + w, 0xe9]; //              imul ecx
    case 'div': return [...p, 0xf6 + w, 0xf1]; //                div ecx
    case 'idiv': return [...p, 0xf6 + w, 0xf9]; //               idiv ecx
    case 'imul2': return [...p, 0x0f, 0xaf, 0xc1]; //            imul eax, ecx
    case 'bsf': return [...p, 0x0f, 0xbc, 0xc1]; //              bsf eax, ecx
    case 'bsr': return [...p, 0x0f, 0xbd, 0xc1]; //              bsr eax, ecx
    case 'shld': return [...p, 0x0f, 0xa5, 0xd0]; //             shld eax, edx, cl
    case 'shrd': return [...p, 0x0f, 0xad, 0xd0]; //             shrd eax, edx, cl
    default: throw new Error(`no encoding for ${op}`);
  }
}

/** Runs one vector on `m`: the result, the second result (EDX/AH, SHLD/SHRD's source) and the arithmetic flags. */
export function runVector(m: Machine, v: Vector): { res: number; res2: number; flags: number } {
  const { op, bits } = split(v.name);
  const mask = bits === 32 ? 0xffffffff : (1 << bits) - 1;
  let eax = v.a, edx = 0;
  if (op === 'div' || op === 'idiv') {
    if (bits === 16) { eax = v.a & 0xffff; edx = v.a >>> 16; }
    if (bits === 32 && op === 'idiv') edx = (v.a | 0) < 0 ? 0xffffffff : 0;
  }
  if (op === 'shld' || op === 'shrd') edx = v.res2 & mask;
  load(m, CODE, [
    0x68, ...le32(v.fin), //                        push fin
    0x9d, //                                        popf
    ...encode(op, bits),
    0x9c, //                                        pushfd
    0x5b, //                                        pop ebx
    0xf4, //                                        hlt
  ]);
  m.cpu.setRegs({ rax: eax, rcx: v.b, rdx: edx, rbx: 0, rsp: 0x80000, rbp: 0, rsi: 0, rdi: 0, rip: CODE, rflags: 2 });
  m.cpu.halted = false; // the previous vector ended in HLT (KVM_SET_MP_STATE runnable)
  const e = m.cpu.run(100);
  if (e.kind !== 'hlt') throw new Error(`${v.name}: ${e.kind}`);
  const r = m.cpu.getRegs();
  let res2 = 0;
  if (['mul', 'imul1', 'div', 'idiv'].includes(op)) res2 = bits === 8 ? (r.rax >>> 8) & 0xff : (r.rdx & mask) >>> 0;
  if (op === 'shld' || op === 'shrd') res2 = v.res2;
  return { res: (r.rax & mask) >>> 0, res2, flags: r.rbx & (ARITH | 2) };
}

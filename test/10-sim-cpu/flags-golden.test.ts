/**
 * The interpreter against a real CPU: native/flags-vectors.txt holds the
 * result and EFLAGS the CPU of the development host it was recorded on (an
 * AMD EPYC; the one KVM ran guests on there) produced for ~8,600 random
 * and edge-case operands of the arithmetic, logic, shift, rotate,
 * multiply, divide, bit-scan and bit-test instructions, flags included
 * where the SDM calls them undefined
 * (native/flags-vectors.c, with its rebuild recipe). Each vector runs as
 * guest code: POPF the input flags, the instruction, PUSHF. Rebuilt on a
 * family-25 EPYC the file differs only in BSF/BSR's undefined flags (see
 * src/backend/sim/x86/alu.ts); the file, not the host, is the sim's model.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ARITH, CODE, PATHS, flagNames, flatMachine, le32, load, type Machine } from './helpers.js';

interface Vector { name: string; a: number; b: number; fin: number; res: number; res2: number; fout: number }

const text = readFileSync(join(import.meta.dirname, 'native', 'flags-vectors.txt'), 'utf8');
const vectors: Vector[] = text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => {
  const [name, ...hex] = l.split(' ');
  const [a, b, fin, res, res2, fout] = hex.map((h) => parseInt(h, 16) >>> 0);
  return { name: name!, a: a!, b: b!, fin: fin!, res: res!, res2: res2!, fout: fout! };
});

const ALU: Record<string, number> = { add: 0, or: 1, adc: 2, sbb: 3, and: 4, sub: 5, xor: 6, cmp: 7 };
const SHIFT: Record<string, number> = { rol: 0, ror: 1, rcl: 2, rcr: 3, shl: 4, shr: 5, sar: 7 };
const BT: Record<string, number> = { bt: 0xa3, bts: 0xab, btr: 0xb3, btc: 0xbb };

function split(name: string): { op: string; bits: number } {
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

function runVector(m: Machine, v: Vector): { res: number; res2: number; flags: number } {
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

describe.each(PATHS)('flags and results match this host CPU ($name)', ({ fastPath }) => {
  const names = [...new Set(vectors.map((v) => v.name))];
  it('the vector file covers every instruction form', () => {
    expect(vectors.length).toBeGreaterThan(8000);
    expect(names.length).toBeGreaterThan(80);
  });

  it.each(names)('%s', (name) => {
    const m = flatMachine({ fastPath });
    const failures: string[] = [];
    for (const v of vectors) {
      if (v.name !== name) continue;
      const got = runVector(m, v);
      if (got.res !== v.res || got.res2 !== v.res2 || got.flags !== v.fout) {
        failures.push(`${name} a=${v.a.toString(16)} b=${v.b.toString(16)} in=${flagNames(v.fin)}: ` +
          `got ${got.res.toString(16)}/${got.res2.toString(16)} ${flagNames(got.flags)}, ` +
          `cpu ${v.res.toString(16)}/${v.res2.toString(16)} ${flagNames(v.fout)}`);
      }
    }
    expect(failures.slice(0, 5)).toEqual([]);
  });
});

/**
 * Random straight-line guest programs for differential tests: ALU, shifts,
 * multiply/divide, moves, memory operands through EBP, branches,
 * SETcc/CMOVcc, bit operations, stack pairs. EBP holds the data pointer and
 * ESP the stack, so generated instructions write only EAX ECX EDX EBX ESI
 * EDI (and memory at [EBP + 0..0x7f], plus 4 bytes).
 */
import fc from 'fast-check';
import { le32 } from './helpers.js';

export const SAFE = [0, 1, 2, 3, 6, 7]; // EAX ECX EDX EBX ESI EDI

export type Gen = (x: number, y: number) => number[];

const reg = (x: number): number => SAFE[x % SAFE.length]!;
/** ModRM for a register pair: reg field `r`, r/m register `m`. */
const rr = (r: number, m: number): number => 0xc0 | (r << 3) | m;
/** ModRM + disp8 for [ebp + d]. */
const mem = (r: number, d: number): number[] => [0x45 | (r << 3), d & 0x7f];

export const GENS: Gen[] = [
  (x, y) => [((x >> 3) & 7) * 8 + 1, rr(reg(y), reg(x))], //                         alu r32, r32
  (x, y) => [((x >> 3) & 7) * 8 + 3, ...mem(reg(x), y)], //                          alu r32, [ebp+d]
  (x, y) => [((x >> 3) & 7) * 8 + 1, ...mem(reg(x), y)], //                          alu [ebp+d], r32
  (x, y) => [((x >> 3) & 7) * 8 + 0, rr(y & 7, x & 3)], //                           alu r/m8, r8 (AL..BL, AH..BH)
  (x, y) => [((x >> 3) & 7) * 8 + 2, ...mem(y & 7, x)], //                           alu r8, [ebp+d]
  (x, y) => [0x81, rr((x >> 3) & 7, reg(x)), ...le32(y)], //                         alu r32, imm32
  (x, y) => [0x83, rr((x >> 3) & 7, reg(x)), y & 0xff], //                           alu r32, imm8
  (x, y) => [0x80, rr((x >> 3) & 7, x & 3), y & 0xff], //                            alu r8, imm8
  (x, y) => [0x66, ((x >> 3) & 7) * 8 + 1, rr(reg(y), reg(x))], //                   alu r16, r16
  (x, y) => [((x >> 3) & 7) * 8 + 5, ...le32(y)], //                                 alu eax, imm32
  (x, y) => [((x >> 3) & 7) * 8 + 4, y & 0xff], //                                   alu al, imm8
  (x) => [0x40 + reg(x)], //                                                         inc r32
  (x) => [0x48 + reg(x)], //                                                         dec r32
  (x, y) => [0xc1, rr(x & 7, reg(y)), (x >> 3) & 0x3f], //                           shift r32, imm8
  (x, y) => [0xd3, rr(x & 7, reg(y))], //                                            shift r32, cl
  (x, y) => [0xd0, rr(x & 7, y & 3)], //                                             shift r8, 1
  (x, y) => [0x66, 0xc1, rr(x & 7, reg(y)), (x >> 3) & 0x3f], //                     shift r16, imm8
  (x, y) => [0x85, rr(reg(y), reg(x))], //                                           test r32, r32
  (x, y) => [0xa9, ...le32(y)], //                                                   test eax, imm32
  (x, y) => [0xf6, rr(0, x & 3), y & 0xff], //                                       test r8, imm8
  (x, y) => [0x89, rr(reg(y), reg(x))], //                                           mov r32, r32
  (x, y) => [0xb8 + reg(x), ...le32(y)], //                                          mov r32, imm32
  (x, y) => [0x8b, ...mem(reg(x), y)], //                                            mov r32, [ebp+d]
  (x, y) => [0x89, ...mem(reg(x), y)], //                                            mov [ebp+d], r32
  (x, y) => [0x88, ...mem(x & 7, y)], //                                             mov [ebp+d], r8
  (x, y) => [0x8a, ...mem(x & 7, y)], //                                             mov r8, [ebp+d]
  (x, y) => [0xc7, ...mem(0, x), ...le32(y)], //                                     mov dword [ebp+d], imm32
  (x, y) => [0x0f, [0xb6, 0xb7, 0xbe, 0xbf][x & 3]!, ...mem(reg(y), x >> 2)], //    movzx/movsx r32, [ebp+d]
  (x, y) => [0x0f, [0xb6, 0xbe][x & 1]!, rr(reg(y), (x >> 1) & 7)], //              movzx/movsx r32, r8
  (x, y) => [0x8d, 0x84 | (reg(x) << 3), (((x >> 3) & 3) << 6) | (reg(y) << 3) | reg(x >> 5), ...le32(y)], // lea r, [b+i*s+d32]
  (x, y) => [0x0f, 0xaf, rr(reg(x), reg(y))], //                                     imul r32, r32
  (x, y) => [0x6b, rr(reg(x), reg(y)), x & 0xff], //                                 imul r32, r32, imm8
  (x) => [0xf7, rr(4 + ((x >> 3) & 1), reg(x))], //                                  mul/imul r32
  (x) => [0xf7, rr(6 + ((x >> 3) & 1), reg(x))], //                                  div/idiv r32 (may #DE)
  (x) => [0xf6, rr(4 + ((x >> 3) & 3), x & 3)], //                                   mul/imul/div/idiv r8
  (x) => [0xf7, rr(2 + ((x >> 3) & 1), reg(x))], //                                  not/neg r32
  (x) => [0xfe, rr((x >> 3) & 1, x & 3)], //                                         inc/dec r8
  (x) => [0xff, ...mem((x >> 3) & 1, x >> 4)], //                                    inc/dec [ebp+d]
  (x) => [0x0f, 0x90 + (x & 15), rr(0, (x >> 4) & 3)], //                           setcc r8
  (x, y) => [0x0f, 0x40 + (x & 15), rr(reg(y), reg(x >> 4))], //                    cmovcc r32, r32
  (x) => [0x70 + (x & 15), 0x01, 0x46], //                                           jcc +1; inc esi
  (x) => [0x0f, 0x80 + (x & 15), ...le32(1), 0x47], //                              jcc rel32 +1; inc edi
  (x, y) => [0x50 + reg(x), 0x58 + reg(y)], //                                       push r; pop r
  (x, y) => [0x87, rr(reg(x), reg(y))], //                                           xchg r32, r32
  (x) => [0x0f, 0xc8 + reg(x)], //                                                   bswap r32
  (x) => [[0x98, 0x99][x & 1]!], //                                                  cwde / cdq
  (x, y) => [0x0f, [0xa3, 0xab, 0xb3, 0xbb][x & 3]!, rr(reg(y), reg(x >> 2))], //   bt/bts/btr/btc r32, r32
  (x, y) => [0x0f, 0xba, rr(4 + (x & 3), reg(y)), x >> 2], //                        bt* r32, imm8
  (x, y) => [0x0f, 0xbc + (x & 1), rr(reg(y), reg(x >> 1))], //                     bsf/bsr
  (x, y) => [0x0f, [0xa5, 0xad][x & 1]!, rr(reg(y), reg(x >> 1))], //               shld/shrd r32, r32, cl
  (x) => [0x9c, 0x58 + reg(x)], //                                                   pushfd; pop r
  (x) => [[0xf8, 0xf9, 0xf5][x % 3]!], //                                            clc / stc / cmc
  (x, y) => [0x0f, 0xb1, ...mem(reg(y), x)], //                                      cmpxchg [ebp+d], r32
  (x, y) => [0x0f, 0xc1, ...mem(reg(y), x)], //                                      xadd [ebp+d], r32
];

/** Generator index + two random fields per instruction. */
export const programArb = (gens: readonly Gen[] = GENS, maxLength = 60) =>
  fc.array(fc.tuple(fc.nat(gens.length - 1), fc.nat(0xffff), fc.integer({ min: 0, max: 0xffffffff })), { minLength: 1, maxLength });

/** Six initial register values (for SAFE) that also seed the data area. */
export const initArb = fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 6, maxLength: 6 });

export function programBytes(prog: readonly [number, number, number][], gens: readonly Gen[] = GENS): number[] {
  return prog.flatMap(([g, x, y]) => gens[g]!(x, y));
}

/** mov ebp, data; mov r, init[i] for each SAFE register; the body; hlt. */
export function wrapProgram(data: number, body: number[], init: readonly number[]): number[] {
  return [
    0xbd, ...le32(data), //                   mov ebp, data
    ...SAFE.flatMap((r, i) => [0xb8 + r, ...le32(init[i]!)]), // mov r, init
    ...body,
    0xf4, //                                  hlt
  ];
}

/** The data area's initial bytes, from the initial register values. */
export function initialData(init: readonly number[], size = 0x100): number[] {
  return Array.from({ length: size }, (_, i) => (init[i % init.length]! >>> (8 * (i % 4))) & 0xff);
}

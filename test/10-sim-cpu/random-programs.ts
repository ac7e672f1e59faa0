/**
 * Random straight-line guest programs for differential tests: ALU, shifts,
 * multiply/divide, moves, memory operands through EBP, branches,
 * SETcc/CMOVcc, bit operations, stack pairs. EBP holds the data pointer and
 * ESP the stack, so generated instructions write only EAX ECX EDX EBX ESI
 * EDI (and memory at [EBP + 0..0x7f], plus 4 bytes).
 *
 * Each generator also says what its instruction does to the arithmetic
 * flags (FlagUse), so that a program can be built to keep the flags the SDM
 * leaves undefined out of everything observable, for a CPU whose undefined
 * flags the sim does not model (programKeepingOut).
 */
import fc from 'fast-check';
import { le32 } from './helpers.js';

export const SAFE = [0, 1, 2, 3, 6, 7]; // EAX ECX EDX EBX ESI EDI

const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800;
const ARITH = CF | PF | AF | ZF | SF | OF;

/**
 * What an instruction does to the six arithmetic flags (EFLAGS bits):
 *   reads:     flags whose value reaches its results or its path (ADC's CF,
 *              SETcc/CMOVcc/Jcc's condition, PUSHF's all);
 *   defines:   flags it always leaves with an architecturally defined value;
 *   undefines: flags the SDM lets it leave undefined, for some operands or
 *              counts.
 * A flag in neither list keeps its value (for some counts, maybe: a shift
 * by CL = 0 changes nothing, so it defines nothing).
 */
export interface FlagUse { reads: number; defines: number; undefines: number }

/** One instruction (or a fixed pair) from two random fields. */
export interface Gen {
  bytes(x: number, y: number): number[];
  /** Omitted: the instruction neither reads nor changes the arithmetic flags. */
  flags?: FlagUse | ((x: number, y: number) => FlagUse);
}

const use = (reads: number, defines: number, undefines = 0): FlagUse => ({ reads, defines, undefines });
const NONE = use(0, 0);
const ALL_DEFINED = use(0, ARITH);
const LOGIC = use(0, ARITH & ~AF, AF); //                        AND OR XOR TEST
const INCDEC = use(0, ARITH & ~CF); //                           INC DEC keep CF
const MUL = use(0, CF | OF, SF | ZF | AF | PF); //               MUL, IMUL (all forms)
const DIV = use(0, 0, ARITH); //                                 DIV IDIV
const BIT_TEST = use(0, CF, OF | SF | AF | PF); //               BT BTS BTR BTC
const BIT_SCAN = use(0, ZF, CF | OF | SF | AF | PF); //          BSF BSR
const DOUBLE_SHIFT_CL = use(0, 0, AF | OF); //                   SHLD/SHRD r32 by CL (0..31)
const PUSHF = use(ARITH, 0);
const CARRY = use(0, CF); //                                     CLC STC (CMC keeps CF's state: NONE)

/** Group-1 ALU op (x >> 3) & 7: 0 ADD 1 OR 2 ADC 3 SBB 4 AND 5 SUB 6 XOR 7 CMP. */
function aluUse(x: number): FlagUse {
  const op = (x >> 3) & 7;
  if (op === 1 || op === 4 || op === 6) return LOGIC;
  return op === 2 || op === 3 ? use(CF, ARITH) : ALL_DEFINED;
}

/** The flags condition code `cc` (low nibble of x) reads: O, C, Z, C|Z, S, P, S|O, Z|S|O. */
const CC_READS = [OF, CF, ZF, CF | ZF, SF, PF, SF | OF, ZF | SF | OF];
const condUse = (x: number): FlagUse => use(CC_READS[(x & 15) >> 1]!, 0);

/**
 * Group-2 op (0 ROL 1 ROR 2 RCL 3 RCR 4 SHL 5 SHR 6 SAL 7 SAR) by a masked
 * count (0..31; null: CL, unknown) on a `width`-bit operand. Count 0 changes
 * nothing. OF is defined only for count 1; AF undefined for SHL/SHR/SAR;
 * SHL/SHR's CF undefined once the count reaches the width.
 */
function shiftUse(op: number, count: number | null, width: number): FlagUse {
  if (count === 0) return NONE;
  const reads = op === 2 || op === 3 ? CF : 0;
  const rotate = op < 4;
  if (count === null) return use(reads, 0, rotate ? OF : AF | OF | (op !== 7 && width < 32 ? CF : 0));
  const of = count === 1 ? OF : 0;
  if (rotate) return use(reads, CF | of, OF & ~of);
  const cfUndefined = op !== 7 && count >= width ? CF : 0;
  return use(0, ((CF | SF | ZF | PF) & ~cfUndefined) | of, AF | (OF & ~of) | cfUndefined);
}

/** One instruction of a program: generator index, two random fields. */
export type Insn = readonly [number, number, number];

const reg = (x: number): number => SAFE[x % SAFE.length]!;
/** ModRM for a register pair: reg field `r`, r/m register `m`. */
const rr = (r: number, m: number): number => 0xc0 | (r << 3) | m;
/** ModRM + disp8 for [ebp + d]. */
const mem = (r: number, d: number): number[] => [0x45 | (r << 3), d & 0x7f];

export const GENS: Gen[] = [
  { bytes: (x, y) => [((x >> 3) & 7) * 8 + 1, rr(reg(y), reg(x))], flags: aluUse },         // alu r32, r32
  { bytes: (x, y) => [((x >> 3) & 7) * 8 + 3, ...mem(reg(x), y)], flags: aluUse },          // alu r32, [ebp+d]
  { bytes: (x, y) => [((x >> 3) & 7) * 8 + 1, ...mem(reg(x), y)], flags: aluUse },          // alu [ebp+d], r32
  { bytes: (x, y) => [((x >> 3) & 7) * 8 + 0, rr(y & 7, x & 3)], flags: aluUse },           // alu r/m8, r8 (AL..BL, AH..BH)
  { bytes: (x, y) => [((x >> 3) & 7) * 8 + 2, ...mem(y & 7, x)], flags: aluUse },           // alu r8, [ebp+d]
  { bytes: (x, y) => [0x81, rr((x >> 3) & 7, reg(x)), ...le32(y)], flags: aluUse },         // alu r32, imm32
  { bytes: (x, y) => [0x83, rr((x >> 3) & 7, reg(x)), y & 0xff], flags: aluUse },           // alu r32, imm8
  { bytes: (x, y) => [0x80, rr((x >> 3) & 7, x & 3), y & 0xff], flags: aluUse },            // alu r8, imm8
  { bytes: (x, y) => [0x66, ((x >> 3) & 7) * 8 + 1, rr(reg(y), reg(x))], flags: aluUse },   // alu r16, r16
  { bytes: (x, y) => [((x >> 3) & 7) * 8 + 5, ...le32(y)], flags: aluUse },                 // alu eax, imm32
  { bytes: (x, y) => [((x >> 3) & 7) * 8 + 4, y & 0xff], flags: aluUse },                   // alu al, imm8
  { bytes: (x) => [0x40 + reg(x)], flags: INCDEC },                                         // inc r32
  { bytes: (x) => [0x48 + reg(x)], flags: INCDEC },                                         // dec r32
  { bytes: (x, y) => [0xc1, rr(x & 7, reg(y)), (x >> 3) & 0x3f], flags: (x) => shiftUse(x & 7, (x >> 3) & 31, 32) }, // shift r32, imm8
  { bytes: (x, y) => [0xd3, rr(x & 7, reg(y))], flags: (x) => shiftUse(x & 7, null, 32) },  // shift r32, cl
  { bytes: (x, y) => [0xd0, rr(x & 7, y & 3)], flags: (x) => shiftUse(x & 7, 1, 8) },       // shift r8, 1
  { bytes: (x, y) => [0x66, 0xc1, rr(x & 7, reg(y)), (x >> 3) & 0x3f], flags: (x) => shiftUse(x & 7, (x >> 3) & 31, 16) }, // shift r16, imm8
  { bytes: (x, y) => [0x85, rr(reg(y), reg(x))], flags: LOGIC },                            // test r32, r32
  { bytes: (x, y) => [0xa9, ...le32(y)], flags: LOGIC },                                    // test eax, imm32
  { bytes: (x, y) => [0xf6, rr(0, x & 3), y & 0xff], flags: LOGIC },                        // test r8, imm8
  { bytes: (x, y) => [0x89, rr(reg(y), reg(x))] },                                          // mov r32, r32
  { bytes: (x, y) => [0xb8 + reg(x), ...le32(y)] },                                         // mov r32, imm32
  { bytes: (x, y) => [0x8b, ...mem(reg(x), y)] },                                           // mov r32, [ebp+d]
  { bytes: (x, y) => [0x89, ...mem(reg(x), y)] },                                           // mov [ebp+d], r32
  { bytes: (x, y) => [0x88, ...mem(x & 7, y)] },                                            // mov [ebp+d], r8
  { bytes: (x, y) => [0x8a, ...mem(x & 7, y)] },                                            // mov r8, [ebp+d]
  { bytes: (x, y) => [0xc7, ...mem(0, x), ...le32(y)] },                                    // mov dword [ebp+d], imm32
  { bytes: (x, y) => [0x0f, [0xb6, 0xb7, 0xbe, 0xbf][x & 3]!, ...mem(reg(y), x >> 2)] },    // movzx/movsx r32, [ebp+d]
  { bytes: (x, y) => [0x0f, [0xb6, 0xbe][x & 1]!, rr(reg(y), (x >> 1) & 7)] },              // movzx/movsx r32, r8
  { bytes: (x, y) => [0x8d, 0x84 | (reg(x) << 3), (((x >> 3) & 3) << 6) | (reg(y) << 3) | reg(x >> 5), ...le32(y)] }, // lea r, [b+i*s+d32]
  { bytes: (x, y) => [0x0f, 0xaf, rr(reg(x), reg(y))], flags: MUL },                        // imul r32, r32
  { bytes: (x, y) => [0x6b, rr(reg(x), reg(y)), x & 0xff], flags: MUL },                    // imul r32, r32, imm8
  { bytes: (x) => [0xf7, rr(4 + ((x >> 3) & 1), reg(x))], flags: MUL },                     // mul/imul r32
  { bytes: (x) => [0xf7, rr(6 + ((x >> 3) & 1), reg(x))], flags: DIV },                     // div/idiv r32 (may #DE)
  { bytes: (x) => [0xf6, rr(4 + ((x >> 3) & 3), x & 3)], flags: (x) => ((x >> 3) & 3) < 2 ? MUL : DIV }, // mul/imul/div/idiv r8
  { bytes: (x) => [0xf7, rr(2 + ((x >> 3) & 1), reg(x))], flags: (x) => ((x >> 3) & 1) === 1 ? ALL_DEFINED : NONE }, // not/neg r32
  { bytes: (x) => [0xfe, rr((x >> 3) & 1, x & 3)], flags: INCDEC },                         // inc/dec r8
  { bytes: (x) => [0xff, ...mem((x >> 3) & 1, x >> 4)], flags: INCDEC },                    // inc/dec [ebp+d]
  { bytes: (x) => [0x0f, 0x90 + (x & 15), rr(0, (x >> 4) & 3)], flags: condUse },           // setcc r8
  { bytes: (x, y) => [0x0f, 0x40 + (x & 15), rr(reg(y), reg(x >> 4))], flags: condUse },    // cmovcc r32, r32
  { bytes: (x) => [0x70 + (x & 15), 0x01, 0x46], flags: condUse },                          // jcc +1; inc esi
  { bytes: (x) => [0x0f, 0x80 + (x & 15), ...le32(1), 0x47], flags: condUse },              // jcc rel32 +1; inc edi
  { bytes: (x, y) => [0x50 + reg(x), 0x58 + reg(y)] },                                      // push r; pop r
  { bytes: (x, y) => [0x87, rr(reg(x), reg(y))] },                                          // xchg r32, r32
  { bytes: (x) => [0x0f, 0xc8 + reg(x)] },                                                  // bswap r32
  { bytes: (x) => [[0x98, 0x99][x & 1]!] },                                                 // cwde / cdq
  { bytes: (x, y) => [0x0f, [0xa3, 0xab, 0xb3, 0xbb][x & 3]!, rr(reg(y), reg(x >> 2))], flags: BIT_TEST }, // bt/bts/btr/btc r32, r32
  { bytes: (x, y) => [0x0f, 0xba, rr(4 + (x & 3), reg(y)), x >> 2], flags: BIT_TEST },      // bt* r32, imm8
  { bytes: (x, y) => [0x0f, 0xbc + (x & 1), rr(reg(y), reg(x >> 1))], flags: BIT_SCAN },    // bsf/bsr
  { bytes: (x, y) => [0x0f, [0xa5, 0xad][x & 1]!, rr(reg(y), reg(x >> 1))], flags: DOUBLE_SHIFT_CL }, // shld/shrd r32, r32, cl
  { bytes: (x) => [0x9c, 0x58 + reg(x)], flags: PUSHF },                                    // pushfd; pop r
  { bytes: (x) => [[0xf8, 0xf9, 0xf5][x % 3]!], flags: (x) => x % 3 === 2 ? NONE : CARRY }, // clc / stc / cmc
  { bytes: (x, y) => [0x0f, 0xb1, ...mem(reg(y), x)], flags: ALL_DEFINED },                 // cmpxchg [ebp+d], r32
  { bytes: (x, y) => [0x0f, 0xc1, ...mem(reg(y), x)], flags: ALL_DEFINED },                 // xadd [ebp+d], r32
];

/** Generator index + two random fields per instruction. */
export const programArb = (gens: readonly Gen[] = GENS, maxLength = 60) =>
  fc.array(fc.tuple(fc.nat(gens.length - 1), fc.nat(0xffff), fc.integer({ min: 0, max: 0xffffffff })), { minLength: 1, maxLength });

/** Six initial register values (for SAFE) that also seed the data area. */
export const initArb = fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 6, maxLength: 6 });

export function programBytes(prog: readonly Insn[], gens: readonly Gen[] = GENS): number[] {
  return prog.flatMap(([g, x, y]) => gens[g]!.bytes(x, y));
}

function flagUse(gen: Gen, x: number, y: number): FlagUse {
  const f = gen.flags ?? NONE;
  return typeof f === 'function' ? f(x, y) : f;
}

/** cmp eax, ecx: defines all six arithmetic flags, from the data. */
export const DEFINE_FLAGS = [0x39, 0xc8];

/**
 * The body of `prog` with the undefined flags of the instructions
 * `untrusted` names kept out of everything observable: before an
 * instruction that reads a flag such an instruction may have left
 * undefined, DEFINE_FLAGS is inserted; `undefinedAtEnd` is the set of flags
 * that may still be undefined at the HLT (to leave out of the final EFLAGS;
 * a program that faults, a #DE, stops before it: compare only its exit). A trusted instruction adds no undefined flags (the sim models
 * that CPU's values there). With nothing untrusted this is programBytes()
 * and undefinedAtEnd is 0. `after` (for testing this) adds
 * bytes after each instruction, given the flags that may be undefined there.
 */
export function programKeepingOut(
  prog: readonly Insn[], gens: readonly Gen[], untrusted: (gen: Gen) => boolean, after?: (undef: number) => number[],
): { body: number[]; undefinedAtEnd: number } {
  const body: number[] = [];
  let undef = 0; // flags that may be undefined here
  for (const [g, x, y] of prog) {
    const gen = gens[g]!;
    const f = flagUse(gen, x, y);
    if ((f.reads & undef) !== 0) {
      body.push(...DEFINE_FLAGS);
      undef = 0;
    }
    body.push(...gen.bytes(x, y));
    undef &= ~f.defines;
    // A trusted instruction's undefined flags are modelled: it adds none. (It does not remove
    // any either: it may not write them, as a shift by CL = 0 does not.)
    if (untrusted(gen)) undef |= f.undefines;
    if (after) body.push(...after(undef));
  }
  return { body, undefinedAtEnd: undef };
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

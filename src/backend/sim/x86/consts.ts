/** Architectural numbers the interpreter files share. */

// Segment register indices, in the encoding order of the ModRM reg field (ES CS SS DS FS GS).
export const ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5;
export const SEG_NAMES = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'] as const;

// Exception vectors.
export const V_DE = 0, V_DB = 1, V_NMI = 2, V_BP = 3, V_OF = 4, V_BR = 5, V_UD = 6, V_NM = 7, V_DF = 8;
export const V_TS = 10, V_NP = 11, V_SS = 12, V_GP = 13, V_PF = 14, V_MF = 16, V_AC = 17;

/** Exceptions that push an error code (#DF #TS #NP #SS #GP #PF #AC). */
export function hasErrorCode(v: number): boolean {
  return v === 8 || (v >= 10 && v <= 14) || v === 17;
}

/** #DE #TS #NP #SS #GP: a second one while delivering one of these is a #DF (SDM 6.15, table 6-5). */
export function isContributory(v: number): boolean {
  return v === 0 || (v >= 10 && v <= 13);
}

// EFLAGS bits.
export const F_CF = 1 << 0, F_PF = 1 << 2, F_AF = 1 << 4, F_ZF = 1 << 6, F_SF = 1 << 7;
export const F_TF = 1 << 8, F_IF = 1 << 9, F_DF = 1 << 10, F_OF = 1 << 11, F_NT = 1 << 14, F_RF = 1 << 16;
export const F_ARITH = F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF;
/** Bits a CPL-0 POPF/IRET may change: arithmetic flags, TF, IF, DF, IOPL, NT, AC, ID (not VM, RF, VIF, VIP). */
export const F_WRITABLE = F_ARITH | F_TF | F_IF | F_DF | (3 << 12) | F_NT | (1 << 18) | (1 << 21);

// Operand size codes used everywhere: 0 = 32-bit, 1 = 16-bit, 2 = 8-bit.
export const SZ32 = 0, SZ16 = 1, SZ8 = 2;
export const SZ_BYTES = [4, 2, 1] as const;
export const SZ_MASK = [-1, 0xffff, 0xff] as const;
/** Left shift that puts the operand's sign bit at bit 31. */
export const SZ_SHIFT = [0, 16, 24] as const;

/** Thrown (as this object, never allocated) to abandon an instruction with a CPU exception. */
export const FAULT = { fault: true } as const;
/** Thrown to abandon an instruction at an external read (port in, MMIO read); it re-executes on resume. */
export const ABORT = { abort: true } as const;

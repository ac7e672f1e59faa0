/**
 * DecodeBitMasks (Arm ARM, shared pseudocode) for logical immediates and
 * bitfield moves, computed once per 13-bit N:immr:imms field and cached.
 *
 * For index k = N << 12 | immr << 6 | imms:
 *   WMASK[2k], WMASK[2k+1]  the 64-bit wmask (lo, hi words)
 *   TMASK[2k], TMASK[2k+1]  the 64-bit tmask
 *   STATE[k]                0 not computed yet, 1 reserved (len < 1),
 *                           2 valid for bitfields only (S = levels), 3 valid for both
 * A 32-bit operation uses the low word (esize <= 32 when N = 0).
 */
const WMASK = new Int32Array(8192 * 2);
const TMASK = new Int32Array(8192 * 2);
const STATE = new Uint8Array(8192);

const ones = (n: number): bigint => (1n << BigInt(n)) - 1n;

function compute(k: number): number {
  const n = (k >>> 12) & 1, immr = (k >>> 6) & 63, imms = k & 63;
  const combined = (n << 6) | (~imms & 63);
  const len = 31 - Math.clz32(combined); // HighestSetBit; -1 when zero
  if (len < 1) return (STATE[k] = 1);
  const levels = (1 << len) - 1;
  const s = imms & levels, r = immr & levels;
  const esize = 1 << len;
  const d = (s - r) & levels;
  const emask = ones(esize);
  const welem = ones(s + 1);
  const telem = ones(d + 1);
  // ROR(welem, r) within esize bits
  const rot = r === 0 ? welem : ((welem >> BigInt(r)) | (welem << BigInt(esize - r))) & emask;
  let w = 0n, t = 0n;
  for (let i = 0; i < 64; i += esize) {
    w |= rot << BigInt(i);
    t |= telem << BigInt(i);
  }
  WMASK[2 * k] = Number(BigInt.asIntN(32, w));
  WMASK[2 * k + 1] = Number(BigInt.asIntN(32, w >> 32n));
  TMASK[2 * k] = Number(BigInt.asIntN(32, t));
  TMASK[2 * k + 1] = Number(BigInt.asIntN(32, t >> 32n));
  return (STATE[k] = s === levels ? 2 : 3);
}

/** Ensures entry k is computed; returns its state (1 reserved, 2 bitfield-only, 3 valid for both). */
export function bitMasks(k: number): number {
  const s = STATE[k]!;
  return s !== 0 ? s : compute(k);
}

export { TMASK, WMASK };

/** The 64-bit logical-immediate value for N:immr:imms, or undefined when reserved (for tests and tools). */
export function logicalImmediate(n: number, immr: number, imms: number): bigint | undefined {
  const k = (n << 12) | (immr << 6) | imms;
  if (bitMasks(k) !== 3) return undefined;
  return (BigInt(WMASK[2 * k + 1]! >>> 0) << 32n) | BigInt(WMASK[2 * k]! >>> 0);
}

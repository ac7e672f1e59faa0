/**
 * The sim's CPUID table: what its interpreter really implements, nothing
 * more, so a guest that probes features sees a consistent CPU.
 */
import type { CpuidEntry } from '../types.js';
import { undefinedFlagsModelForVendor, type UndefinedFlagsModel } from './x86/undefined-flags.js';

function str4(s: string): number {
  return (s.charCodeAt(0) | (s.charCodeAt(1) << 8) | (s.charCodeAt(2) << 16) | (s.charCodeAt(3) << 24)) >>> 0;
}

/** Vendor string "TSVMMsimx86!" (12 bytes, EBX-EDX-ECX order like GenuineIntel). */
const VENDOR = 'TSVMMsimx86!';
/** EDX feature bits of leaf 1 the interpreter implements: TSC (4), MSR (5), CX8 (8) is not, CMOV (15). */
const LEAF1_EDX = (1 << 4) | (1 << 5) | (1 << 15);

export function simCpuidTable(): CpuidEntry[] {
  return [
    { function: 0, index: 0, flags: 0, eax: 1, ebx: str4(VENDOR.slice(0, 4)), edx: str4(VENDOR.slice(4, 8)), ecx: str4(VENDOR.slice(8, 12)) },
    // Family 6, model 0, stepping 0; one logical processor; no ECX features.
    { function: 1, index: 0, flags: 0, eax: 0x600, ebx: 0, ecx: 0, edx: LEAF1_EDX },
    { function: 0x8000_0000, index: 0, flags: 0, eax: 0x8000_0000, ebx: 0, ecx: 0, edx: 0 },
  ];
}

/** CPUID lookup with the architectural rule for leaves above the maximum (Intel: the highest basic leaf's data). */
export function cpuidLookup(table: readonly CpuidEntry[], leaf: number, subleaf: number): { eax: number; ebx: number; ecx: number; edx: number } {
  const find = (f: number, i: number): CpuidEntry | undefined => table.find((e) => e.function === f && (e.index === i || (e.flags & 1) === 0));
  let e = find(leaf >>> 0, subleaf >>> 0);
  if (!e) {
    const maxBasic = find(0, 0)?.eax ?? 0;
    e = leaf >>> 0 >= 0x8000_0000 ? undefined : find(maxBasic, subleaf >>> 0);
  }
  return e ? { eax: e.eax >>> 0, ebx: e.ebx >>> 0, ecx: e.ecx >>> 0, edx: e.edx >>> 0 } : { eax: 0, ebx: 0, ecx: 0, edx: 0 };
}

/** The vendor string of a CPUID table's leaf 0 (EBX EDX ECX), '' without a leaf 0. */
export function cpuidVendor(table: readonly CpuidEntry[]): string {
  const leaf0 = table.find((e) => e.function === 0);
  if (!leaf0) return '';
  const str = (v: number): string => String.fromCharCode(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  return str(leaf0.ebx) + str(leaf0.edx) + str(leaf0.ecx);
}

/**
 * Whose undefined flags a vCPU with this CPUID produces: the model of the
 * vendor its leaf 0 names (src/backend/sim/x86/undefined-flags.ts); the
 * sim's own vendor and vendors without a model get the default (AMD's).
 */
export function undefinedFlagsModelForCpuid(table: readonly CpuidEntry[]): UndefinedFlagsModel {
  return undefinedFlagsModelForVendor(cpuidVendor(table));
}

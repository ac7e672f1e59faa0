/**
 * The sim's CPUID table: what its interpreter really implements, nothing
 * more, so a guest that probes features sees a consistent CPU.
 */
import type { CpuidEntry } from '../types.js';

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

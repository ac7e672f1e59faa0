/**
 * The flags the SDM leaves undefined, per CPU vendor. Real CPUs do produce
 * values there, and guests see them (PUSHF, LAHF, SETcc, ADC...), so the
 * interpreter follows one vendor's CPUs: the one whose vendor string the
 * vCPU's CPUID leaf 0 reports (KVM_SET_CPUID2; the sim's setCpuid picks the
 * model there, see src/backend/sim/cpuid.ts). A VMM that hands the host's
 * CPUID to the vCPU, as the machine builder does with KVM's supported
 * CPUID, gets the host's vendor; the sim's own vendor string
 * ("TSVMMsimx86!") and any vendor without a model of its own get the
 * default, AMD's, so that a sim run is the same on every host.
 *
 * The cases (alu.ts implements them; AMD's were measured on the AMD EPYC of
 * test/10-sim-cpu/native/flags-vectors-amd.txt, Intel's on the Intel Xeon
 * (family 6, model 167) of flags-vectors-intel.txt; each file is its
 * model's golden test):
 *
 *   case                                   amd                     intel
 *   AND/OR/XOR/TEST: AF                    0                       0
 *   SHL/SHR/SAR, SHLD/SHRD, count != 0: AF 1                       0      <- `shiftAf`
 *   shifts, rotates, count > 1: OF         the last step's         the first step's <- `ofFirstStep`
 *   RCL/RCR by a multiple of width + 1     CF kept, OF computed    no flag changes  <- `ofFirstStep`
 *   SHL/SHR, count >= width: CF            last bit out, 0 past    the same
 *   SHLD/SHRD, 16-bit count 17..31         dst:src:src (SHLD),     dst:src:dst, CF the last
 *                                          src:src:dst (SHRD), CF 0  bit out  <- `doubleShiftRefill`
 *   MUL/IMUL: SF ZF AF PF                  unchanged               SF PF of the low half, ZF AF 0 <- `mulSetsSzap`
 *   DIV/IDIV: all six                      AF 1, SZP 0, CF OF kept unchanged <- `divKeepsFlags`
 *   BSF/BSR: CF OF SF AF PF                0, PF = parity(index)   the same
 *   BT/BTS/BTR/BTC: OF SF AF PF            unchanged               the same
 *
 * "The first step's" OF is what a count of 1 would give (SHL: bit w-1 ^
 * bit w-2 of the operand; SHR: its bit w-1; SAR: 0; ROL as SHL; ROR: bit
 * w-1 ^ bit 0; RCL as SHL; RCR: bit w-1 ^ CF in; SHLD as SHL; SHRD: bit
 * w-1 ^ bit 0 of the source); "the last step's" is the count-1 formula
 * applied to the result (alu.ts).
 *
 * Each difference is a field here (a constant, or a flag that picks a code
 * path), copied into the CPU once when the model is selected: no
 * per-instruction lookup of the vendor.
 */
import { F_AF } from './consts.js';

export type UndefinedFlagsModelId = 'amd' | 'intel';

export interface UndefinedFlagsModel {
  readonly id: UndefinedFlagsModelId;
  /** The CPUID leaf 0 vendor string of the CPUs this model describes. */
  readonly vendor: string;
  /**
   * Every undefined flag this model produces was measured on a CPU of
   * `vendor` (test/10-sim-cpu/native/flags-vectors-<id>.txt, which the
   * golden test runs). False: some are placeholders, and comparisons with
   * such a CPU must keep undefined flags out.
   */
  readonly recorded: boolean;
  /** AF after SHL/SHR/SAR/SHLD/SHRD with a non-zero count: F_AF or 0. */
  readonly shiftAf: number;
  /**
   * OF of a shift or rotate by more than 1 is that of its first 1-bit step
   * (true; RCL/RCR by a multiple of width + 1 then take no step and change
   * no flag), else that of its last.
   */
  readonly ofFirstStep: boolean;
  /** What 16-bit SHLD/SHRD by 17..31 shift in after the source: the source again (AMD) or the destination (Intel). */
  readonly doubleShiftRefill: 'src' | 'dst';
  /** MUL/IMUL set SF and PF from the low half of the product and clear ZF and AF (true), or leave them. */
  readonly mulSetsSzap: boolean;
  /** DIV/IDIV leave every flag (true), or set AF and clear SF ZF PF. */
  readonly divKeepsFlags: boolean;
}

export const AMD_UNDEFINED_FLAGS: UndefinedFlagsModel = Object.freeze({
  id: 'amd', vendor: 'AuthenticAMD', recorded: true,
  shiftAf: F_AF, ofFirstStep: false, doubleShiftRefill: 'src', mulSetsSzap: false, divKeepsFlags: false,
});

export const INTEL_UNDEFINED_FLAGS: UndefinedFlagsModel = Object.freeze({
  id: 'intel', vendor: 'GenuineIntel', recorded: true,
  shiftAf: 0, ofFirstStep: true, doubleShiftRefill: 'dst', mulSetsSzap: true, divKeepsFlags: true,
});

export const UNDEFINED_FLAGS_MODELS: readonly UndefinedFlagsModel[] = [AMD_UNDEFINED_FLAGS, INTEL_UNDEFINED_FLAGS];

/** The model of a vendor without one of its own (the sim's "TSVMMsimx86!" among them): AMD's, the first recorded. */
export const DEFAULT_UNDEFINED_FLAGS = AMD_UNDEFINED_FLAGS;

/** The model for a CPUID vendor string: that vendor's, else the default. */
export function undefinedFlagsModelForVendor(vendor: string): UndefinedFlagsModel {
  return UNDEFINED_FLAGS_MODELS.find((m) => m.vendor === vendor) ?? DEFAULT_UNDEFINED_FLAGS;
}

/**
 * True when the interpreter's undefined flags are those of `vendor`'s CPUs
 * as measured: it has a model for that vendor, and the model is recorded.
 * Where false, a test comparing the sim with such a CPU must keep the
 * undefined flags out of everything it compares.
 */
export function undefinedFlagsRecordedFor(vendor: string): boolean {
  return UNDEFINED_FLAGS_MODELS.some((m) => m.vendor === vendor && m.recorded);
}

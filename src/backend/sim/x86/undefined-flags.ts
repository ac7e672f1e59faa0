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
 * The cases (alu.ts implements them; AMD's values were measured on the AMD
 * EPYC of test/10-sim-cpu/native/flags-vectors-amd.txt; "AMD's" in the
 * Intel column is a placeholder, not a measurement):
 *
 *   case                                   amd                     intel
 *   AND/OR/XOR/TEST: AF                    0                       AMD's
 *   SHL/SHR/SAR, count != 0: AF            1                       0   <- `shiftAf`
 *   shifts, rotates, count > 1: OF         count-1 formula         AMD's
 *   SHL/SHR, count >= width: CF            last bit out, 0 past    AMD's
 *   SHLD/SHRD: AF, OF, 16-bit count > 16   AF 1, see alu.ts        AMD's
 *   MUL/IMUL: SF ZF AF PF                  unchanged               AMD's
 *   DIV/IDIV: all six                      AF 1, SZP 0, CF OF kept AMD's
 *   BSF/BSR: CF OF SF AF PF                0, PF = parity(index)   AMD's
 *   BT/BTS/BTR/BTC: OF SF AF PF            unchanged               AMD's
 *
 * Intel: one value is known for certain: on an Intel host `shl eax, 1` of
 * 0 leaves AF clear where AMD sets it (the KVM differential test's
 * counterexample of issue 7: `shl eax, 1; pushfd; pop eax; add eax, eax`
 * gave 140 there, 172 on the AMD model). On that evidence the Intel model
 * clears AF after every SHL/SHR/SAR with a non-zero count (one rule for
 * the three shifts, as AMD has); everything else is AMD's value standing
 * in. So the Intel model is not `recorded`: nothing may rely on its
 * undefined flags matching an Intel CPU (the KVM differential test keeps
 * them out of what it compares on such a host) until Intel's vectors are
 * recorded (native/flags-vectors.c, run on an Intel host, into
 * flags-vectors-intel.txt), the model passes the golden test on them, and
 * `recorded` turns true.
 *
 * A case where a vendor turns out to differ gets a field here (a constant,
 * or a code that picks a code path), copied into the CPU once when the
 * model is selected: no per-instruction branch on the vendor.
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
  /** AF after SHL/SHR/SAR with a non-zero count: F_AF or 0. */
  readonly shiftAf: number;
}

export const AMD_UNDEFINED_FLAGS: UndefinedFlagsModel = Object.freeze({
  id: 'amd', vendor: 'AuthenticAMD', recorded: true, shiftAf: F_AF,
});

export const INTEL_UNDEFINED_FLAGS: UndefinedFlagsModel = Object.freeze({
  id: 'intel', vendor: 'GenuineIntel', recorded: false, shiftAf: 0,
});

export const UNDEFINED_FLAGS_MODELS: readonly UndefinedFlagsModel[] = [AMD_UNDEFINED_FLAGS, INTEL_UNDEFINED_FLAGS];

/** The model of a vendor without one of its own (the sim's "TSVMMsimx86!" among them): AMD's, the one recorded. */
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

/** The sim's x86 interpreter (see cpu.ts). */
export { X86Cpu } from './cpu.js';
export type {
  CpuExit, CpuExitKind, CpuHooks, CpuidResult, CpuOptions, CpuRegs, CpuSregs, InterruptSource, MemoryRegionMap, SegmentState,
} from './types.js';
export {
  AMD_UNDEFINED_FLAGS, DEFAULT_UNDEFINED_FLAGS, INTEL_UNDEFINED_FLAGS, UNDEFINED_FLAGS_MODELS,
  undefinedFlagsModelForVendor, undefinedFlagsRecordedFor,
  type UndefinedFlagsModel, type UndefinedFlagsModelId,
} from './undefined-flags.js';

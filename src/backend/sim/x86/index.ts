/** The sim's x86 interpreter (see cpu.ts). */
export { X86Cpu } from './cpu.js';
export type {
  CpuExit, CpuExitKind, CpuHooks, CpuidResult, CpuOptions, CpuRegs, CpuSregs, InterruptSource, MemoryRegionMap, SegmentState,
} from './types.js';

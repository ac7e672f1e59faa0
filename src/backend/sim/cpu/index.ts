export { X86Cpu } from './cpu.js';
export type { CpuExit, CpuHooks, CpuRegs, CpuSregs, InterruptSource, MemoryRegionMap, SegmentState } from './types.js';

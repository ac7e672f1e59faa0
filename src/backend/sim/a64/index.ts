/** The sim's A64 interpreter (see cpu.ts) and its generic timer (timer.ts). */
export { A64Cpu } from './cpu.js';
export type { A64CpuOptions, A64Exit, A64ExitKind, MemoryRegionMap, SysRegId } from './types.js';
export {
  A64Timer, CNTFRQ_HZ, CTL_ENABLE, CTL_IMASK, CTL_ISTATUS, PTIMER, VTIMER, type TimerIndex,
} from './timer.js';
export { logicalImmediate } from './bitmask.js';
export { sysKey } from './sysregs.js';
export * as SysReg from './sysregs.js';

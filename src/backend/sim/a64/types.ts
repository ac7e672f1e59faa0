/** Public shapes of the sim's A64 interpreter (see cpu.ts for the behaviour). */

/** One memory slot: guest physical address, its bytes, and KVM_MEM_READONLY (writes to it exit as MMIO). */
export interface MemoryRegionMap { gpa: number; bytes: Uint8Array; readonly: boolean }

/**
 * What run() returns: the shapes of KVM_RUN's exits on arm64.
 *
 *   - `mmio`: a load/store of a single general-purpose register (the accesses
 *     for which a data abort has a valid ESR ISV syndrome) hit no RAM region,
 *     or a store hit a readonly region. `data` is a view into a buffer the CPU
 *     reuses: stores carry the bytes (little-endian); for loads the caller
 *     writes the bytes there before the next run(). PC still points at the
 *     instruction; the next run() completes it (writes the register, sign- or
 *     zero-extending as the instruction says, advances PC) first, as KVM does.
 *   - `mmio-nisv`: an access to a non-RAM address KVM could not decode (pairs,
 *     writeback forms, exclusives, atomics, SIMD&FP registers, DC ZVA):
 *     KVM_RUN fails with ENOSYS. Nothing was done; PC points at the instruction.
 *   - `wfi`: WFI, or WFE with the event register clear, with no IRQ/FIQ line
 *     high. PC is past the instruction.
 *   - `hvc`: HVC #imm. PC is past the HVC; the caller sets x0.. and runs again.
 *   - `budget`: `maxInstructions` retired, or requestExit() was called.
 */
export type A64Exit =
  | { kind: 'mmio'; isWrite: boolean; address: number; size: 1 | 2 | 4 | 8; data: Uint8Array }
  | { kind: 'mmio-nisv'; address: number; isWrite: boolean }
  | { kind: 'wfi' }
  | { kind: 'hvc'; imm: number }
  | { kind: 'budget' };

export type A64ExitKind = A64Exit['kind'];

export interface A64CpuOptions {
  /** MPIDR_EL1 affinity fields (Aff3 in bits 39:32, Aff2..0 in bits 23:0); bit 31 (RES1) is always set. Default 0. */
  mpidr?: bigint;
  /**
   * The generic timer's counter (CNTPCT_EL0 = CNTVCT_EL0, CNTVOFF is 0), in
   * ticks of CNTFRQ_HZ. Called when the guest reads a counter or timer
   * register, at that instruction: `cpu.instructions` already counts every
   * instruction retired before it, including the ones of the current run().
   * Default: `cpu.instructions / 16` (1 instruction = 1 ns at 62.5 MHz).
   */
  counter?: () => bigint;
  /**
   * Called after the guest wrote a timer register (CNTV_/CNTP_ CTL, CVAL,
   * TVAL), during run(). The owner may recompute timer.levels() /
   * timer.nextDeadline() and call requestExit() to stop the run at the next
   * instruction boundary.
   */
  onTimerWrite?: () => void;
}

/** A system register's encoding (as MRS/MSR and KVM_REG_ARM64_SYSREG name it). */
export interface SysRegId { op0: number; op1: number; crn: number; crm: number; op2: number }

/**
 * The A64 generic timer of one vCPU: a pure model of CNTV_* and CNTP_*
 * over a counter the owner provides.
 *
 * Counter: `counter()` returns the current count (CNTPCT_EL0; CNTVCT_EL0 is
 * the same value, CNTVOFF_EL2 being 0) in ticks of CNTFRQ_HZ. The owner
 * derives it from deterministic virtual time; at 62.5 MHz one tick is 16 ns,
 * so with virtual ns = instructions + idle ns, counter = ns / 16.
 *
 * Each timer has CTL (ENABLE bit 0, IMASK bit 1, ISTATUS bit 2 read-only and
 * computed), CVAL (64-bit compare value) and TVAL (a signed 32-bit view:
 * reads (CVAL - counter)[31:0], writes set CVAL = counter + SignExtend(TVAL)).
 * The condition is met when counter >= CVAL (unsigned 64-bit). A timer's
 * output level is ENABLE && !IMASK && condition met.
 */

/** Counter frequency (CNTFRQ_EL0) that QEMU's `virt` machine (TCG) and the nested KVM report. */
export const CNTFRQ_HZ = 62_500_000;

export const CTL_ENABLE = 1;
export const CTL_IMASK = 2;
export const CTL_ISTATUS = 4;

/** Which timer: the virtual (CNTV, PPI 27 on `virt`) or the EL1 physical (CNTP, PPI 30). */
export const VTIMER = 0;
export const PTIMER = 1;
export type TimerIndex = 0 | 1;

const M64 = (1n << 64n) - 1n;

export class A64Timer {
  /** CTL bits 1:0 (ENABLE, IMASK) of [CNTV, CNTP]. */
  private readonly ctl = [0, 0];
  /** CVAL of [CNTV, CNTP]. */
  private readonly cval = [0n, 0n];

  constructor(public counter: () => bigint = () => 0n) {}

  /** The current count, as an unsigned 64-bit value. */
  now(): bigint {
    return this.counter() & M64;
  }

  /** Both timers disabled, CVAL 0. */
  reset(): void {
    this.ctl[0] = this.ctl[1] = 0;
    this.cval[0] = this.cval[1] = 0n;
  }

  /** CTL as the guest reads it: ENABLE, IMASK, and ISTATUS (condition met while enabled). */
  readCtl(t: TimerIndex): number {
    const c = this.ctl[t]!;
    if ((c & CTL_ENABLE) !== 0 && this.now() >= this.cval[t]!) return c | CTL_ISTATUS;
    return c;
  }

  /** Writes ENABLE and IMASK; ISTATUS is read-only. */
  writeCtl(t: TimerIndex, v: number): void {
    this.ctl[t] = v & (CTL_ENABLE | CTL_IMASK);
  }

  readCval(t: TimerIndex): bigint {
    return this.cval[t]!;
  }

  writeCval(t: TimerIndex, v: bigint): void {
    this.cval[t] = v & M64;
  }

  /** TVAL: (CVAL - counter)[31:0] as a signed 32-bit number (MRS returns it zero-extended: bits 63:32 are RES0). */
  readTval(t: TimerIndex): number {
    return Number(BigInt.asIntN(32, this.cval[t]! - this.now()));
  }

  /** TVAL write: CVAL = counter + SignExtend(v[31:0]). */
  writeTval(t: TimerIndex, v: number | bigint): void {
    const s = BigInt.asIntN(32, BigInt(v));
    this.cval[t] = (this.now() + s) & M64;
  }

  /** One timer's output level: ENABLE && !IMASK && counter >= CVAL. */
  level(t: TimerIndex): boolean {
    const c = this.ctl[t]!;
    return (c & (CTL_ENABLE | CTL_IMASK)) === CTL_ENABLE && this.now() >= this.cval[t]!;
  }

  /** The output levels as KVM's kvm_run.s.regs.device_irq_level bits: bit 0 vtimer, bit 1 ptimer. */
  levels(): number {
    return (this.level(VTIMER) ? 1 : 0) | (this.level(PTIMER) ? 2 : 0);
  }

  /**
   * The counter value at which a level that is low now would rise (the
   * smallest CVAL of the enabled, unmasked timers whose level is low), or
   * null when no level can rise without a register write.
   */
  nextDeadline(): bigint | null {
    const now = this.now();
    let best: bigint | null = null;
    for (const t of [VTIMER, PTIMER] as const) {
      if ((this.ctl[t]! & (CTL_ENABLE | CTL_IMASK)) !== CTL_ENABLE) continue;
      const cv = this.cval[t]!;
      if (now >= cv) continue;
      if (best === null || cv < best) best = cv;
    }
    return best;
  }
}

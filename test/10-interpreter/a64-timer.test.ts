/**
 * The A64 generic timer: the pure model (CTL/ISTATUS, CVAL, the signed
 * TVAL view, output levels as KVM's device_irq_level bits, the next
 * deadline) and the CPU's counter/timer system registers, which see the
 * counter as of the instruction that reads them.
 */
import { describe, expect, it } from 'vitest';
import { A64Cpu, A64Timer, CNTFRQ_HZ, PTIMER, VTIMER } from '../../src/backend/sim/a64/index.js';

describe('A64Timer (pure model)', () => {
  function timerAt(start: bigint) {
    const clock = { now: start };
    return { t: new A64Timer(() => clock.now), clock };
  }

  it('the frequency is 62.5 MHz (16 ns per tick)', () => {
    expect(CNTFRQ_HZ).toBe(62_500_000);
    expect(1e9 / CNTFRQ_HZ).toBe(16);
  });

  it('CTL: ENABLE and IMASK are stored, ISTATUS is computed (condition met while enabled), writes to it ignored', () => {
    const { t, clock } = timerAt(1000n);
    t.writeCval(VTIMER, 1500n);
    t.writeCtl(VTIMER, 1 | 4);
    expect(t.readCtl(VTIMER)).toBe(1);
    clock.now = 1499n;
    expect(t.readCtl(VTIMER)).toBe(1);
    clock.now = 1500n;
    expect(t.readCtl(VTIMER)).toBe(5);
    t.writeCtl(VTIMER, 3);
    expect(t.readCtl(VTIMER)).toBe(7); // masked: ISTATUS still shows the condition
    t.writeCtl(VTIMER, 2);
    expect(t.readCtl(VTIMER)).toBe(2); // disabled: no ISTATUS
  });

  it('TVAL reads CVAL - counter as signed 32 bits and writes CVAL = counter + sext(TVAL)', () => {
    const { t, clock } = timerAt(0x1_0000_0000n);
    t.writeTval(VTIMER, 100);
    expect(t.readCval(VTIMER)).toBe(0x1_0000_0064n);
    expect(t.readTval(VTIMER)).toBe(100);
    clock.now += 150n;
    expect(t.readTval(VTIMER)).toBe(-50);
    t.writeTval(PTIMER, 0xffff_fff0); // -16
    expect(t.readCval(PTIMER)).toBe(0x1_0000_0096n - 16n);
    t.writeTval(PTIMER, -1n);
    expect(t.readCval(PTIMER)).toBe(0x1_0000_0095n);
    // TVAL truncates: CVAL far in the future reads modulo 2^32
    t.writeCval(VTIMER, clock.now + 0x1_0000_0005n);
    expect(t.readTval(VTIMER)).toBe(5);
  });

  it('CVAL is 64-bit, compared unsigned', () => {
    const { t, clock } = timerAt(0xffff_ffff_ffff_fff0n);
    t.writeCval(VTIMER, -1n);
    expect(t.readCval(VTIMER)).toBe(0xffff_ffff_ffff_ffffn);
    t.writeCtl(VTIMER, 1);
    expect(t.levels()).toBe(0);
    clock.now = 0xffff_ffff_ffff_ffffn;
    expect(t.levels()).toBe(1);
    t.writeCval(VTIMER, 0x8000_0000_0000_0000n); // counter >= it (unsigned), still high
    expect(t.levels()).toBe(1);
  });

  it('levels(): bit 0 vtimer, bit 1 ptimer, each ENABLE && !IMASK && counter >= CVAL', () => {
    const { t, clock } = timerAt(0n);
    t.writeCval(VTIMER, 10n);
    t.writeCval(PTIMER, 20n);
    t.writeCtl(VTIMER, 1);
    t.writeCtl(PTIMER, 1);
    expect(t.levels()).toBe(0);
    clock.now = 10n;
    expect(t.levels()).toBe(1);
    clock.now = 20n;
    expect(t.levels()).toBe(3);
    t.writeCtl(VTIMER, 3); // masked
    expect(t.levels()).toBe(2);
    t.writeCtl(PTIMER, 0); // disabled
    expect(t.levels()).toBe(0);
    expect(t.level(VTIMER)).toBe(false);
  });

  it('nextDeadline(): the earliest CVAL of an enabled, unmasked timer whose level is still low', () => {
    const { t, clock } = timerAt(100n);
    expect(t.nextDeadline()).toBeNull();
    t.writeCval(VTIMER, 500n);
    t.writeCval(PTIMER, 300n);
    t.writeCtl(VTIMER, 1);
    expect(t.nextDeadline()).toBe(500n);
    t.writeCtl(PTIMER, 1);
    expect(t.nextDeadline()).toBe(300n);
    t.writeCtl(PTIMER, 3); // masked: cannot rise
    expect(t.nextDeadline()).toBe(500n);
    t.writeCtl(PTIMER, 1);
    clock.now = 300n; // ptimer is high now: the next rise is the vtimer's
    expect(t.nextDeadline()).toBe(500n);
    clock.now = 600n;
    expect(t.nextDeadline()).toBeNull();
    t.reset();
    expect([t.readCtl(VTIMER), t.readCval(VTIMER), t.levels()]).toEqual([0, 0n, 0]);
  });
});

describe('A64 CPU timer registers', () => {
  const RAM = 0x4000_0000;
  const PROG = [
    0xd503201f, // nop
    0xd503201f, // nop
    0xd53be040, // mrs x0, cntvct_el0
    0xd53be021, // mrs x1, cntpct_el0
    0xd51be302, // msr cntv_tval_el0, x2
    0xd51be323, // msr cntv_ctl_el0, x3
    0xd53be324, // mrs x4, cntv_ctl_el0
    0xd53be305, // mrs x5, cntv_tval_el0
    0xd51be246, // msr cntp_cval_el0, x6
    0xd51be223, // msr cntp_ctl_el0, x3
    0xd53be227, // mrs x7, cntp_ctl_el0
    0xd53be008, // mrs x8, cntfrq_el0
    0xd53be349, // mrs x9, cntv_cval_el0
    0xd503201f, // nop
    0xd503201f, // nop
    0xd503201f, // nop
  ];
  function machine(opts: ConstructorParameters<typeof A64Cpu>[0] = {}) {
    const ram = new Uint8Array(0x10000);
    const dv = new DataView(ram.buffer);
    PROG.forEach((w, i) => dv.setUint32(0x1000 + 4 * i, w, true));
    const cpu = new A64Cpu(opts);
    cpu.setMemoryMap([{ gpa: RAM, bytes: ram, readonly: false }]);
    cpu.setPc(BigInt(RAM + 0x1000));
    return cpu;
  }

  it('CNTVCT/CNTPCT read the owner counter as of the reading instruction (counter = f(instructions))', () => {
    let cpu!: A64Cpu;
    cpu = machine({ counter: () => 1000n + BigInt(cpu.instructions) * 3n });
    cpu.run(1); // nop
    cpu.run(3); // nop, mrs x0 (2 retired before it), mrs x1 (3 retired before it)
    expect([cpu.getX(0), cpu.getX(1)]).toEqual([1006n, 1009n]);
  });

  it('the default counter is instructions / 16 (1 instruction = 1 ns at 62.5 MHz)', () => {
    const ram = new Uint8Array(0x10000);
    const dv = new DataView(ram.buffer);
    for (let i = 0; i < 170; i++) dv.setUint32(0x1000 + 4 * i, 0xd503201f, true); // nop
    dv.setUint32(0x1000 + 4 * 170, 0xd53be040, true); // mrs x0, cntvct_el0 (170 retired before it)
    const cpu = new A64Cpu();
    cpu.setMemoryMap([{ gpa: RAM, bytes: ram, readonly: false }]);
    cpu.setPc(BigInt(RAM + 0x1000));
    cpu.run(100);
    cpu.run(71);
    expect(cpu.instructions).toBe(171);
    expect(cpu.getX(0)).toBe(10n); // floor(170 / 16)
  });

  it('TVAL/CTL/CVAL through MSR and MRS; ISTATUS; levels; onTimerWrite + requestExit stop the run', () => {
    let now = 5000n;
    let writes = 0;
    let cpu!: A64Cpu;
    cpu = machine({
      counter: () => now,
      onTimerWrite: () => { writes++; cpu.requestExit(); },
    });
    cpu.setX(2, 0xffff_ffff_0000_0040n); // TVAL = 64 (upper bits ignored)
    cpu.setX(3, 1n); // ENABLE
    cpu.setX(6, 4000n);
    expect(cpu.run(100)).toEqual({ kind: 'budget' }); // stopped after msr cntv_tval
    expect(cpu.instructions).toBe(5);
    expect(writes).toBe(1);
    expect(cpu.timer.readCval(0)).toBe(5064n);
    expect(cpu.run(100)).toEqual({ kind: 'budget' }); // msr cntv_ctl
    expect(cpu.instructions).toBe(6);
    now = 5100n;
    cpu.run(2); // mrs x4 (ctl), mrs x5 (tval)
    expect([cpu.getX(4), cpu.getX(5)]).toEqual([5n, 0xffff_ffdcn]); // ISTATUS | ENABLE; TVAL = -36 zero-extended
    expect(cpu.timer.levels()).toBe(1);
    cpu.run(100); // msr cntp_cval = 4000
    cpu.run(100); // msr cntp_ctl = 1
    cpu.run(3); // mrs x7, x8, x9
    expect([cpu.getX(7), cpu.getX(8), cpu.getX(9)]).toEqual([5n, 62_500_000n, 5064n]);
    expect(cpu.timer.levels()).toBe(3);
    expect(writes).toBe(4);
    // The host view of the same registers (KVM_GET_ONE_REG by architectural encoding).
    expect(cpu.getSysReg(3, 3, 14, 3, 1)).toBe(5n);
    expect(cpu.getSysReg(3, 3, 14, 3, 2)).toBe(5064n);
    expect(cpu.setSysReg(3, 3, 14, 3, 1, 3n)).toBe(true); // mask the vtimer
    expect(cpu.timer.levels()).toBe(2);
  });

  it('reset() disables the timers', () => {
    const cpu = machine({ counter: () => 10n });
    cpu.timer.writeCtl(0, 1);
    cpu.reset();
    expect(cpu.getSysReg(3, 3, 14, 3, 1)).toBe(0n);
    expect(cpu.timer.nextDeadline()).toBeNull();
  });
});

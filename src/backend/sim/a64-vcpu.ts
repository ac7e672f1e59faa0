/**
 * The sim's arm64 vCPU: the A64 interpreter plus the kernel's part of
 * KVM_RUN on arm64 without an in-kernel GIC (DESIGN.md, arm64 contracts):
 *
 * - the user-IRQ exit rule (KVM_CAP_ARM_USER_IRQ): after every run the
 *   timer levels are published in `deviceIrqLevel`, and a run whose levels
 *   differ from what the VMM last saw comes back as `intr` (EINTR), at
 *   once or as soon as a level changes -- never a copy of the level onto
 *   the IRQ line, which only KVM_IRQ_LINE drives;
 * - WFI: the vCPU sleeps in the kernel until its IRQ/FIQ line is high or a
 *   timer level rises (virtual time jumps to the deadline);
 * - PSCI over HVC, as KVM's in-kernel PSCI (v1.1): CPU_ON resets the target
 *   and starts it at the entry with x0 = the context id, CPU_OFF,
 *   AFFINITY_INFO, FEATURES, MIGRATE_INFO_TYPE, SYSTEM_OFF/RESET as
 *   KVM_EXIT_SYSTEM_EVENT; other HVCs answer NOT_SUPPORTED (-1) in x0;
 * - ioeventfds claim MMIO writes before they exit; an MMIO access without a
 *   valid syndrome (LDP/STP, writeback) fails KVM_RUN with ENOSYS, as KVM
 *   without KVM_CAP_ARM_NISV_TO_USER.
 * Virtual time is deterministic: 1 instruction = 1 ns plus the time jumped
 * over in WFI; the counter runs at 62.5 MHz (16 ns a tick).
 */
import { BackendError, InvalidArgumentError } from '../../errors.js';
import type { ArmVcpuInit, MpState, Vcpu, VcpuExit, X86Regs, X86Sregs } from '../types.js';
import {
  ARM64_REG, decodeArm64SysReg, KVM_ARM_VCPU_POWER_OFF, KVM_ARM_VCPU_PSCI_0_2, KVM_SYSTEM_EVENT_RESET, KVM_SYSTEM_EVENT_SHUTDOWN,
  KVM_REG_ARM_TIMER_CNT, KVM_REG_ARM_TIMER_CVAL, PSCI, PSCI_RET, arm64SysReg,
} from '../arm64.js';
import { A64Cpu } from './a64/index.js';
import type { SimVm } from './vm.js';

/** KVM_ARM_TARGET_GENERIC_V8: what KVM_ARM_PREFERRED_TARGET answers on a modern host. */
export const SIM_ARM_TARGET = 5;
/** Instructions per slice; after one, run() returns `intr` (as if a signal interrupted KVM_RUN). */
const SLICE = 1 << 20;
const SMP_SLICE = 1 << 14;
/** Nanoseconds per counter tick at 62.5 MHz. */
const NS_PER_TICK = 16;
/** PSCI 1.1, as current KVM reports. */
const PSCI_VERSION_1_1 = 0x0001_0001;
const INTR: VcpuExit = Object.freeze({ kind: 'intr' });

/** The core registers' u32 offsets into struct kvm_regs that the sim has (GET_REG_LIST order). */
const CORE_IDS: bigint[] = [
  ...Array.from({ length: 31 }, (_, n) => ARM64_REG.x(n)),
  ARM64_REG.SP, ARM64_REG.PC, ARM64_REG.PSTATE, ARM64_REG.SP_EL1, ARM64_REG.ELR_EL1, ARM64_REG.SPSR_EL1,
];
const LISTED_SYSREGS: [number, number, number, number, number][] = [
  [3, 0, 0, 0, 5], [3, 0, 1, 0, 0], [3, 0, 1, 0, 2], [3, 0, 2, 0, 0], [3, 0, 2, 0, 1], [3, 0, 2, 0, 2], [3, 0, 5, 2, 0],
  [3, 0, 6, 0, 0], [3, 0, 10, 2, 0], [3, 0, 12, 0, 0], [3, 0, 13, 0, 4], [3, 3, 13, 0, 2], [3, 0, 14, 1, 0],
  [3, 3, 14, 3, 1], [3, 3, 14, 3, 2], [3, 3, 14, 0, 2], [3, 3, 14, 2, 1], [3, 3, 14, 2, 2],
];

const u64 = (v: number): bigint => BigInt.asUintN(64, BigInt(v));

export class SimA64Vcpu implements Vcpu {
  readonly cpu: A64Cpu;
  /** MPIDR_EL1's affinity as KVM derives it from the vCPU id (Aff0 = id[3:0], Aff1 = id[11:4], Aff2 = id[19:12]). */
  readonly mpidrAffinity: number;
  private isClosed = false;
  private kickPending = false;
  private initialized = false;
  private poweredOff = false;
  /** Asleep in WFI: no instruction runs until the IRQ/FIQ line rises or a timer level changes. */
  private waiting = false;
  /** kvm_run->s.regs.device_irq_level as of the last return. */
  private reported = 0;
  /** Virtual nanoseconds spent asleep in WFI. */
  private idle = 0;
  private memoryGeneration = -1;
  private onThread = false;
  private readonly mmioExit = { kind: 'mmio-write' as 'mmio-write' | 'mmio-read', address: 0, size: 0, data: new Uint8Array(0) as Uint8Array };

  /** `index`: the vCPU's position in creation order (KVM_IRQ_LINE's vcpu_index). */
  constructor(private readonly vm: SimVm, readonly id: number, readonly index: number) {
    this.mpidrAffinity = (id & 0xf) | (((id >> 4) & 0xff) << 8) | (((id >> 12) & 0xff) << 16);
    this.cpu = new A64Cpu({
      mpidr: BigInt(this.mpidrAffinity),
      counter: () => BigInt(Math.floor(this.now / NS_PER_TICK)),
      // A timer register write may change a level or the deadline: stop the slice to look.
      onTimerWrite: () => this.cpu.requestExit(),
    });
  }

  /** Virtual time in ns: instructions retired plus time asleep. */
  private get now(): number { return this.cpu.instructions + this.idle; }

  get closed(): boolean { return this.isClosed; }
  get instructionsRetired(): number { return this.cpu.instructions; }
  get deviceIrqLevel(): number { return this.reported; }

  private syncMemory(): void {
    if (this.memoryGeneration === this.vm.memoryGeneration) return;
    this.memoryGeneration = this.vm.memoryGeneration;
    this.cpu.setMemoryMap(this.vm.memorySlots().map((s) => ({ gpa: s.gpa, bytes: s.bytes, readonly: (s.flags & 2) !== 0 })));
  }

  armVcpuInit(init: ArmVcpuInit): void {
    const S = 'KVM_ARM_VCPU_INIT';
    if (this.isClosed) throw new BackendError('EBADF', S, `vCPU ${this.id} is closed`);
    if (init.target !== SIM_ARM_TARGET) throw new BackendError('EINVAL', S, `target ${init.target} (the sim is ${SIM_ARM_TARGET}, generic v8)`);
    if (!Array.isArray(init.features) || init.features.length > 7) throw new InvalidArgumentError('features has at most 7 u32 words');
    const known = (1 << KVM_ARM_VCPU_POWER_OFF) | (1 << KVM_ARM_VCPU_PSCI_0_2);
    const w0 = init.features[0] ?? 0;
    if ((w0 & ~known) !== 0 || init.features.slice(1).some((w) => w !== 0)) {
      throw new BackendError('EINVAL', S, 'the sim models the POWER_OFF and PSCI_0_2 features only');
    }
    this.cpu.reset();
    this.poweredOff = (w0 & (1 << KVM_ARM_VCPU_POWER_OFF)) !== 0;
    this.waiting = false;
    this.initialized = true;
  }

  /** KVM_IRQ_LINE (type CPU) on this vCPU: the IRQ/FIQ input; a rising line ends WFI. */
  setInputLine(which: 'irq' | 'fiq', level: boolean): void {
    if (which === 'irq') this.cpu.setIrqLine(level); else this.cpu.setFiqLine(level);
    if (level) this.waiting = false;
  }

  /** PSCI CPU_ON's effect on the target: a reset, then PC = entry, x0 = context, running. */
  powerOn(entry: bigint, context: bigint): void {
    this.cpu.reset();
    this.cpu.setPc(entry);
    this.cpu.setX(0, context);
    this.poweredOff = false;
    this.waiting = false;
  }

  get poweredOn(): boolean { return this.initialized && !this.poweredOff; }

  run(): VcpuExit {
    if (this.onThread) throw new InvalidArgumentError(`vCPU ${this.id} runs on its own thread: use runOnThread()`);
    return this.runSlice();
  }

  runOnThread(): Promise<VcpuExit> {
    this.onThread = true;
    // The executor runs now, synchronously: a throw becomes the rejection.
    return new Promise((resolve) => resolve(this.runSlice()));
  }

  /** Every return publishes the levels, as KVM's kvm_timer_update_run at the end of KVM_RUN. */
  private ret(e: VcpuExit): VcpuExit {
    this.reported = this.cpu.timer.levels();
    return e;
  }

  private runSlice(): VcpuExit {
    const S = 'KVM_RUN';
    if (this.isClosed) throw new BackendError('EBADF', S, `vCPU ${this.id} is closed`);
    if (!this.initialized) throw new BackendError('ENOEXEC', S, `vCPU ${this.id} was not initialised with KVM_ARM_VCPU_INIT`);
    if (this.kickPending) {
      this.kickPending = false;
      return this.ret(INTR);
    }
    // Powered off: KVM sleeps in KVM_RUN until CPU_ON; the sim cannot block, it reports a signal-like return.
    if (this.poweredOff) return this.ret(INTR);
    this.syncMemory();
    const cpu = this.cpu;
    const timer = cpu.timer;
    const slice = this.vm.liveVcpus > 1 ? SMP_SLICE : SLICE;
    const start = cpu.instructions;
    for (;;) {
      // The user-IRQ rule: a level the VMM has not seen ends the run before the guest goes on.
      if (timer.levels() !== this.reported) return this.ret(INTR);
      if (this.waiting) {
        if (cpu.interruptPending) {
          this.waiting = false;
        } else {
          const deadline = timer.nextDeadline();
          // Nothing can wake it but the VMM (KVM_IRQ_LINE, CPU_ON of another vCPU): sleep in KVM_RUN.
          if (deadline === null) return this.ret(INTR);
          this.idle += Math.max(0, Number(deadline) * NS_PER_TICK - this.now);
          this.waiting = false; // the timer wakes it; the level change returns at the loop's top
          continue;
        }
      }
      const left = slice - (cpu.instructions - start);
      if (left <= 0) return this.ret(INTR);
      let budget = left;
      const deadline = timer.nextDeadline();
      if (deadline !== null) budget = Math.max(1, Math.min(budget, Number(deadline) * NS_PER_TICK - this.now));
      const e = cpu.run(budget);
      switch (e.kind) {
        case 'budget':
          continue;
        case 'mmio': {
          if (e.isWrite && this.vm.matchIoeventfd('mmio', e.address, e.data)) continue;
          const x = this.mmioExit;
          x.kind = e.isWrite ? 'mmio-write' : 'mmio-read';
          x.address = e.address;
          x.size = e.size;
          x.data = e.data;
          return this.ret(x as VcpuExit);
        }
        case 'mmio-nisv':
          throw new BackendError('ENOSYS', S, `vCPU ${this.id}: ${e.isWrite ? 'store to' : 'load from'} MMIO 0x${e.address.toString(16)} by an instruction without a valid syndrome (pair, writeback or exclusive access)`);
        case 'wfi':
          if (!cpu.interruptPending) this.waiting = true;
          continue;
        case 'hvc': {
          const x = this.hvc();
          if (x) return this.ret(x);
          continue;
        }
        default: {
          const never: never = e;
          throw new Error(`unhandled interpreter exit ${JSON.stringify(never)}`);
        }
      }
    }
  }

  /** An HVC: PSCI (SMCCC function id in w0), answered in x0. Returns an exit to report, or null to go on. */
  private hvc(): VcpuExit | null {
    const cpu = this.cpu;
    const fn = Number(cpu.getX(0) & 0xffff_ffffn);
    const set = (v: number): null => { cpu.setX(0, u64(v)); return null; };
    switch (fn) {
      case PSCI.VERSION: return set(PSCI_VERSION_1_1);
      case PSCI.CPU_ON_32:
      case PSCI.CPU_ON_64: {
        const mask = fn === PSCI.CPU_ON_32 ? 0xffff_ffffn : 0xffff_ffff_ffff_ffffn;
        const target = Number(cpu.getX(1) & 0xff_00ff_ffffn);
        const entry = cpu.getX(2) & mask;
        const context = cpu.getX(3) & mask;
        const t = this.vm.a64VcpuByMpidr(target);
        if (!t || !t.initialized) return set(PSCI_RET.INVALID_PARAMS);
        if (t.poweredOn) return set(PSCI_RET.ALREADY_ON);
        t.powerOn(entry, context);
        return set(PSCI_RET.SUCCESS);
      }
      case PSCI.CPU_OFF:
        this.poweredOff = true;
        return INTR;
      case PSCI.AFFINITY_INFO_32:
      case PSCI.AFFINITY_INFO_64: {
        if (cpu.getX(2) !== 0n) return set(PSCI_RET.INVALID_PARAMS); // lowest affinity level 0 only
        const t = this.vm.a64VcpuByMpidr(Number(cpu.getX(1) & 0xff_00ff_ffffn));
        if (!t) return set(PSCI_RET.INVALID_PARAMS);
        return set(t.poweredOn ? 0 : 1);
      }
      case PSCI.MIGRATE_INFO_TYPE: return set(2); // no trusted OS to migrate
      case PSCI.CPU_SUSPEND_64: return set(PSCI_RET.SUCCESS); // a standby state: returns at once
      case PSCI.SYSTEM_OFF: return { kind: 'system-event', type: KVM_SYSTEM_EVENT_SHUTDOWN, data: [0n] };
      case PSCI.SYSTEM_RESET: return { kind: 'system-event', type: KVM_SYSTEM_EVENT_RESET, data: [0n] };
      case PSCI.FEATURES: {
        const q = Number(cpu.getX(1) & 0xffff_ffffn);
        const known: number[] = [PSCI.VERSION, PSCI.CPU_ON_32, PSCI.CPU_ON_64, PSCI.CPU_OFF, PSCI.AFFINITY_INFO_32,
          PSCI.AFFINITY_INFO_64, PSCI.MIGRATE_INFO_TYPE, PSCI.CPU_SUSPEND_64, PSCI.SYSTEM_OFF, PSCI.SYSTEM_RESET, PSCI.FEATURES];
        return set(known.includes(q) ? 0 : PSCI_RET.NOT_SUPPORTED);
      }
      default: return set(PSCI_RET.NOT_SUPPORTED);
    }
  }

  kick(): void { this.kickPending = true; }

  getOneReg(id: bigint): bigint {
    const S = 'KVM_GET_ONE_REG';
    const c = this.cpu;
    switch (id) {
      case ARM64_REG.SP: return c.getSpEl0();
      case ARM64_REG.PC: return c.getPc();
      case ARM64_REG.PSTATE: return c.getPstate();
      case ARM64_REG.SP_EL1: return c.getSpEl1();
      case ARM64_REG.ELR_EL1: return c.getElrEl1();
      case ARM64_REG.SPSR_EL1: return c.getSpsrEl1();
      default: break;
    }
    const x = this.coreX(id);
    if (x >= 0) return c.getX(x);
    // KVM's swapped timer ids (src/backend/arm64.ts).
    if (id === KVM_REG_ARM_TIMER_CNT) return c.timer.now();
    if (id === KVM_REG_ARM_TIMER_CVAL) return c.timer.readCval(0);
    const sys = decodeArm64SysReg(id);
    const v = sys ? c.getSysReg(sys.op0, sys.op1, sys.crn, sys.crm, sys.op2) : undefined;
    if (v === undefined) throw new BackendError('ENOENT', S, `no register 0x${id.toString(16)}`);
    return v;
  }

  setOneReg(id: bigint, value: bigint): void {
    const S = 'KVM_SET_ONE_REG';
    const c = this.cpu;
    const v = BigInt.asUintN(64, value);
    switch (id) {
      case ARM64_REG.SP: c.setSpEl0(v); return;
      case ARM64_REG.PC: c.setPc(v); return;
      case ARM64_REG.PSTATE:
        try {
          c.setPstate(v);
        } catch {
          throw new BackendError('EINVAL', S, `PSTATE 0x${v.toString(16)}: not an AArch64 EL0/EL1 mode`);
        }
        return;
      case ARM64_REG.SP_EL1: c.setSpEl1(v); return;
      case ARM64_REG.ELR_EL1: c.setElrEl1(v); return;
      case ARM64_REG.SPSR_EL1: c.setSpsrEl1(v); return;
      default: break;
    }
    const x = this.coreX(id);
    if (x >= 0) { c.setX(x, v); return; }
    if (id === KVM_REG_ARM_TIMER_CVAL) { c.timer.writeCval(0, v); return; }
    // TIMER_CNT: KVM moves CNTVOFF so the guest sees `v`; the sim's counter is virtual time and has no offset.
    if (id === KVM_REG_ARM_TIMER_CNT) throw new BackendError('EINVAL', S, 'the sim does not offset its counter');
    const sys = decodeArm64SysReg(id);
    if (!sys || !c.setSysReg(sys.op0, sys.op1, sys.crn, sys.crm, sys.op2, v)) {
      throw new BackendError('ENOENT', S, `no writable register 0x${id.toString(16)}`);
    }
  }

  /** The X register a core id names, or -1. */
  private coreX(id: bigint): number {
    for (let n = 0; n < 31; n++) if (id === ARM64_REG.x(n)) return n;
    return -1;
  }

  getRegList(): bigint[] {
    return [...CORE_IDS, ...LISTED_SYSREGS.map((e) => arm64SysReg(...e))];
  }

  getMpState(): MpState {
    if (!this.initialized || this.poweredOff) return 'stopped';
    return this.waiting ? 'halted' : 'runnable';
  }

  setMpState(state: MpState): void {
    if (state === 'stopped') { this.poweredOff = true; return; }
    if (state === 'runnable') { this.poweredOff = false; this.waiting = false; return; }
    throw new BackendError('EINVAL', 'KVM_SET_MP_STATE', `${state} is not an arm64 MP state`);
  }

  private x86(name: string): never { throw new BackendError('EINVAL', name, 'an arm64 vCPU'); }
  getRegs(): X86Regs { return this.x86('KVM_GET_REGS'); }
  setRegs(): void { this.x86('KVM_SET_REGS'); }
  getSregs(): X86Sregs { return this.x86('KVM_GET_SREGS'); }
  setSregs(): void { this.x86('KVM_SET_SREGS'); }
  setCpuid(): void { this.x86('KVM_SET_CPUID2'); }
  interrupt(): void { this.x86('KVM_INTERRUPT'); }
  setRequestInterruptWindow(): void { /* no such thing on arm64: kvm_run's field is ignored */ }
  readonly readyForInterruptInjection = false;

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.vm.vcpuClosed();
  }
}


/**
 * arm64 KVM ABI values the VMM composes (uapi asm/kvm.h and linux/kvm.h),
 * shared by both backends: register ids for KVM_GET/SET_ONE_REG, the
 * KVM_IRQ_LINE encoding, vCPU features, PSCI function ids and the system
 * event types. On an arm64 build a test checks them against the addon's.
 */

// --- KVM_GET/SET_ONE_REG ids -------------------------------------------------
const KVM_REG_ARM64 = 0x6000_0000_0000_0000n;
const KVM_REG_SIZE_U32 = 0x0020_0000_0000_0000n;
const KVM_REG_SIZE_U64 = 0x0030_0000_0000_0000n;
const KVM_REG_ARM_CORE = 0x0010n << 16n;
const KVM_REG_ARM64_SYSREG = 0x0013n << 16n;

/** A core register by its u32 offset into struct kvm_regs. */
function core(offsetWords: number, size = KVM_REG_SIZE_U64): bigint {
  return KVM_REG_ARM64 | size | KVM_REG_ARM_CORE | BigInt(offsetWords);
}

/** struct kvm_regs: user_pt_regs { regs[31], sp, pc, pstate }, sp_el1, elr_el1, spsr[5], fp_regs. */
export const ARM64_REG = {
  x: (n: number): bigint => core(2 * n),
  SP: core(62),
  PC: core(64),
  PSTATE: core(66),
  SP_EL1: core(68),
  ELR_EL1: core(70),
  SPSR_EL1: core(72),
} as const;

/** A system register id (KVM_REG_ARM64_SYSREG with op0, op1, CRn, CRm, op2). */
export function arm64SysReg(op0: number, op1: number, crn: number, crm: number, op2: number): bigint {
  const enc = (op0 << 14) | (op1 << 11) | (crn << 7) | (crm << 3) | op2;
  return KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM64_SYSREG | BigInt(enc);
}

/** Decodes a sysreg id back to its encoding, or null for another kind of id. */
export function decodeArm64SysReg(id: bigint): { op0: number; op1: number; crn: number; crm: number; op2: number } | null {
  if ((id & 0xffff_0000_ffff_0000n) !== (KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM64_SYSREG)) return null;
  const enc = Number(id & 0xffffn);
  return { op0: (enc >> 14) & 3, op1: (enc >> 11) & 7, crn: (enc >> 7) & 15, crm: (enc >> 3) & 15, op2: enc & 7 };
}

export const ARM64_SYSREG = {
  MPIDR_EL1: arm64SysReg(3, 0, 0, 0, 5),
  SCTLR_EL1: arm64SysReg(3, 0, 1, 0, 0),
  VBAR_EL1: arm64SysReg(3, 0, 12, 0, 0),
} as const;

/**
 * KVM's ids of the virtual timer's registers (uapi asm/kvm.h). CNT and CVAL
 * are swapped against their architectural encodings -- an ABI accident KVM
 * keeps: TIMER_CNT is (3, 3, 14, 3, 2), CNTV_CVAL_EL0's encoding, and
 * TIMER_CVAL is (3, 3, 14, 0, 2), CNTVCT_EL0's.
 */
export const KVM_REG_ARM_TIMER_CTL = arm64SysReg(3, 3, 14, 3, 1);
export const KVM_REG_ARM_TIMER_CNT = arm64SysReg(3, 3, 14, 3, 2);
export const KVM_REG_ARM_TIMER_CVAL = arm64SysReg(3, 3, 14, 0, 2);

export const ARM64_REG_SIZE_U32 = KVM_REG_SIZE_U32;

/** PSTATE at KVM_ARM_VCPU_INIT: EL1h with D, A, I, F masked. */
export const PSTATE_EL1H_DAIF = 0x3c5n;

// --- KVM_IRQ_LINE -------------------------------------------------------------
export const KVM_ARM_IRQ_TYPE_SHIFT = 24;
export const KVM_ARM_IRQ_VCPU_SHIFT = 16;
export const KVM_ARM_IRQ_TYPE_CPU = 0;
export const KVM_ARM_IRQ_TYPE_SPI = 1;
export const KVM_ARM_IRQ_TYPE_PPI = 2;
export const KVM_ARM_IRQ_CPU_IRQ = 0;
export const KVM_ARM_IRQ_CPU_FIQ = 1;

/** The KVM_IRQ_LINE `irq` for a vCPU's IRQ (or FIQ) input: type CPU, vCPU index in bits 23:16. */
export function armIrqCpu(vcpuIndex: number, fiq = false): number {
  return ((KVM_ARM_IRQ_TYPE_CPU << KVM_ARM_IRQ_TYPE_SHIFT) | ((vcpuIndex & 0xff) << KVM_ARM_IRQ_VCPU_SHIFT)
    | (fiq ? KVM_ARM_IRQ_CPU_FIQ : KVM_ARM_IRQ_CPU_IRQ)) >>> 0;
}

/** Splits a KVM_IRQ_LINE `irq` (the kernel's decoding; the vCPU2 index bits 31:28 are not used here). */
export function decodeArmIrq(irq: number): { type: number; vcpu: number; num: number } {
  return { type: (irq >>> KVM_ARM_IRQ_TYPE_SHIFT) & 0xf, vcpu: (irq >>> KVM_ARM_IRQ_VCPU_SHIFT) & 0xff, num: irq & 0xffff };
}

// --- device_irq_level bits (KVM_CAP_ARM_USER_IRQ) ----------------------------
export const KVM_ARM_DEV_EL1_VTIMER = 1 << 0;
export const KVM_ARM_DEV_EL1_PTIMER = 1 << 1;
export const KVM_ARM_DEV_PMU = 1 << 2;

// --- vCPU features (bit numbers in kvm_vcpu_init.features) --------------------
export const KVM_ARM_VCPU_POWER_OFF = 0;
export const KVM_ARM_VCPU_EL1_32BIT = 1;
export const KVM_ARM_VCPU_PSCI_0_2 = 2;
export const KVM_ARM_VCPU_PMU_V3 = 3;

/** The feature words for a list of feature bit numbers. */
export function armFeatures(...bits: number[]): number[] {
  const words = [0, 0, 0, 0, 0, 0, 0];
  for (const b of bits) words[b >> 5] = (words[b >> 5]! | (1 << (b & 31))) >>> 0;
  return words;
}

// --- PSCI (DEN0022) ---------------------------------------------------------------
export const PSCI = {
  VERSION: 0x8400_0000,
  CPU_SUSPEND_64: 0xc400_0001,
  CPU_OFF: 0x8400_0002,
  CPU_ON_32: 0x8400_0003,
  CPU_ON_64: 0xc400_0003,
  AFFINITY_INFO_32: 0x8400_0004,
  AFFINITY_INFO_64: 0xc400_0004,
  MIGRATE_INFO_TYPE: 0x8400_0006,
  SYSTEM_OFF: 0x8400_0008,
  SYSTEM_RESET: 0x8400_0009,
  FEATURES: 0x8400_000a,
} as const;
export const PSCI_RET = { SUCCESS: 0, NOT_SUPPORTED: -1, INVALID_PARAMS: -2, DENIED: -3, ALREADY_ON: -4, ON_PENDING: -5, INTERNAL_FAILURE: -6 } as const;

// --- KVM_EXIT_SYSTEM_EVENT types -----------------------------------------------
export const KVM_SYSTEM_EVENT_SHUTDOWN = 1;
export const KVM_SYSTEM_EVENT_RESET = 2;
export const KVM_SYSTEM_EVENT_CRASH = 3;

/**
 * System register encodings (op0:op1:CRn:CRm:op2 packed as in MRS/MSR bits
 * 20:5 and in KVM_REG_ARM64_SYSREG ids: op0 << 14 | op1 << 11 | CRn << 7 |
 * CRm << 3 | op2) and the identification values the sim reports.
 */
export const sysKey = (op0: number, op1: number, crn: number, crm: number, op2: number): number =>
  ((op0 & 3) << 14) | ((op1 & 7) << 11) | ((crn & 15) << 7) | ((crm & 15) << 3) | (op2 & 7);

export const MIDR_EL1 = sysKey(3, 0, 0, 0, 0);
export const MPIDR_EL1 = sysKey(3, 0, 0, 0, 5);
export const REVIDR_EL1 = sysKey(3, 0, 0, 0, 6);
export const ID_AA64PFR0_EL1 = sysKey(3, 0, 0, 4, 0);
export const ID_AA64PFR1_EL1 = sysKey(3, 0, 0, 4, 1);
export const ID_AA64DFR0_EL1 = sysKey(3, 0, 0, 5, 0);
export const ID_AA64ISAR0_EL1 = sysKey(3, 0, 0, 6, 0);
export const ID_AA64ISAR1_EL1 = sysKey(3, 0, 0, 6, 1);
export const ID_AA64MMFR0_EL1 = sysKey(3, 0, 0, 7, 0);
export const ID_AA64MMFR1_EL1 = sysKey(3, 0, 0, 7, 1);
export const ID_AA64MMFR2_EL1 = sysKey(3, 0, 0, 7, 2);
export const SCTLR_EL1 = sysKey(3, 0, 1, 0, 0);
export const ACTLR_EL1 = sysKey(3, 0, 1, 0, 1);
export const CPACR_EL1 = sysKey(3, 0, 1, 0, 2);
export const TTBR0_EL1 = sysKey(3, 0, 2, 0, 0);
export const TTBR1_EL1 = sysKey(3, 0, 2, 0, 1);
export const TCR_EL1 = sysKey(3, 0, 2, 0, 2);
export const SPSR_EL1 = sysKey(3, 0, 4, 0, 0);
export const ELR_EL1 = sysKey(3, 0, 4, 0, 1);
export const SP_EL0 = sysKey(3, 0, 4, 1, 0);
export const SPSEL = sysKey(3, 0, 4, 2, 0);
export const CURRENTEL = sysKey(3, 0, 4, 2, 2);
export const NZCV = sysKey(3, 3, 4, 2, 0);
export const DAIF = sysKey(3, 3, 4, 2, 1);
export const FPCR = sysKey(3, 3, 4, 4, 0);
export const FPSR = sysKey(3, 3, 4, 4, 1);
/** SP_EL1 is an EL2 register: UNDEFINED to MRS/MSR at EL1, but get/setSysReg accept it (KVM has it in kvm_regs). */
export const SP_EL1 = sysKey(3, 4, 4, 1, 0);
export const AFSR0_EL1 = sysKey(3, 0, 5, 1, 0);
export const AFSR1_EL1 = sysKey(3, 0, 5, 1, 1);
export const ESR_EL1 = sysKey(3, 0, 5, 2, 0);
export const FAR_EL1 = sysKey(3, 0, 6, 0, 0);
export const PAR_EL1 = sysKey(3, 0, 7, 4, 0);
export const MAIR_EL1 = sysKey(3, 0, 10, 2, 0);
export const AMAIR_EL1 = sysKey(3, 0, 10, 3, 0);
export const VBAR_EL1 = sysKey(3, 0, 12, 0, 0);
export const ISR_EL1 = sysKey(3, 0, 12, 1, 0);
export const CONTEXTIDR_EL1 = sysKey(3, 0, 13, 0, 1);
export const TPIDR_EL1 = sysKey(3, 0, 13, 0, 4);
export const CNTKCTL_EL1 = sysKey(3, 0, 14, 1, 0);
export const CCSIDR_EL1 = sysKey(3, 1, 0, 0, 0);
export const CLIDR_EL1 = sysKey(3, 1, 0, 0, 1);
export const CSSELR_EL1 = sysKey(3, 2, 0, 0, 0);
export const CTR_EL0 = sysKey(3, 3, 0, 0, 1);
export const DCZID_EL0 = sysKey(3, 3, 0, 0, 7);
export const TPIDR_EL0 = sysKey(3, 3, 13, 0, 2);
export const TPIDRRO_EL0 = sysKey(3, 3, 13, 0, 3);
export const CNTFRQ_EL0 = sysKey(3, 3, 14, 0, 0);
export const CNTPCT_EL0 = sysKey(3, 3, 14, 0, 1);
export const CNTVCT_EL0 = sysKey(3, 3, 14, 0, 2);
export const CNTP_TVAL_EL0 = sysKey(3, 3, 14, 2, 0);
export const CNTP_CTL_EL0 = sysKey(3, 3, 14, 2, 1);
export const CNTP_CVAL_EL0 = sysKey(3, 3, 14, 2, 2);
export const CNTV_TVAL_EL0 = sysKey(3, 3, 14, 3, 0);
export const CNTV_CTL_EL0 = sysKey(3, 3, 14, 3, 1);
export const CNTV_CVAL_EL0 = sysKey(3, 3, 14, 3, 2);
export const MDSCR_EL1 = sysKey(2, 0, 0, 2, 2);
export const OSLAR_EL1 = sysKey(2, 0, 1, 0, 4);
export const OSLSR_EL1 = sysKey(2, 0, 1, 1, 4);
export const OSDLR_EL1 = sysKey(2, 0, 1, 3, 4);

/** Cortex-A57 r1p0 (implementer 0x41 Arm, part 0xd07), what a KVM host with A57 cores reports. */
export const MIDR_VALUE = 0x411f_d070n;
/** EL0 and EL1 AArch64-only, EL2/EL3 absent (a KVM guest's view), FP and AdvSIMD implemented (0), no GIC system registers. */
export const ID_AA64PFR0_VALUE = 0x11n;
/** ISAR0: Atomic (bits 23:20) = 2 (LSE: LDADD.., SWP, CAS). Nothing else (no CRC32, AES, SHA, RDM, ...). */
export const ID_AA64ISAR0_VALUE = 0x20_0000n;
/** MMFR0: PARange 48 bits (5), 16-bit ASIDs (2), 4K and 64K granules (TGran16 = 0: not supported). (The MMU itself is not modelled.) */
export const ID_AA64MMFR0_VALUE = 0x25n;
/** DFR0: DebugVer v8 (6), 6 breakpoints, 4 watchpoints (as A57); no PMU. */
export const ID_AA64DFR0_VALUE = 0x0030_3006n;
/** CTR_EL0 of a Cortex-A57: 64-byte lines, PIPT I-cache. */
export const CTR_VALUE = 0x8444_c004n;
/** DCZID_EL0: DC ZVA permitted, 64-byte blocks (BS = log2(16 words)). */
export const DCZID_VALUE = 4n;
/** SCTLR_EL1 as KVM's vCPU reset leaves it (its RES1 bits, MMU and caches off). */
export const SCTLR_RESET = 0x00c5_0078n;

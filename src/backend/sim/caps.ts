/**
 * What the sim answers to KVM_CHECK_EXTENSION: the values a current x86
 * KVM gives for what the sim models, 0 for what it does not.
 */
import type { Arch, Capability } from '../types.js';

const CAPS: Record<Capability, number> = {
  KVM_CAP_IRQCHIP: 1,
  KVM_CAP_USER_MEMORY: 1,
  KVM_CAP_SET_TSS_ADDR: 1,
  KVM_CAP_IRQ_ROUTING: 4096,
  KVM_CAP_IRQFD: 1,
  KVM_CAP_IOEVENTFD: 1,
  KVM_CAP_SIGNAL_MSI: 1,
  KVM_CAP_SPLIT_IRQCHIP: 1,
  KVM_CAP_IMMEDIATE_EXIT: 1,
  // The sim keeps no sync-regs area in an exit: reports none of the KVM_SYNC_X86_* bits.
  KVM_CAP_SYNC_REGS: 0,
  KVM_CAP_NR_VCPUS: 64,
  KVM_CAP_MAX_VCPUS: 1024,
  KVM_CAP_NR_MEMSLOTS: 32764,
  // Resample irqfds need the full in-kernel irqchip, which the sim does not model.
  KVM_CAP_IRQFD_RESAMPLE: 0,
  KVM_CAP_X2APIC_API: 0,
  KVM_CAP_MP_STATE: 1,
  KVM_CAP_IOEVENTFD_ANY_LENGTH: 1,
  KVM_CAP_EXT_CPUID: 1,
  KVM_CAP_ARM_USER_IRQ: 0,
  KVM_CAP_ARM_PSCI_0_2: 0,
  KVM_CAP_ONE_REG: 0,
};

/**
 * arm64 without an in-kernel GIC (what the sim models there): no irqchip,
 * routing, irqfd or MSI; the user-IRQ levels, PSCI 0.2 and ONE_REG.
 */
const ARM64_CAPS: Record<Capability, number> = {
  ...CAPS,
  KVM_CAP_IRQCHIP: 0, KVM_CAP_SET_TSS_ADDR: 0, KVM_CAP_IRQ_ROUTING: 0, KVM_CAP_IRQFD: 0, KVM_CAP_SIGNAL_MSI: 0,
  KVM_CAP_SPLIT_IRQCHIP: 0, KVM_CAP_X2APIC_API: 0, KVM_CAP_EXT_CPUID: 0, KVM_CAP_NR_VCPUS: 8, KVM_CAP_MAX_VCPUS: 512,
  KVM_CAP_ARM_USER_IRQ: 1, KVM_CAP_ARM_PSCI_0_2: 1, KVM_CAP_ONE_REG: 1,
};

export function simCapability(cap: Capability, arch: Arch = 'x86_64'): number {
  return (arch === 'arm64' ? ARM64_CAPS : CAPS)[cap] ?? 0;
}

/**
 * What the sim answers to KVM_CHECK_EXTENSION: the values a current x86
 * KVM gives for what the sim models, 0 for what it does not.
 */
import type { Capability } from '../types.js';

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
};

export function simCapability(cap: Capability): number {
  return CAPS[cap] ?? 0;
}

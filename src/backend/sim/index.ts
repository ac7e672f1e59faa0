/**
 * The `sim` backend: a pure-TypeScript model of the kernel side of KVM
 * that executes the guest's instructions. Deterministic: virtual time is
 * the count of retired instructions; no wall clock anywhere.
 */
import type { Capability, CpuidEntry, Hypervisor } from '../types.js';
import { simCapability } from './caps.js';
import { simCpuidTable } from './cpuid.js';
import { SimVm } from './vm.js';

export { SimVm } from './vm.js';
export { SimVcpu } from './vcpu.js';
export { SimEventFd } from './eventfd.js';

export class SimHypervisor implements Hypervisor {
  readonly kind = 'sim' as const;
  checkExtension(cap: Capability): number { return simCapability(cap); }
  supportedCpuid(): CpuidEntry[] { return simCpuidTable(); }
  createVm(): SimVm { return new SimVm(); }
  close(): void { /* nothing to release */ }
}

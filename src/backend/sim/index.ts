/**
 * The `sim` backend: a pure-TypeScript model of the kernel side of KVM
 * that executes the guest's instructions. Deterministic: virtual time is
 * the count of retired instructions; no wall clock anywhere.
 */
import type { Arch, Capability, CpuidEntry, Hypervisor } from '../types.js';
import { simCapability } from './caps.js';
import { simCpuidTable } from './cpuid.js';
import { SimVm } from './vm.js';

export { SimVm } from './vm.js';
export { SimVcpu } from './vcpu.js';
export { SimEventFd } from './eventfd.js';

export class SimHypervisor implements Hypervisor {
  readonly kind = 'sim' as const;
  /** The sim runs x86 and arm64 guests; `arch` is what createVm() builds by default. */
  constructor(readonly arch: Arch = 'x86_64') {}
  checkExtension(cap: Capability): number { return simCapability(cap, this.arch); }
  supportedCpuid(): CpuidEntry[] { return simCpuidTable(); }
  createVm(opts: { arch?: Arch } = {}): SimVm { return new SimVm(opts.arch ?? this.arch); }
  close(): void { /* nothing to release */ }
}

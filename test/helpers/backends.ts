/**
 * The two backends for `describe.each`: the sim always runs; the KVM half
 * is skipped when /dev/kvm is unusable, and its title then says why.
 */
import { kvmUnavailableReason } from '../../src/native/binding.js';
import { KvmHypervisor } from '../../src/backend/kvm/index.js';
import { SimHypervisor } from '../../src/backend/sim/index.js';
import type { Hypervisor } from '../../src/backend/types.js';

export interface BackendCase {
  /** Test title: 'sim', 'kvm', or 'kvm (skipped: <reason>)'. */
  title: string;
  kind: 'kvm' | 'sim';
  skip: boolean;
  open: () => Hypervisor;
}

const kvmReason = kvmUnavailableReason();

export const KVM_SKIP_REASON = kvmReason;

export const BACKENDS: BackendCase[] = [
  { title: 'sim', kind: 'sim', skip: false, open: () => new SimHypervisor() },
  {
    title: kvmReason ? `kvm (skipped: ${kvmReason})` : 'kvm',
    kind: 'kvm',
    skip: kvmReason !== null,
    open: () => new KvmHypervisor(),
  },
];

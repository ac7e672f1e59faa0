/**
 * The two backends for `describe.each`: the sim always runs; the KVM half
 * is skipped when /dev/kvm is unusable, and its title then says why.
 */
import { kvmUnavailableReason, tryLoadBinding, loadBinding } from '../../src/native/binding.js';
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

/** Why the addon is not loaded (for skipped titles), or null when it is. */
export const NATIVE_SKIP_REASON: string | null = (() => {
  if (tryLoadBinding()) return null;
  try {
    loadBinding();
    return null;
  } catch (e) {
    return (e as Error).message;
  }
})();

/** ` (skipped: <why>)` for a title whose tests need the addon, or ''. */
export const nativeSkipSuffix = (): string => (NATIVE_SKIP_REASON ? ` (skipped: ${NATIVE_SKIP_REASON})` : '');

export const BACKENDS: BackendCase[] = [
  { title: 'sim', kind: 'sim', skip: false, open: () => new SimHypervisor() },
  {
    title: kvmReason ? `kvm (skipped: ${kvmReason})` : 'kvm',
    kind: 'kvm',
    skip: kvmReason !== null,
    open: () => new KvmHypervisor(),
  },
];

/** Why real KVM cannot run arm64 guests here (no /dev/kvm, or an x86 host), or null on an arm64 KVM host. */
export const KVM_ARM64_SKIP_REASON: string | null = kvmReason
  ?? (tryLoadBinding()?.layout.arch === 'arm64' ? null : `this host is ${tryLoadBinding()?.layout.arch ?? process.arch}; npm run test:arm64 runs these guests on nested arm64 KVM`);

/** The backends for arm64 guests: the sim always; KVM on an arm64 host. */
export const ARM64_BACKENDS: BackendCase[] = [
  { title: 'sim', kind: 'sim', skip: false, open: () => new SimHypervisor('arm64') },
  {
    title: KVM_ARM64_SKIP_REASON ? `kvm (skipped: ${KVM_ARM64_SKIP_REASON})` : 'kvm',
    kind: 'kvm',
    skip: KVM_ARM64_SKIP_REASON !== null,
    open: () => new KvmHypervisor(),
  },
];

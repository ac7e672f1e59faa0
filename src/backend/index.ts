/**
 * Backend selection: `kvm` over /dev/kvm, `sim` in pure TypeScript, or
 * `auto` (KVM when /dev/kvm opens, the sim otherwise, and a reason either way).
 */
import { BackendUnavailableError, InvalidArgumentError } from '../errors.js';
import { kvmUnavailableReason } from '../native/binding.js';
import { KvmHypervisor } from './kvm/index.js';
import { SimHypervisor } from './sim/index.js';
import type { Hypervisor } from './types.js';

export type BackendChoice = 'auto' | 'kvm' | 'sim';
export * from './types.js';

export interface OpenedHypervisor {
  hypervisor: Hypervisor;
  /** Why this backend was picked (for the log line `auto` prints). */
  reason: string;
}

export function openHypervisor(choice: BackendChoice): OpenedHypervisor {
  switch (choice) {
    case 'sim':
      return { hypervisor: new SimHypervisor(), reason: 'requested with --backend sim' };
    case 'kvm': {
      const why = kvmUnavailableReason();
      if (why) throw new BackendUnavailableError(`KVM backend unavailable: ${why}`);
      return { hypervisor: new KvmHypervisor(), reason: 'requested with --backend kvm' };
    }
    case 'auto': {
      const why = kvmUnavailableReason();
      if (why) return { hypervisor: new SimHypervisor(), reason: `auto: KVM unavailable (${why}), using the sim` };
      return { hypervisor: new KvmHypervisor(), reason: 'auto: /dev/kvm opened, using KVM' };
    }
    default:
      throw new InvalidArgumentError(`unknown backend ${String(choice)} (expected auto, kvm or sim)`);
  }
}

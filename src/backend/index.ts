/**
 * Backend selection: `kvm` over /dev/kvm, `sim` in pure TypeScript, or
 * `auto` (KVM when /dev/kvm opens, the sim otherwise, and a reason either way).
 */
import { BackendUnavailableError, InvalidArgumentError } from '../errors.js';
import { kvmUnavailableReason } from '../native/binding.js';
import { KvmHypervisor } from './kvm/index.js';
import { SimHypervisor } from './sim/index.js';
import type { Arch, Hypervisor } from './types.js';
import { tryLoadBinding } from '../native/binding.js';

export type BackendChoice = 'auto' | 'kvm' | 'sim';
export * from './types.js';

export interface OpenedHypervisor {
  hypervisor: Hypervisor;
  /** Why this backend was picked (for the log line `auto` prints). */
  reason: string;
}

/** Why KVM cannot run `arch` guests here (another host architecture), or null. */
function archMismatch(arch: Arch): string | null {
  const host = tryLoadBinding()?.layout.arch;
  return host && host !== arch ? `KVM on this ${host} host runs ${host} guests only, not ${arch}` : null;
}

/** Opens a backend for guests of `arch` (default x86_64): KVM only runs the host's architecture. */
export function openHypervisor(choice: BackendChoice, arch: Arch = 'x86_64'): OpenedHypervisor {
  switch (choice) {
    case 'sim':
      return { hypervisor: new SimHypervisor(arch), reason: 'requested with --backend sim' };
    case 'kvm': {
      const why = kvmUnavailableReason() ?? archMismatch(arch);
      if (why) throw new BackendUnavailableError(`KVM backend unavailable: ${why}`);
      return { hypervisor: new KvmHypervisor(), reason: 'requested with --backend kvm' };
    }
    case 'auto': {
      const why = kvmUnavailableReason() ?? archMismatch(arch);
      if (why) return { hypervisor: new SimHypervisor(arch), reason: `auto: KVM unavailable (${why}), using the sim` };
      return { hypervisor: new KvmHypervisor(), reason: 'auto: /dev/kvm opened, using KVM' };
    }
    default:
      throw new InvalidArgumentError(`unknown backend ${String(choice)} (expected auto, kvm or sim)`);
  }
}

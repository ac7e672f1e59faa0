/**
 * Known quirks of the KVM host the tests run on (DESIGN.md, "The KVM on
 * these machines"), probed once per test file so that a guest the host
 * cannot run is skipped with the reason in its title, and runs wherever
 * the host can.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KvmHypervisor } from '../../src/backend/kvm/index.js';
import { KVM_SKIP_REASON } from './backends.js';
import { GUEST_DIR, runGuest } from './guests.js';

export type HostQuirk = 'int-iret-emulation' | 'level-eoi';

let probed: Map<HostQuirk, string | null> | undefined;

/** Why the host cannot run a guest with this quirk, or null if it can. */
export function hostQuirk(q: HostQuirk): string | null {
  probed ??= new Map();
  if (!probed.has(q)) probed.set(q, probe(q));
  return probed.get(q)!;
}

function probe(q: HostQuirk): string | null {
  if (KVM_SKIP_REASON) return null;
  if (q === 'int-iret-emulation') {
    // `int 0x30` and its IRET: on a host that traps them to KVM's emulator they end in an emulation error.
    const hv = new KvmHypervisor();
    try {
      const r = runGuest(hv, { elf: join(GUEST_DIR, 'idt.elf'), cmdline: '', memMiB: 64 });
      if (r.reason.kind === 'vcpu-error' && r.reason.exit.kind === 'internal-error' && r.reason.exit.suberror === 1) {
        return "this host's KVM sends INT n/IRET to its emulator, which fails (KVM_INTERNAL_ERROR_EMULATION)";
      }
      return null;
    } finally {
      hv.close();
    }
  }
  if (q === 'level-eoi') {
    // kvm_pvm's event delivery EOIs the vector itself as it injects it (KVM's tracepoints:
    // kvm_eoi from pvm_deliver_pending_event -> kvm_lapic_reg_write(APIC_EOI), before the handler's
    // first instruction; the guest's own EOI later finds nothing in service). Whether a guest then
    // sees a second delivery depends on where its handler first exits, so decide by the host,
    // not by a run: the module is loaded or it is not.
    if (existsSync('/sys/module/kvm_pvm')) {
      return "this host's KVM is kvm_pvm, which EOIs a vector as it delivers it, so a level vector's EOI exit comes before the guest's EOI and the IOAPIC rightly redelivers a line still high";
    }
    return null;
  }
  return null;
}

/**
 * The machine side of guests/x86/bench-msi.elf's ping-pong (the
 * msi_hit_vs_c / msi_miss_vs_c benchmarks and their test): the split
 * machine with one doorbell vector (or an edge line on IOAPIC pin 16),
 * the eventfd behind the guest's
 * acknowledgement port (an ioeventfd, so an acknowledgement never exits to
 * userspace), and the doorbell's eventfd. A ringer -- scripts/bench/
 * msi-ringer.c in a process of its own, or a watch in this one -- waits
 * for the guest's first acknowledgement ("ready"), then rings `ring` once
 * per acknowledgement until the guest has taken `count` interrupts.
 * scripts/bench/msi-ref.c is the same ping-pong in raw C.
 */
import type { EventFd, Hypervisor } from '../backend/types.js';
import type { IrqCachePolicy } from '../irq/irqfd-cache.js';
import { X86Machine } from './x86-pc.js';

/** The guest's acknowledgement port (bench-msi.c's ACK_PORT). */
export const MSI_ACK_PORT = 0x5e0;

export interface MsiPingPong {
  readonly machine: X86Machine;
  /**
   * What the ringer writes: the doorbell's vector 0, handed out as to any
   * writer outside the VMM (so the machine knows something outside may wake
   * it, and counts no hits: the ringer knows its rings), or the IOAPIC
   * line's trigger (closed with the machine).
   */
  readonly ring: EventFd;
  /** Counts the guest's acknowledgements: one when ready, then one per interrupt. */
  readonly ack: EventFd;
  close(): void;
}

/** The IOAPIC pin bench-msi's `ioapic=1` programs. */
export const MSI_IOAPIC_PIN = 16;

export function openMsiPingPong(o: {
  hypervisor: Hypervisor; image: Uint8Array; count: number; irqCache: IrqCachePolicy; serialOut: (bytes: Uint8Array) => void;
  /** Run the vCPU on a thread of its own (X86MachineOptions.vcpuThreads). */
  vcpuThreads?: boolean;
  /**
   * What rings: the doorbell's MSI-X vector 0 (default), or an edge eventfd
   * line on IOAPIC pin 16 (the guest's `ioapic=1`).
   */
  source?: 'doorbell' | 'ioapic';
  /** The guest's `retarget=K`: it moves the source between two vectors every K interrupts. */
  retarget?: number;
}): MsiPingPong {
  const ioapic = o.source === 'ioapic';
  const machine = new X86Machine({
    hypervisor: o.hypervisor, image: o.image, memMiB: 64, irqchip: 'split',
    cmdline: `count=${o.count}${ioapic ? ' ioapic=1' : ''}${o.retarget ? ` retarget=${o.retarget}` : ''}`,
    devices: ioapic ? [] : [{ name: 'doorbell', vectors: 1 }], irqCache: o.irqCache, serialOut: o.serialOut,
    ...(o.vcpuThreads !== undefined ? { vcpuThreads: o.vcpuThreads } : {}),
  });
  let ack: EventFd | null = null;
  let ring: EventFd;
  try {
    ring = ioapic ? machine.addIrqLine(MSI_IOAPIC_PIN, 'edge').trigger : machine.doorbells[0]!.eventfd(0);
    ack = machine.vm.createEventFd();
    machine.vm.ioeventfd({ eventfd: ack, space: 'pio', address: MSI_ACK_PORT, length: 1 });
  } catch (e) {
    ack?.close();
    machine.close();
    throw e;
  }
  const ackFd = ack;
  return {
    machine, ack: ackFd, ring,
    close: () => {
      machine.close(); // the VM's close drops its ioeventfds with it
      ackFd.close();
    },
  };
}

/**
 * The edu device on the machine's PCI bus: the model (src/devices/edu.ts),
 * its configuration space (1234:11e8, class 00ff00, revision 0x10, BAR0 a
 * 1 MiB memory window, INTA#, one 64-bit MSI vector without masking at
 * 0x40, as QEMU's hw/misc/edu.c sets it up), and the wiring: BAR0 on the
 * MMIO bus wherever the guest decodes it, MSIs out through the VM, INTx to
 * an IOAPIC pin, DMA into guest RAM while bus mastering is on.
 */
import { Edu, EDU_BAR_SIZE, EDU_DEVICE_ID, EDU_VENDOR_ID } from '../devices/edu.js';
import type { MsiMessage } from '../irq/msi.js';
import { PciFunction, CMD_MEMORY } from '../pci/function.js';
import { MsiCapability } from '../pci/msi.js';
import type { BusDevice, MmioBus } from './bus.js';

export interface EduPciDeps {
  mmio: MmioBus;
  /** Guest RAM from physical address 0 (DMA goes there, through `translateDma` when an IOMMU translates). */
  ram: Uint8Array;
  /**
   * The IOMMU's view of this device's DMA: the guest physical address of
   * bus address `address`, or null when the access faults. Absent: bus
   * addresses are physical addresses.
   */
  translateDma?(address: number, write: boolean): number | null;
  sendMsi(message: MsiMessage): void;
  /** The INTA# line, already routed to its interrupt-controller pin. */
  setIntx(level: boolean): void;
  onGuestError?(what: string): void;
}

export class EduPci {
  readonly fn: PciFunction;
  readonly edu: Edu;
  readonly msi: MsiCapability;
  private readonly bar0: BusDevice;
  private intxLevel = false;

  constructor(private readonly deps: EduPciDeps) {
    const ram = deps.ram;
    this.msi = new MsiCapability({ offset: 0x40, vectors: 1, is64: true, perVectorMask: false }, {
      send: (_n, m) => deps.sendMsi(m),
      busMaster: () => this.fn.busMaster,
      ...(deps.onGuestError ? { onGuestError: deps.onGuestError } : {}),
    });
    this.edu = new Edu({
      interrupt: () => { if (this.msi.enabled) this.msi.fire(0); },
      intx: (level) => { this.fn.setIntx(level); this.updateIntx(); },
      dma: {
        // Without bus mastering the device's DMA goes nowhere (QEMU's bus-master address space is off).
        read: (a, n) => {
          const pieces = this.fn.busMaster ? this.dmaPieces(a, n, false) : null;
          if (!pieces) return null;
          const out = new Uint8Array(n);
          let at = 0;
          for (const [pa, len] of pieces) { out.set(ram.subarray(pa, pa + len), at); at += len; }
          return out;
        },
        write: (a, bytes) => {
          // Every page is translated before anything moves: a fault transfers nothing.
          const pieces = this.fn.busMaster ? this.dmaPieces(a, bytes.length, true) : null;
          if (!pieces) return false;
          let at = 0;
          for (const [pa, len] of pieces) { ram.set(bytes.subarray(at, at + len), pa); at += len; }
          return true;
        },
      },
      ...(deps.onGuestError ? { onGuestError: deps.onGuestError } : {}),
    });
    this.bar0 = { read: (off, size) => this.edu.read(off, size), write: (off, size, v) => this.edu.write(off, size, v) };
    this.fn = new PciFunction({
      vendorId: EDU_VENDOR_ID, deviceId: EDU_DEVICE_ID, classCode: 0x00_ff_00, revision: 0x10,
      subsystemVendorId: 0x1af4, subsystemId: 0x1100, interruptPin: 1,
      bars: [{ kind: 'mem32', size: EDU_BAR_SIZE }],
      capabilities: [this.msi],
    }, {
      onBar: (_i, m) => {
        deps.mmio.unregister(this.bar0);
        if (m) deps.mmio.register(m.base, m.size, this.bar0, 'edu-bar0');
      },
      onCommand: () => {
        this.updateIntx();
        if (this.fn.busMaster) this.msi.deliverPending();
      },
      ...(deps.onGuestError ? { onGuestError: deps.onGuestError } : {}),
    });
  }

  /** The RAM pieces (physical address, length) of a DMA of `n` bytes at bus address `a`, page by page; null on a fault. */
  private dmaPieces(a: number, n: number, write: boolean): [number, number][] | null {
    const ram = this.deps.ram;
    const pieces: [number, number][] = [];
    for (let done = 0; done < n;) {
      const bus = a + done;
      const len = Math.min(n - done, 4096 - (bus % 4096));
      const pa = this.deps.translateDma ? this.deps.translateDma(bus, write) : bus;
      if (pa === null || pa + len > ram.length) return null;
      pieces.push([pa, len]);
      done += len;
    }
    return pieces;
  }

  /** What firmware would have done: BAR0 at `bar0`, memory decode on, the interrupt line. */
  firmwareSetup(bar0: number, interruptLine: number): void {
    this.fn.assignBar(0, bar0);
    this.fn.setCommand(CMD_MEMORY);
    this.fn.setInterruptLine(interruptLine);
  }

  /** INTA# is asserted while the device wants it, INTx is not disabled, and MSI is off (as QEMU's edu). */
  private updateIntx(): void {
    const level = this.fn.intxOut && !this.msi.enabled;
    if (level === this.intxLevel) return;
    this.intxLevel = level;
    this.deps.setIntx(level);
  }
}

/**
 * The PCI host: configuration mechanism #1 (PCI Local Bus Specification
 * 3.0, §3.2.2.3.2) on bus 0, and the host bridge at 00:00.0 with Q35's IDs
 * (8086:29c0, class 06 00 00), as QEMU's q35 presents them.
 *
 *   0xcf8  CONFIG_ADDRESS, dword only: bit 31 enable, 23:16 bus, 15:11
 *          device, 10:8 function, 7:2 register (1:0 read as 0)
 *   0xcfc  CONFIG_DATA, bytes 0xcfc..0xcff: the dword CONFIG_ADDRESS selects,
 *          at byte offset (port - 0xcfc); byte, word or dword
 *
 * A disabled CONFIG_ADDRESS, another bus, or a slot with no function reads
 * all ones and drops writes (a master abort, §6.1). Narrower accesses to
 * 0xcf8-0xcfb are not CONFIG_ADDRESS (0xcf9 is the ICH reset control
 * register, not modelled): they read all ones and are dropped.
 *
 * `ecam` is the same space through PCI Express's enhanced configuration
 * access mechanism (PCI Express Base 4.0, §7.2.2), a 256 MiB MMIO window
 * (q35 places it at 0xb0000000): offset = bus << 20 | device << 15 |
 * function << 12 | register. Bus 0 only; every function here is
 * conventional PCI, so registers 0x100-0xfff read all ones and drop writes,
 * as QEMU answers for a conventional function. Accesses are 1, 2 or 4
 * bytes, naturally aligned; others are guest errors (all ones, dropped).
 */
import { InvalidArgumentError } from '../errors.js';
import { PciFunction } from './function.js';
import { allOnes } from '../machine/bus.js';

export const PCI_CONFIG_ADDRESS = 0xcf8;
export const PCI_CONFIG_DATA = 0xcfc;

/** devfn = device << 3 | function. */
export const devfn = (device: number, fn = 0): number => ((device & 0x1f) << 3) | (fn & 7);

export interface PciHostOutputs { onGuestError?(what: string): void }

export class PciHost {
  private address = 0;
  private readonly functions = new Map<number, PciFunction>();
  readonly hostBridge: PciFunction;
  guestErrors = 0;

  constructor(private readonly out: PciHostOutputs = {}) {
    // Q35's MCH: 8086:29c0, host bridge class.
    this.hostBridge = new PciFunction({ vendorId: 0x8086, deviceId: 0x29c0, classCode: 0x06_00_00, subsystemVendorId: 0x1af4, subsystemId: 0x1100 },
      { onGuestError: (w) => this.guestError(`00:00.0: ${w}`) });
    this.functions.set(devfn(0), this.hostBridge);
  }

  /** Plugs `f` at 00:dd.f. */
  plug(slot: number, f: PciFunction, fn = 0): void {
    if (!Number.isInteger(slot) || slot < 0 || slot > 31 || !Number.isInteger(fn) || fn < 0 || fn > 7) {
      throw new InvalidArgumentError(`PCI slot ${slot}.${fn} is outside 0..31.0..7`);
    }
    const df = devfn(slot, fn);
    if (this.functions.has(df)) throw new InvalidArgumentError(`PCI slot 00:${slot.toString(16).padStart(2, '0')}.${fn} is taken`);
    this.functions.set(df, f);
  }

  function(slot: number, fn = 0): PciFunction | undefined { return this.functions.get(devfn(slot, fn)); }

  /** The port device for 0xcf8..0xcff (offsets 0..7 from 0xcf8). */
  readonly ports = {
    read: (offset: number, size: number): number => this.readPort(offset, size),
    write: (offset: number, size: number, value: number): void => this.writePort(offset, size, value),
  };

  /** The ECAM window's device (offsets from its base); see the header. */
  readonly ecam = {
    read: (offset: number, size: number): number => {
      const t = this.ecamTarget(offset, size, 'read');
      return t ? t.f.read(t.register, size) : allOnes(size);
    },
    write: (offset: number, size: number, value: number): void => {
      const t = this.ecamTarget(offset, size, 'write');
      if (t) t.f.write(t.register, size, value);
    },
  };

  private ecamTarget(offset: number, size: number, what: string): { f: PciFunction; register: number } | null {
    if ((size !== 1 && size !== 2 && size !== 4) || offset % size !== 0) {
      this.guestError(`${size}-byte ECAM ${what} at offset 0x${offset.toString(16)} (1, 2 or 4 bytes, aligned)`);
      return null;
    }
    if (offset >>> 20 !== 0) return null; // bus 0 only
    const register = offset & 0xfff;
    if (register >= 0x100) return null; // conventional functions: no extended space
    const f = this.functions.get((offset >>> 12) & 0xff);
    return f ? { f, register } : null;
  }

  private target(): { f: PciFunction; register: number } | null {
    const a = this.address;
    if ((a & 0x8000_0000) === 0) return null;
    if (((a >>> 16) & 0xff) !== 0) return null; // bus 0 only
    const f = this.functions.get((a >>> 8) & 0xff);
    return f ? { f, register: a & 0xfc } : null;
  }

  private readPort(offset: number, size: number): number {
    const ones = allOnes(size);
    if (offset < 4) {
      if (offset === 0 && size === 4) return this.address >>> 0;
      return ones;
    }
    const t = this.target();
    if (!t) return ones;
    const at = t.register + (offset - 4);
    if ((offset - 4) % size !== 0) { this.guestError(`unaligned ${size}-byte CONFIG_DATA read at 0xcf${(8 + offset).toString(16)}`); return ones; }
    return t.f.read(at, size);
  }

  private writePort(offset: number, size: number, value: number): void {
    if (offset < 4) {
      if (offset === 0 && size === 4) this.address = (value & 0x80ff_fffc) >>> 0;
      return;
    }
    const t = this.target();
    if (!t) return;
    if ((offset - 4) % size !== 0) { this.guestError(`unaligned ${size}-byte CONFIG_DATA write at 0xcf${(8 + offset).toString(16)}`); return; }
    t.f.write(t.register + (offset - 4), size, value);
  }

  private guestError(what: string): void {
    this.guestErrors++;
    this.out.onGuestError?.(what);
  }
}

/**
 * Port-I/O and MMIO buses: map an address range to a device and hand it
 * offsets, never absolute addresses. An access that hits no device is what
 * a PC gives: reads return all ones, writes are dropped; both are traced
 * and counted, never thrown.
 */
import { InvalidArgumentError } from '../errors.js';
import { trace } from '../trace/events.js';

export interface BusDevice {
  read(offset: number, size: number): number;
  write(offset: number, size: number, value: number): void;
}

interface Mapping { base: number; length: number; device: BusDevice; name: string }

export class PioBus {
  /** `vm`: the VM id its trace events carry (0 for a bus on its own). */
  constructor(private readonly vm = 0) {}
  /** One slot per port, for a lookup without search on the exit path. */
  private readonly ports: (Mapping | undefined)[] = new Array(0x10000);
  private readonly mappings: Mapping[] = [];
  unhandledAccesses = 0;

  register(base: number, length: number, device: BusDevice, name: string): void {
    if (!Number.isInteger(base) || !Number.isInteger(length) || base < 0 || length <= 0 || base + length > 0x10000) {
      throw new InvalidArgumentError(`port range ${base}+${length} is outside 0..0xffff`);
    }
    for (let p = base; p < base + length; p++) {
      const m = this.ports[p];
      if (m) throw new InvalidArgumentError(`${name} at port 0x${p.toString(16)} overlaps ${m.name}`);
    }
    const m = { base, length, device, name };
    this.mappings.push(m);
    for (let p = base; p < base + length; p++) this.ports[p] = m;
  }

  read(port: number, size: number): number {
    const m = this.ports[port];
    if (!m) {
      this.unhandledAccesses++;
      trace('vmm:bus:unhandled', { vm: this.vm, space: 'pio', address: port, size, write: false });
      return allOnes(size);
    }
    return m.device.read(port - m.base, size);
  }

  write(port: number, size: number, value: number): void {
    const m = this.ports[port];
    if (!m) {
      this.unhandledAccesses++;
      trace('vmm:bus:unhandled', { vm: this.vm, space: 'pio', address: port, size, write: true, value });
      return;
    }
    m.device.write(port - m.base, size, value);
  }
}

export class MmioBus {
  /** `vm`: the VM id its trace events carry (0 for a bus on its own). */
  constructor(private readonly vm = 0) {}
  private readonly mappings: Mapping[] = [];
  unhandledAccesses = 0;

  register(base: number, length: number, device: BusDevice, name: string): void {
    if (!Number.isSafeInteger(base) || !Number.isSafeInteger(length) || base < 0 || length <= 0) {
      throw new InvalidArgumentError(`MMIO range ${base}+${length} is invalid`);
    }
    for (const m of this.mappings) {
      if (base < m.base + m.length && m.base < base + length) throw new InvalidArgumentError(`${name} overlaps ${m.name}`);
    }
    this.mappings.push({ base, length, device, name });
  }

  /** Removes every window of `device` (a PCI BAR being moved or turned off). */
  unregister(device: BusDevice): void {
    for (let i = this.mappings.length - 1; i >= 0; i--) if (this.mappings[i]!.device === device) this.mappings.splice(i, 1);
  }

  private find(address: number): Mapping | undefined {
    for (const m of this.mappings) if (address >= m.base && address < m.base + m.length) return m;
    return undefined;
  }

  read(address: number, size: number): number {
    const m = this.find(address);
    if (!m) {
      this.unhandledAccesses++;
      trace('vmm:bus:unhandled', { vm: this.vm, space: 'mmio', address, size, write: false });
      return allOnes(size);
    }
    return m.device.read(address - m.base, size);
  }

  write(address: number, size: number, value: number): void {
    const m = this.find(address);
    if (!m) {
      this.unhandledAccesses++;
      trace('vmm:bus:unhandled', { vm: this.vm, space: 'mmio', address, size, write: true, value });
      return;
    }
    m.device.write(address - m.base, size, value);
  }
}

/** What a read of `size` bytes returns when nothing answers it (a master abort, an access refused): all ones. */
export function allOnes(size: number): number {
  return size >= 4 ? 0xffff_ffff : (1 << (8 * size)) - 1;
}

/** Little-endian value of the first `size` (≤ 4) bytes of `data`. */
export function readLe(data: Uint8Array, offset: number, size: number): number {
  switch (size) {
    case 1: return data[offset]!;
    case 2: return data[offset]! | (data[offset + 1]! << 8);
    default: return (data[offset]! | (data[offset + 1]! << 8) | (data[offset + 2]! << 16) | (data[offset + 3]! << 24)) >>> 0;
  }
}

/** Writes the low `size` bytes of `value` little-endian. */
export function writeLe(data: Uint8Array, offset: number, size: number, value: number): void {
  for (let i = 0; i < size; i++) data[offset + i] = (value >>> (8 * i)) & 0xff;
}

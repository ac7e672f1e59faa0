/**
 * One PCI function's configuration space, type-0 header (PCI Local Bus
 * Specification 3.0, §6.1-6.2): the register map, which bits the guest may
 * write, the BAR sizing protocol (§6.2.5.1) and the decode gates of the
 * command register. A pure state machine: the device model supplies the
 * descriptor, and learns through `onBar` where the guest placed each BAR
 * whenever a BAR's decoding turns on, off or moves.
 *
 * Capabilities (MSI, MSI-X) are the device's own registers; the function
 * keeps the list's bytes and hands reads and writes inside a capability to
 * its owner (`capabilities`).
 */
import { InvalidArgumentError } from '../errors.js';

// Type-0 header register offsets (PCI 3.0 figure 6-1).
export const PCI_VENDOR_ID = 0x00;
export const PCI_DEVICE_ID = 0x02;
export const PCI_COMMAND = 0x04;
export const PCI_STATUS = 0x06;
export const PCI_REVISION = 0x08;
export const PCI_CLASS_PROG = 0x09;
export const PCI_CACHE_LINE = 0x0c;
export const PCI_LATENCY = 0x0d;
export const PCI_HEADER_TYPE = 0x0e;
export const PCI_BAR0 = 0x10;
export const PCI_SUBSYSTEM_VENDOR = 0x2c;
export const PCI_SUBSYSTEM_ID = 0x2e;
export const PCI_ROM_BAR = 0x30;
export const PCI_CAP_PTR = 0x34;
export const PCI_INTERRUPT_LINE = 0x3c;
export const PCI_INTERRUPT_PIN = 0x3d;

// Command register bits (§6.2.2).
export const CMD_IO = 1 << 0;
export const CMD_MEMORY = 1 << 1;
export const CMD_BUS_MASTER = 1 << 2;
export const CMD_SERR = 1 << 8;
export const CMD_INTX_DISABLE = 1 << 10;
/** The command bits this model implements; the rest read 0 (§6.2.2: "reserved ... read as 0"). */
const CMD_WRITABLE = CMD_IO | CMD_MEMORY | CMD_BUS_MASTER | (1 << 6) /* parity error response */ | CMD_SERR | CMD_INTX_DISABLE;

// Status register bits (§6.2.3).
export const STATUS_INTERRUPT = 1 << 3;
export const STATUS_CAP_LIST = 1 << 4;
/** Error bits, write-one-to-clear. */
const STATUS_RW1C = 0xf900;

export type BarKind = 'io' | 'mem32' | 'mem64';

export interface BarSpec {
  kind: BarKind;
  /** A power of two: >= 4 for I/O (at most 256), >= 16 for memory. */
  size: number;
  /** Memory BARs: the prefetchable bit (3). */
  prefetchable?: boolean;
}

export interface CapabilityRegion {
  /** Offset of the capability's ID byte in configuration space (0x40..0xfc, dword aligned). */
  offset: number;
  /** Its length in bytes. */
  length: number;
  /** Capability ID (0x05 MSI, 0x11 MSI-X, ...). */
  id: number;
  /** Reads inside the capability after its ID and next-pointer bytes (offset relative to the capability). */
  read(offset: number, size: number): number;
  write(offset: number, size: number, value: number): void;
}

export interface PciFunctionSpec {
  vendorId: number;
  deviceId: number;
  /** Class code (base << 16 | sub << 8 | programming interface). */
  classCode: number;
  revision?: number;
  subsystemVendorId?: number;
  subsystemId?: number;
  /** BAR0..BAR5; a 64-bit memory BAR takes two slots (the next one is left undefined). */
  bars?: (BarSpec | undefined)[];
  /** 1..4 for INTA#..INTD#, 0 for none. */
  interruptPin?: number;
  capabilities?: CapabilityRegion[];
}

/** Where the guest placed a BAR, while its space is decoded (null: not decoded). */
export interface BarMapping { kind: BarKind; base: number; size: number }

export interface PciFunctionOutputs {
  /** A BAR's decoded window changed (turned on, moved, or turned off). */
  onBar?(index: number, mapping: BarMapping | null): void;
  /** The guest wrote the command register (bus master, INTx disable may have changed). */
  onCommand?(command: number): void;
  /** Counted and traced like every guest error; never thrown. */
  onGuestError?(what: string): void;
}

/** The state a snapshot carries (versioned, named fields). */
export interface PciFunctionState {
  version: 1;
  command: number;
  status: number;
  cacheLine: number;
  latency: number;
  interruptLine: number;
  /** The device's INTx level (status bit 3). */
  intx: boolean;
  /** The BAR registers as the guest last wrote them (address bits only). */
  bars: number[];
}

export class PciFunction {
  private readonly bars: (BarSpec | undefined)[];
  private readonly barValue = [0, 0, 0, 0, 0, 0];
  private command = 0;
  private status = 0;
  private cacheLine = 0;
  private latency = 0;
  private interruptLine = 0xff;
  /** Whether INTx is asserted by the device (status bit 3 follows it). */
  private intx = false;
  private readonly mapped: (BarMapping | null)[] = [null, null, null, null, null, null];

  constructor(readonly spec: PciFunctionSpec, private readonly out: PciFunctionOutputs = {}) {
    const bars = spec.bars ?? [];
    if (bars.length > 6) throw new InvalidArgumentError('a type-0 function has at most 6 BARs');
    for (let i = 0; i < bars.length; i++) {
      const b = bars[i];
      if (!b) continue;
      const min = b.kind === 'io' ? 4 : 16;
      if (!Number.isInteger(b.size) || b.size < min || (b.size & (b.size - 1)) !== 0 || (b.kind === 'io' && b.size > 256) || b.size > 2 ** 31) {
        throw new InvalidArgumentError(`BAR${i}: size ${b.size} must be a power of two, ${min}..${b.kind === 'io' ? 256 : 2 ** 31}`);
      }
      if (b.kind === 'mem64' && (i === 5 || bars[i + 1])) throw new InvalidArgumentError(`BAR${i}: a 64-bit BAR needs BAR${i + 1} free`);
    }
    for (const c of spec.capabilities ?? []) {
      if (c.offset < 0x40 || c.offset + c.length > 0x100 || c.offset % 4 !== 0 || c.length < 2) {
        throw new InvalidArgumentError(`capability 0x${c.id.toString(16)} at 0x${c.offset.toString(16)}: outside 0x40..0xff or not dword aligned`);
      }
    }
    this.bars = [...bars, undefined, undefined, undefined, undefined, undefined, undefined].slice(0, 6);
    if ((spec.capabilities ?? []).length > 0) this.status |= STATUS_CAP_LIST;
  }

  /** The device's INTx level (status bit 3 reports it; the command register's INTx disable gates the pin). */
  setIntx(level: boolean): void { this.intx = level; }

  /** The INTx# pin's level as the bus sees it: asserted and not disabled by the command register. */
  get intxOut(): boolean { return this.intx && (this.command & CMD_INTX_DISABLE) === 0; }

  /** Bus mastering (DMA and MSI) allowed by the command register. */
  get busMaster(): boolean { return (this.command & CMD_BUS_MASTER) !== 0; }

  get commandRegister(): number { return this.command; }

  /** Where BAR `index` decodes now, or null. */
  barMapping(index: number): BarMapping | null { return this.mapped[index] ?? null; }

  /** Firmware's job done by the VMM: a BAR placed at `base` (size aligned). */
  assignBar(index: number, base: number): void {
    const b = this.bars[index];
    if (!b) throw new InvalidArgumentError(`BAR${index} is not implemented`);
    if (base % b.size !== 0) throw new InvalidArgumentError(`BAR${index}: base 0x${base.toString(16)} is not aligned to its size 0x${b.size.toString(16)}`);
    this.barValue[index] = base >>> 0;
    if (b.kind === 'mem64') this.barValue[index + 1] = Math.floor(base / 2 ** 32) >>> 0;
    this.updateMappings();
  }

  /** Firmware's job done by the VMM: the command register (decode, bus master) and the interrupt line. */
  setCommand(command: number): void { this.command = command & CMD_WRITABLE; this.updateMappings(); }
  setInterruptLine(line: number): void { this.interruptLine = line & 0xff; }

  read(offset: number, size: number): number {
    if (!this.validAccess(offset, size)) return size === 4 ? 0xffff_ffff : (1 << (8 * size)) - 1;
    let v = 0;
    for (let i = 0; i < size; i++) v |= this.readByte(offset + i) << (8 * i);
    return v >>> 0;
  }

  write(offset: number, size: number, value: number): void {
    if (!this.validAccess(offset, size)) return;
    // A capability takes the bytes of the access that fall in its body (past its ID and
    // next-pointer bytes, which are read-only); bytes outside it are dropped, as the
    // write masks of a real function drop them (a dword write to MSI's 16-bit data
    // register, or one that covers the ID, next pointer and control together).
    const caps = (this.spec.capabilities ?? []).filter((c) => offset < c.offset + c.length && c.offset + 2 < offset + size);
    if (caps.length > 0) {
      for (const c of caps) {
        const from = Math.max(offset, c.offset + 2);
        const to = Math.min(offset + size, c.offset + c.length);
        const sub = to - from;
        const bits = (value >>> (8 * (from - offset))) >>> 0;
        c.write(from - c.offset, sub, sub >= 4 ? bits : bits & ((1 << (8 * sub)) - 1));
      }
      return;
    }
    if (this.capabilityAt(offset)) return; // only the read-only ID/next bytes
    // Header registers are written as whole dwords with byte enables, as the bus does.
    const dword = offset & ~3;
    const shift = 8 * (offset & 3);
    const mask = size === 4 ? 0xffff_ffff : (((1 << (8 * size)) - 1) << shift) >>> 0;
    this.writeDword(dword, ((value << shift) >>> 0) & mask, mask);
  }

  snapshot(): PciFunctionState {
    return {
      version: 1, command: this.command, status: this.status, cacheLine: this.cacheLine, latency: this.latency,
      interruptLine: this.interruptLine, intx: this.intx, bars: [...this.barValue],
    };
  }

  static restore(spec: PciFunctionSpec, s: PciFunctionState, out: PciFunctionOutputs = {}): PciFunction {
    if (s?.version !== 1 || !Array.isArray(s.bars) || s.bars.length !== 6) throw new InvalidArgumentError('PCI function state: not a version-1 state');
    const f = new PciFunction(spec, out);
    const u = (name: string, v: unknown, max: number): number => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new InvalidArgumentError(`PCI function state: ${name} ${String(v)} is outside 0..${max}`);
      return v;
    };
    f.command = u('command', s.command, 0xffff) & CMD_WRITABLE;
    f.status = (u('status', s.status, 0xffff) & STATUS_RW1C) | (f.status & STATUS_CAP_LIST);
    f.cacheLine = u('cacheLine', s.cacheLine, 0xff);
    f.latency = u('latency', s.latency, 0xff);
    f.interruptLine = u('interruptLine', s.interruptLine, 0xff);
    if (typeof s.intx !== 'boolean') throw new InvalidArgumentError('PCI function state: intx must be a boolean');
    f.intx = s.intx;
    for (let i = 0; i < 6; i++) f.barValue[i] = u(`bars[${i}]`, s.bars[i], 0xffff_ffff);
    f.updateMappings();
    return f;
  }

  // ---- internals ------------------------------------------------------------

  private validAccess(offset: number, size: number): boolean {
    if (!Number.isInteger(offset) || offset < 0 || offset + size > 0x100 || (size !== 1 && size !== 2 && size !== 4) || offset % size !== 0) {
      this.guestError(`config access of ${size} bytes at 0x${offset.toString(16)}`);
      return false;
    }
    return true;
  }

  private guestError(what: string): void { this.out.onGuestError?.(what); }

  private capabilityAt(offset: number): CapabilityRegion | undefined {
    return this.spec.capabilities?.find((c) => offset >= c.offset && offset < c.offset + c.length);
  }

  private readByte(at: number): number {
    const cap = this.capabilityAt(at);
    if (cap) {
      if (at === cap.offset) return cap.id & 0xff;
      if (at === cap.offset + 1) return this.nextCapability(cap);
      return cap.read(at - cap.offset, 1) & 0xff;
    }
    const d = this.readDword(at & ~3);
    return (d >>> (8 * (at & 3))) & 0xff;
  }

  private nextCapability(cap: CapabilityRegion): number {
    const caps = [...(this.spec.capabilities ?? [])].sort((a, b) => a.offset - b.offset);
    const i = caps.indexOf(cap);
    return caps[i + 1]?.offset ?? 0;
  }

  private readDword(at: number): number {
    const s = this.spec;
    switch (at) {
      case 0x00: return ((s.deviceId & 0xffff) << 16 | (s.vendorId & 0xffff)) >>> 0;
      case 0x04: return ((this.status | (this.intx ? STATUS_INTERRUPT : 0)) << 16 | this.command) >>> 0;
      case 0x08: return ((s.classCode & 0xff_ffff) << 8 | ((s.revision ?? 0) & 0xff)) >>> 0;
      case 0x0c: return (this.cacheLine | (this.latency << 8)) >>> 0; // header type 0, single function, no BIST
      case 0x10: case 0x14: case 0x18: case 0x1c: case 0x20: case 0x24: return this.readBar((at - 0x10) / 4);
      case 0x2c: return (((s.subsystemId ?? 0) & 0xffff) << 16 | ((s.subsystemVendorId ?? 0) & 0xffff)) >>> 0;
      case 0x34: {
        const caps = s.capabilities ?? [];
        return caps.length ? Math.min(...caps.map((c) => c.offset)) : 0;
      }
      case 0x3c: return (this.interruptLine | ((s.interruptPin ?? 0) << 8)) >>> 0;
      default: return 0; // cardbus CIS, expansion ROM (none), reserved
    }
  }

  private readBar(i: number): number {
    const b = this.bars[i];
    if (b) {
      const type = b.kind === 'io' ? 0b01 : (b.kind === 'mem64' ? 0b100 : 0) | (b.prefetchable ? 0b1000 : 0);
      const addrMask = b.kind === 'io' ? ~(b.size - 1) & 0xffff_fffc : ~(b.size - 1) & 0xffff_fff0;
      return ((this.barValue[i]! & addrMask) | type) >>> 0;
    }
    // The upper half of a 64-bit BAR: all of it is address (sizes here stay below 4 GiB).
    if (i > 0 && this.bars[i - 1]?.kind === 'mem64') return this.barValue[i]! >>> 0;
    return 0;
  }

  private writeDword(at: number, value: number, mask: number): void {
    const merge = (old: number): number => ((old & ~mask) | (value & mask)) >>> 0;
    switch (at) {
      case 0x04: {
        const v = merge((this.status << 16) | this.command);
        this.command = v & 0xffff & CMD_WRITABLE;
        // Status: error bits are write-one-to-clear; the rest is read-only.
        this.status &= ~((v >>> 16) & STATUS_RW1C & (mask >>> 16));
        this.updateMappings();
        this.out.onCommand?.(this.command);
        return;
      }
      case 0x0c: {
        const v = merge(this.cacheLine | (this.latency << 8));
        this.cacheLine = v & 0xff;
        this.latency = (v >>> 8) & 0xff;
        return;
      }
      case 0x10: case 0x14: case 0x18: case 0x1c: case 0x20: case 0x24: {
        const i = (at - 0x10) / 4;
        this.barValue[i] = merge(this.barValue[i]!);
        this.updateMappings();
        return;
      }
      case 0x3c:
        this.interruptLine = merge(this.interruptLine) & 0xff; // the pin (byte 1) is read-only
        return;
      default:
        return; // read-only or reserved: the write is dropped, as on the bus
    }
  }

  private updateMappings(): void {
    for (let i = 0; i < 6; i++) {
      const b = this.bars[i];
      let m: BarMapping | null = null;
      if (b) {
        const on = (this.command & (b.kind === 'io' ? CMD_IO : CMD_MEMORY)) !== 0;
        const lo = (this.readBar(i) & (b.kind === 'io' ? 0xffff_fffc : 0xffff_fff0)) >>> 0;
        const base = b.kind === 'mem64' ? lo + this.barValue[i + 1]! * 2 ** 32 : lo;
        // A BAR left at 0, or being sized (all ones), decodes nothing; an I/O BAR must sit in the 64 KiB port space.
        const sizing = (this.readBar(i) | (b.size - 1) | 0xf) >>> 0 === 0xffff_ffff
          || (b.kind === 'mem64' && this.barValue[i + 1] === 0xffff_ffff);
        const fits = b.kind !== 'io' || base + b.size <= 0x1_0000;
        if (on && base !== 0 && !sizing && fits) m = { kind: b.kind, base, size: b.size };
      }
      const old = this.mapped[i];
      if (old?.base !== m?.base || (old === null) !== (m === null)) {
        this.mapped[i] = m;
        this.out.onBar?.(i, m);
      }
    }
  }
}

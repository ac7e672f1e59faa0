/**
 * MSI and MSI-X as a device's capabilities (PCI Local Bus Specification
 * 3.0, §6.8): the registers, the masking and pending rules, and the message
 * each vector sends. Pure state machines: a device calls `fire(n)`, and the
 * capability either sends (`send`) or latches the vector pending until it
 * is unmasked. `onEntryChanged` tells an owner (the irqfd cache) that a
 * vector's message was reprogrammed; masking is not reprogramming.
 *
 * Bus mastering gates MSI writes on the bus: the owner passes `busMaster()`.
 */
import { InvalidArgumentError } from '../errors.js';
import type { MsiMessage } from '../irq/msi.js';
import type { CapabilityRegion } from './function.js';
import { allOnes } from '../machine/bus.js';

export const CAP_ID_MSI = 0x05;
export const CAP_ID_MSIX = 0x11;

export interface MsiOutputs {
  /** A vector's message goes out on the bus. */
  send(vector: number, message: MsiMessage): void;
  /** Whether the function may master the bus now (command register bit 2). */
  busMaster(): boolean;
  /** The message of `vector` was reprogrammed (address or data written). */
  onEntryChanged?(vector: number): void;
  /**
   * Whether `vector` (null: every vector) may send changed: its mask bit,
   * the function mask or the enable bit was written (MSI-X). An owner that
   * delivers behind the device's back (an irqfd) must follow it.
   */
  onMaskChanged?(vector: number | null): void;
  onGuestError?(what: string): void;
}

// ---- MSI --------------------------------------------------------------------

export interface MsiSpec {
  /** Config-space offset of the capability (dword aligned, 0x40..). */
  offset: number;
  /** Vectors the function can request: 1, 2, 4, 8, 16 or 32 (Multiple Message Capable). */
  vectors: number;
  is64: boolean;
  perVectorMask: boolean;
}

export interface MsiState {
  version: 1;
  control: number;
  addressLo: number;
  addressHi: number;
  data: number;
  mask: number;
  pending: number;
}

/** Message Control bits (§6.8.1.3). */
const MSI_ENABLE = 1 << 0;
const MSI_MME_SHIFT = 4;

/**
 * The MSI capability. Layout (§6.8.1): control at +2, address at +4, then
 * (64-bit) upper address at +8 and data at +0xc, or data at +8; with
 * per-vector masking, mask and pending bits follow the data's dword.
 */
export class MsiCapability implements CapabilityRegion {
  readonly id = CAP_ID_MSI;
  readonly offset: number;
  readonly length: number;
  private control = 0;
  private addressLo = 0;
  private addressHi = 0;
  private data = 0;
  private mask = 0;
  private pending = 0;
  private readonly mmc: number;
  private readonly dataAt: number;
  private readonly maskAt: number;

  constructor(private readonly spec: MsiSpec, private readonly out: MsiOutputs) {
    const log2 = Math.log2(spec.vectors);
    if (!Number.isInteger(log2) || log2 < 0 || log2 > 5) throw new InvalidArgumentError(`MSI vectors ${spec.vectors}: 1, 2, 4, 8, 16 or 32`);
    this.mmc = log2;
    this.offset = spec.offset;
    this.dataAt = spec.is64 ? 0x0c : 0x08;
    this.maskAt = this.dataAt + 4;
    this.length = spec.perVectorMask ? this.maskAt + 8 : this.dataAt + 2;
  }

  get enabled(): boolean { return (this.control & MSI_ENABLE) !== 0; }
  /** Vectors enabled by software (Multiple Message Enable, at most what the function asked for). */
  get enabledVectors(): number { return 1 << Math.min((this.control >>> MSI_MME_SHIFT) & 7, this.mmc); }

  /** The message vector `n` sends now: the low log2(enabled vectors) data bits carry n. */
  message(n: number): MsiMessage {
    const low = this.enabledVectors - 1;
    return { addressLo: this.addressLo >>> 0, addressHi: this.spec.is64 ? this.addressHi >>> 0 : 0, data: ((this.data & ~low) | (n & low)) & 0xffff };
  }

  /** The device signals vector `n`: sent, or pending while masked; dropped while MSI is off. */
  fire(n: number): void {
    if (!this.enabled || n < 0 || n >= this.enabledVectors) return;
    if (this.spec.perVectorMask && (this.mask >>> n) & 1) {
      this.pending = (this.pending | (1 << n)) >>> 0;
      return;
    }
    if (this.out.busMaster()) this.out.send(n, this.message(n));
  }

  get pendingBits(): number { return this.pending >>> 0; }

  read(off: number, size: number): number {
    let v = 0;
    for (let i = 0; i < size; i++) v |= this.readByte(off + i) << (8 * i);
    return v >>> 0;
  }

  write(off: number, size: number, value: number): void {
    const before = [this.addressLo, this.addressHi, this.data];
    for (let i = 0; i < size; i++) this.writeByte(off + i, (value >>> (8 * i)) & 0xff);
    // A reprogrammed message (not a rewrite of the same value, not a mask change) invalidates every vector's.
    if (before[0] !== this.addressLo || before[1] !== this.addressHi || before[2] !== this.data) {
      for (let n = 0; n < (1 << this.mmc); n++) this.out.onEntryChanged?.(n);
    }
    this.deliverUnmasked();
  }

  private readByte(at: number): number {
    const b = (v: number, k: number): number => (v >>> (8 * k)) & 0xff;
    if (at === 2 || at === 3) {
      const control = (this.control & 0x71) | (this.mmc << 1) | (Number(this.spec.is64) << 7) | (Number(this.spec.perVectorMask) << 8);
      return b(control, at - 2);
    }
    if (at >= 4 && at < 8) return b(this.addressLo, at - 4);
    if (this.spec.is64 && at >= 8 && at < 0xc) return b(this.addressHi, at - 8);
    if (at >= this.dataAt && at < this.dataAt + 2) return b(this.data, at - this.dataAt);
    if (this.spec.perVectorMask && at >= this.maskAt && at < this.maskAt + 4) return b(this.mask, at - this.maskAt);
    if (this.spec.perVectorMask && at >= this.maskAt + 4 && at < this.maskAt + 8) return b(this.pending, at - this.maskAt - 4);
    return 0;
  }

  private writeByte(at: number, v: number): void {
    const set = (old: number, k: number): number => ((old & ~(0xff << (8 * k))) | (v << (8 * k))) >>> 0;
    // Message Control: enable (0) and Multiple Message Enable (6:4) are writable.
    if (at === 2) this.control = (this.control & ~0x71) | (v & 0x71);
    else if (at >= 4 && at < 8) this.addressLo = (set(this.addressLo, at - 4) & 0xffff_fffc) >>> 0;
    else if (this.spec.is64 && at >= 8 && at < 0xc) this.addressHi = set(this.addressHi, at - 8);
    else if (at >= this.dataAt && at < this.dataAt + 2) this.data = set(this.data, at - this.dataAt) & 0xffff;
    else if (this.spec.perVectorMask && at >= this.maskAt && at < this.maskAt + 4) {
      // Bits beyond the vectors the function asked for are read-only zero.
      this.mask = (set(this.mask, at - this.maskAt) & (this.mmc === 5 ? 0xffff_ffff : (1 << (1 << this.mmc)) - 1)) >>> 0;
    }
    // The pending bits are read-only.
  }

  /**
   * Sends the pending vectors that may go out now: the owner calls it when
   * bus mastering turns on (a vector latched while it could not be sent is
   * sent once the function may master the bus again).
   */
  deliverPending(): void { this.deliverUnmasked(); }

  /** Pending vectors no longer masked go out (§6.8.1.7). */
  private deliverUnmasked(): void {
    if (!this.enabled || !this.out.busMaster()) return;
    for (let n = 0; n < this.enabledVectors; n++) {
      if ((this.pending >>> n) & 1 && !((this.mask >>> n) & 1)) {
        this.pending = (this.pending & ~(1 << n)) >>> 0;
        this.out.send(n, this.message(n));
      }
    }
  }

  snapshot(): MsiState {
    return { version: 1, control: this.control, addressLo: this.addressLo, addressHi: this.addressHi, data: this.data, mask: this.mask, pending: this.pending };
  }

  static restore(spec: MsiSpec, s: MsiState, out: MsiOutputs): MsiCapability {
    const c = new MsiCapability(spec, out);
    const u = (name: keyof MsiState, max: number): number => {
      const v = s?.[name];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new InvalidArgumentError(`MSI state: ${name} ${String(v)} is outside 0..${max}`);
      return v;
    };
    if (s?.version !== 1) throw new InvalidArgumentError('MSI state: not a version-1 state');
    c.control = u('control', 0xffff) & 0x71;
    c.addressLo = (u('addressLo', 0xffff_ffff) & 0xffff_fffc) >>> 0;
    c.addressHi = spec.is64 ? u('addressHi', 0xffff_ffff) : 0;
    c.data = u('data', 0xffff);
    c.mask = spec.perVectorMask ? u('mask', 0xffff_ffff) : 0;
    c.pending = spec.perVectorMask ? u('pending', 0xffff_ffff) : 0;
    return c;
  }
}

// ---- MSI-X ------------------------------------------------------------------

export interface MsixSpec {
  offset: number;
  /** 1..2048 table entries. */
  vectors: number;
  /** BAR (0..5) and offset (8-byte aligned) of the table and of the PBA. */
  tableBar: number;
  tableOffset: number;
  pbaBar: number;
  pbaOffset: number;
}

export interface MsixState {
  version: 1;
  control: number;
  /** 4 dwords per entry: address lo, address hi, data, vector control. */
  table: number[];
  pending: number[];
}

const MSIX_ENABLE = 1 << 15;
const MSIX_FUNCTION_MASK = 1 << 14;
const VECTOR_MASKED = 1;

/**
 * The MSI-X capability (§6.8.2) and its table and PBA, which live in BAR
 * memory: the device's BAR handler passes accesses in that range to
 * `tableRead/Write` and `pbaRead` (offsets relative to tableOffset/pbaOffset).
 */
export class MsixCapability implements CapabilityRegion {
  readonly id = CAP_ID_MSIX;
  readonly offset: number;
  readonly length = 12;
  private control = 0;
  private readonly table: Uint32Array;
  private readonly pending: Uint32Array;

  constructor(private readonly spec: MsixSpec, private readonly out: MsiOutputs) {
    if (!Number.isInteger(spec.vectors) || spec.vectors < 1 || spec.vectors > 2048) throw new InvalidArgumentError(`MSI-X vectors ${spec.vectors}: 1..2048`);
    for (const [what, bar, off] of [['table', spec.tableBar, spec.tableOffset], ['PBA', spec.pbaBar, spec.pbaOffset]] as const) {
      if (!Number.isInteger(bar) || bar < 0 || bar > 5 || !Number.isInteger(off) || off < 0 || off % 8 !== 0) {
        throw new InvalidArgumentError(`MSI-X ${what}: BAR ${bar} offset ${off} (BAR 0..5, 8-byte aligned)`);
      }
    }
    this.offset = spec.offset;
    this.table = new Uint32Array(spec.vectors * 4);
    // Every entry comes out of reset masked (§6.8.2.9).
    for (let n = 0; n < spec.vectors; n++) this.table[n * 4 + 3] = VECTOR_MASKED;
    this.pending = new Uint32Array(Math.ceil(spec.vectors / 32));
  }

  get enabled(): boolean { return (this.control & MSIX_ENABLE) !== 0; }
  get functionMasked(): boolean { return (this.control & MSIX_FUNCTION_MASK) !== 0; }
  get vectors(): number { return this.spec.vectors; }
  /** Bytes of the table and of the PBA in their BARs. */
  get tableSize(): number { return this.spec.vectors * 16; }
  get pbaSize(): number { return Math.ceil(this.spec.vectors / 64) * 8; }

  message(n: number): MsiMessage {
    return { addressLo: (this.table[n * 4]! & 0xffff_fffc) >>> 0, addressHi: this.table[n * 4 + 1]!, data: this.table[n * 4 + 2]! };
  }

  masked(n: number): boolean { return this.functionMasked || (this.table[n * 4 + 3]! & VECTOR_MASKED) !== 0; }
  isPending(n: number): boolean { return ((this.pending[n >>> 5]! >>> (n & 31)) & 1) === 1; }

  /** The device signals vector `n`: sent, or pending while masked; dropped while MSI-X is off. */
  fire(n: number): void {
    if (!this.enabled || !Number.isInteger(n) || n < 0 || n >= this.spec.vectors) return;
    if (this.masked(n)) {
      this.pending[n >>> 5]! |= 1 << (n & 31);
      return;
    }
    if (this.out.busMaster()) this.out.send(n, this.message(n));
  }

  // Capability registers in configuration space.
  read(off: number, size: number): number {
    const regs = [
      // ID and next pointer (bytes 0-1: PciFunction answers those), Message Control in bytes 2-3.
      ((this.control | (this.spec.vectors - 1)) << 16) >>> 0,
      ((this.spec.tableOffset & ~7) | this.spec.tableBar) >>> 0,
      ((this.spec.pbaOffset & ~7) | this.spec.pbaBar) >>> 0,
    ];
    let v = 0;
    for (let i = 0; i < size; i++) {
      const at = off + i;
      v |= ((regs[at >>> 2]! >>> (8 * (at & 3))) & 0xff) << (8 * i);
    }
    return v >>> 0;
  }

  write(off: number, size: number, value: number): void {
    // Only Message Control's byte 3 (enable 15, function mask 14) is writable.
    const before = this.control;
    for (let i = 0; i < size; i++) {
      if (off + i === 3) this.control = ((value >>> (8 * i)) & 0xc0) << 8;
    }
    this.deliverUnmasked();
    if (this.control !== before) this.out.onMaskChanged?.(null);
  }

  /** A table access in its BAR: dword or qword, naturally aligned (§6.8.2); anything else is a guest error. */
  tableRead(off: number, size: number): number {
    if (!this.tableAccess(off, size)) return allOnes(size);
    return this.table[off >>> 2]! >>> 0;
  }

  tableWrite(off: number, size: number, value: number): void {
    if (!this.tableAccess(off, size)) return;
    const n = off >>> 4;
    const word = (off >>> 2) & 3;
    const old = this.table[off >>> 2]!;
    this.table[off >>> 2] = word === 3 ? value & VECTOR_MASKED : word === 0 ? (value & 0xffff_fffc) >>> 0 : value >>> 0;
    if (word !== 3 && old !== this.table[off >>> 2]) this.out.onEntryChanged?.(n);
    if (word === 3) {
      this.deliverUnmasked(n);
      if (old !== this.table[off >>> 2]) this.out.onMaskChanged?.(n);
    }
  }

  /** The PBA: read-only, any aligned dword (§6.8.2.10); writes are dropped. */
  pbaRead(off: number, size: number): number {
    if (off < 0 || off + size > this.pbaSize || size !== 4 || off % 4 !== 0) {
      this.out.onGuestError?.(`MSI-X PBA read of ${size} bytes at 0x${off.toString(16)}`);
      return allOnes(size);
    }
    return (this.pending[off >>> 2] ?? 0) >>> 0;
  }

  private tableAccess(off: number, size: number): boolean {
    if (size !== 4 || off < 0 || off % 4 !== 0 || off + size > this.tableSize) {
      this.out.onGuestError?.(`MSI-X table access of ${size} bytes at 0x${off.toString(16)}`);
      return false;
    }
    return true;
  }

  /** As MsiCapability.deliverPending: pending vectors that may go out now do (bus mastering back on). */
  deliverPending(): void { this.deliverUnmasked(); }

  /** Pending vectors no longer masked go out (all of them, or just `only`). */
  private deliverUnmasked(only?: number): void {
    if (!this.enabled || this.functionMasked || !this.out.busMaster()) return;
    const from = only ?? 0;
    const to = only === undefined ? this.spec.vectors : only + 1;
    for (let n = from; n < to; n++) {
      if (this.isPending(n) && !this.masked(n)) {
        this.pending[n >>> 5]! &= ~(1 << (n & 31));
        this.out.send(n, this.message(n));
      }
    }
  }

  snapshot(): MsixState {
    return { version: 1, control: this.control, table: [...this.table], pending: [...this.pending] };
  }

  static restore(spec: MsixSpec, s: MsixState, out: MsiOutputs): MsixCapability {
    const c = new MsixCapability(spec, out);
    if (s?.version !== 1 || !Array.isArray(s.table) || !Array.isArray(s.pending) || s.table.length !== c.table.length || s.pending.length !== c.pending.length) {
      throw new InvalidArgumentError('MSI-X state: not a version-1 state of this many vectors');
    }
    const u32 = (v: unknown, what: string): number => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw new InvalidArgumentError(`MSI-X state: ${what} ${String(v)} is not a dword`);
      return v;
    };
    c.control = u32(s.control, 'control') & (MSIX_ENABLE | MSIX_FUNCTION_MASK);
    // Index loops, not forEach: a hole in an array (a deleted element) must be refused, not skipped.
    for (let i = 0; i < s.table.length; i++) {
      c.table[i] = (u32(s.table[i], `table[${i}]`) & ((i & 3) === 3 ? VECTOR_MASKED : (i & 3) === 0 ? 0xffff_fffc : 0xffff_ffff)) >>> 0;
    }
    for (let i = 0; i < s.pending.length; i++) c.pending[i] = u32(s.pending[i], `pending[${i}]`);
    const extra = spec.vectors % 32;
    if (extra && (c.pending[c.pending.length - 1]! >>> extra) !== 0) throw new InvalidArgumentError('MSI-X state: pending bits beyond the last vector');
    return c;
  }
}

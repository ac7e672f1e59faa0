/**
 * An edu-compatible device: QEMU's educational PCI device (1234:11e8) as
 * its specification (QEMU docs/specs/edu.rst) documents it, so that the
 * same guest runs under `qemu -device edu` and here.
 *
 * BAR0, 1 MiB of MMIO:
 *   0x00 RO  identification 0x010000ed (major 1, minor 0)
 *   0x04 RW  liveness check: reads back the bitwise inverse of what was written
 *   0x08 RW  factorial: write n, read n! (mod 2^32) once status bit 0 clears
 *   0x20 RW  status: bit 0 computing (RO), bit 7 raise interrupt 0x01 when the factorial is done
 *   0x24 RO  interrupt status
 *   0x60 WO  interrupt raise: ORed into the interrupt status
 *   0x64 WO  interrupt acknowledge: clears those bits
 *   0x80 RW  DMA source address (64-bit)
 *   0x88 RW  DMA destination address (64-bit)
 *   0x90 RW  DMA transfer count (64-bit)
 *   0x98 RW  DMA command: bit 0 start (clears when done), bit 1 direction
 *            (0 RAM → device, 1 device → RAM), bit 2 raise interrupt 0x100 when done
 * The device's buffer is 4 KiB at 0x40000 in its own address space; DMA
 * addresses are limited to 28 bits. Interrupts, as QEMU's edu_raise_irq and
 * edu_lower_irq do: every raise that leaves the status non-zero signals
 * (`interrupt`: the PCI glue sends an MSI then, when MSI is enabled), and
 * INTx (pin A) follows "status non-zero" (`intx`), used when MSI is off.
 *
 * Deviations, on purpose: the factorial and the DMA complete at once (QEMU
 * uses a thread and a 100 ms timer; a guest polls the busy bits either way,
 * and here runs are deterministic). A DMA whose device side leaves the
 * buffer is a counted guest error that moves nothing (QEMU logs it and
 * copies past its buffer anyway); a RAM address beyond the 28-bit mask is
 * clamped to it with a guest error, as QEMU does. Accesses below 0x80 are 4 bytes, 4 or 8 from
 * 0x80 (8-byte accesses arrive as two dwords here); anything else is a
 * guest error (reads all ones). The 64-bit DMA registers take a dword at
 * +0 (which clears the upper half, as QEMU's 64-bit assignment does) and at
 * +4 (the upper half: an 8-byte access arrives here as the two).
 */
import { InvalidArgumentError } from '../errors.js';
import { allOnes } from '../machine/bus.js';

export const EDU_VENDOR_ID = 0x1234;
export const EDU_DEVICE_ID = 0x11e8;
export const EDU_ID = 0x0100_00ed;
export const EDU_BAR_SIZE = 0x10_0000;
export const EDU_DMA_BUFFER = 0x4_0000;
export const EDU_DMA_SIZE = 0x1000;
/** The device's DMA address mask (28 bits, QEMU's default dma_mask). */
export const EDU_DMA_MASK = 2 ** 28 - 1;

const STATUS_COMPUTING = 0x01;
const STATUS_IRQ_FACT = 0x80;
const DMA_START = 0x1;
const DMA_TO_RAM = 0x2;
const DMA_IRQ = 0x4;
export const EDU_IRQ_FACTORIAL = 0x001;
export const EDU_IRQ_DMA = 0x100;

/** The device's bus-master side: DMA into guest (or IOMMU-translated) memory; false on a fault. */
export interface DmaPort {
  read(address: number, length: number): Uint8Array | null;
  write(address: number, bytes: Uint8Array): boolean;
}

export interface EduOutputs {
  /** A raise left the interrupt status non-zero: with MSI enabled, the glue sends vector 0. */
  interrupt(): void;
  /** The INTx level, "interrupt status non-zero" (the glue drives pin A with it while MSI is off). */
  intx(level: boolean): void;
  dma: DmaPort;
  onGuestError?(what: string): void;
}

export interface EduState {
  version: 1;
  liveness: number;
  factorial: number;
  status: number;
  irqStatus: number;
  /** 64-bit registers as [lo, hi] dwords. */
  dmaSrc: [number, number];
  dmaDst: [number, number];
  dmaCount: [number, number];
  dmaCmd: number;
  /** The 4 KiB buffer, base64. */
  buffer: string;
}

export class Edu {
  private liveness = 0;
  private factorial = 0;
  private status = 0;
  private irqStatus = 0;
  private dma: { src: number[]; dst: number[]; count: number[] } = { src: [0, 0], dst: [0, 0], count: [0, 0] };
  private dmaCmd = 0;
  private readonly buffer = new Uint8Array(EDU_DMA_SIZE);
  private irqLevel = false;
  guestErrors = 0;

  constructor(private readonly out: EduOutputs) {}

  /** The device buffer (for tests and the DMA engine). */
  get dmaBuffer(): Uint8Array { return this.buffer; }

  read(offset: number, size: number): number {
    if (!this.validAccess(offset, size)) return allOnes(size);
    switch (offset) {
      case 0x00: return EDU_ID;
      case 0x04: return ~this.liveness >>> 0;
      case 0x08: return this.factorial >>> 0;
      case 0x20: return this.status >>> 0;
      case 0x24: return this.irqStatus >>> 0;
      case 0x80: case 0x84: return this.dma.src[(offset >>> 2) & 1]!;
      case 0x88: case 0x8c: return this.dma.dst[(offset >>> 2) & 1]!;
      case 0x90: case 0x94: return this.dma.count[(offset >>> 2) & 1]!;
      case 0x98: return this.dmaCmd;
      case 0x9c: return 0;
      default: return 0xffff_ffff; // QEMU's edu_mmio_read answers ~0 for the rest
    }
  }

  write(offset: number, size: number, value: number): void {
    if (!this.validAccess(offset, size)) return;
    const v = value >>> 0;
    switch (offset) {
      case 0x04: this.liveness = v; return;
      case 0x08:
        // A new input while computing is ignored (QEMU: "if (!(edu->status & EDU_STATUS_COMPUTING))").
        if (this.status & STATUS_COMPUTING) return;
        this.status |= STATUS_COMPUTING;
        this.factorial = factorial32(v);
        this.status &= ~STATUS_COMPUTING;
        if (this.status & STATUS_IRQ_FACT) this.raise(EDU_IRQ_FACTORIAL);
        return;
      case 0x20:
        // Only the interrupt-enable bit is writable; the busy bit is the device's.
        this.status = (this.status & STATUS_COMPUTING) | (v & STATUS_IRQ_FACT);
        return;
      case 0x60: this.raise(v); return;
      case 0x64: this.irqStatus = (this.irqStatus & ~v) >>> 0; this.updateIrq(); return;
      case 0x80: this.dma.src = [v, 0]; return;
      case 0x84: this.dma.src[1] = v; return;
      case 0x88: this.dma.dst = [v, 0]; return;
      case 0x8c: this.dma.dst[1] = v; return;
      case 0x90: this.dma.count = [v, 0]; return;
      case 0x94: this.dma.count[1] = v; return;
      case 0x98:
        // A write without the start bit, or while a transfer runs, is ignored (QEMU's edu_mmio_write).
        if (!(v & DMA_START) || (this.dmaCmd & DMA_START)) return;
        this.dmaCmd = v & (DMA_START | DMA_TO_RAM | DMA_IRQ);
        this.runDma();
        return;
      default:
        return; // read-only or unimplemented: dropped, as QEMU's edu_mmio_write does
    }
  }

  /** The INTx level now ("interrupt status non-zero"). */
  get intxLevel(): boolean { return this.irqLevel; }

  snapshot(): EduState {
    return {
      version: 1, liveness: this.liveness, factorial: this.factorial, status: this.status, irqStatus: this.irqStatus,
      dmaSrc: [this.dma.src[0]!, this.dma.src[1]!], dmaDst: [this.dma.dst[0]!, this.dma.dst[1]!],
      dmaCount: [this.dma.count[0]!, this.dma.count[1]!], dmaCmd: this.dmaCmd,
      buffer: Buffer.from(this.buffer).toString('base64'),
    };
  }

  static restore(s: EduState, out: EduOutputs): Edu {
    const u32 = (v: unknown, what: string): number => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw new InvalidArgumentError(`edu state: ${what} ${String(v)} is not a dword`);
      return v;
    };
    const pair = (p: unknown, what: string): [number, number] => {
      if (!Array.isArray(p) || p.length !== 2) throw new InvalidArgumentError(`edu state: ${what} is not a [lo, hi] pair`);
      return [u32(p[0], `${what}[0]`), u32(p[1], `${what}[1]`)];
    };
    if (s?.version !== 1) throw new InvalidArgumentError('edu state: not a version-1 state');
    const d = new Edu(out);
    d.liveness = u32(s.liveness, 'liveness');
    d.factorial = u32(s.factorial, 'factorial');
    d.status = u32(s.status, 'status');
    if (d.status & ~(STATUS_IRQ_FACT)) throw new InvalidArgumentError('edu state: status may hold only the interrupt-enable bit between accesses');
    d.irqStatus = u32(s.irqStatus, 'irqStatus');
    const [src, dst, count] = [pair(s.dmaSrc, 'dmaSrc'), pair(s.dmaDst, 'dmaDst'), pair(s.dmaCount, 'dmaCount')];
    d.dma.src = src;
    d.dma.dst = dst;
    d.dma.count = count;
    d.dmaCmd = u32(s.dmaCmd, 'dmaCmd');
    if (d.dmaCmd & ~(DMA_TO_RAM | DMA_IRQ)) throw new InvalidArgumentError('edu state: no DMA can be running between accesses');
    const buf = typeof s.buffer === 'string' ? Buffer.from(s.buffer, 'base64') : null;
    if (!buf || buf.length !== EDU_DMA_SIZE) throw new InvalidArgumentError('edu state: buffer is not 4 KiB of base64');
    d.buffer.set(buf);
    d.irqLevel = d.irqStatus !== 0;
    return d;
  }

  // ---- internals ------------------------------------------------------------

  private validAccess(offset: number, size: number): boolean {
    const ok = Number.isInteger(offset) && offset >= 0 && offset < EDU_BAR_SIZE && offset % 4 === 0 && size === 4;
    if (!ok) this.guestError(`${size}-byte access at 0x${offset.toString(16)} (edu takes aligned dwords)`);
    return ok;
  }

  private guestError(what: string): void {
    this.guestErrors++;
    this.out.onGuestError?.(what);
  }

  private raise(bits: number): void {
    this.irqStatus = (this.irqStatus | bits) >>> 0;
    this.updateIrq();
    if (this.irqStatus !== 0) this.out.interrupt();
  }

  private updateIrq(): void {
    const level = this.irqStatus !== 0;
    if (level === this.irqLevel) return;
    this.irqLevel = level;
    this.out.intx(level);
  }

  private runDma(): void {
    const src = this.dma.src[0]! + this.dma.src[1]! * 2 ** 32;
    const dst = this.dma.dst[0]! + this.dma.dst[1]! * 2 ** 32;
    const count = this.dma.count[0]! + this.dma.count[1]! * 2 ** 32;
    const toRam = (this.dmaCmd & DMA_TO_RAM) !== 0;
    const devAddr = toRam ? src : dst;
    let ramAddr = toRam ? dst : src;
    // The RAM side is clamped to the DMA mask, as QEMU's edu_clamp_addr does (a logged guest error).
    if (ramAddr % (EDU_DMA_MASK + 1) !== ramAddr) {
      this.guestError(`DMA address 0x${ramAddr.toString(16)} clamped to the 28-bit mask`);
      ramAddr %= EDU_DMA_MASK + 1;
    }
    const inBuffer = devAddr >= EDU_DMA_BUFFER && count <= EDU_DMA_SIZE && devAddr + count <= EDU_DMA_BUFFER + EDU_DMA_SIZE;
    if (!inBuffer) {
      // QEMU logs this and copies anyway, past its 4 KiB buffer; here nothing moves.
      this.guestError(`DMA of ${count} bytes at device address 0x${devAddr.toString(16)} is outside the 4 KiB buffer at 0x40000`);
    } else if (count > 0) {
      const at = devAddr - EDU_DMA_BUFFER;
      if (toRam) {
        if (!this.out.dma.write(ramAddr, this.buffer.slice(at, at + count))) this.guestError(`DMA write to 0x${ramAddr.toString(16)} faulted`);
      } else {
        const bytes = this.out.dma.read(ramAddr, count);
        if (bytes) this.buffer.set(bytes.subarray(0, count), at);
        else this.guestError(`DMA read from 0x${ramAddr.toString(16)} faulted`);
      }
    }
    this.dmaCmd &= ~DMA_START;
    if (this.dmaCmd & DMA_IRQ) this.raise(EDU_IRQ_DMA);
  }
}

/** n! modulo 2^32 (what QEMU's 32-bit loop computes). */
export function factorial32(n: number): number {
  let r = 1;
  for (let i = 2; i <= n && r !== 0; i++) r = Math.imul(r, i) >>> 0;
  return r >>> 0;
}

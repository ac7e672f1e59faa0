/**
 * Intel VT-d (Intel Virtualization Technology for Directed I/O, Architecture
 * Specification rev. 3; "the spec" below) as QEMU 7.2's `intel-iommu`
 * presents it by default: one remapping unit at 0xfed90000 with queued
 * invalidation, interrupt remapping (`intremap=on`) and legacy-mode DMA
 * remapping with 3-level second-level tables (39-bit guest addresses).
 *
 * A pure state machine. The unit reads its tables, its invalidation queue
 * and writes wait-descriptor status through `mem` (guest physical memory,
 * untranslated), sends its own interrupts (fault events, invalidation
 * events: compatibility format, never remapped) through `sendMsi`, and tells
 * its owner when cached interrupt translations become invalid:
 * `onIecInvalidate` for an interrupt-entry-cache invalidation (the irqfd
 * cache detaches exactly that range) and `onRemappingChanged` when the
 * remapping setup itself changed (enable, table pointer, CFI).
 *
 * Registers are accessed as dwords (QEMU takes 4 or 8 bytes; the bus here
 * carries up to 4). 64-bit registers are two dwords; a command that a
 * 64-bit register's high dword carries (CCMD.ICC, IOTLB.IVT) acts when that
 * dword is written, as a 32-bit guest writes it last.
 *
 * Not modelled: scalable mode, PASIDs, posted interrupts, device-TLBs,
 * protected memory regions, advanced fault logging, write-buffer flushing.
 * No IOTLB or context cache is kept: every DMA walks the tables, so an
 * invalidation has nothing to drop (a guest that forgets one sees the new
 * mapping early, which the spec allows).
 */
import type { InterruptTranslator, Translation } from '../irq/irqfd-cache.js';
import { decodeMsi, type MsiMessage } from '../irq/msi.js';

export const VTD_BASE = 0xfed9_0000;
export const VTD_SIZE = 0x1000;
/** The IOAPIC's requester ID on QEMU's q35 (pseudo bus 0xff, devfn 0), used for source-id validation. */
export const IOAPIC_SOURCE_ID = 0xff00;

// Register offsets (spec §10.4).
export const VTD_VER = 0x00;
export const VTD_CAP = 0x08;
export const VTD_ECAP = 0x10;
export const VTD_GCMD = 0x18;
export const VTD_GSTS = 0x1c;
export const VTD_RTADDR = 0x20;
export const VTD_CCMD = 0x28;
export const VTD_FSTS = 0x34;
export const VTD_FECTL = 0x38;
export const VTD_FEDATA = 0x3c;
export const VTD_FEADDR = 0x40;
export const VTD_FEUADDR = 0x44;
export const VTD_IQH = 0x80;
export const VTD_IQT = 0x88;
export const VTD_IQA = 0x90;
export const VTD_ICS = 0x9c;
export const VTD_IECTL = 0xa0;
export const VTD_IEDATA = 0xa4;
export const VTD_IEADDR = 0xa8;
export const VTD_IEUADDR = 0xac;
export const VTD_IRTA = 0xb8;
export const VTD_IVA = 0xf0;
export const VTD_IOTLB = 0xf8;
export const VTD_FRCD = 0x220;

// Global command / status bits (spec §10.4.4, §10.4.5).
export const GCMD_TE = 1 << 31;
export const GCMD_SRTP = 1 << 30;
export const GCMD_QIE = 1 << 26;
export const GCMD_IRE = 1 << 25;
export const GCMD_SIRTP = 1 << 24;
export const GCMD_CFI = 1 << 23;
/** The status bits this unit implements (the one-shot commands' status bits stay set once done). */
const GSTS_BITS = (GCMD_TE | GCMD_SRTP | GCMD_QIE | GCMD_IRE | GCMD_SIRTP | GCMD_CFI) >>> 0;

// Fault status (spec §10.4.9).
export const FSTS_PFO = 1 << 0;
export const FSTS_PPF = 1 << 1;
export const FSTS_IQE = 1 << 4;
const FECTL_IM = 1 << 31;
const FECTL_IP = 1 << 30;

/** Fault reasons (spec Appendix A). */
export const FaultReason = {
  ROOT_ENTRY_NOT_PRESENT: 0x01,
  CONTEXT_ENTRY_NOT_PRESENT: 0x02,
  CONTEXT_ENTRY_INVALID: 0x03,
  ADDRESS_BEYOND_MGAW: 0x04,
  WRITE: 0x05,
  READ: 0x06,
  PAGING_ENTRY_INVALID: 0x07,
  ROOT_TABLE_INVALID: 0x08,
  CONTEXT_TABLE_INVALID: 0x09,
  PAGING_ENTRY_RESERVED: 0x0c,
  IR_REQUEST_RESERVED: 0x20,
  IR_INDEX_BEYOND_TABLE: 0x21,
  IR_ENTRY_NOT_PRESENT: 0x22,
  IR_TABLE_INVALID: 0x23,
  IR_ENTRY_RESERVED: 0x24,
  IR_COMPAT_BLOCKED: 0x25,
  IR_SOURCE_ID: 0x26,
} as const;

/** A recorded fault, as the fault-recording register holds it (and as tests read it). */
export interface VtdFault {
  reason: number;
  sourceId: number;
  /** DMA: the faulting page address; interrupt remapping: the IRTE index (0 when there is none). */
  info: number;
  /** DMA faults: a read (T = 1) or a write. */
  read: boolean;
}

export interface VtdMemory {
  /** `len` bytes of guest physical memory at `address`, or null outside RAM. */
  read(address: number, len: number): Uint8Array | null;
  /** Writes guest physical memory; false outside RAM. */
  write(address: number, bytes: Uint8Array): boolean;
}

export interface VtdOutputs {
  mem: VtdMemory;
  /** An interrupt the unit sends itself (fault and invalidation events), compatibility format. */
  sendMsi(message: MsiMessage): void;
  /** An interrupt-entry-cache invalidation of IRTE indexes first..last (global: 0..0xffff). */
  onIecInvalidate?(first: number, last: number, global: boolean): void;
  /** Interrupt remapping was enabled or disabled, its table moved, or CFI changed. */
  onRemappingChanged?(): void;
  /** A fault was recorded (for traces and tests). */
  onFault?(fault: VtdFault): void;
  onGuestError?(what: string): void;
}

export interface VtdOptions {
  /** Interrupt remapping (QEMU's intremap=on), default on. */
  intremap?: boolean;
}

const hex = (v: number): string => `0x${v.toString(16)}`;

/** A 64-bit register as two dwords. */
interface Reg64 { lo: number; hi: number }

/** What a DMA translation gives: the guest physical address, or a fault. */
export type DmaTranslation = { ok: true; address: number } | { ok: false; reason: number };

/** Little-endian dword `i` of `b`. */
const dw = (b: Uint8Array, i: number): number => (b[i * 4]! | (b[i * 4 + 1]! << 8) | (b[i * 4 + 2]! << 16) | (b[i * 4 + 3]! << 24)) >>> 0;

/** A 64-bit value from two dwords as a JS number (exact below 2^53, which every address here is). */
const u64 = (lo: number, hi: number): number => hi * 2 ** 32 + (lo >>> 0);

const ADDRESS_WIDTH = 39;
const NFR = 1;

export class VtdUnit implements InterruptTranslator {
  readonly cap: Reg64;
  readonly ecap: Reg64;
  private gsts = 0;
  private rtaddr: Reg64 = { lo: 0, hi: 0 };
  /** The root table as latched by SRTP (what translation uses). */
  private rootTable = 0;
  private ccmd: Reg64 = { lo: 0, hi: 0 };
  private fsts = 0;
  private fectl = FECTL_IM;
  private fedata = 0;
  private feaddr = 0;
  private feuaddr = 0;
  private iqh = 0;
  private iqt = 0;
  private iqa: Reg64 = { lo: 0, hi: 0 };
  private ics = 0;
  private iectl = FECTL_IM;
  private iedata = 0;
  private ieaddr = 0;
  private ieuaddr = 0;
  private irta: Reg64 = { lo: 0, hi: 0 };
  /** The interrupt-remapping table as latched by SIRTP: base and number of entries. */
  private irtBase = 0;
  private irtEntries = 0;
  private iva: Reg64 = { lo: 0, hi: 0 };
  private iotlb: Reg64 = { lo: 0, hi: 0 };
  /** Fault-recording register 0: 128 bits as four dwords. */
  private readonly frcd = [0, 0, 0, 0];
  private fri = 0;
  readonly intremap: boolean;

  constructor(private readonly out: VtdOutputs, opts: VtdOptions = {}) {
    this.intremap = opts.intremap ?? true;
    // CAP: ND = 6 (16-bit domain IDs), SAGAW 39-bit (3-level), MGAW 38, FRO = 0x220 >> 4,
    // SLLPS 2 MiB and 1 GiB, PSI, NFR - 1 = 0, MAMV 18, read and write draining.
    this.cap = { lo: (6 | (0x2 << 8) | ((ADDRESS_WIDTH - 1) << 16) | ((VTD_FRCD >>> 4) << 24)) >>> 0, hi: ((0x3 << 2) | (1 << 7) | (18 << 16) | (0x3 << 22)) >>> 0 };
    // ECAP: QI, IR (intremap), PT, IRO = 0xf0 >> 4, MHMV 15. No EIM: xAPIC only.
    this.ecap = { lo: ((1 << 1) | (this.intremap ? 1 << 3 : 0) | (1 << 6) | ((VTD_IVA >>> 4) << 8) | (15 << 20)) >>> 0, hi: 0 };
  }

  get translationEnabled(): boolean { return (this.gsts & GCMD_TE) !== 0; }
  get remappingEnabled(): boolean { return (this.gsts & GCMD_IRE) !== 0; }

  // ---- registers --------------------------------------------------------

  read(off: number, size: number): number {
    if (size !== 4 || off % 4 !== 0) {
      this.out.onGuestError?.(`${size}-byte read at ${hex(off)} (dword registers)`);
      return size >= 4 ? 0xffff_ffff : 2 ** (8 * size) - 1;
    }
    switch (off) {
      case VTD_VER: return 0x10;
      case VTD_CAP: return this.cap.lo;
      case VTD_CAP + 4: return this.cap.hi;
      case VTD_ECAP: return this.ecap.lo;
      case VTD_ECAP + 4: return this.ecap.hi;
      case VTD_GCMD: return 0;
      case VTD_GSTS: return this.gsts >>> 0;
      case VTD_RTADDR: return this.rtaddr.lo;
      case VTD_RTADDR + 4: return this.rtaddr.hi;
      case VTD_CCMD: return this.ccmd.lo;
      case VTD_CCMD + 4: return this.ccmd.hi;
      case VTD_FSTS: return (this.fsts | (this.fri << 8)) >>> 0;
      case VTD_FECTL: return this.fectl >>> 0;
      case VTD_FEDATA: return this.fedata;
      case VTD_FEADDR: return this.feaddr;
      case VTD_FEUADDR: return this.feuaddr;
      case VTD_IQH: return this.iqh << 4;
      case VTD_IQH + 4: return 0;
      case VTD_IQT: return this.iqt << 4;
      case VTD_IQT + 4: return 0;
      case VTD_IQA: return this.iqa.lo;
      case VTD_IQA + 4: return this.iqa.hi;
      case VTD_ICS: return this.ics;
      case VTD_IECTL: return this.iectl >>> 0;
      case VTD_IEDATA: return this.iedata;
      case VTD_IEADDR: return this.ieaddr;
      case VTD_IEUADDR: return this.ieuaddr;
      case VTD_IRTA: return this.irta.lo;
      case VTD_IRTA + 4: return this.irta.hi;
      case VTD_IVA: return this.iva.lo;
      case VTD_IVA + 4: return this.iva.hi;
      case VTD_IOTLB: return this.iotlb.lo;
      case VTD_IOTLB + 4: return this.iotlb.hi;
      default:
        if (off >= VTD_FRCD && off < VTD_FRCD + 16 * NFR) return this.frcd[(off - VTD_FRCD) >>> 2]! >>> 0;
        return 0;
    }
  }

  write(off: number, size: number, value: number): void {
    if (size !== 4 || off % 4 !== 0) {
      this.out.onGuestError?.(`${size}-byte write at ${hex(off)} (dword registers)`);
      return;
    }
    const v = value >>> 0;
    switch (off) {
      case VTD_GCMD: this.command(v); return;
      case VTD_RTADDR: this.rtaddr.lo = (v & ~0x3ff) >>> 0; if (v & (1 << 10)) this.out.onGuestError?.('RTADDR.TTM: scalable mode is not supported'); return;
      case VTD_RTADDR + 4: this.rtaddr.hi = v & 0x7f; return;
      case VTD_CCMD: this.ccmd.lo = v; return;
      case VTD_CCMD + 4: this.contextCommand(v); return;
      case VTD_FSTS: this.writeFsts(v); return;
      case VTD_FECTL: this.writeFectl(v); return;
      case VTD_FEDATA: this.fedata = v & 0xffff; return;
      case VTD_FEADDR: this.feaddr = (v & ~3) >>> 0; return;
      case VTD_FEUADDR: this.feuaddr = v; return;
      case VTD_IQT: this.writeIqt(v); return;
      case VTD_IQT + 4: return;
      case VTD_IQA: this.iqa.lo = (v & ~0x7f8) >>> 0; if (v & (1 << 11)) this.out.onGuestError?.('IQA.DW: 256-bit descriptors need scalable mode'); return;
      case VTD_IQA + 4: this.iqa.hi = v & 0x7f; return;
      case VTD_ICS: if (v & 1) { this.ics = 0; this.iectl &= ~FECTL_IP; } return;
      case VTD_IECTL: this.writeIectl(v); return;
      case VTD_IEDATA: this.iedata = v & 0xffff; return;
      case VTD_IEADDR: this.ieaddr = (v & ~3) >>> 0; return;
      case VTD_IEUADDR: this.ieuaddr = v; return;
      case VTD_IRTA: this.irta.lo = (v & ~0x7f0 & ~(1 << 11)) >>> 0; if (v & (1 << 11)) this.out.onGuestError?.('IRTA.EIME: x2APIC mode is not offered (ECAP.EIM = 0)'); return;
      case VTD_IRTA + 4: this.irta.hi = v & 0x7f; return;
      case VTD_IVA: this.iva.lo = (v & ~0xf80) >>> 0; return;
      case VTD_IVA + 4: this.iva.hi = v & 0x7f; return;
      case VTD_IOTLB: this.iotlb.lo = v; return;
      case VTD_IOTLB + 4: this.iotlbCommand(v); return;
      default:
        if (off === VTD_FRCD + 12) {
          // F (bit 127) is write-one-to-clear; PPF follows the recording registers.
          if (v & (1 << 31)) { this.frcd[3] = (this.frcd[3]! & ~(1 << 31)) >>> 0; this.updatePpf(); }
          return;
        }
        if (off >= VTD_FRCD && off < VTD_FRCD + 16 * NFR) return; // the rest of a recording register is read-only
        // VER, CAP, ECAP, GSTS, IQH and unimplemented registers: read-only or reserved.
    }
  }

  /** GCMD: each bit set differently from GSTS starts that command (spec §10.4.4: one command per write). */
  private command(v: number): void {
    let remapChanged = false;
    if (v & GCMD_SRTP) {
      this.rootTable = u64(this.rtaddr.lo & ~0xfff, this.rtaddr.hi);
      this.gsts |= GCMD_SRTP;
    }
    if (v & GCMD_SIRTP) {
      if (!this.intremap) this.out.onGuestError?.('SIRTP without interrupt remapping (intremap=off)');
      else {
        this.irtBase = u64(this.irta.lo & ~0xfff, this.irta.hi);
        this.irtEntries = 2 ** ((this.irta.lo & 0xf) + 1);
        this.gsts |= GCMD_SIRTP;
        remapChanged = true;
      }
    }
    const toggle = (bit: number, allowed: boolean, what: string, onSet?: () => boolean): void => {
      const want = (v & bit) !== 0;
      if (want === ((this.gsts & bit) !== 0)) return;
      if (want && !allowed) { this.out.onGuestError?.(`${what} is not supported by this unit`); return; }
      if (want && onSet && !onSet()) return;
      this.gsts = want ? this.gsts | bit : this.gsts & ~bit;
    };
    toggle(GCMD_TE, true, 'TE', () => {
      if (!(this.gsts & GCMD_SRTP)) { this.out.onGuestError?.('TE before a root table was set (SRTP)'); return false; }
      return true;
    });
    toggle(GCMD_QIE, true, 'QIE', () => { this.iqh = 0; return true; });
    const ire = (this.gsts & GCMD_IRE) !== 0;
    toggle(GCMD_IRE, this.intremap, 'IRE', () => {
      if (!(this.gsts & GCMD_SIRTP)) { this.out.onGuestError?.('IRE before an interrupt-remapping table was set (SIRTP)'); return false; }
      return true;
    });
    if (ire !== ((this.gsts & GCMD_IRE) !== 0)) remapChanged = true;
    const cfi = (this.gsts & GCMD_CFI) !== 0;
    toggle(GCMD_CFI, this.intremap, 'CFI');
    if (cfi !== ((this.gsts & GCMD_CFI) !== 0)) remapChanged = true;
    this.gsts = (this.gsts & GSTS_BITS) >>> 0;
    if (remapChanged) this.out.onRemappingChanged?.();
  }

  private contextCommand(hi: number): void {
    this.ccmd.hi = hi;
    if (!(hi & (1 << 31))) return;
    // ICC: invalidate (nothing cached here); report the granularity done = the one asked (CIRG 62:61 → CAIG 60:59).
    const cirg = (hi >>> 29) & 3;
    if (cirg === 0) this.out.onGuestError?.('CCMD with CIRG 0 (reserved)');
    this.ccmd.hi = ((hi & ~(1 << 31) & ~(3 << 27)) | (cirg << 27)) >>> 0;
  }

  private iotlbCommand(hi: number): void {
    this.iotlb.hi = hi;
    if (!(hi & (1 << 31))) return;
    const iirg = (hi >>> 28) & 3;
    if (iirg === 0) this.out.onGuestError?.('IOTLB invalidation with IIRG 0 (reserved)');
    this.iotlb.hi = ((hi & ~(1 << 31) & ~(3 << 25)) | (iirg << 25)) >>> 0;
  }

  private writeFsts(v: number): void {
    // PFO, IQE, ICE, ITE are write-one-to-clear; PPF and FRI are read-only.
    this.fsts &= ~(v & (FSTS_PFO | FSTS_IQE | (1 << 5) | (1 << 6)));
    if (this.fsts & FSTS_IQE) return;
    // With every interrupt-causing condition serviced, the pending fault event goes away (spec §7.3.2).
    if (!(this.fsts & (FSTS_PFO | FSTS_PPF | FSTS_IQE))) this.fectl &= ~FECTL_IP;
    // An IQE cleared: the queue may move again.
    this.processQueue();
  }

  private writeFectl(v: number): void {
    const wasMasked = (this.fectl & FECTL_IM) !== 0;
    this.fectl = (v & FECTL_IM) | (this.fectl & FECTL_IP);
    if (wasMasked && !(this.fectl & FECTL_IM) && this.fectl & FECTL_IP) {
      this.fectl &= ~FECTL_IP;
      this.out.sendMsi({ addressLo: this.feaddr, addressHi: this.feuaddr, data: this.fedata });
    }
  }

  private writeIectl(v: number): void {
    const wasMasked = (this.iectl & FECTL_IM) !== 0;
    this.iectl = (v & FECTL_IM) | (this.iectl & FECTL_IP);
    if (wasMasked && !(this.iectl & FECTL_IM) && this.iectl & FECTL_IP) {
      this.iectl &= ~FECTL_IP;
      this.out.sendMsi({ addressLo: this.ieaddr, addressHi: this.ieuaddr, data: this.iedata });
    }
  }

  // ---- faults -----------------------------------------------------------

  private updatePpf(): void {
    if (this.frcd[3]! & (1 << 31)) this.fsts |= FSTS_PPF;
    else this.fsts &= ~FSTS_PPF;
  }

  /** Records a fault (primary fault logging, spec §7.3.1) and raises the fault event. */
  private recordFault(f: VtdFault): void {
    this.out.onFault?.(f);
    const before = this.fsts & (FSTS_PFO | FSTS_PPF | FSTS_IQE);
    if (this.fsts & FSTS_PFO) return; // overflowed: nothing more is recorded until software clears PFO
    if (this.frcd[3]! & (1 << 31)) {
      this.fsts |= FSTS_PFO;
    } else {
      const fi = f.info;
      this.frcd[0] = (fi % 2 ** 32) >>> 0;
      this.frcd[1] = Math.floor(fi / 2 ** 32) >>> 0;
      this.frcd[2] = f.sourceId & 0xffff;
      this.frcd[3] = ((f.reason & 0xff) | (f.read ? 1 << 30 : 0) | (1 << 31)) >>> 0;
      this.fri = (this.fri + 1) % NFR;
      this.updatePpf();
    }
    if (before === 0) this.faultEvent();
  }

  /** The fault event: sent now, or left pending (FECTL.IP) while masked. */
  private faultEvent(): void {
    if (this.fectl & FECTL_IM) { this.fectl |= FECTL_IP; return; }
    this.out.sendMsi({ addressLo: this.feaddr, addressHi: this.feuaddr, data: this.fedata });
  }

  private queueError(what: string): void {
    this.out.onGuestError?.(`invalidation queue error: ${what}`);
    const before = this.fsts & (FSTS_PFO | FSTS_PPF | FSTS_IQE);
    this.fsts |= FSTS_IQE;
    if (before === 0) this.faultEvent();
  }

  // ---- queued invalidation ------------------------------------------------

  private writeIqt(v: number): void {
    this.iqt = (v >>> 4) & 0x7fff;
    this.processQueue();
  }

  /** Descriptors from IQH to IQT, until the queue is empty or a descriptor is bad (IQE, IQH left on it). */
  private processQueue(): void {
    if (!(this.gsts & GCMD_QIE) || this.fsts & FSTS_IQE) return;
    const entries = 256 * 2 ** (this.iqa.lo & 7);
    const base = u64(this.iqa.lo & ~0xfff, this.iqa.hi);
    if (this.iqt >= entries) { this.queueError(`IQT ${this.iqt} is beyond the ${entries}-entry queue`); return; }
    while (this.iqh !== this.iqt) {
      const d = this.out.mem.read(base + this.iqh * 16, 16);
      if (!d) { this.queueError(`descriptor ${this.iqh} at ${hex(base + this.iqh * 16)} is outside RAM`); return; }
      if (!this.descriptor(dw(d, 0), dw(d, 1), dw(d, 2), dw(d, 3))) return;
      this.iqh = (this.iqh + 1) % entries;
    }
  }

  /** One 128-bit descriptor (spec §6.5.2). False: a queue error was raised. */
  private descriptor(lo0: number, lo1: number, hi0: number, hi1: number): boolean {
    const type = lo0 & 0xf;
    switch (type) {
      case 1: // context-cache invalidate: nothing cached
        if (lo0 & 0xffc0 || lo1 & 0xfffc0000 || hi0 || hi1) { this.queueError('context-cache descriptor with reserved bits set'); return false; }
        return true;
      case 2: // IOTLB invalidate: nothing cached
        if (lo0 & 0xff00 || lo1 & 0xffff0000 || hi0 & 0xf80) { this.queueError('IOTLB descriptor with reserved bits set'); return false; }
        return true;
      case 4: { // interrupt-entry-cache invalidate
        if (lo0 & 0x07ff_ffe0 || lo1 & 0xffff0000 || hi0 || hi1) { this.queueError('interrupt-entry-cache descriptor with reserved bits set'); return false; }
        const indexSelective = (lo0 & (1 << 4)) !== 0;
        if (!indexSelective) { this.out.onIecInvalidate?.(0, 0xffff, true); return true; }
        const im = (lo0 >>> 27) & 0x1f;
        const index = lo1 & 0xffff;
        if (im > 16) { this.queueError(`interrupt-entry-cache index mask ${im}`); return false; }
        const span = 2 ** im;
        const first = index - (index % span);
        this.out.onIecInvalidate?.(first, Math.min(0xffff, first + span - 1), false);
        return true;
      }
      case 5: { // invalidation wait
        if (lo0 & 0xffff_ff80 || hi0 & 3) { this.queueError('wait descriptor with reserved bits set'); return false; }
        if (lo0 & (1 << 5)) {
          const status = new Uint8Array(4);
          new DataView(status.buffer).setUint32(0, lo1, true);
          if (!this.out.mem.write(u64(hi0 & ~3, hi1), status)) { this.queueError('wait descriptor status address outside RAM'); return false; }
        }
        if (lo0 & (1 << 4)) {
          this.ics |= 1;
          if (this.iectl & FECTL_IM) this.iectl |= FECTL_IP;
          else this.out.sendMsi({ addressLo: this.ieaddr, addressHi: this.ieuaddr, data: this.iedata });
        }
        return true;
      }
      default:
        this.queueError(`descriptor type ${type} is not supported`);
        return false;
    }
  }

  // ---- interrupt remapping ------------------------------------------------

  /**
   * Translates an interrupt request (spec §5.1.4). `deliverNow`: the
   * interrupt is being delivered, so a fault is recorded (unless the IRTE's
   * FPD says not to); otherwise (a speculative translation) nothing is.
   */
  translate(message: MsiMessage, sourceId: number, deliverNow: boolean): Translation {
    if (!this.remappingEnabled) return { ok: true, msi: { ...message }, irte: null };
    const fault = (reason: number, index: number, fpd = false): Translation => {
      if (deliverNow && !fpd) this.recordFault({ reason, sourceId, info: index * 2 ** 48, read: false });
      return { ok: false, reason: `VT-d fault 0x${reason.toString(16)}` };
    };
    const d = decodeMsi(message);
    if (d.format === 'compat') {
      return this.gsts & GCMD_CFI ? { ok: true, msi: { ...message }, irte: null } : fault(FaultReason.IR_COMPAT_BLOCKED, 0);
    }
    if (message.addressHi !== 0) return fault(FaultReason.IR_REQUEST_RESERVED, d.index);
    const index = d.index;
    if (index >= this.irtEntries) return fault(FaultReason.IR_INDEX_BEYOND_TABLE, index);
    const e = this.out.mem.read(this.irtBase + index * 16, 16);
    if (!e) return fault(FaultReason.IR_TABLE_INVALID, index);
    const lo = dw(e, 0);
    const dst = dw(e, 1);
    const sidWord = dw(e, 2);
    const hi1 = dw(e, 3);
    const fpd = (lo & 2) !== 0;
    if (!(lo & 1)) return fault(FaultReason.IR_ENTRY_NOT_PRESENT, index, fpd);
    // Reserved: bits 14:12 and 31:24, IM (15: posted, not offered), xAPIC destination bits 7:0 and
    // 31:16 of the DST field, and bits 127:84 of the high quadword.
    if (lo & 0xff00_f000 || dst & 0xffff_00ff || sidWord & 0xfff0_0000 || hi1) return fault(FaultReason.IR_ENTRY_RESERVED, index, fpd);
    const sid = sidWord & 0xffff;
    const sq = (sidWord >>> 16) & 3;
    const svt = (sidWord >>> 18) & 3;
    if (svt === 1) {
      const mask = [0xffff, 0xfffb, 0xfff9, 0xfff8][sq]!;
      if ((sourceId & mask) !== (sid & mask)) return fault(FaultReason.IR_SOURCE_ID, index, fpd);
    } else if (svt === 2) {
      const bus = (sourceId >>> 8) & 0xff;
      if (bus < ((sid >>> 8) & 0xff) || bus > (sid & 0xff)) return fault(FaultReason.IR_SOURCE_ID, index, fpd);
    } else if (svt === 3) {
      return fault(FaultReason.IR_ENTRY_RESERVED, index, fpd);
    }
    const destination = (dst >>> 8) & 0xff;
    const addressLo = (0xfee0_0000 | (destination << 12) | (((lo >>> 3) & 1) << 3) | (((lo >>> 2) & 1) << 2)) >>> 0;
    const level = (lo >>> 4) & 1;
    const data = ((lo >>> 16) & 0xff) | (((lo >>> 5) & 7) << 8) | (1 << 14) | (level << 15);
    return { ok: true, msi: { addressLo, addressHi: 0, data }, irte: index };
  }

  // ---- DMA remapping ------------------------------------------------------

  /**
   * Translates a device's DMA to `address` (spec §3.4-3.6, legacy mode):
   * root entry → context entry → 3-level second-level table. Faults are
   * recorded (unless the context entry's FPD says not to). With
   * translation off, addresses pass through.
   */
  translateDma(sourceId: number, address: number, write: boolean): DmaTranslation {
    if (!this.translationEnabled) return { ok: true, address };
    const read = !write;
    let fpd = false;
    const fault = (reason: number): DmaTranslation => {
      if (!fpd) this.recordFault({ reason, sourceId, info: address - (address % 4096), read });
      return { ok: false, reason };
    };
    const bus = (sourceId >>> 8) & 0xff;
    const devfn = sourceId & 0xff;
    const root = this.out.mem.read(this.rootTable + bus * 16, 16);
    if (!root) return fault(FaultReason.ROOT_TABLE_INVALID);
    if (!(dw(root, 0) & 1)) return fault(FaultReason.ROOT_ENTRY_NOT_PRESENT);
    const ctxTable = u64(dw(root, 0) & ~0xfff, dw(root, 1));
    const ctx = this.out.mem.read(ctxTable + devfn * 16, 16);
    if (!ctx) return fault(FaultReason.CONTEXT_TABLE_INVALID);
    const c0 = dw(ctx, 0);
    fpd = (c0 & 2) !== 0;
    if (!(c0 & 1)) return fault(FaultReason.CONTEXT_ENTRY_NOT_PRESENT);
    const tt = (c0 >>> 2) & 3;
    const aw = dw(ctx, 2) & 7;
    if (tt === 2) return address < 2 ** ADDRESS_WIDTH ? { ok: true, address } : fault(FaultReason.ADDRESS_BEYOND_MGAW);
    if (tt === 3 || aw !== 1) return fault(FaultReason.CONTEXT_ENTRY_INVALID);
    if (address >= 2 ** ADDRESS_WIDTH) return fault(FaultReason.ADDRESS_BEYOND_MGAW);
    let table = u64(c0 & ~0xfff, dw(ctx, 1));
    for (let level = 3; level >= 1; level--) {
      const shift = 12 + 9 * (level - 1);
      const index = Math.floor(address / 2 ** shift) % 512;
      const e = this.out.mem.read(table + index * 8, 8);
      if (!e) return fault(FaultReason.PAGING_ENTRY_INVALID);
      const lo = dw(e, 0);
      const hi = dw(e, 1);
      if (!(lo & (write ? 2 : 1))) return fault(write ? FaultReason.WRITE : FaultReason.READ);
      const large = level > 1 && (lo & 0x80) !== 0;
      // Reserved: bits 51:39, bit 11 (snoop: ECAP.SC is 0), and bit 7 in a last-level table.
      if (hi & 0x000f_ff80 || lo & 0x800 || (level === 1 && lo & 0x80)) return fault(FaultReason.PAGING_ENTRY_RESERVED);
      const next = u64(lo & ~0xfff, hi & 0x7f);
      if (large || level === 1) {
        const pageSize = 2 ** shift;
        if (next % pageSize !== 0) return fault(FaultReason.PAGING_ENTRY_RESERVED);
        return { ok: true, address: next + (address % pageSize) };
      }
      table = next;
    }
    return fault(FaultReason.PAGING_ENTRY_INVALID);
  }

  /** The fault-recording register, decoded (null when no fault is recorded). */
  get recordedFault(): VtdFault | null {
    if (!(this.frcd[3]! & (1 << 31))) return null;
    return { reason: this.frcd[3]! & 0xff, sourceId: this.frcd[2]! & 0xffff, info: u64(this.frcd[0]!, this.frcd[1]!), read: (this.frcd[3]! & (1 << 30)) !== 0 };
  }
}

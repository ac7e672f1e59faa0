/**
 * The CPU's architectural state and its view of guest physical memory.
 *
 * Memory: the region at GPA 0 (when there is one) is the fast path, read
 * and written through a DataView after one unsigned compare; every other
 * access goes through `rdSlow`/`wrSlow`, which find the region or turn the
 * access into an exit (MMIO, like an EPT violation on an unbacked GPA).
 * Linear address = physical address: paging is not modelled (cpu.ts).
 *
 * Exits and re-execution: an external read (port `in`, MMIO read) records
 * the exit and throws ABORT; run() returns the exit with EIP still at the
 * instruction, and on resume the instruction runs again and the value the
 * caller wrote into the exit's data is consumed by the same read ("replay").
 * External writes (port `out`, MMIO write) are queued as exits and returned
 * once the instruction retires; writes already reported by an aborted
 * attempt are not reported again by the next attempt.
 */
import { ABORT, CS, DS, ES, FAULT, FS, GS, SS } from './consts.js';
import type { CpuExit, CpuHooks, CpuOptions, InterruptSource, MemoryRegionMap, SegmentState } from './types.js';

export function makeSegment(selector: number, base: number, limit: number, type: number, s = 1): SegmentState {
  return { selector, base, limit, type, present: 1, dpl: 0, db: 0, s, l: 0, g: 0, avl: 0, unusable: 0 };
}

interface Region { gpa: number; end: number; bytes: Uint8Array; readonly: boolean }

const EMPTY = new Uint8Array(8);

export class CpuState {
  // ---- registers -------------------------------------------------------------------------
  /** EAX ECX EDX EBX ESP EBP ESI EDI (encoding order), as int32. */
  readonly r = new Int32Array(8);
  /** EIP as int32 (the fast path keeps it in a local while it runs). */
  eip = 0;
  /** EIP at the start of the current instruction (faults and aborts rewind to it). */
  start = 0;

  /**
   * EFLAGS. Bits other than the six arithmetic flags always live here; the
   * arithmetic ones live here only while `fop` is 0 (flags.ts).
   */
  eflags = 2;
  /** Lazy flags: (kind << 2) | size code, 0 = eager. */
  fop = 0;
  /** Lazy flags: the result, shifted left so the operand's sign bit is bit 31. */
  fres = 0;
  /** Lazy flags: the source operand, shifted the same way (or explicit CF/AF/OF bits). */
  fsrc = 0;

  // ---- segments and system registers ---------------------------------------------------------
  /** Hidden caches of ES CS SS DS FS GS. */
  readonly segs: SegmentState[] = [
    makeSegment(0, 0, 0xffff, 3), makeSegment(0xf000, 0xffff0000, 0xffff, 0xb), makeSegment(0, 0, 0xffff, 3),
    makeSegment(0, 0, 0xffff, 3), makeSegment(0, 0, 0xffff, 3), makeSegment(0, 0, 0xffff, 3),
  ];
  /** Segment bases (int32), mirrored from `segs` for address computation. */
  readonly segBase = new Int32Array([0, 0xffff0000 | 0, 0, 0, 0, 0]);
  tr: SegmentState = makeSegment(0, 0, 0xffff, 0xb, 0);
  ldt: SegmentState = makeSegment(0, 0, 0xffff, 2, 0);
  gdtBase = 0;
  gdtLimit = 0xffff;
  idtBase = 0;
  idtLimit = 0xffff;
  cr0 = 0x60000010;
  cr2 = 0;
  cr3 = 0;
  cr4 = 0;
  efer = 0;
  /** TSC = retired instructions + this offset (WRMSR 0x10 moves it). */
  tscOffset = 0;

  // ---- modes (derived from CR0, CS, SS; see updateModes) ------------------------------------
  pe = false;
  code32 = false;
  stack32 = false;
  /** Protected mode, 32-bit code and stack, CS/DS/ES/SS bases 0: the fast path may run. */
  flat = false;

  // ---- run state --------------------------------------------------------------------------------
  halted = false;
  /** Retired instructions: the sim's clock. */
  instructions = 0;
  /** Instructions retired so far in the current run() (so RDTSC can read the clock mid-run). */
  curN = 0;
  /** Non-zero: the run loop must look at interrupts/exits/modes before the next instruction. */
  attention = 1;
  irqCheck = true;
  /** STI / MOV SS interrupt shadow: the next instruction runs before interrupts are looked at. */
  shadow = false;
  shutdownState = false;
  nmiPending = false;
  /** Between an NMI's delivery and the next IRET. */
  nmiBlocked = false;
  readonly injected: number[] = [];
  source: InterruptSource | null = null;
  windowRequested = false;

  // ---- memory ---------------------------------------------------------------------------------------
  ram: Uint8Array = EMPTY.subarray(0, 0);
  dv: DataView = new DataView(EMPTY.buffer, 0, 0);
  /** Fast-path limits: an access of N bytes at unsigned address u is in RAM iff u < rlN (wlN for writes). */
  rl1 = 0; rl2 = 0; rl4 = 0;
  wl1 = 0; wl2 = 0; wl4 = 0;
  regions: Region[] = [];

  // ---- exits and replay -------------------------------------------------------------------------
  readonly exits: CpuExit[] = [];
  /** The data of the read exit run() returned last (its completion is pending), or null. */
  awaiting: Uint8Array | null = null;
  awaitingSize = 0;
  readonly rvals = new Int32Array(16);
  /** External reads answered so far for the instruction being re-executed, and the next one to consume. */
  rcount = 0;
  ridx = 0;
  /** External writes reported by earlier attempts of this instruction (skipped), and seen in this attempt. */
  wskip = 0;
  wdone = 0;
  private readonly scratch = new Uint8Array(64);
  private readonly scratchViews: Uint8Array[] = [];

  // ---- exceptions -----------------------------------------------------------------------------------
  faultVector = 0;
  faultCode = -1;

  readonly hooks: CpuHooks;
  readonly fastPath: boolean;

  constructor(hooks: CpuHooks = {}, options: CpuOptions = {}) {
    this.hooks = hooks;
    this.fastPath = options.fastPath ?? true;
    for (let i = 0; i <= 16; i++) this.scratchViews.push(this.scratch.subarray(0, i));
    this.r[2] = 0x600; // EDX after reset: the CPU signature (family 6)
    this.eip = 0xfff0;
  }

  /** Raises CPU exception `vector` (error code `code`, -1 for none) for the current instruction. */
  fault(vector: number, code = -1): never {
    this.faultVector = vector;
    this.faultCode = code;
    throw FAULT;
  }

  // ---- modes ------------------------------------------------------------------------------------------

  updateModes(): void {
    this.pe = (this.cr0 & 1) !== 0;
    this.code32 = this.pe && this.segs[CS]!.db === 1;
    this.stack32 = this.pe && this.segs[SS]!.db === 1;
    const b = this.segBase;
    this.flat = this.fastPath && this.code32 && this.stack32 &&
      (b[CS]! | b[DS]! | b[ES]! | b[SS]!) === 0;
    this.attention = 1;
  }

  /** Replaces segment `i`'s hidden cache (keeps the base mirror and modes in sync). */
  setSegment(i: number, s: SegmentState): void {
    this.segs[i] = s;
    this.segBase[i] = s.base | 0;
    if (i === CS || i === SS || i === DS || i === ES) this.updateModes();
  }

  // ---- memory map --------------------------------------------------------------------------------------

  setMemoryMap(regions: readonly MemoryRegionMap[]): void {
    this.regions = regions
      .filter((r) => r.bytes.length > 0)
      .map((r) => ({ gpa: r.gpa, end: r.gpa + r.bytes.length, bytes: r.bytes, readonly: r.readonly }))
      .sort((a, b) => a.gpa - b.gpa);
    const low = this.regions.find((r) => r.gpa === 0);
    const len = low ? Math.min(low.bytes.length, 0x8000_0000) : 0;
    this.ram = low ? low.bytes : EMPTY.subarray(0, 0);
    this.dv = new DataView(this.ram.buffer, this.ram.byteOffset, this.ram.byteLength);
    this.rl1 = len;
    this.rl2 = Math.max(0, len - 1);
    this.rl4 = Math.max(0, len - 3);
    const wlen = low && !low.readonly ? len : 0;
    this.wl1 = wlen;
    this.wl2 = Math.max(0, wlen - 1);
    this.wl4 = Math.max(0, wlen - 3);
  }

  private regionAt(u: number): Region | undefined {
    const rs = this.regions;
    for (let i = 0; i < rs.length; i++) {
      const r = rs[i]!;
      if (u >= r.gpa && u < r.end) return r;
    }
    return undefined;
  }

  // ---- memory access (linear = physical) --------------------------------------------------------------

  rd8(a: number): number {
    const u = a >>> 0;
    return u < this.rl1 ? this.ram[u]! : this.rdSlow(u, 1);
  }

  rd16(a: number): number {
    const u = a >>> 0;
    return u < this.rl2 ? this.dv.getUint16(u, true) : this.rdSlow(u, 2);
  }

  /** Returns an int32. */
  rd32(a: number): number {
    const u = a >>> 0;
    return u < this.rl4 ? this.dv.getInt32(u, true) : this.rdSlow(u, 4);
  }

  wr8(a: number, v: number): void {
    const u = a >>> 0;
    if (u < this.wl1) this.ram[u] = v;
    else this.wrSlow(u, 1, v);
  }

  wr16(a: number, v: number): void {
    const u = a >>> 0;
    if (u < this.wl2) this.dv.setUint16(u, v, true);
    else this.wrSlow(u, 2, v);
  }

  wr32(a: number, v: number): void {
    const u = a >>> 0;
    if (u < this.wl4) this.dv.setInt32(u, v, true);
    else this.wrSlow(u, 4, v);
  }

  /** Reads `size` bytes at `sz` code (0: 32, 1: 16, 2: 8). */
  rd(sz: number, a: number): number {
    return sz === 0 ? this.rd32(a) : sz === 1 ? this.rd16(a) : this.rd8(a);
  }

  wr(sz: number, a: number, v: number): void {
    if (sz === 0) this.wr32(a, v);
    else if (sz === 1) this.wr16(a, v);
    else this.wr8(a, v);
  }

  /**
   * Any access the fast path did not take: another region, a readonly
   * region, MMIO, or an access that straddles regions (split into runs of
   * bytes that are each RAM or each MMIO, in address order).
   */
  rdSlow(u: number, size: number): number {
    let v = 0;
    let i = 0;
    while (i < size) {
      const addr = (u + i) >>> 0;
      const r = this.regionAt(addr);
      if (r) {
        v |= r.bytes[addr - r.gpa]! << (8 * i);
        i++;
        continue;
      }
      let n = 1;
      while (i + n < size && !this.regionAt((u + i + n) >>> 0)) n++;
      const x = this.extRead(false, addr, n);
      v |= (n === 4 ? x : x & ((1 << (8 * n)) - 1)) << (8 * i);
      i += n;
    }
    return size === 4 ? v | 0 : v >>> 0;
  }

  wrSlow(u: number, size: number, v: number): void {
    let i = 0;
    while (i < size) {
      const addr = (u + i) >>> 0;
      const r = this.regionAt(addr);
      if (r && !r.readonly) {
        r.bytes[addr - r.gpa] = v >>> (8 * i);
        i++;
        continue;
      }
      let n = 1;
      while (i + n < size) {
        const q = this.regionAt((u + i + n) >>> 0);
        if (q && !q.readonly) break;
        n++;
      }
      this.extWrite(false, addr, n, i === 0 ? v : v >>> (8 * i));
      i += n;
    }
  }

  /** Reads RAM for the CPU's own structures (GDT, IDT): what is not RAM reads as zeros (no exit). */
  sysRd32(a: number): number {
    const u = a >>> 0;
    if (u < this.rl4) return this.dv.getInt32(u, true);
    let v = 0;
    for (let i = 0; i < 4; i++) {
      const r = this.regionAt((u + i) >>> 0);
      if (r) v |= r.bytes[((u + i) >>> 0) - r.gpa]! << (8 * i);
    }
    return v;
  }

  /** Instruction bytes from outside the low region. Fetching from MMIO is an emulation failure on KVM: shutdown. */
  fetchSlow(u: number): number {
    const r = this.regionAt(u);
    if (!r) {
      this.shutdownState = true;
      this.attention = 1;
      this.fault(-1);
    }
    return r.bytes[u - r.gpa]!;
  }

  // ---- exits ----------------------------------------------------------------------------------------------

  private exitData(size: number): Uint8Array {
    // The first exit of an instruction uses the reused scratch buffer; more (rare) get their own.
    return this.exits.length === 0 ? this.scratchViews[size]! : new Uint8Array(size);
  }

  /** A port or MMIO read: the value from the replay list, or an exit and ABORT. */
  extRead(isIo: boolean, addr: number, size: number): number {
    if (this.ridx < this.rcount) return this.rvals[this.ridx++]!;
    const data = this.exitData(size);
    data.fill(0);
    this.awaiting = data;
    this.awaitingSize = size;
    if (isIo) this.exits.push({ kind: 'io', direction: 'in', port: addr, size: size as 1 | 2 | 4, count: 1, data });
    else this.exits.push({ kind: 'mmio', isWrite: false, address: addr, size, data });
    this.wskip = this.wdone;
    throw ABORT;
  }

  /** A port or MMIO write: queued as an exit, reported after the instruction retires. */
  extWrite(isIo: boolean, addr: number, size: number, v: number): void {
    if (this.wdone++ < this.wskip) return;
    const data = this.exitData(size);
    for (let i = 0; i < size; i++) data[i] = i < 4 ? v >>> (8 * i) : 0;
    if (isIo) this.exits.push({ kind: 'io', direction: 'out', port: addr, size: size as 1 | 2 | 4, count: 1, data });
    else this.exits.push({ kind: 'mmio', isWrite: true, address: addr, size, data });
    this.attention = 1;
  }

  /** Takes the answer of the pending read exit into the replay list (run() calls this on resume). */
  completeRead(): void {
    const d = this.awaiting!;
    let v = 0;
    for (let i = this.awaitingSize - 1; i >= 0; i--) v = (v << 8) | d[i]!;
    this.rvals[this.rcount++] = v;
    this.awaiting = null;
  }

  /** Forgets the replay state once an instruction retired or faulted. */
  clearReplay(): void {
    this.rcount = 0;
    this.ridx = 0;
    this.wskip = 0;
    this.wdone = 0;
  }
}

export const SEGMENT_ORDER = [ES, CS, SS, DS, FS, GS] as const;

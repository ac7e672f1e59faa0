/**
 * The sim's x86 interpreter: 32-bit protected mode (flat or segmented,
 * paging off) plus the real mode and 16-bit forms an AP start needs.
 * Exits follow KVM's rules: port I/O and MMIO stop the CPU with the
 * access described; `in` and MMIO reads complete on the next run() with
 * the data the VMM wrote into the exit. Deterministic: time is the
 * retired-instruction count.
 *
 * Deviations (documented, none used by the guests): no paging (setting
 * CR0.PG ends the run with a shutdown, as this host's KVM does for 32-bit
 * paging), no segment limit or privilege checks beyond present/null
 * selectors, CPL 0 only, no FPU/SSE (#UD), no task gates, no BCD opcodes
 * (#UD). An instruction that writes MMIO and then reads MMIO repeats the
 * write when it is re-executed after the read exit.
 */
import { DF, Flags, IF, Op, TF, WRITABLE, maskOf, parity } from './flags.js';
import type { CpuExit, CpuHooks, CpuRegs, CpuSregs, InterruptSource, MemoryRegionMap, SegmentState } from './types.js';

const ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5;
const SEG_NAMES = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'] as const;

/** A CPU exception raised while executing an instruction. */
class Fault {
  constructor(readonly vector: number, readonly code: number | undefined) {}
}
/** Thrown to abandon an instruction at an MMIO read; it re-executes on resume. */
const MMIO_READ = Symbol('mmio-read');

const UD = 6, DE = 0, GP = 13, NP = 11, SSF = 12, DF_VEC = 8, NMI = 2;

/** Exceptions that push an error code. */
const HAS_ERROR_CODE = new Set([8, 10, 11, 12, 13, 14, 17, 21]);

function seg(selector = 0, base = 0, limit = 0xffff, type = 3): SegmentState {
  return { selector, base, limit, type, present: 1, dpl: 0, db: 0, s: 1, l: 0, g: 0, avl: 0, unusable: 0 };
}

/** The 64-bit product of two uint32s, low and high halves in `mulOut` (no allocation on the hot path). */
const mulOut = new Uint32Array(2);
function mul32(a: number, b: number): void {
  const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  mulOut[0] = ((mid & 0xffff) << 16) | (p00 & 0xffff);
  mulOut[1] = p11 + (p01 >>> 16) + (p10 >>> 16) + Math.floor(mid / 65536);
}

const msbOf = (v: number, bits: number): boolean => ((v >>> (bits - 1)) & 1) === 1;

const signExtend = (v: number, bits: number): number => (bits === 32 ? v | 0 : (v << (32 - bits)) >> (32 - bits));

export class X86Cpu {
  /** EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI (x86 encoding order). */
  readonly r = new Int32Array(8);
  eip = 0;
  readonly flags = new Flags();
  private readonly segs: SegmentState[] = [seg(), seg(0xf000, 0xffff0000, 0xffff, 0xb), seg(), seg(), seg(), seg()];
  /** Segment bases as int32 (wrapped): every use adds an offset and applies >>> 0, and loads stay integer. */
  private readonly segBase = Int32Array.of(0, 0xffff0000 | 0, 0, 0, 0, 0);
  private tr: SegmentState = { ...seg(), type: 0xb, s: 0 };
  private ldt: SegmentState = { ...seg(), type: 2, s: 0 };
  private gdtBase = 0;
  private gdtLimit = 0xffff;
  private idtBase = 0;
  private idtLimit = 0xffff;
  cr0 = 0x60000010;
  cr2 = 0;
  cr3 = 0;
  cr4 = 0;
  efer = 0;
  halted = false;
  /** Retired instructions: the sim's clock. */
  instructions = 0;

  // Memory: a fast path for the region at GPA 0, a list for the rest.
  private ram: Uint8Array = new Uint8Array(0);
  private dv = new DataView(this.ram.buffer);
  private ramEnd = 0;
  private ramWritableEnd = 0;
  private regions: MemoryRegionMap[] = [];

  // Decode state of the current instruction.
  private start = 0;
  private o16 = false;
  private a16 = false;
  private segOv = -1;
  private rep = 0;
  private mReg = 0;
  private mIsReg = false;
  private mRm = 0;
  private mAddr = 0;
  /** The effective address before the segment base is added (what LEA loads). */
  private mOffset = 0;
  private code32 = false;
  /** The last instruction had prefixes: its decode state must be reset. */
  private prefixed = true;
  private stack32 = false;

  // Exits.
  private readonly pending: CpuExit[] = [];
  private ioIn: { exit: { data: Uint8Array }; size: number; string: boolean } | null = null;
  /** MMIO reads the current instruction has already completed (consumed in order on re-execution). */
  private mmioDone: { addr: number; size: number; value: number }[] = [];
  private mmioIdx = 0;
  private mmioWaiting: { addr: number; size: number; data: Uint8Array } | null = null;
  private shutdown = false;
  /** Set whenever the current instruction produced an exit, halted, shut down or consumed a completed MMIO read. */
  private stopNow = false;

  // Interrupts.
  private irqCheck = false;
  private shadow = false;
  private nmiPending = false;
  private readonly injected: number[] = [];
  private source: InterruptSource | null = null;
  private delivering = 0;

  constructor(private readonly hooks: CpuHooks) {
    this.flags.value = 2;
    this.updateModes();
  }

  // ---- state ---------------------------------------------------------------

  getRegs(): CpuRegs {
    const r = this.r;
    return {
      rax: r[0]! >>> 0, rcx: r[1]! >>> 0, rdx: r[2]! >>> 0, rbx: r[3]! >>> 0,
      rsp: r[4]! >>> 0, rbp: r[5]! >>> 0, rsi: r[6]! >>> 0, rdi: r[7]! >>> 0,
      rip: this.eip >>> 0, rflags: this.flags.value,
    };
  }

  setRegs(v: CpuRegs): void {
    const r = this.r;
    r[0] = v.rax; r[1] = v.rcx; r[2] = v.rdx; r[3] = v.rbx; r[4] = v.rsp; r[5] = v.rbp; r[6] = v.rsi; r[7] = v.rdi;
    this.eip = v.rip >>> 0;
    this.flags.value = v.rflags;
    this.irqCheck = true;
  }

  getSregs(): CpuSregs {
    return {
      es: { ...this.segs[ES]! }, cs: { ...this.segs[CS]! }, ss: { ...this.segs[SS]! }, ds: { ...this.segs[DS]! },
      fs: { ...this.segs[FS]! }, gs: { ...this.segs[GS]! }, tr: { ...this.tr }, ldt: { ...this.ldt },
      gdt: { base: this.gdtBase, limit: this.gdtLimit }, idt: { base: this.idtBase, limit: this.idtLimit },
      cr0: this.cr0 >>> 0, cr2: this.cr2 >>> 0, cr3: this.cr3 >>> 0, cr4: this.cr4 >>> 0, efer: this.efer >>> 0,
    };
  }

  setSregs(s: CpuSregs): void {
    SEG_NAMES.forEach((n, i) => {
      this.segs[i] = { ...s[n] };
      this.segBase[i] = s[n].base | 0;
    });
    this.tr = { ...s.tr };
    this.ldt = { ...s.ldt };
    this.gdtBase = s.gdt.base >>> 0;
    this.gdtLimit = s.gdt.limit;
    this.idtBase = s.idt.base >>> 0;
    this.idtLimit = s.idt.limit;
    this.cr0 = s.cr0 >>> 0;
    this.cr2 = s.cr2 >>> 0;
    this.cr3 = s.cr3 >>> 0;
    this.cr4 = s.cr4 >>> 0;
    this.efer = s.efer >>> 0;
    this.updateModes();
  }

  private get protectedMode(): boolean { return (this.cr0 & 1) === 1; }

  private updateModes(): void {
    this.prefixed = true;
    this.code32 = this.protectedMode && this.segs[CS]!.db === 1;
    this.stack32 = this.protectedMode && this.segs[SS]!.db === 1;
  }

  setMemoryMap(regions: MemoryRegionMap[]): void {
    this.regions = regions.map((r) => ({ ...r }));
    const low = this.regions.find((r) => r.gpa === 0);
    this.ram = low ? low.bytes : new Uint8Array(0);
    this.dv = new DataView(this.ram.buffer, this.ram.byteOffset, this.ram.byteLength);
    this.ramEnd = this.ram.length;
    this.ramWritableEnd = low && !low.readonly ? this.ram.length : 0;
  }

  /** What a SIPI does: real mode at `address` (CS = address >> 4, IP = 0), running. */
  startAt(address: number): void {
    const s = this.getSregs();
    const sel = (address >>> 4) & 0xffff;
    this.setSregs({ ...s, cs: { ...s.cs, selector: sel, base: sel << 4, limit: 0xffff, db: 0 }, cr0: s.cr0 & ~1 });
    this.eip = 0;
    this.halted = false;
  }

  setInterruptSource(src: InterruptSource | null): void {
    this.source = src;
    this.irqCheck = true;
  }

  /** Asks the CPU to look at its interrupt source at the next instruction boundary. */
  requestInterruptCheck(): void { this.irqCheck = true; }

  /** KVM_INTERRUPT: queue an external interrupt, delivered when IF=1. */
  injectInterrupt(vector: number): void {
    this.injected.push(vector & 0xff);
    this.irqCheck = true;
  }

  injectNmi(): void {
    this.nmiPending = true;
    this.irqCheck = true;
  }

  // ---- memory ----------------------------------------------------------------

  private region(addr: number, size: number): MemoryRegionMap | undefined {
    for (const r of this.regions) if (addr >= r.gpa && addr + size <= r.gpa + r.bytes.length) return r;
    return undefined;
  }

  private slowRead(addr: number, size: number): number {
    const r = this.region(addr, size);
    if (r) {
      let v = 0;
      for (let i = size - 1; i >= 0; i--) v = (v * 256) + r.bytes[addr - r.gpa + i]!;
      return v >>> 0;
    }
    const done = this.mmioDone[this.mmioIdx];
    if (done && done.addr === addr && done.size === size) {
      this.mmioIdx++;
      this.stopNow = true; // so the loop forgets the completed reads once this instruction retires
      return done.value;
    }
    const data = new Uint8Array(size);
    this.mmioWaiting = { addr, size, data };
    this.pending.push({ kind: 'mmio', isWrite: false, address: addr, size, data });
    this.stopNow = true;
    throw MMIO_READ;
  }

  private slowWrite(addr: number, size: number, v: number): void {
    const r = this.region(addr, size);
    if (r && !r.readonly) {
      for (let i = 0; i < size; i++) r.bytes[addr - r.gpa + i] = (v >>> (8 * i)) & 0xff;
      return;
    }
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i++) data[i] = (v >>> (8 * i)) & 0xff;
    this.pending.push({ kind: 'mmio', isWrite: true, address: addr, size, data });
    this.stopNow = true;
  }

  rd8(a: number): number { return a < this.ramEnd ? this.ram[a]! : this.slowRead(a, 1); }
  rd16(a: number): number { return a + 1 < this.ramEnd ? this.dv.getUint16(a, true) : this.slowRead(a, 2); }
  rd32(a: number): number { return a + 3 < this.ramEnd ? this.dv.getInt32(a, true) : this.slowRead(a, 4) | 0; }
  wr8(a: number, v: number): void { if (a < this.ramWritableEnd) this.ram[a] = v; else this.slowWrite(a, 1, v); }
  wr16(a: number, v: number): void { if (a + 1 < this.ramWritableEnd) this.dv.setUint16(a, v, true); else this.slowWrite(a, 2, v); }
  wr32(a: number, v: number): void { if (a + 3 < this.ramWritableEnd) this.dv.setUint32(a, v >>> 0, true); else this.slowWrite(a, 4, v); }

  private rd(bits: number, a: number): number { return bits === 32 ? this.rd32(a) : bits === 16 ? this.rd16(a) : this.rd8(a); }
  private wr(bits: number, a: number, v: number): void {
    if (bits === 32) this.wr32(a, v); else if (bits === 16) this.wr16(a, v); else this.wr8(a, v);
  }

  // ---- fetch and decode -------------------------------------------------------

  private fetch8(): number {
    const a = (this.segBase[CS]! + this.eip) >>> 0;
    this.eip = (this.eip + 1) >>> 0;
    return a < this.ramEnd ? this.ram[a]! : this.fetchSlow(a, 1);
  }

  private fetch16(): number {
    const a = (this.segBase[CS]! + this.eip) >>> 0;
    this.eip = (this.eip + 2) >>> 0;
    return a + 1 < this.ramEnd ? this.dv.getUint16(a, true) : this.fetchSlow(a, 2);
  }

  private fetch32(): number {
    const a = (this.segBase[CS]! + this.eip) >>> 0;
    this.eip = (this.eip + 4) >>> 0;
    return a + 3 < this.ramEnd ? this.dv.getInt32(a, true) : this.fetchSlow(a, 4) | 0;
  }

  private fetchSlow(a: number, size: number): number {
    const r = this.region(a, size);
    // Executing from MMIO is not something KVM can do either: #GP.
    if (!r) throw new Fault(GP, 0);
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + r.bytes[a - r.gpa + i]!;
    return v >>> 0;
  }

  private fetchImm(bits: number): number { return bits === 32 ? this.fetch32() : bits === 16 ? this.fetch16() : this.fetch8(); }

  private modrm(): void {
    this.modrmFrom(this.fetch8());
  }

  /** Decodes a ModRM byte already fetched (and its SIB/displacement bytes). */
  private modrmFrom(m: number): void {
    const mod = m >> 6;
    const rm = m & 7;
    this.mReg = (m >> 3) & 7;
    if (mod === 3) {
      this.mIsReg = true;
      this.mRm = rm;
      return;
    }
    this.mIsReg = false;
    const r = this.r;
    let ea: number;
    let sg = DS;
    if (this.a16) {
      switch (rm) {
        case 0: ea = r[3]! + r[6]!; break;
        case 1: ea = r[3]! + r[7]!; break;
        case 2: ea = r[5]! + r[6]!; sg = SS; break;
        case 3: ea = r[5]! + r[7]!; sg = SS; break;
        case 4: ea = r[6]!; break;
        case 5: ea = r[7]!; break;
        case 6: if (mod === 0) ea = this.fetch16(); else { ea = r[5]!; sg = SS; } break;
        default: ea = r[3]!; break;
      }
      if (mod === 1) ea += (this.fetch8() << 24) >> 24;
      else if (mod === 2) ea += this.fetch16();
      ea &= 0xffff;
    } else {
      if (rm === 4) {
        const sib = this.fetch8();
        const idx = (sib >> 3) & 7;
        const base = sib & 7;
        ea = idx === 4 ? 0 : r[idx]! << (sib >> 6);
        if (base === 5 && mod === 0) ea += this.fetch32();
        else {
          ea += r[base]!;
          if (base === 4 || base === 5) sg = SS;
        }
      } else if (rm === 5 && mod === 0) {
        ea = this.fetch32();
      } else {
        ea = r[rm]!;
        if (rm === 5) sg = SS;
      }
      if (mod === 1) ea += (this.fetch8() << 24) >> 24;
      else if (mod === 2) ea += this.fetch32();
    }
    if (this.segOv >= 0) sg = this.segOv;
    this.mOffset = ea >>> 0;
    this.mAddr = (ea + this.segBase[sg]!) >>> 0;
  }

  // ---- registers ----------------------------------------------------------------

  private getReg(bits: number, i: number): number {
    if (bits === 32) return this.r[i]!;
    if (bits === 16) return this.r[i]! & 0xffff;
    return i < 4 ? this.r[i]! & 0xff : (this.r[i - 4]! >> 8) & 0xff;
  }

  private setReg(bits: number, i: number, v: number): void {
    if (bits === 32) this.r[i] = v;
    else if (bits === 16) this.r[i] = (this.r[i]! & ~0xffff) | (v & 0xffff);
    else if (i < 4) this.r[i] = (this.r[i]! & ~0xff) | (v & 0xff);
    else this.r[i - 4] = (this.r[i - 4]! & ~0xff00) | ((v & 0xff) << 8);
  }

  private rmRead(bits: number): number { return this.mIsReg ? this.getReg(bits, this.mRm) : this.rd(bits, this.mAddr); }
  private rmWrite(bits: number, v: number): void {
    if (this.mIsReg) this.setReg(bits, this.mRm, v); else this.wr(bits, this.mAddr, v);
  }

  // ---- stack ----------------------------------------------------------------------

  private push(bits: number, v: number): void {
    if (this.stack32) {
      const sp = (this.r[4]! - bits / 8) >>> 0;
      this.wr(bits, (this.segBase[SS]! + sp) >>> 0, v);
      this.r[4] = sp;
    } else {
      const sp = (this.r[4]! - bits / 8) & 0xffff;
      this.wr(bits, (this.segBase[SS]! + sp) >>> 0, v);
      this.r[4] = (this.r[4]! & ~0xffff) | sp;
    }
  }

  private pop(bits: number): number {
    if (this.stack32) {
      const sp = this.r[4]! >>> 0;
      const v = this.rd(bits, (this.segBase[SS]! + sp) >>> 0);
      this.r[4] = sp + bits / 8;
      return v;
    }
    const sp = this.r[4]! & 0xffff;
    const v = this.rd(bits, (this.segBase[SS]! + sp) >>> 0);
    this.r[4] = (this.r[4]! & ~0xffff) | ((sp + bits / 8) & 0xffff);
    return v;
  }

  // ---- segments -----------------------------------------------------------------

  private readDescriptor(sel: number, vectorOnAbsent: number): SegmentState {
    if (sel & 4) throw new Fault(GP, sel & 0xfffc); // LDT selectors: no LDT support
    const off = sel & ~7;
    if (off + 7 > this.gdtLimit) throw new Fault(GP, sel & 0xfffc);
    const a = (this.gdtBase + off) >>> 0;
    const lo = this.rd32(a);
    const hi = this.rd32(a + 4);
    let limit = (lo & 0xffff) | (hi & 0xf_0000);
    const g = (hi >>> 23) & 1;
    if (g) limit = ((limit << 12) | 0xfff) >>> 0;
    const d: SegmentState = {
      selector: sel,
      base: ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff00_0000)) >>> 0,
      limit,
      type: (hi >>> 8) & 0xf,
      s: (hi >>> 12) & 1,
      dpl: (hi >>> 13) & 3,
      present: (hi >>> 15) & 1,
      avl: (hi >>> 20) & 1,
      l: (hi >>> 21) & 1,
      db: (hi >>> 22) & 1,
      g,
      unusable: 0,
    };
    if (!d.present) throw new Fault(vectorOnAbsent, sel & 0xfffc);
    if (!(d.type & 1)) this.wr32(a + 4, hi | (1 << 8)); // the CPU sets the accessed bit
    d.type |= 1;
    return d;
  }

  private loadSeg(i: number, sel: number): void {
    sel &= 0xffff;
    if (!this.protectedMode) {
      const s = this.segs[i]!;
      this.segs[i] = { ...s, selector: sel, base: sel << 4 };
      this.segBase[i] = sel << 4;
    } else if ((sel & ~3) === 0) {
      if (i === CS || i === SS) throw new Fault(GP, 0);
      this.segs[i] = { selector: sel, base: 0, limit: 0, type: 0, present: 0, dpl: 0, db: 0, s: 0, l: 0, g: 0, avl: 0, unusable: 1 };
      this.segBase[i] = 0;
    } else {
      const d = this.readDescriptor(sel, i === SS ? SSF : NP);
      if (i === CS && (!d.s || !(d.type & 8))) throw new Fault(GP, sel & 0xfffc);
      if (i !== CS && d.s && (d.type & 8) && !(d.type & 2)) throw new Fault(GP, sel & 0xfffc);
      this.segs[i] = d;
      this.segBase[i] = d.base | 0;
    }
    if (i === CS || i === SS) this.updateModes();
  }

  // ---- ALU ----------------------------------------------------------------------

  private alu(op: number, a: number, b: number, bits: number): number {
    const f = this.flags;
    const mask = maskOf(bits);
    let res: number;
    switch (op) {
      case 0: res = (a + b) & mask; f.set(Op.Add, a, b, res, bits); return res;
      case 1: res = (a | b) & mask; f.set(Op.Logic, a, b, res, bits); return res;
      case 2: { const c = f.cf() ? 1 : 0; res = (a + b + c) & mask; f.set(Op.Adc, a, b, res, bits); f.aux = c; return res; }
      case 3: { const c = f.cf() ? 1 : 0; res = (a - b - c) & mask; f.set(Op.Sbb, a, b, res, bits); f.aux = c; return res; }
      case 4: res = a & b & mask; f.set(Op.Logic, a, b, res, bits); return res;
      case 5: case 7: res = (a - b) & mask; f.set(Op.Sub, a, b, res, bits); return res;
      default: res = (a ^ b) & mask; f.set(Op.Logic, a, b, res, bits); return res;
    }
  }

  private incdec(dec: boolean, a: number, bits: number): number {
    const f = this.flags;
    const c = f.cf() ? 1 : 0;
    const res = (dec ? a - 1 : a + 1) & maskOf(bits);
    f.set(dec ? Op.Dec : Op.Inc, a, 1, res, bits);
    f.aux = c;
    return res;
  }

  private shift(op: number, a: number, count: number, bits: number): number {
    const f = this.flags;
    count &= 0x1f;
    if (count === 0) return a;
    const mask = maskOf(bits);
    let res: number;
    let cf: boolean;
    switch (op) {
      case 0: { // ROL
        const n = count % bits;
        res = n === 0 ? a : (((a << n) | (a >>> (bits - n))) & mask) >>> 0;
        cf = (res & 1) === 1;
        f.materialize();
        f.setBitArith(cf, msbOf(res, bits) !== cf);
        return res;
      }
      case 1: { // ROR
        const n = count % bits;
        res = n === 0 ? a : (((a >>> n) | (a << (bits - n))) & mask) >>> 0;
        cf = msbOf(res, bits);
        f.materialize();
        f.setBitArith(cf, msbOf(res, bits) !== (((res >>> (bits - 2)) & 1) === 1));
        return res;
      }
      case 2: case 3: { // RCL, RCR
        const n = bits === 32 ? count : count % (bits + 1);
        let c = f.cf() ? 1 : 0;
        res = a;
        for (let i = 0; i < n; i++) {
          if (op === 2) {
            const out = (res >>> (bits - 1)) & 1;
            res = (((res << 1) | c) & mask) >>> 0;
            c = out;
          } else {
            const out = res & 1;
            res = ((res >>> 1) | (c << (bits - 1))) >>> 0;
            c = out;
          }
        }
        f.materialize();
        const of = op === 2 ? msbOf(res, bits) !== (c === 1) : msbOf(res, bits) !== (((res >>> (bits - 2)) & 1) === 1);
        f.setBitArith(c === 1, of);
        return res;
      }
      case 4: case 6: { // SHL/SAL
        res = count >= 32 ? 0 : ((a << count) & mask) >>> 0;
        cf = count <= bits ? ((a >>> (bits - count)) & 1) === 1 : false;
        f.setResult(res, bits, cf, msbOf(res, bits) !== cf);
        return res;
      }
      case 5: { // SHR
        res = count >= 32 ? 0 : (a >>> count) >>> 0;
        cf = count <= bits ? ((a >>> (count - 1)) & 1) === 1 : false;
        f.setResult(res, bits, cf, msbOf(a, bits));
        return res;
      }
      default: { // SAR
        const s = signExtend(a, bits);
        const n = Math.min(count, bits - 1);
        res = ((s >> n) & mask) >>> 0;
        cf = count >= bits ? s < 0 : ((s >> (count - 1)) & 1) === 1;
        f.setResult(res, bits, cf, false);
        return res;
      }
    }
  }

  // ---- run loop -------------------------------------------------------------------

  /** Runs until an exit or until `max` instructions retired (`budget`). */
  run(max: number): CpuExit {
    if (this.shutdown) return { kind: 'shutdown' };
    if (this.pending.length) return this.pending.shift()!;
    if (this.ioIn) this.completeIoIn();
    if (this.mmioWaiting) {
      const w = this.mmioWaiting;
      let v = 0;
      for (let i = w.size - 1; i >= 0; i--) v = v * 256 + w.data[i]!;
      this.mmioDone.push({ addr: w.addr, size: w.size, value: v >>> 0 });
      this.mmioWaiting = null;
    }
    const end = this.instructions + max;
    for (;;) {
      try {
        if (this.halted) {
          this.start = this.eip;
          if (!this.irqCheck || !this.checkInterrupts()) return { kind: 'hlt' };
        }
        while (this.instructions < end) {
          if (this.irqCheck) {
            this.start = this.eip;
            this.checkInterrupts();
          }
          this.start = this.eip;
          this.step();
          this.instructions++;
          if (this.stopNow) {
            this.stopNow = false;
            this.mmioIdx = 0;
            if (this.mmioDone.length) this.mmioDone.length = 0;
            if (this.shutdown) return { kind: 'shutdown' };
            if (this.pending.length) return this.pending.shift()!;
            if (this.halted) return { kind: 'hlt' };
          }
        }
        return { kind: 'budget' };
      } catch (e) {
        if (e === MMIO_READ) {
          this.stopNow = false;
          this.mmioIdx = 0;
          this.eip = this.start;
          return this.pending.shift()!;
        }
        if (e instanceof Fault) {
          this.stopNow = false;
          this.mmioIdx = 0;
          this.eip = this.start;
          this.mmioDone.length = 0;
          this.pending.length = 0;
          this.exception(e.vector, e.code);
          if (this.shutdown) return { kind: 'shutdown' };
          continue;
        }
        throw e;
      }
    }
  }

  private completeIoIn(): void {
    const io = this.ioIn!;
    this.ioIn = null;
    let v = 0;
    for (let i = io.size - 1; i >= 0; i--) v = v * 256 + io.exit.data[i]!;
    if (!io.string) {
      this.setReg(io.size * 8, 0, v);
      return;
    }
    // INS: store at ES:EDI, advance EDI, count down ECX under REP.
    const bits = io.size * 8;
    const di = this.a16 ? this.r[7]! & 0xffff : this.r[7]! >>> 0;
    this.wr(bits, (this.segBase[ES]! + di) >>> 0, v);
    this.advanceIndex(7, this.flags.bit(DF) ? -io.size : io.size);
    if (this.rep) this.decCount();
  }

  /** Delivers a pending NMI or interrupt if the CPU can take it now. Returns true if one was delivered. */
  private checkInterrupts(): boolean {
    if (this.shadow) {
      this.shadow = false;
      return false;
    }
    if (this.nmiPending) {
      this.nmiPending = false;
      this.halted = false;
      this.interrupt(NMI, undefined, this.eip);
      return true;
    }
    if (!this.flags.bit(IF)) {
      this.irqCheck = false;
      return false;
    }
    let vector = -1;
    if (this.injected.length) vector = this.injected.shift()!;
    else if (this.source?.hasInterrupt()) vector = this.source.acknowledge();
    this.irqCheck = this.injected.length > 0 || (this.source?.hasInterrupt() ?? false);
    if (vector < 0) return false;
    this.halted = false;
    this.interrupt(vector, undefined, this.eip);
    this.irqCheck = true;
    return true;
  }

  private exception(vector: number, code: number | undefined): void {
    if (this.delivering >= 2 || (this.delivering === 1 && vector === DF_VEC)) {
      this.shutdown = true;
      this.stopNow = true;
      return;
    }
    if (this.delivering === 1) {
      vector = DF_VEC;
      code = 0;
    }
    this.delivering++;
    try {
      this.interrupt(vector, HAS_ERROR_CODE.has(vector) ? (code ?? 0) : undefined, this.eip);
    } catch (e) {
      if (e instanceof Fault) {
        this.exception(e.vector, e.code);
      } else if (e === MMIO_READ) {
        // The IDT or the stack is MMIO: nothing sensible to do.
        this.pending.length = 0;
        this.shutdown = true;
        this.stopNow = true;
      this.stopNow = true;
      } else throw e;
    } finally {
      this.delivering--;
    }
  }

  /** Delivers `vector` through the IDT (IVT in real mode), returning to `returnEip`. */
  private interrupt(vector: number, code: number | undefined, returnEip: number): void {
    const eflags = this.flags.value;
    if (!this.protectedMode) {
      const a = (this.idtBase + vector * 4) >>> 0;
      if (vector * 4 + 3 > this.idtLimit) throw new Fault(GP, 0);
      const ip = this.rd16(a);
      const cs = this.rd16(a + 2);
      const saveStack = this.stack32;
      this.stack32 = false;
      this.push(16, eflags);
      this.push(16, this.segs[CS]!.selector);
      this.push(16, returnEip);
      this.stack32 = saveStack;
      this.loadSeg(CS, cs);
      this.eip = ip;
      this.flags.setBit(IF, false);
      this.flags.setBit(TF, false);
      return;
    }
    if (vector * 8 + 7 > this.idtLimit) throw new Fault(GP, vector * 8 + 2);
    const a = (this.idtBase + vector * 8) >>> 0;
    const lo = this.rd32(a);
    const hi = this.rd32(a + 4);
    const type = (hi >>> 8) & 0x1f;
    if (!((hi >>> 15) & 1)) throw new Fault(NP, vector * 8 + 2);
    const is32 = type === 0xe || type === 0xf;
    const isGate = is32 || type === 0x6 || type === 0x7;
    if (!isGate) throw new Fault(GP, vector * 8 + 2); // task gates unsupported
    const selector = lo >>> 16;
    const offset = is32 ? ((hi & 0xffff0000) | (lo & 0xffff)) >>> 0 : lo & 0xffff;
    const bits = is32 ? 32 : 16;
    this.push(bits, eflags);
    this.push(bits, this.segs[CS]!.selector);
    this.push(bits, returnEip);
    if (code !== undefined) this.push(bits, code);
    this.loadSeg(CS, selector);
    this.eip = offset;
    if ((type & 1) === 0) this.flags.setBit(IF, false); // interrupt gate
    this.flags.setBit(TF, false);
    this.flags.setBit(1 << 14, false); // NT
  }

  // ---- string helpers -----------------------------------------------------------

  private advanceIndex(i: number, delta: number): void {
    if (this.a16) this.r[i] = (this.r[i]! & ~0xffff) | ((this.r[i]! + delta) & 0xffff);
    else this.r[i] = this.r[i]! + delta;
  }

  private count(): number { return this.a16 ? this.r[1]! & 0xffff : this.r[1]! >>> 0; }
  private decCount(): void {
    if (this.a16) this.r[1] = (this.r[1]! & ~0xffff) | ((this.r[1]! - 1) & 0xffff);
    else this.r[1] = this.r[1]! - 1;
  }
  private si(): number { return (this.segBase[this.segOv >= 0 ? this.segOv : DS]! + (this.a16 ? this.r[6]! & 0xffff : this.r[6]! >>> 0)) >>> 0; }
  private di(): number { return (this.segBase[ES]! + (this.a16 ? this.r[7]! & 0xffff : this.r[7]! >>> 0)) >>> 0; }

  /** MOVS/STOS/LODS/CMPS/SCAS with optional REP. */
  private stringOp(kind: number, bits: number): void {
    const size = bits / 8;
    const delta = this.flags.bit(DF) ? -size : size;
    const rep = this.rep;
    for (;;) {
      if (rep && this.count() === 0) return;
      let stop = false;
      switch (kind) {
        case 0: this.wr(bits, this.di(), this.rd(bits, this.si())); this.advanceIndex(6, delta); this.advanceIndex(7, delta); break;
        case 1: this.wr(bits, this.di(), this.getReg(bits, 0)); this.advanceIndex(7, delta); break;
        case 2: this.setReg(bits, 0, this.rd(bits, this.si())); this.advanceIndex(6, delta); break;
        case 3: {
          const a = this.rd(bits, this.si());
          const b = this.rd(bits, this.di());
          this.alu(7, a, b, bits);
          this.advanceIndex(6, delta);
          this.advanceIndex(7, delta);
          stop = true;
          break;
        }
        default: {
          this.alu(7, this.getReg(bits, 0), this.rd(bits, this.di()), bits);
          this.advanceIndex(7, delta);
          stop = true;
        }
      }
      if (!rep) return;
      this.decCount();
      if (stop && ((rep === 0xf3 && !this.flags.zf()) || (rep === 0xf2 && this.flags.zf()))) return;
      if (this.pending.length) {
        // An MMIO write exit: resume this instruction later if iterations remain.
        if (this.count() !== 0) this.eip = this.start;
        return;
      }
    }
  }

  private ioExit(direction: 'in' | 'out', port: number, size: 1 | 2 | 4, value: number): void {
    const data = new Uint8Array(size);
    if (direction === 'out') for (let i = 0; i < size; i++) data[i] = (value >>> (8 * i)) & 0xff;
    const exit = { kind: 'io' as const, direction, port, size, count: 1, data };
    if (direction === 'in') this.ioIn = { exit, size, string: false };
    this.pending.push(exit);
    this.stopNow = true;
  }

  // ---- the instruction decoder ---------------------------------------------------

  private step(): void {
    if (this.prefixed) {
      this.prefixed = false;
      this.o16 = !this.code32;
      this.a16 = !this.code32;
      this.segOv = -1;
      this.rep = 0;
    }
    let op = this.fetch8();
    // Prefixes (the state they set is reset before the next instruction).
    if (op >= 0x26) for (;;) {
      switch (op) {
        case 0x66: this.o16 = this.code32; this.prefixed = true; op = this.fetch8(); continue;
        case 0x67: this.a16 = this.code32; this.prefixed = true; op = this.fetch8(); continue;
        case 0x26: this.segOv = ES; this.prefixed = true; op = this.fetch8(); continue;
        case 0x2e: this.segOv = CS; this.prefixed = true; op = this.fetch8(); continue;
        case 0x36: this.segOv = SS; this.prefixed = true; op = this.fetch8(); continue;
        case 0x3e: this.segOv = DS; this.prefixed = true; op = this.fetch8(); continue;
        case 0x64: this.segOv = FS; this.prefixed = true; op = this.fetch8(); continue;
        case 0x65: this.segOv = GS; this.prefixed = true; op = this.fetch8(); continue;
        case 0xf0: op = this.fetch8(); continue;
        case 0xf2: case 0xf3: this.rep = op; this.prefixed = true; op = this.fetch8(); continue;
      }
      break;
    }
    const v = this.o16 ? 16 : 32;
    if (op < 0x40 && (op & 7) < 6) {
      const aop = op >> 3;
      switch (op & 7) {
        case 0: { this.modrm(); const r = this.alu(aop, this.rmRead(8), this.getReg(8, this.mReg), 8); if (aop !== 7) this.rmWrite(8, r); return; }
        case 1: {
          const m = this.fetch8();
          if (m >= 0xc0 && v === 32) { // register to register: the common form, without the generic operand path
            const r = this.alu(aop, this.r[m & 7]!, this.r[(m >> 3) & 7]!, 32);
            if (aop !== 7) this.r[m & 7] = r;
            return;
          }
          this.modrmFrom(m);
          const r = this.alu(aop, this.rmRead(v), this.getReg(v, this.mReg), v);
          if (aop !== 7) this.rmWrite(v, r);
          return;
        }
        case 2: { this.modrm(); const r = this.alu(aop, this.getReg(8, this.mReg), this.rmRead(8), 8); if (aop !== 7) this.setReg(8, this.mReg, r); return; }
        case 3: {
          const m = this.fetch8();
          if (m >= 0xc0 && v === 32) {
            const r = this.alu(aop, this.r[(m >> 3) & 7]!, this.r[m & 7]!, 32);
            if (aop !== 7) this.r[(m >> 3) & 7] = r;
            return;
          }
          this.modrmFrom(m);
          const r = this.alu(aop, this.getReg(v, this.mReg), this.rmRead(v), v);
          if (aop !== 7) this.setReg(v, this.mReg, r);
          return;
        }
        case 4: { const r = this.alu(aop, this.getReg(8, 0), this.fetch8(), 8); if (aop !== 7) this.setReg(8, 0, r); return; }
        default: { const r = this.alu(aop, this.getReg(v, 0), this.fetchImm(v), v); if (aop !== 7) this.setReg(v, 0, r); return; }
      }
    }
    switch (op) {
      case 0x0f: this.step0f(v); return;
      case 0x06: this.push(v, this.segs[ES]!.selector); return;
      case 0x07: this.loadSeg(ES, this.pop(v)); return;
      case 0x0e: this.push(v, this.segs[CS]!.selector); return;
      case 0x16: this.push(v, this.segs[SS]!.selector); return;
      case 0x17: this.loadSeg(SS, this.pop(v)); this.shadow = true; this.irqCheck = true; return;
      case 0x1e: this.push(v, this.segs[DS]!.selector); return;
      case 0x1f: this.loadSeg(DS, this.pop(v)); return;
      case 0x40: case 0x41: case 0x42: case 0x43: case 0x44: case 0x45: case 0x46: case 0x47:
        this.setReg(v, op & 7, this.incdec(false, this.getReg(v, op & 7), v)); return;
      case 0x48: case 0x49: case 0x4a: case 0x4b: case 0x4c: case 0x4d: case 0x4e: case 0x4f:
        this.setReg(v, op & 7, this.incdec(true, this.getReg(v, op & 7), v)); return;
      case 0x50: case 0x51: case 0x52: case 0x53: case 0x54: case 0x55: case 0x56: case 0x57:
        this.push(v, this.getReg(v, op & 7)); return;
      case 0x58: case 0x59: case 0x5a: case 0x5b: case 0x5c: case 0x5d: case 0x5e: case 0x5f:
        this.setReg(v, op & 7, this.pop(v)); return;
      case 0x60: {
        const sp = this.getReg(v, 4);
        for (let i = 0; i < 8; i++) this.push(v, i === 4 ? sp : this.getReg(v, i));
        return;
      }
      case 0x61:
        for (let i = 7; i >= 0; i--) { const x = this.pop(v); if (i !== 4) this.setReg(v, i, x); }
        return;
      case 0x68: this.push(v, this.fetchImm(v)); return;
      case 0x6a: this.push(v, (this.fetch8() << 24) >> 24); return;
      case 0x69: case 0x6b: {
        this.modrm();
        const a = this.rmRead(v);
        const b = op === 0x6b ? (this.fetch8() << 24) >> 24 : this.fetchImm(v);
        this.setReg(v, this.mReg, this.imul2(a, b, v));
        return;
      }
      case 0x6c: case 0x6d: this.ins(op === 0x6c ? 1 : v / 8 as 2 | 4); return;
      case 0x6e: case 0x6f: this.outs(op === 0x6e ? 1 : v / 8 as 2 | 4); return;
      case 0x84: this.modrm(); this.alu(4, this.rmRead(8), this.getReg(8, this.mReg), 8); return;
      case 0x85: this.modrm(); this.alu(4, this.rmRead(v), this.getReg(v, this.mReg), v); return;
      case 0x86: { this.modrm(); const a = this.rmRead(8); this.rmWrite(8, this.getReg(8, this.mReg)); this.setReg(8, this.mReg, a); return; }
      case 0x87: { this.modrm(); const a = this.rmRead(v); this.rmWrite(v, this.getReg(v, this.mReg)); this.setReg(v, this.mReg, a); return; }
      case 0x88: this.modrm(); this.rmWrite(8, this.getReg(8, this.mReg)); return;
      case 0x89: {
        const m = this.fetch8();
        if (m >= 0xc0 && v === 32) { this.r[m & 7] = this.r[(m >> 3) & 7]!; return; }
        this.modrmFrom(m);
        this.rmWrite(v, this.getReg(v, this.mReg));
        return;
      }
      case 0x8a: this.modrm(); this.setReg(8, this.mReg, this.rmRead(8)); return;
      case 0x8b: {
        this.modrm();
        if (v === 32) { this.r[this.mReg] = this.mIsReg ? this.r[this.mRm]! : this.rd32(this.mAddr); return; }
        this.setReg(v, this.mReg, this.rmRead(v));
        return;
      }
      case 0x8c: this.modrm(); if (this.mReg > 5) throw new Fault(UD, undefined); this.rmWrite(this.mIsReg ? v : 16, this.segs[this.mReg]!.selector); return;
      case 0x8d: {
        this.modrm();
        if (this.mIsReg) throw new Fault(UD, undefined);
        this.setReg(v, this.mReg, this.mOffset);
        return;
      }
      case 0x8e: {
        this.modrm();
        if (this.mReg === CS || this.mReg > 5) throw new Fault(UD, undefined);
        this.loadSeg(this.mReg, this.rmRead(16));
        if (this.mReg === SS) { this.shadow = true; this.irqCheck = true; }
        return;
      }
      case 0x8f: this.modrm(); { const x = this.pop(v); this.rmWrite(v, x); } return;
      case 0x90: return; // nop, and pause with F3
      case 0x91: case 0x92: case 0x93: case 0x94: case 0x95: case 0x96: case 0x97: {
        const a = this.getReg(v, 0);
        this.setReg(v, 0, this.getReg(v, op & 7));
        this.setReg(v, op & 7, a);
        return;
      }
      case 0x98: if (v === 32) this.r[0] = (this.r[0]! << 16) >> 16; else this.setReg(16, 0, (this.r[0]! << 24) >> 24); return;
      case 0x99: if (v === 32) this.r[2] = this.r[0]! >> 31; else this.setReg(16, 2, (this.r[0]! << 16) >> 31); return;
      case 0x9a: { const off = this.fetchImm(v); const sel = this.fetch16(); this.farCall(v, sel, off); return; }
      case 0x9b: return; // fwait
      case 0x9c: this.push(v, this.flags.value & (v === 32 ? 0x00fc_ffff : 0xffff)); return;
      case 0x9d: this.popf(v); return;
      case 0x9e: {
        this.flags.materialize();
        const ah = (this.r[0]! >> 8) & 0xd5;
        this.flags.value = (this.flags.value & ~0xd5) | ah;
        return;
      }
      case 0x9f: this.setReg(8, 4, (this.flags.value & 0xd7) | 2); return;
      case 0xa0: case 0xa1: case 0xa2: case 0xa3: {
        const off = this.a16 ? this.fetch16() : this.fetch32();
        const a = (this.segBase[this.segOv >= 0 ? this.segOv : DS]! + off) >>> 0;
        const bits = op & 1 ? v : 8;
        if (op < 0xa2) this.setReg(bits, 0, this.rd(bits, a)); else this.wr(bits, a, this.getReg(bits, 0));
        return;
      }
      case 0xa4: this.stringOp(0, 8); return;
      case 0xa5: this.stringOp(0, v); return;
      case 0xa6: this.stringOp(3, 8); return;
      case 0xa7: this.stringOp(3, v); return;
      case 0xa8: this.alu(4, this.getReg(8, 0), this.fetch8(), 8); return;
      case 0xa9: this.alu(4, this.getReg(v, 0), this.fetchImm(v), v); return;
      case 0xaa: this.stringOp(1, 8); return;
      case 0xab: this.stringOp(1, v); return;
      case 0xac: this.stringOp(2, 8); return;
      case 0xad: this.stringOp(2, v); return;
      case 0xae: this.stringOp(4, 8); return;
      case 0xaf: this.stringOp(4, v); return;
      case 0xb0: case 0xb1: case 0xb2: case 0xb3: case 0xb4: case 0xb5: case 0xb6: case 0xb7:
        this.setReg(8, op & 7, this.fetch8()); return;
      case 0xb8: case 0xb9: case 0xba: case 0xbb: case 0xbc: case 0xbd: case 0xbe: case 0xbf:
        this.setReg(v, op & 7, this.fetchImm(v)); return;
      case 0xc0: case 0xc1: case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        const bits = op & 1 ? v : 8;
        this.modrm();
        const a = this.rmRead(bits);
        const n = op <= 0xc1 ? this.fetch8() : op <= 0xd1 ? 1 : this.r[1]! & 0xff;
        if ((n & 0x1f) !== 0) this.rmWrite(bits, this.shift(this.mReg, a, n, bits));
        return;
      }
      case 0xc2: { const n = this.fetch16(); this.eip = this.pop(v) >>> 0; this.r[4] = this.stack32 ? this.r[4]! + n : (this.r[4]! & ~0xffff) | ((this.r[4]! + n) & 0xffff); return; }
      case 0xc3: this.eip = this.pop(v) >>> 0; return;
      case 0xc4: case 0xc5: {
        this.modrm();
        if (this.mIsReg) throw new Fault(UD, undefined);
        const off = this.rd(v, this.mAddr);
        const sel = this.rd16((this.mAddr + v / 8) >>> 0);
        this.loadSeg(op === 0xc4 ? ES : DS, sel);
        this.setReg(v, this.mReg, off);
        return;
      }
      case 0xc6: this.modrm(); this.rmWrite(8, this.fetch8()); return;
      case 0xc7: this.modrm(); this.rmWrite(v, this.fetchImm(v)); return;
      case 0xc8: this.enter(v, this.fetch16(), this.fetch8() & 31); return;
      case 0xc9:
        if (this.stack32) this.r[4] = this.r[5]!; else this.setReg(16, 4, this.r[5]!);
        this.setReg(v, 5, this.pop(v));
        return;
      case 0xca: case 0xcb: {
        const n = op === 0xca ? this.fetch16() : 0;
        const ip = this.pop(v) >>> 0;
        const cs = this.pop(v) & 0xffff;
        this.loadSeg(CS, cs);
        this.eip = ip;
        this.r[4] = this.stack32 ? this.r[4]! + n : (this.r[4]! & ~0xffff) | ((this.r[4]! + n) & 0xffff);
        return;
      }
      case 0xcc: this.interrupt(3, undefined, this.eip); return;
      case 0xcd: { const n = this.fetch8(); this.interrupt(n, undefined, this.eip); return; }
      case 0xce: if (this.flags.of()) this.interrupt(4, undefined, this.eip); return;
      case 0xcf: this.iret(v); return;
      case 0xd7: {
        const bx = this.a16 ? this.r[3]! & 0xffff : this.r[3]! >>> 0;
        const a = (this.segBase[this.segOv >= 0 ? this.segOv : DS]! + bx + (this.r[0]! & 0xff)) >>> 0;
        this.setReg(8, 0, this.rd8(a));
        return;
      }
      case 0xe0: case 0xe1: case 0xe2: {
        const d = (this.fetch8() << 24) >> 24;
        this.decCount();
        const z = this.flags.zf();
        if (this.count() !== 0 && (op === 0xe2 || (op === 0xe1 ? z : !z))) this.jump(this.eip + d);
        return;
      }
      case 0xe3: { const d = (this.fetch8() << 24) >> 24; if (this.count() === 0) this.jump(this.eip + d); return; }
      case 0xe4: this.ioExit('in', this.fetch8(), 1, 0); return;
      case 0xe5: this.ioExit('in', this.fetch8(), v / 8 as 2 | 4, 0); return;
      case 0xe6: { const p = this.fetch8(); this.ioExit('out', p, 1, this.r[0]! & 0xff); return; }
      case 0xe7: { const p = this.fetch8(); this.ioExit('out', p, v / 8 as 2 | 4, this.getReg(v, 0)); return; }
      case 0xe8: { const d = this.fetchImm(v); this.push(v, this.eip); this.jump(this.eip + (v === 16 ? (d << 16) >> 16 : d)); return; }
      case 0xe9: { const d = this.fetchImm(v); this.jump(this.eip + (v === 16 ? (d << 16) >> 16 : d)); return; }
      case 0xea: { const off = this.fetchImm(v); const sel = this.fetch16(); this.loadSeg(CS, sel); this.eip = off >>> 0; return; }
      case 0xeb: { const d = (this.fetch8() << 24) >> 24; this.jump(this.eip + d); return; }
      case 0xec: this.ioExit('in', this.r[2]! & 0xffff, 1, 0); return;
      case 0xed: this.ioExit('in', this.r[2]! & 0xffff, v / 8 as 2 | 4, 0); return;
      case 0xee: this.ioExit('out', this.r[2]! & 0xffff, 1, this.r[0]! & 0xff); return;
      case 0xef: this.ioExit('out', this.r[2]! & 0xffff, v / 8 as 2 | 4, this.getReg(v, 0)); return;
      case 0xf4: this.halted = true; this.stopNow = true; return;
      case 0xf5: this.flags.setCf(!this.flags.cf()); return;
      case 0xf6: this.group3(8); return;
      case 0xf7: this.group3(v); return;
      case 0xf8: this.flags.setCf(false); return;
      case 0xf9: this.flags.setCf(true); return;
      case 0xfa: this.flags.setBit(IF, false); return;
      case 0xfb:
        if (!this.flags.bit(IF)) this.shadow = true;
        this.flags.setBit(IF, true);
        this.irqCheck = true;
        return;
      case 0xfc: this.flags.setBit(DF, false); return;
      case 0xfd: this.flags.setBit(DF, true); return;
      case 0xfe: {
        this.modrm();
        if (this.mReg > 1) throw new Fault(UD, undefined);
        this.rmWrite(8, this.incdec(this.mReg === 1, this.rmRead(8), 8));
        return;
      }
      case 0xff: this.group5(v); return;
      case 0x70: case 0x71: case 0x72: case 0x73: case 0x74: case 0x75: case 0x76: case 0x77:
      case 0x78: case 0x79: case 0x7a: case 0x7b: case 0x7c: case 0x7d: case 0x7e: case 0x7f: {
        const d = (this.fetch8() << 24) >> 24;
        if (this.flags.cond(op & 15)) this.jump(this.eip + d);
        return;
      }
      case 0x80: case 0x81: case 0x82: case 0x83: {
        const bits = op & 1 ? v : 8;
        this.modrm();
        const a = this.rmRead(bits);
        const b = op === 0x81 ? this.fetchImm(v) : op === 0x83 ? signExtend(this.fetch8(), 8) & maskOf(bits) : this.fetch8();
        const r = this.alu(this.mReg, a, b, bits);
        if (this.mReg !== 7) this.rmWrite(bits, r);
        return;
      }
      default:
        throw new Fault(UD, undefined);
    }
  }

  private jump(target: number): void {
    this.eip = this.o16 ? target & 0xffff : target >>> 0;
  }

  private imul2(a: number, b: number, bits: number): number {
    const sa = signExtend(a, bits);
    const sb = signExtend(b, bits);
    let lo: number;
    let of: boolean;
    if (bits === 32) {
      mul32(sa >>> 0, sb >>> 0);
      const l = mulOut[0]!;
      let hi = mulOut[1]!;
      if (sa < 0) hi = (hi - (sb >>> 0)) >>> 0;
      if (sb < 0) hi = (hi - (sa >>> 0)) >>> 0;
      lo = l;
      of = hi !== ((l | 0) >> 31 >>> 0);
    } else {
      const p = sa * sb;
      lo = (p & maskOf(bits)) >>> 0;
      of = signExtend(lo, bits) !== p;
    }
    this.flags.setResult(lo, bits, of, of);
    return lo;
  }

  private group3(bits: number): void {
    this.modrm();
    const a = this.rmRead(bits);
    const mask = maskOf(bits);
    switch (this.mReg) {
      case 0: case 1: this.alu(4, a, this.fetchImm(bits), bits); return;
      case 2: this.rmWrite(bits, (~a & mask) >>> 0); return;
      case 3: {
        const res = (-a) & mask;
        this.flags.set(Op.Sub, 0, a, res, bits);
        this.rmWrite(bits, res);
        return;
      }
      case 4: { // MUL
        if (bits === 8) {
          const p = (this.r[0]! & 0xff) * a;
          this.setReg(16, 0, p);
          this.flags.setResult(p & 0xff, 8, p > 0xff, p > 0xff);
        } else if (bits === 16) {
          const p = (this.r[0]! & 0xffff) * a;
          this.setReg(16, 0, p & 0xffff);
          this.setReg(16, 2, p >>> 16);
          this.flags.setResult(p & 0xffff, 16, p > 0xffff, p > 0xffff);
        } else {
          mul32(this.r[0]! >>> 0, a >>> 0);
          const lo = mulOut[0]!, hi = mulOut[1]!;
          this.r[0] = lo;
          this.r[2] = hi;
          this.flags.setResult(lo, 32, hi !== 0, hi !== 0);
        }
        return;
      }
      case 5: { // IMUL (one operand)
        if (bits === 8) {
          const p = signExtend(this.r[0]! & 0xff, 8) * signExtend(a, 8);
          this.setReg(16, 0, p & 0xffff);
          const of = signExtend(p & 0xff, 8) !== p;
          this.flags.setResult(p & 0xff, 8, of, of);
        } else if (bits === 16) {
          const p = signExtend(this.r[0]! & 0xffff, 16) * signExtend(a, 16);
          this.setReg(16, 0, p & 0xffff);
          this.setReg(16, 2, (p >> 16) & 0xffff);
          const of = signExtend(p & 0xffff, 16) !== p;
          this.flags.setResult(p & 0xffff, 16, of, of);
        } else {
          const sa = this.r[0]!;
          const sb = a | 0;
          mul32(sa >>> 0, sb >>> 0);
          const lo = mulOut[0]!;
          let hi = mulOut[1]!;
          if (sa < 0) hi = (hi - (sb >>> 0)) >>> 0;
          if (sb < 0) hi = (hi - (sa >>> 0)) >>> 0;
          this.r[0] = lo;
          this.r[2] = hi;
          const of = hi !== ((lo | 0) >> 31 >>> 0);
          this.flags.setResult(lo, 32, of, of);
        }
        return;
      }
      case 6: this.div(a, bits, false); return;
      default: this.div(a, bits, true); return;
    }
  }

  private div(d: number, bits: number, signed: boolean): void {
    if (d === 0) throw new Fault(DE, undefined);
    if (bits === 32) {
      d = signed ? d | 0 : d >>> 0;
      const hi = this.r[2]!;
      const lo = this.r[0]! >>> 0;
      if (!signed) {
        if (hi === 0) {
          this.r[0] = Math.floor(lo / d);
          this.r[2] = lo % d;
          return;
        }
        const n = (BigInt(hi >>> 0) << 32n) | BigInt(lo);
        const q = n / BigInt(d);
        if (q > 0xffff_ffffn) throw new Fault(DE, undefined);
        this.r[0] = Number(q);
        this.r[2] = Number(n % BigInt(d));
        return;
      }
      const sd = d | 0;
      if (hi === (this.r[0]! >> 31)) {
        const sn = this.r[0]!;
        const q = Math.trunc(sn / sd);
        if (q > 0x7fff_ffff || q < -0x8000_0000) throw new Fault(DE, undefined);
        this.r[0] = q;
        this.r[2] = sn - q * sd;
        return;
      }
      const n = (BigInt(hi) << 32n) | BigInt(lo);
      const q = n / BigInt(sd);
      if (q > 0x7fff_ffffn || q < -0x8000_0000n) throw new Fault(DE, undefined);
      this.r[0] = Number(BigInt.asIntN(32, q));
      this.r[2] = Number(BigInt.asIntN(32, n % BigInt(sd)));
      return;
    }
    if (bits === 16) {
      const n = ((this.r[2]! & 0xffff) * 65536) + (this.r[0]! & 0xffff);
      if (!signed) {
        const q = Math.floor(n / d);
        if (q > 0xffff) throw new Fault(DE, undefined);
        this.setReg(16, 0, q);
        this.setReg(16, 2, n % d);
      } else {
        const sn = n | 0;
        const sd = signExtend(d, 16);
        const q = Math.trunc(sn / sd);
        if (q > 0x7fff || q < -0x8000) throw new Fault(DE, undefined);
        this.setReg(16, 0, q);
        this.setReg(16, 2, sn - q * sd);
      }
      return;
    }
    const n = this.r[0]! & 0xffff;
    if (!signed) {
      const q = Math.floor(n / d);
      if (q > 0xff) throw new Fault(DE, undefined);
      this.setReg(8, 0, q);
      this.setReg(8, 4, n % d);
    } else {
      const sn = signExtend(n, 16);
      const sd = signExtend(d, 8);
      const q = Math.trunc(sn / sd);
      if (q > 0x7f || q < -0x80) throw new Fault(DE, undefined);
      this.setReg(8, 0, q);
      this.setReg(8, 4, sn - q * sd);
    }
  }

  private group5(v: number): void {
    this.modrm();
    switch (this.mReg) {
      case 0: this.rmWrite(v, this.incdec(false, this.rmRead(v), v)); return;
      case 1: this.rmWrite(v, this.incdec(true, this.rmRead(v), v)); return;
      case 2: { const t = this.rmRead(v); this.push(v, this.eip); this.jump(t); return; }
      case 3: case 5: {
        if (this.mIsReg) throw new Fault(UD, undefined);
        const off = this.rd(v, this.mAddr);
        const sel = this.rd16((this.mAddr + v / 8) >>> 0);
        if (this.mReg === 3) this.farCall(v, sel, off);
        else { this.loadSeg(CS, sel); this.eip = off >>> 0; }
        return;
      }
      case 4: this.jump(this.rmRead(v)); return;
      case 6: this.push(v, this.rmRead(v)); return;
      default: throw new Fault(UD, undefined);
    }
  }

  private farCall(v: number, sel: number, off: number): void {
    const cs = this.segs[CS]!.selector;
    const ret = this.eip;
    this.loadSeg(CS, sel);
    this.push(v, cs);
    this.push(v, ret);
    this.eip = off >>> 0;
  }

  private popf(v: number): void {
    const x = this.pop(v);
    const old = this.flags.value;
    const writable = v === 32 ? WRITABLE : WRITABLE & 0xffff;
    const wasIf = (old & IF) !== 0;
    this.flags.value = (old & ~writable) | (x & writable);
    if (!wasIf && this.flags.bit(IF)) this.irqCheck = true;
  }

  private iret(v: number): void {
    const ip = this.pop(v) >>> 0;
    const cs = this.pop(v) & 0xffff;
    const fl = this.pop(v);
    this.loadSeg(CS, cs);
    this.eip = ip;
    const old = this.flags.value;
    const writable = v === 32 ? WRITABLE : WRITABLE & 0xffff;
    this.flags.value = (old & ~writable) | (fl & writable);
    this.irqCheck = true;
  }

  private enter(v: number, size: number, level: number): void {
    this.push(v, this.getReg(v, 5));
    const frame = this.getReg(v, 4);
    for (let i = 1; i < level; i++) {
      this.setReg(v, 5, this.getReg(v, 5) - v / 8);
      this.push(v, this.rd(v, (this.segBase[SS]! + this.getReg(v, 5)) >>> 0));
    }
    if (level > 0) this.push(v, frame);
    this.setReg(v, 5, frame);
    this.setReg(this.stack32 ? 32 : 16, 4, this.getReg(this.stack32 ? 32 : 16, 4) - size);
  }

  private ins(size: 1 | 2 | 4): void {
    if (this.rep && this.count() === 0) return;
    const exit = { kind: 'io' as const, direction: 'in' as const, port: this.r[2]! & 0xffff, size, count: 1, data: new Uint8Array(size) };
    this.ioIn = { exit, size, string: true };
    this.pending.push(exit);
    this.stopNow = true;
    // EIP: stay on the instruction while REP iterations remain after this one.
    if (this.rep && this.count() > 1) this.eip = this.start;
  }

  private outs(size: 1 | 2 | 4): void {
    if (this.rep && this.count() === 0) return;
    const bits = size * 8;
    const value = this.rd(bits, this.si());
    this.advanceIndex(6, this.flags.bit(DF) ? -size : size);
    if (this.rep) {
      this.decCount();
      if (this.count() !== 0) this.eip = this.start;
    }
    this.ioExit('out', this.r[2]! & 0xffff, size, value);
  }

  // ---- 0F xx ----------------------------------------------------------------------

  private step0f(v: number): void {
    const op = this.fetch8();
    if (op >= 0x80 && op <= 0x8f) {
      const d = this.fetchImm(v);
      if (this.flags.cond(op & 15)) this.jump(this.eip + (v === 16 ? (d << 16) >> 16 : d));
      return;
    }
    if (op >= 0x40 && op <= 0x4f) {
      this.modrm();
      const x = this.rmRead(v);
      if (this.flags.cond(op & 15)) this.setReg(v, this.mReg, x);
      return;
    }
    if (op >= 0x90 && op <= 0x9f) {
      this.modrm();
      this.rmWrite(8, this.flags.cond(op & 15) ? 1 : 0);
      return;
    }
    if (op >= 0xc8 && op <= 0xcf) {
      const x = this.r[op & 7]!;
      this.r[op & 7] = ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24);
      return;
    }
    switch (op) {
      case 0x00: {
        this.modrm();
        switch (this.mReg) {
          case 0: this.rmWrite(16, this.ldt.selector); return;
          case 1: this.rmWrite(16, this.tr.selector); return;
          case 3: {
            const sel = this.rmRead(16);
            const d = this.readDescriptor(sel, NP);
            this.tr = d;
            // Mark the TSS busy in the GDT, as LTR does.
            const a = (this.gdtBase + (sel & ~7) + 5) >>> 0;
            this.wr8(a, this.rd8(a) | 2);
            return;
          }
          default: throw new Fault(UD, undefined);
        }
      }
      case 0x01: {
        this.modrm();
        switch (this.mReg) {
          case 0: case 1: {
            if (this.mIsReg) throw new Fault(UD, undefined);
            const base = this.mReg === 0 ? this.gdtBase : this.idtBase;
            this.wr16(this.mAddr, this.mReg === 0 ? this.gdtLimit : this.idtLimit);
            this.wr32((this.mAddr + 2) >>> 0, base);
            return;
          }
          case 2: case 3: {
            if (this.mIsReg) throw new Fault(UD, undefined);
            const limit = this.rd16(this.mAddr);
            let base = this.rd32((this.mAddr + 2) >>> 0);
            if (this.o16) base &= 0xff_ffff;
            if (this.mReg === 2) { this.gdtBase = base >>> 0; this.gdtLimit = limit; } else { this.idtBase = base >>> 0; this.idtLimit = limit; }
            return;
          }
          case 4: this.rmWrite(this.mIsReg ? v : 16, this.cr0 & 0xffff); return;
          case 6: { const x = this.rmRead(16); this.setCr0((this.cr0 & ~0xe) | (x & 0xf) | (this.cr0 & 1)); return; }
          case 7: return; // invlpg
          default: throw new Fault(UD, undefined);
        }
      }
      case 0x06: this.cr0 &= ~8; return; // clts
      case 0x08: case 0x09: return; // invd, wbinvd
      case 0x0b: throw new Fault(UD, undefined);
      case 0x0d: case 0x18: case 0x19: case 0x1a: case 0x1b: case 0x1c: case 0x1d: case 0x1e: case 0x1f:
        this.modrm(); return; // prefetch hints and multi-byte NOP
      case 0x20: {
        this.modrm();
        const crs = [this.cr0, 0, this.cr2, this.cr3, this.cr4];
        if (this.mReg === 1 || this.mReg > 4) throw new Fault(UD, undefined);
        this.r[this.mRm] = crs[this.mReg]!;
        return;
      }
      case 0x21: this.modrm(); this.r[this.mRm] = this.mReg === 6 ? 0xffff0ff0 : this.mReg === 7 ? 0x400 : 0; return;
      case 0x22: {
        this.modrm();
        const x = this.r[this.mRm]! >>> 0;
        switch (this.mReg) {
          case 0: this.setCr0(x); return;
          case 2: this.cr2 = x; return;
          case 3: this.cr3 = x; return;
          case 4: this.cr4 = x; return;
          default: throw new Fault(UD, undefined);
        }
      }
      case 0x23: this.modrm(); return; // mov to DR: no debug registers modelled
      case 0x30: {
        const msr = this.r[1]! >>> 0;
        const value = (BigInt(this.r[2]! >>> 0) << 32n) | BigInt(this.r[0]! >>> 0);
        if (!this.wrmsr(msr, value)) throw new Fault(GP, 0);
        return;
      }
      case 0x31: {
        const t = BigInt(this.instructions);
        this.r[0] = Number(t & 0xffff_ffffn);
        this.r[2] = Number(t >> 32n);
        return;
      }
      case 0x32: {
        const x = this.rdmsr(this.r[1]! >>> 0);
        if (x === undefined) throw new Fault(GP, 0);
        this.r[0] = Number(x & 0xffff_ffffn);
        this.r[2] = Number((x >> 32n) & 0xffff_ffffn);
        return;
      }
      case 0xa0: this.push(v, this.segs[FS]!.selector); return;
      case 0xa1: this.loadSeg(FS, this.pop(v)); return;
      case 0xa2: {
        const c = this.hooks.cpuid(this.r[0]! >>> 0, this.r[1]! >>> 0);
        this.r[0] = c.eax; this.r[3] = c.ebx; this.r[1] = c.ecx; this.r[2] = c.edx;
        return;
      }
      case 0xa8: this.push(v, this.segs[GS]!.selector); return;
      case 0xa9: this.loadSeg(GS, this.pop(v)); return;
      case 0xa3: case 0xab: case 0xb3: case 0xbb: this.bitOp(v, op, false); return;
      case 0xba: this.bitOp(v, op, true); return;
      case 0xa4: case 0xa5: case 0xac: case 0xad: {
        this.modrm();
        const a = this.rmRead(v);
        const b = this.getReg(v, this.mReg);
        const n = ((op & 1) ? this.r[1]! : this.fetch8()) & 31;
        if (n === 0) return;
        this.rmWrite(v, this.doubleShift(op < 0xa8, a, b, n, v));
        return;
      }
      case 0xaf: this.modrm(); this.setReg(v, this.mReg, this.imul2(this.getReg(v, this.mReg), this.rmRead(v), v)); return;
      case 0xb0: case 0xb1: {
        const bits = op & 1 ? v : 8;
        this.modrm();
        const dst = this.rmRead(bits);
        const acc = this.getReg(bits, 0);
        this.alu(7, acc, dst, bits);
        if (acc === dst) this.rmWrite(bits, this.getReg(bits, this.mReg));
        else { this.rmWrite(bits, dst); this.setReg(bits, 0, dst); }
        return;
      }
      case 0xb2: case 0xb4: case 0xb5: {
        this.modrm();
        if (this.mIsReg) throw new Fault(UD, undefined);
        const off = this.rd(v, this.mAddr);
        const sel = this.rd16((this.mAddr + v / 8) >>> 0);
        this.loadSeg(op === 0xb2 ? SS : op === 0xb4 ? FS : GS, sel);
        this.setReg(v, this.mReg, off);
        return;
      }
      case 0xb6: this.modrm(); this.setReg(v, this.mReg, this.rmRead(8)); return;
      case 0xb7: this.modrm(); this.setReg(v, this.mReg, this.rmRead(16)); return;
      case 0xbe: this.modrm(); this.setReg(v, this.mReg, signExtend(this.rmRead(8), 8)); return;
      case 0xbf: this.modrm(); this.setReg(v, this.mReg, signExtend(this.rmRead(16), 16)); return;
      case 0xbc: case 0xbd: {
        this.modrm();
        const x = this.rmRead(v);
        if (x === 0) {
          // Destination unchanged (as Intel and AMD CPUs do); ZF=1, the other flags undefined: cleared.
          this.flags.setArith(false, false, false, true, false, false);
          return;
        }
        const idx = op === 0xbc ? 31 - Math.clz32(x & -x) : 31 - Math.clz32(x);
        this.setReg(v, this.mReg, idx);
        this.flags.setArith(false, parity(idx), false, false, false, false);
        return;
      }
      case 0xc0: case 0xc1: {
        const bits = op & 1 ? v : 8;
        this.modrm();
        const a = this.rmRead(bits);
        const b = this.getReg(bits, this.mReg);
        const r = this.alu(0, a, b, bits);
        this.setReg(bits, this.mReg, a);
        this.rmWrite(bits, r);
        return;
      }
      default:
        throw new Fault(UD, undefined);
    }
  }

  private setCr0(x: number): void {
    if (x & 0x8000_0000) {
      // Paging is not modelled (see the file comment): end like this host's KVM does for 32-bit paging.
      this.shutdown = true;
      this.stopNow = true;
      return;
    }
    this.cr0 = (x | 0x10) >>> 0;
    this.updateModes();
  }

  private rdmsr(msr: number): bigint | undefined {
    const h = this.hooks.rdmsr?.(msr);
    if (h !== undefined) return h;
    switch (msr) {
      case 0x10: return BigInt(this.instructions);
      case 0x1b: return 0xfee0_0900n;
      case 0xc000_0080: return BigInt(this.efer);
      default: return undefined;
    }
  }

  private wrmsr(msr: number, value: bigint): boolean {
    if (this.hooks.wrmsr?.(msr, value)) return true;
    if (msr === 0xc000_0080) { this.efer = Number(value & 0xd01n); return true; }
    return msr === 0x1b || msr === 0x10;
  }

  private bitOp(v: number, op: number, imm: boolean): void {
    this.modrm();
    let kind: number;
    let bit: number;
    if (imm) {
      kind = this.mReg;
      if (kind < 4) throw new Fault(UD, undefined);
      kind -= 4;
      bit = this.fetch8();
    } else {
      kind = op === 0xa3 ? 0 : op === 0xab ? 1 : op === 0xb3 ? 2 : 3;
      bit = this.getReg(v, this.mReg);
    }
    let addr = this.mAddr;
    if (!this.mIsReg && !imm) {
      // Register bit offsets address memory beyond the operand (signed).
      const s = signExtend(bit, v);
      addr = (addr + Math.floor(s / v) * (v / 8)) >>> 0;
      bit = ((s % v) + v) % v;
    } else bit &= v - 1;
    const val = this.mIsReg ? this.getReg(v, this.mRm) : this.rd(v, addr);
    const set = ((val >>> bit) & 1) === 1;
    this.flags.setCf(set);
    if (kind === 0) return;
    const m = (1 << bit) >>> 0;
    const nv = kind === 1 ? (val | m) >>> 0 : kind === 2 ? (val & ~m) >>> 0 : (val ^ m) >>> 0;
    if (this.mIsReg) this.setReg(v, this.mRm, nv); else this.wr(v, addr, nv);
  }

  private doubleShift(left: boolean, a: number, b: number, n: number, bits: number): number {
    if (n > bits) {
      // Undefined for 16-bit operands with a count above 16: keep the operand, flags undefined.
      return a;
    }
    const mask = maskOf(bits);
    let res: number;
    let cf: boolean;
    if (left) {
      res = n === bits ? b : (((a << n) | (b >>> (bits - n))) & mask) >>> 0;
      cf = ((a >>> (bits - n)) & 1) === 1;
    } else {
      res = n === bits ? b : (((a >>> n) | (b << (bits - n))) & mask) >>> 0;
      cf = ((a >>> (n - 1)) & 1) === 1;
    }
    const of = ((res ^ a) >>> (bits - 1) & 1) === 1;
    this.flags.setResult(res, bits, cf, of, false);
    return res;
  }
}

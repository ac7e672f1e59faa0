/**
 * System architecture: segment loads from the GDT/LDT, far transfers,
 * interrupt and exception delivery (IVT in real mode; 16/32-bit interrupt
 * and trap gates in protected mode; #DF and triple fault), IRET, control
 * registers, descriptor-table registers, MSRs, CPUID and RDTSC.
 *
 * Only CPL 0 is modelled: a transfer that would change privilege (a gate
 * or code segment with DPL > 0, a return to RPL > 0), task gates, call
 * gates and task switches raise #GP. Segment limits and the
 * unusable/null-segment rule for memory accesses are not checked.
 */
import {
  CS, F_DF, F_IF, F_NT, F_RF, F_TF, F_WRITABLE, FAULT, SS, V_DF, V_GP, V_NP, V_PF, V_SS, V_UD, hasErrorCode, isContributory,
} from './consts.js';
import { CpuDecode } from './decode.js';
import type { SegmentState } from './types.js';

/** The hidden-cache image of descriptor (lo, hi) loaded with `selector`. */
export function segmentFromDescriptor(selector: number, lo: number, hi: number): SegmentState {
  const g = (hi >>> 23) & 1;
  let limit = (lo & 0xffff) | (hi & 0xf0000);
  if (g) limit = ((limit << 12) | 0xfff) >>> 0;
  return {
    selector,
    base: ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) >>> 0,
    limit,
    type: (hi >>> 8) & 0xf,
    present: (hi >>> 15) & 1,
    dpl: (hi >>> 13) & 3,
    db: (hi >>> 22) & 1,
    s: (hi >>> 12) & 1,
    l: (hi >>> 21) & 1,
    g,
    avl: (hi >>> 20) & 1,
    unusable: 0,
  };
}

function unusableSegment(selector: number): SegmentState {
  return { selector, base: 0, limit: 0, type: 0, present: 0, dpl: 0, db: 0, s: 0, l: 0, g: 0, avl: 0, unusable: 1 };
}

export class CpuSystem extends CpuDecode {
  // The descriptor read last by readDescriptor().
  private dLo = 0;
  private dHi = 0;
  private dAddr = 0;

  // ---- descriptors and segment loads --------------------------------------------------------------------

  /** Reads the descriptor `sel` names into dLo/dHi; #GP(sel) beyond the table limit. */
  private readDescriptor(sel: number, ext: number): void {
    const ldt = (sel & 4) !== 0;
    const off = sel & 0xfff8;
    if (ldt) {
      if (this.ldt.unusable || !this.ldt.present || off + 7 > this.ldt.limit) this.fault(V_GP, (sel & 0xfffc) | ext);
    } else if (off + 7 > this.gdtLimit) {
      this.fault(V_GP, (sel & 0xfffc) | ext);
    }
    const a = ((ldt ? this.ldt.base : this.gdtBase) + off) | 0;
    this.dAddr = a;
    this.dLo = this.sysRd32(a);
    this.dHi = this.sysRd32(a + 4);
  }

  /** Sets the accessed bit of the descriptor read last, in memory, as the CPU does. */
  private markAccessed(): void {
    if ((this.dHi & 0x100) === 0 && (this.dHi & 0x1000) !== 0) this.wr8(this.dAddr + 5, (this.dHi >>> 8) | 1);
    this.dHi |= 0x100;
  }

  /** MOV/POP/LDS... to a data segment register or SS. */
  loadSeg(i: number, sel: number): void {
    sel &= 0xffff;
    if (!this.pe) {
      const s = this.segs[i]!;
      this.setSegment(i, { ...s, selector: sel, base: sel << 4 });
      return;
    }
    const err = sel & 0xfffc;
    if (err === 0) {
      if (i === SS) this.fault(V_GP, 0);
      this.setSegment(i, unusableSegment(sel));
      return;
    }
    this.readDescriptor(sel, 0);
    const hi = this.dHi;
    const type = (hi >>> 8) & 0xf;
    const s = (hi >>> 12) & 1;
    const dpl = (hi >>> 13) & 3;
    const present = (hi >>> 15) & 1;
    if (i === SS) {
      // A writable data segment with RPL = DPL = CPL (0).
      if (!s || (type & 0xa) !== 2 || (sel & 3) !== 0 || dpl !== 0) this.fault(V_GP, err);
      if (!present) this.fault(V_SS, err);
    } else {
      // Data, or readable code; RPL <= DPL unless conforming code.
      if (!s || (type & 0xa) === 0x8) this.fault(V_GP, err);
      const conforming = (type & 0xc) === 0xc;
      if (!conforming && (sel & 3) > dpl) this.fault(V_GP, err);
      if (!present) this.fault(V_NP, err);
    }
    this.markAccessed();
    this.setSegment(i, segmentFromDescriptor(sel, this.dLo, this.dHi));
  }

  /**
   * Validates a far transfer's code segment and returns its hidden cache
   * (not yet loaded). `ext` is the EXT bit for error codes during delivery.
   */
  codeSegment(sel: number, ext = 0): SegmentState {
    sel &= 0xffff;
    if (!this.pe) {
      return { ...this.segs[CS]!, selector: sel, base: sel << 4 };
    }
    const err = (sel & 0xfffc) | ext;
    if ((sel & 0xfffc) === 0) this.fault(V_GP, ext);
    this.readDescriptor(sel, ext);
    const hi = this.dHi;
    const type = (hi >>> 8) & 0xf;
    const s = (hi >>> 12) & 1;
    const dpl = (hi >>> 13) & 3;
    if (!s || (type & 8) === 0) this.fault(V_GP, err); // not code (call gates, TSS: unsupported)
    if (dpl !== 0) this.fault(V_GP, err); // privilege changes: unsupported (CPL 0 only)
    if (!((hi >>> 15) & 1)) this.fault(V_NP, err);
    this.markAccessed();
    return segmentFromDescriptor(sel & 0xfffc, this.dLo, this.dHi);
  }

  /** Far JMP. */
  farJump(sel: number, off: number): void {
    const seg = this.codeSegment(sel);
    this.setSegment(CS, seg);
    this.eip = this.code32 ? off | 0 : off & 0xffff;
  }

  /** Far CALL (osz: size of the pushed CS:EIP). */
  farCall(sel: number, off: number): void {
    const seg = this.codeSegment(sel);
    const n = this.osz === 0 ? 4 : 2;
    this.wr(this.osz, this.stackAddr(-n), this.segs[CS]!.selector);
    this.wr(this.osz, this.stackAddr(-2 * n), this.eip);
    this.spAdd(-2 * n);
    this.setSegment(CS, seg);
    this.eip = this.code32 ? off | 0 : off & 0xffff;
  }

  /** Far RET (+ imm16 bytes released). */
  farReturn(release: number): void {
    const sz = this.osz;
    const ip = this.peek(sz, 0);
    const sel = this.peek(sz, 1) & 0xffff;
    if (this.pe && (sel & 3) !== 0) this.fault(V_GP, sel & 0xfffc); // return to an outer ring
    const seg = this.codeSegment(sel);
    this.spAdd(2 * (sz === 0 ? 4 : 2) + release);
    this.setSegment(CS, seg);
    this.eip = this.code32 ? ip | 0 : ip & 0xffff;
  }

  iret(): void {
    const sz = this.osz;
    const ip = this.peek(sz, 0);
    const sel = this.peek(sz, 1) & 0xffff;
    const fl = this.peek(sz, 2);
    if (this.pe) {
      if (this.eflags & F_NT) this.fault(V_GP, 0); // task return: unsupported
      if (sz === 0 && (fl & (1 << 17))) this.fault(V_GP, 0); // return to virtual-8086 mode: unsupported
      if ((sel & 3) !== 0) this.fault(V_GP, sel & 0xfffc);
    }
    const seg = this.codeSegment(sel);
    this.spAdd(3 * (sz === 0 ? 4 : 2));
    this.setSegment(CS, seg);
    this.eip = this.code32 ? ip | 0 : ip & 0xffff;
    const mask = sz === 0 ? F_WRITABLE : F_WRITABLE & 0xffff;
    this.setEflags((this.getEflags() & ~mask) | (fl & mask));
    this.nmiBlocked = false;
    this.irqCheck = true;
    this.attention = 1;
  }

  // ---- interrupts and exceptions ------------------------------------------------------------------------------

  /**
   * Delivers `vector` through the IVT (real mode) or IDT, pushing `code`
   * (-1: none) and returning to `ret`. `soft` for INT n/INT3/INTO (error
   * codes from delivery then have EXT = 0). Throws FAULT if delivery faults.
   */
  deliver(vector: number, code: number, ret: number, soft: boolean): void {
    const flags = this.getEflags();
    const ext = soft ? 0 : 1;
    if (!this.pe) {
      if (vector * 4 + 3 > this.idtLimit) this.fault(V_GP, 0);
      const ent = this.sysRd32(this.idtBase + vector * 4);
      const seg = this.codeSegment(ent >>> 16);
      this.wr16(this.stackAddr(-2), flags);
      this.wr16(this.stackAddr(-4), this.segs[CS]!.selector);
      this.wr16(this.stackAddr(-6), ret);
      this.spAdd(-6);
      this.setSegment(CS, seg);
      this.eip = ent & 0xffff;
      this.setEflags(flags & ~(F_IF | F_TF | (1 << 18)));
      return;
    }
    const idtErr = vector * 8 + 2 + ext;
    if (vector * 8 + 7 > this.idtLimit) this.fault(V_GP, idtErr);
    const lo = this.sysRd32(this.idtBase + vector * 8);
    const hi = this.sysRd32(this.idtBase + vector * 8 + 4);
    const type = (hi >>> 8) & 0x1f; // with the S bit: gates have S = 0
    const is32 = type === 0xe || type === 0xf;
    if (!is32 && type !== 0x6 && type !== 0x7) this.fault(V_GP, idtErr); // task gates and junk
    if (!((hi >>> 15) & 1)) this.fault(V_NP, idtErr);
    const seg = this.codeSegment(lo >>> 16, ext);
    const offset = is32 ? (hi & 0xffff0000) | (lo & 0xffff) : lo & 0xffff;
    const sz = is32 ? 0 : 1;
    const n = is32 ? 4 : 2;
    this.wr(sz, this.stackAddr(-n), flags);
    this.wr(sz, this.stackAddr(-2 * n), this.segs[CS]!.selector);
    this.wr(sz, this.stackAddr(-3 * n), ret);
    let total = 3 * n;
    if (code >= 0) {
      this.wr(sz, this.stackAddr(-4 * n), code);
      total += n;
    }
    this.spAdd(-total);
    this.setSegment(CS, seg);
    this.eip = offset | 0;
    let nf = flags & ~(F_TF | F_NT | F_RF | (1 << 17));
    if ((type & 1) === 0) nf &= ~F_IF; // interrupt gate
    this.setEflags(nf);
  }

  /**
   * Delivers exception `vector` for the instruction at `this.start`, with the
   * SDM's double-fault rules (table 6-5): contributory + contributory (or a
   * page fault followed by either) is #DF; a fault while delivering #DF is a
   * triple fault (shutdown); otherwise the new exception is delivered instead.
   */
  raiseException(vector: number, code: number): void {
    let v = vector;
    let c = hasErrorCode(v) ? (code < 0 ? 0 : code) : -1;
    for (;;) {
      try {
        this.deliver(v, c, this.eip, false);
        return;
      } catch (e) {
        if (e !== FAULT) throw e;
        const nv = this.faultVector;
        if (v === V_DF || this.shutdownState) {
          this.triple();
          return;
        }
        if ((isContributory(v) && isContributory(nv)) || (v === V_PF && (nv === V_PF || isContributory(nv)))) {
          v = V_DF;
          c = 0;
        } else {
          v = nv;
          c = hasErrorCode(nv) ? Math.max(0, this.faultCode) : -1;
        }
      }
    }
  }

  /** Triple fault: the CPU shuts down (KVM_EXIT_SHUTDOWN). */
  triple(): void {
    this.shutdownState = true;
    this.attention = 1;
  }

  // ---- control and system registers -------------------------------------------------------------------------

  setCr0(v: number): void {
    v |= 0x10; // ET is hardwired
    if ((v & 0x80000000) && !(v & 1)) this.fault(V_GP, 0);
    if ((v & 0x20000000) && !(v & 0x40000000)) this.fault(V_GP, 0); // NW without CD
    this.cr0 = v | 0;
    if (v & 0x80000000) {
      // Paging is not modelled. This host's KVM resets a 32-bit guest that enables it (DESIGN.md), so do the same.
      this.triple();
    }
    this.updateModes();
  }

  movToCr(n: number, v: number): void {
    switch (n) {
      case 0: this.setCr0(v); return;
      case 2: this.cr2 = v | 0; return;
      case 3: this.cr3 = v | 0; return;
      case 4: this.cr4 = v | 0; return;
      default: this.fault(V_UD);
    }
  }

  movFromCr(n: number): number {
    switch (n) {
      case 0: return this.cr0;
      case 2: return this.cr2;
      case 3: return this.cr3;
      case 4: return this.cr4;
      default: return this.fault(V_UD);
    }
  }

  /** LGDT (which = 0) / LIDT (1) from the memory operand. */
  loadTableRegister(which: number): void {
    if (this.misReg) this.fault(V_UD);
    const limit = this.rd16(this.mea);
    let base = this.rd32(this.mea + 2);
    if (this.osz === 1) base &= 0xffffff;
    if (which === 0) { this.gdtBase = base; this.gdtLimit = limit; } else { this.idtBase = base; this.idtLimit = limit; }
  }

  /** SGDT (0) / SIDT (1) to the memory operand. */
  storeTableRegister(which: number): void {
    if (this.misReg) this.fault(V_UD);
    this.wr16(this.mea, which === 0 ? this.gdtLimit : this.idtLimit);
    this.wr32(this.mea + 2, which === 0 ? this.gdtBase : this.idtBase);
  }

  /** LTR: an available TSS descriptor from the GDT; marks it busy. */
  loadTaskRegister(sel: number): void {
    if (!this.pe) this.fault(V_UD);
    sel &= 0xffff;
    if ((sel & 0xfffc) === 0 || (sel & 4)) this.fault(V_GP, sel & 0xfffc);
    this.readDescriptor(sel, 0);
    const type = (this.dHi >>> 8) & 0x1f;
    if (type !== 0x1 && type !== 0x9) this.fault(V_GP, sel & 0xfffc);
    if (!((this.dHi >>> 15) & 1)) this.fault(V_NP, sel & 0xfffc);
    this.wr8(this.dAddr + 5, (this.dHi >>> 8) | 2);
    this.tr = segmentFromDescriptor(sel, this.dLo, this.dHi | 0x200);
  }

  /** LLDT: an LDT descriptor from the GDT (a null selector leaves LDTR unusable). */
  loadLdt(sel: number): void {
    if (!this.pe) this.fault(V_UD);
    sel &= 0xffff;
    if ((sel & 0xfffc) === 0) {
      this.ldt = unusableSegment(sel);
      return;
    }
    if (sel & 4) this.fault(V_GP, sel & 0xfffc);
    this.readDescriptor(sel, 0);
    if (((this.dHi >>> 8) & 0x1f) !== 0x2) this.fault(V_GP, sel & 0xfffc);
    if (!((this.dHi >>> 15) & 1)) this.fault(V_NP, sel & 0xfffc);
    this.ldt = segmentFromDescriptor(sel, this.dLo, this.dHi);
  }

  // ---- MSRs, CPUID, TSC ----------------------------------------------------------------------------------------

  /** The TSC: retired instructions (deterministic), plus the WRMSR offset. */
  tsc(): number {
    return this.instructions + this.curN + this.tscOffset;
  }

  rdmsr(msr: number): bigint {
    const h = this.hooks.rdmsr?.(msr);
    if (h !== undefined) return BigInt.asUintN(64, h);
    switch (msr) {
      case 0x10: return BigInt(this.tsc());
      case 0x1b: return 0xfee00900n; // IA32_APIC_BASE: default base, enabled, BSP
      case 0xc0000080: return BigInt(this.efer >>> 0);
      default: return this.fault(V_GP, 0);
    }
  }

  wrmsr(msr: number, value: bigint): void {
    if (this.hooks.wrmsr?.(msr, value)) return;
    switch (msr) {
      case 0x10: this.tscOffset = Number(BigInt.asUintN(53, value)) - (this.instructions + this.curN); return;
      case 0x1b: return;
      case 0xc0000080:
        // SCE and NXE may be set; LME needs long mode, which is not modelled.
        if (value & ~0x801n) this.fault(V_GP, 0);
        this.efer = Number(value);
        return;
      default: this.fault(V_GP, 0);
    }
  }

  cpuid(): void {
    const res = this.hooks.cpuid?.(this.r[0]! >>> 0, this.r[1]! >>> 0) ?? { eax: 0, ebx: 0, ecx: 0, edx: 0 };
    this.r[0] = res.eax;
    this.r[3] = res.ebx;
    this.r[1] = res.ecx;
    this.r[2] = res.edx;
  }

  rdtsc(): void {
    const t = this.tsc();
    this.r[0] = t % 0x100000000;
    this.r[2] = Math.floor(t / 0x100000000);
  }

  // ---- flag instructions ---------------------------------------------------------------------------------------

  /** STI: sets IF; interrupts are looked at after the next instruction (the STI shadow). */
  sti(): void {
    if (!(this.eflags & F_IF)) {
      this.eflags |= F_IF;
      this.shadow = true;
      this.irqCheck = true;
      this.attention = 1;
    }
  }

  cli(): void {
    this.eflags &= ~F_IF;
  }

  setDF(on: boolean): void {
    this.eflags = on ? this.eflags | F_DF : this.eflags & ~F_DF;
  }

  /** POPF's effect (CPL 0: IF, IOPL and the rest of the writable bits may change). */
  loadFlags(v: number, sz: number): void {
    const old = this.getEflags();
    const mask = sz === 0 ? F_WRITABLE : F_WRITABLE & 0xffff;
    this.setEflags((old & ~mask) | (v & mask));
    if (!(old & F_IF) && (this.eflags & F_IF)) {
      this.irqCheck = true;
      this.attention = 1;
    }
  }
}

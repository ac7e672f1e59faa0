/**
 * A bare machine for interpreter tests: 1 MiB of RAM at GPA 0, a GDT, and
 * the CPU in flat 32-bit protected mode (or real mode), with helpers to
 * write little programs as byte arrays and run them.
 *
 * Layout: GDT at 0x500, IDT at 0x1000 (empty until a test installs gates),
 * code at 0x10000, stack top at 0x80000, scratch data at 0x20000.
 * Nothing is mapped above 1 MiB: accesses there are MMIO.
 */
import { X86Cpu, type CpuExit, type CpuHooks, type SegmentState, type UndefinedFlagsModel } from '../../src/backend/sim/x86/index.js';

export const GDT = 0x500;
export const IDT = 0x1000;
export const CODE = 0x10000;
export const DATA = 0x20000;
export const STACK_TOP = 0x80000;
export const RAM_SIZE = 0x100000;
/** An address with no memory behind it. */
export const MMIO = 0xfec00000;

/** Run every test through the fast path and through the general decoder alone: both must agree. */
export const PATHS = [
  { name: 'fast path', fastPath: true },
  { name: 'general decoder', fastPath: false },
] as const;

export const SEL_CODE32 = 0x08, SEL_DATA32 = 0x10, SEL_CODE16 = 0x18, SEL_DATA16 = 0x20;

/** GDT entries: null, flat 32-bit code, flat 32-bit data, 16-bit code (base 0), 16-bit data. */
const GDT_ENTRIES: [number, number][] = [
  [0, 0],
  [0x0000ffff, 0x00cf9a00], // 0x08: code, base 0, limit 4 GiB, D=1
  [0x0000ffff, 0x00cf9200], // 0x10: data, base 0, limit 4 GiB, B=1
  [0x0000ffff, 0x00009a00], // 0x18: 16-bit code, base 0, limit 64 KiB
  [0x0000ffff, 0x00009200], // 0x20: 16-bit data
];

export function le16(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff];
}

export function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

export function flatSegment(selector: number, type: number): SegmentState {
  return { selector, base: 0, limit: 0xffffffff, type, present: 1, dpl: 0, db: 1, s: 1, l: 0, g: 1, avl: 0, unusable: 0 };
}

export interface Machine {
  cpu: X86Cpu;
  mem: Uint8Array;
  dv: DataView;
}

export interface MachineOptions {
  fastPath: boolean;
  hooks?: CpuHooks;
  /** Extra memory regions (beyond the RAM at 0). */
  regions?: { gpa: number; bytes: Uint8Array; readonly: boolean }[];
  /** Whose undefined flags the CPU produces (default: the interpreter's default, AMD's). */
  undefinedFlags?: UndefinedFlagsModel;
}

/** RAM with the GDT written, the CPU in flat 32-bit protected mode at CODE with ESP = STACK_TOP. */
export function flatMachine(opts: MachineOptions): Machine {
  const mem = new Uint8Array(RAM_SIZE);
  const dv = new DataView(mem.buffer);
  GDT_ENTRIES.forEach(([lo, hi], i) => {
    dv.setUint32(GDT + 8 * i, lo, true);
    dv.setUint32(GDT + 8 * i + 4, hi, true);
  });
  const cpu = new X86Cpu(opts.hooks ?? {}, { fastPath: opts.fastPath });
  if (opts.undefinedFlags) cpu.setUndefinedFlagsModel(opts.undefinedFlags);
  cpu.setMemoryMap([{ gpa: 0, bytes: mem, readonly: false }, ...(opts.regions ?? [])]);
  const s = cpu.getSregs();
  const code = flatSegment(SEL_CODE32, 0xb);
  const data = flatSegment(SEL_DATA32, 0x3);
  cpu.setSregs({
    ...s, cs: code, ds: data, es: data, fs: data, gs: data, ss: data,
    gdt: { base: GDT, limit: GDT_ENTRIES.length * 8 - 1 }, idt: { base: IDT, limit: 0 },
    cr0: 0x60000011,
  });
  cpu.setRegs({ rax: 0, rcx: 0, rdx: 0, rbx: 0, rsp: STACK_TOP, rbp: 0, rsi: 0, rdi: 0, rip: CODE, rflags: 2 });
  return { cpu, mem, dv };
}

/** RAM with the GDT written, the CPU in real mode at 0000:CODE16 (as after a SIPI to vector CODE16 >> 12). */
export function realModeMachine(opts: MachineOptions, vector: number): Machine {
  const m = flatMachine(opts);
  m.cpu.init();
  m.cpu.setMemoryMap([{ gpa: 0, bytes: m.mem, readonly: false }, ...(opts.regions ?? [])]);
  m.cpu.sipi(vector);
  return m;
}

export function load(m: Machine, addr: number, bytes: readonly number[]): void {
  m.mem.set(bytes, addr);
}

/** Writes a 32-bit interrupt gate (type 0xE) or trap gate (0xF) for `vector` to `handler` into the IDT at IDT. */
export function setGate(m: Machine, vector: number, handler: number, type = 0xe, selector = SEL_CODE32): void {
  m.dv.setUint32(IDT + vector * 8, (selector << 16) | (handler & 0xffff), true);
  m.dv.setUint32(IDT + vector * 8 + 4, ((handler & 0xffff0000) | 0x8000 | (type << 8)) >>> 0, true);
  const s = m.cpu.getSregs();
  m.cpu.setSregs({ ...s, idt: { base: IDT, limit: Math.max(s.idt.limit, 0x7ff) } });
}

/** Runs until an exit other than `budget`; fails if it takes more than `max` instructions. */
export function runToExit(cpu: X86Cpu, max = 1_000_000): CpuExit {
  const e = cpu.run(max);
  if (e.kind === 'budget') throw new Error(`no exit within ${max} instructions (EIP ${cpu.getRegs().rip.toString(16)})`);
  return e;
}

/** Runs until HLT and returns the registers. */
export function runToHlt(m: Machine, max = 1_000_000): ReturnType<X86Cpu['getRegs']> {
  const e = runToExit(m.cpu, max);
  if (e.kind !== 'hlt') throw new Error(`expected hlt, got ${JSON.stringify(e)}`);
  return m.cpu.getRegs();
}

// EFLAGS bits, for expectations.
export const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, TF = 0x100, IF = 0x200, DF = 0x400, OF = 0x800;
export const ARITH = CF | PF | AF | ZF | SF | OF;

/** The six arithmetic flags of `rflags`, as a readable string like "CF|ZF" ("-" for none). */
export function flagNames(rflags: number): string {
  const names: [number, string][] = [[CF, 'CF'], [PF, 'PF'], [AF, 'AF'], [ZF, 'ZF'], [SF, 'SF'], [OF, 'OF']];
  return names.filter(([b]) => rflags & b).map(([, n]) => n).join('|') || '-';
}

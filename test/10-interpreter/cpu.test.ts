/**
 * The sim's x86 interpreter, instruction by instruction: results and
 * flags, exceptions through the IDT, exits and their completion, real to
 * protected mode. Bytes are written out with a comment per instruction.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { X86Cpu, type CpuExit, type SegmentState } from '../../src/backend/sim/x86/index.js';

const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800;
const ARITH = CF | PF | AF | ZF | SF | OF;

function flatSeg(selector: number, type: number): SegmentState {
  return { selector, base: 0, limit: 0xffff_ffff, type, present: 1, dpl: 0, db: 1, s: 1, l: 0, g: 1, avl: 0, unusable: 0 };
}

/** A CPU in flat 32-bit protected mode with 1 MiB of RAM, `code` at 0x1000, stack at 0x8000. */
function cpuWith(code: number[], regs: Partial<Record<'rax' | 'rbx' | 'rcx' | 'rdx' | 'rsi' | 'rdi' | 'rflags', number>> = {}) {
  const ram = new Uint8Array(1 << 20);
  ram.set(code, 0x1000);
  const cpu = new X86Cpu({ cpuid: () => ({ eax: 1, ebx: 2, ecx: 3, edx: 4 }) });
  cpu.setMemoryMap([{ gpa: 0, bytes: ram, readonly: false }]);
  const s = cpu.getSregs();
  const data = flatSeg(0x10, 3);
  cpu.setSregs({ ...s, cs: flatSeg(0x08, 0xb), ds: data, es: data, fs: data, gs: data, ss: data, cr0: 0x11 });
  cpu.setRegs({ rax: 0, rbx: 0, rcx: 0, rdx: 0, rsi: 0, rdi: 0, rbp: 0, rsp: 0x8000, rip: 0x1000, rflags: 2, ...regs });
  return { cpu, ram };
}

/** Writes a flat 32-bit GDT (code 0x08, data 0x10) and an IDT with interrupt gates to `handlers`. */
function tables(ram: Uint8Array, cpu: X86Cpu, handlers: Record<number, number>): void {
  const dv = new DataView(ram.buffer);
  dv.setBigUint64(0x500 + 8, 0x00cf9a000000ffffn, true);
  dv.setBigUint64(0x500 + 16, 0x00cf92000000ffffn, true);
  for (const [v, h] of Object.entries(handlers)) {
    const at = 0x600 + Number(v) * 8;
    dv.setUint16(at, h & 0xffff, true);
    dv.setUint16(at + 2, 0x08, true);
    dv.setUint16(at + 4, 0x8e00, true);
    dv.setUint16(at + 6, h >>> 16, true);
  }
  cpu.setSregs({ ...cpu.getSregs(), gdt: { base: 0x500, limit: 23 }, idt: { base: 0x600, limit: 0x7ff } });
}

const run1 = (cpu: X86Cpu): CpuExit => cpu.run(1);
const flagsOf = (cpu: X86Cpu): number => cpu.getRegs().rflags & ARITH;

describe('arithmetic and flags', () => {
  it('add al, 0x7f with al=1: 0x80, SF OF AF set, CF ZF clear', () => {
    const { cpu } = cpuWith([0x04, 0x7f], { rax: 1 }); // add al, 0x7f
    run1(cpu);
    expect(cpu.getRegs().rax & 0xff).toBe(0x80);
    expect(flagsOf(cpu)).toBe(SF | OF | AF);
  });

  it('sub eax, ebx with a borrow: CF SF set, result wraps', () => {
    const { cpu } = cpuWith([0x29, 0xd8], { rax: 1, rbx: 2 }); // sub eax, ebx
    run1(cpu);
    expect(cpu.getRegs().rax).toBe(0xffff_ffff);
    expect(flagsOf(cpu)).toBe(CF | SF | PF | AF);
  });

  it('add/adc chain carries into the high word (64-bit add)', () => {
    const { cpu } = cpuWith([
      0x01, 0xd8, // add eax, ebx
      0x11, 0xca, // adc edx, ecx
    ], { rax: 0xffff_ffff, rbx: 1, rdx: 5, rcx: 7 });
    cpu.run(2);
    expect(cpu.getRegs()).toMatchObject({ rax: 0, rdx: 13 });
  });

  it('sbb with CF=1 and equal operands borrows: 0xffffffff, CF=1', () => {
    const { cpu } = cpuWith([0x19, 0xd8], { rax: 5, rbx: 5, rflags: 2 | CF }); // sbb eax, ebx
    run1(cpu);
    expect(cpu.getRegs().rax).toBe(0xffff_ffff);
    expect(flagsOf(cpu) & (CF | ZF | SF)).toBe(CF | SF);
  });

  it('shl by 0 leaves the flags; shr by 1 sets OF from the old sign bit', () => {
    const { cpu } = cpuWith([
      0xc1, 0xe0, 0x00, // shl eax, 0
      0xd1, 0xe8, //       shr eax, 1
    ], { rax: 0x8000_0001, rflags: 2 | ZF | CF });
    run1(cpu);
    expect(flagsOf(cpu)).toBe(ZF | CF);
    run1(cpu);
    expect(cpu.getRegs().rax).toBe(0x4000_0000);
    expect(flagsOf(cpu) & (CF | OF | ZF | SF)).toBe(CF | OF);
  });

  it('imul eax, eax, 0x10000 overflows 32 bits: CF=OF=1', () => {
    const { cpu } = cpuWith([0x69, 0xc0, 0x00, 0x00, 0x01, 0x00], { rax: 0x10000 }); // imul eax, eax, 0x10000
    run1(cpu);
    expect(cpu.getRegs().rax).toBe(0);
    expect(flagsOf(cpu) & (CF | OF)).toBe(CF | OF);
  });

  it('mul ebx gives the 64-bit product in edx:eax', () => {
    const { cpu } = cpuWith([0xf7, 0xe3], { rax: 0xdead_beef, rbx: 0x1234_5678 }); // mul ebx
    run1(cpu);
    const p = 0xdead_beefn * 0x1234_5678n;
    expect(cpu.getRegs()).toMatchObject({ rax: Number(p & 0xffff_ffffn), rdx: Number(p >> 32n) });
    expect(flagsOf(cpu) & (CF | OF)).toBe(CF | OF);
  });

  it('idiv: -7 / 2 = -3 remainder -1', () => {
    const { cpu } = cpuWith([0x99, 0xf7, 0xfb], { rax: -7 >>> 0, rbx: 2 }); // cdq; idiv ebx
    cpu.run(2);
    expect(cpu.getRegs()).toMatchObject({ rax: -3 >>> 0, rdx: -1 >>> 0 });
  });

  it('bt with a register bit offset addresses memory beyond the operand', () => {
    const { cpu, ram } = cpuWith([0x0f, 0xa3, 0x03], { rbx: 0x2000, rax: 100 }); // bt [ebx], eax
    ram[0x2000 + 12] = 0x10; // bit 100 = byte 12, bit 4
    run1(cpu);
    expect(flagsOf(cpu) & CF).toBe(CF);
  });

  it('cmpxchg: equal stores the source, unequal loads the destination into eax', () => {
    const { cpu, ram } = cpuWith([
      0x0f, 0xb1, 0x0b, // cmpxchg [ebx], ecx
      0x0f, 0xb1, 0x0b, // cmpxchg [ebx], ecx
    ], { rbx: 0x2000, rax: 5, rcx: 9 });
    new DataView(ram.buffer).setUint32(0x2000, 5, true);
    run1(cpu);
    expect(new DataView(ram.buffer).getUint32(0x2000, true)).toBe(9);
    expect(flagsOf(cpu) & ZF).toBe(ZF);
    run1(cpu);
    expect(cpu.getRegs().rax).toBe(9);
  });

  it('rep movsb with DF=1 copies backwards', () => {
    const { cpu, ram } = cpuWith([0xfd, 0xf3, 0xa4], { rsi: 0x2003, rdi: 0x3003, rcx: 4 }); // std; rep movsb
    ram.set([1, 2, 3, 4], 0x2000);
    cpu.run(2);
    expect([...ram.subarray(0x3000, 0x3004)]).toEqual([1, 2, 3, 4]);
    expect(cpu.getRegs()).toMatchObject({ rcx: 0, rsi: 0x1fff, rdi: 0x2fff });
  });

  it('property: lazy flags equal an eager reference for add/sub/and/or/xor/inc/dec/neg', () => {
    const ops = [
      { bytes: [0x01, 0xd8], f: (a: number, b: number) => ({ r: (a + b) >>> 0, cf: a + b > 0xffff_ffff, of: ((a ^ ~b) & (a ^ (a + b))) >>> 31 === 1, af: ((a ^ b ^ (a + b)) >>> 4) & 1 }) },
      { bytes: [0x29, 0xd8], f: (a: number, b: number) => ({ r: (a - b) >>> 0, cf: a < b, of: ((a ^ b) & (a ^ (a - b))) >>> 31 === 1, af: ((a ^ b ^ (a - b)) >>> 4) & 1 }) },
      { bytes: [0x21, 0xd8], f: (a: number, b: number) => ({ r: (a & b) >>> 0, cf: false, of: false, af: 0 }) },
      { bytes: [0x09, 0xd8], f: (a: number, b: number) => ({ r: (a | b) >>> 0, cf: false, of: false, af: 0 }) },
      { bytes: [0x31, 0xd8], f: (a: number, b: number) => ({ r: (a ^ b) >>> 0, cf: false, of: false, af: 0 }) },
      { bytes: [0xf7, 0xd8], f: (a: number) => ({ r: (-a) >>> 0, cf: a !== 0, of: a === 0x8000_0000, af: ((a ^ (-a)) >>> 4) & 1 }) },
    ];
    fc.assert(fc.property(fc.nat(ops.length - 1), fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 0, max: 0xffff_ffff }), (i, a, b) => {
      const op = ops[i]!;
      const { cpu } = cpuWith(op.bytes, { rax: a, rbx: b });
      run1(cpu);
      const e = op.f(a, b);
      let parity = e.r & 0xff;
      parity ^= parity >> 4; parity ^= parity >> 2; parity ^= parity >> 1;
      const want = (e.cf ? CF : 0) | ((parity & 1) === 0 ? PF : 0) | (e.af ? AF : 0) | (e.r === 0 ? ZF : 0) | (e.r >>> 31 ? SF : 0) | (e.of ? OF : 0);
      expect(cpu.getRegs().rax).toBe(e.r);
      expect(flagsOf(cpu)).toBe(want);
    }), { numRuns: 500 });
  });
});

describe('exits and their completion', () => {
  it('in al, 0x60 completes with the data written into the exit', () => {
    const { cpu } = cpuWith([0xe4, 0x60, 0xf4]); // in al, 0x60; hlt
    const e = cpu.run(10);
    expect(e).toMatchObject({ kind: 'io', direction: 'in', port: 0x60, size: 1 });
    (e as { data: Uint8Array }).data[0] = 0xab;
    expect(cpu.run(10)).toEqual({ kind: 'hlt' });
    expect(cpu.getRegs().rax & 0xff).toBe(0xab);
  });

  it('or [mmio], eax: a read exit, then a write exit with the combined value', () => {
    const { cpu } = cpuWith([0x09, 0x05, 0x00, 0x00, 0x00, 0xd0, 0xf4], { rax: 0x0f0 }); // or [0xd0000000], eax; hlt
    const r = cpu.run(10);
    expect(r).toMatchObject({ kind: 'mmio', isWrite: false, address: 0xd000_0000, size: 4 });
    (r as { data: Uint8Array }).data.set([0x01, 0x10, 0, 0]);
    const w = cpu.run(10);
    expect(w).toMatchObject({ kind: 'mmio', isWrite: true, address: 0xd000_0000, size: 4 });
    expect([...(w as { data: Uint8Array }).data]).toEqual([0xf1, 0x10, 0, 0]);
    expect(cpu.run(10)).toEqual({ kind: 'hlt' });
    expect(cpu.instructions).toBe(2);
  });

  it('the budget ends a run without an exit', () => {
    const { cpu } = cpuWith([0xeb, 0xfe]); // jmp $
    expect(cpu.run(1000)).toEqual({ kind: 'budget' });
    expect(cpu.instructions).toBe(1000);
  });
});

describe('interrupts and exceptions', () => {
  it('div by zero raises #DE through the IDT with EIP of the faulting instruction', () => {
    const { cpu, ram } = cpuWith([0xf7, 0xf1], { rax: 1 }); // div ecx (ecx = 0)
    ram.set([0xf4], 0x4000); // handler: hlt
    tables(ram, cpu, { 0: 0x4000 });
    expect(cpu.run(10)).toEqual({ kind: 'hlt' });
    const esp = cpu.getRegs().rsp;
    const dv = new DataView(ram.buffer);
    expect(dv.getUint32(esp, true)).toBe(0x1000); // pushed EIP: the div
    expect(dv.getUint32(esp + 4, true)).toBe(0x08); // CS
  });

  it('ud2 raises #UD; with no IDT entry the CPU triple-faults into shutdown', () => {
    const { cpu, ram } = cpuWith([0x0f, 0x0b]); // ud2
    ram.set([0xf4], 0x4000);
    tables(ram, cpu, { 6: 0x4000 });
    expect(cpu.run(10)).toEqual({ kind: 'hlt' });
    const bare = cpuWith([0x0f, 0x0b]).cpu;
    bare.setSregs({ ...bare.getSregs(), idt: { base: 0, limit: 0 } });
    expect(bare.run(10)).toEqual({ kind: 'shutdown' });
  });

  it('loading a selector beyond the GDT limit raises #GP with the selector as error code', () => {
    const { cpu, ram } = cpuWith([0x8e, 0xd8], { rax: 0x48 }); // mov ds, eax
    ram.set([0xf4], 0x4000);
    tables(ram, cpu, { 13: 0x4000 });
    cpu.run(10);
    expect(new DataView(ram.buffer).getUint32(cpu.getRegs().rsp, true)).toBe(0x48);
  });

  it('an interrupt source is asked only with IF=1 and wakes hlt', () => {
    const { cpu, ram } = cpuWith([0xf4, 0xf4]); // hlt; hlt
    ram.set([0xb0, 0x77, 0xe6, 0x80, 0xcf], 0x4000); // handler: mov al, 0x77; out 0x80, al; iret
    tables(ram, cpu, { 0x30: 0x4000 });
    let pending = true;
    cpu.setInterruptSource({ hasInterrupt: () => pending, acknowledge: () => { pending = false; return 0x30; } });
    expect(cpu.run(10)).toEqual({ kind: 'hlt' }); // IF=0: not delivered
    cpu.setRegs({ ...cpu.getRegs(), rflags: 0x202 });
    const e = cpu.run(10);
    expect(e).toMatchObject({ kind: 'io', direction: 'out', port: 0x80 });
    expect(cpu.run(10)).toEqual({ kind: 'hlt' }); // back after iret, the second hlt
  });
});

describe('real mode to protected mode', () => {
  it('lgdt; mov cr0; far jmp lands in 32-bit code with the GDT descriptor loaded', () => {
    const ram = new Uint8Array(1 << 20);
    const cpu = new X86Cpu({ cpuid: () => ({ eax: 0, ebx: 0, ecx: 0, edx: 0 }) });
    cpu.setMemoryMap([{ gpa: 0, bytes: ram, readonly: false }]);
    // An AP trampoline at 0x7000 (CS = 0x700, IP = 0), as a SIPI with vector 7 starts it.
    ram.set([
      0xfa, //                         cli
      0x0f, 0x01, 0x16, 0x20, 0x00, // lgdt [0x20]
      0x0f, 0x20, 0xc0, //             mov eax, cr0
      0x66, 0x83, 0xc8, 0x01, //       or eax, 1
      0x0f, 0x22, 0xc0, //             mov cr0, eax
      0x66, 0xea, 0x00, 0x80, 0x00, 0x00, 0x08, 0x00, // jmp dword 0x08:0x8000
    ], 0x7000);
    new DataView(ram.buffer).setUint16(0x7020, 23, true);
    new DataView(ram.buffer).setUint32(0x7022, 0x7030, true);
    new DataView(ram.buffer).setBigUint64(0x7038, 0x00cf9a000000ffffn, true);
    ram.set([0xb8, 0x78, 0x56, 0x34, 0x12, 0xf4], 0x8000); // mov eax, 0x12345678 (32-bit encoding); hlt
    const s = cpu.getSregs();
    cpu.setSregs({ ...s, cs: { ...s.cs, selector: 0x700, base: 0x7000 }, ds: { ...s.ds, selector: 0x700, base: 0x7000 } });
    cpu.setRegs({ ...cpu.getRegs(), rip: 0 });
    expect(cpu.run(100)).toEqual({ kind: 'hlt' });
    expect(cpu.getRegs().rax).toBe(0x1234_5678);
    expect(cpu.getSregs().cs).toMatchObject({ selector: 0x08, base: 0, limit: 0xffff_ffff, db: 1 });
  });
});

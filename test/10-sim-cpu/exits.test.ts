/**
 * Port I/O and MMIO exits, KVM style: writes complete before the exit;
 * reads exit with EIP on the instruction and complete on the next run()
 * with the data the caller wrote into the exit.
 */
import { describe, expect, it } from 'vitest';
import type { CpuExit } from '../../src/backend/sim/x86/index.js';
import { CODE, DATA, MMIO, PATHS, RAM_SIZE, ZF, SF, flatMachine, le32, load, runToExit, runToHlt, setGate } from './helpers.js';

type Mmio = Extract<CpuExit, { kind: 'mmio' }>;
type Io = Extract<CpuExit, { kind: 'io' }>;

function asMmio(e: CpuExit): Mmio {
  if (e.kind !== 'mmio') throw new Error(`expected an MMIO exit, got ${JSON.stringify(e)}`);
  return e;
}

function asIo(e: CpuExit): Io {
  if (e.kind !== 'io') throw new Error(`expected an I/O exit, got ${JSON.stringify(e)}`);
  return e;
}

describe.each(PATHS)('MMIO exits ($name)', ({ fastPath }) => {
  it('a read exits with EIP on the instruction and completes with the caller\'s data', () => {
    const m = flatMachine({ fastPath });
    load(m, CODE, [
      0xa1, ...le32(MMIO + 8), //            mov eax, [MMIO+8]
      0x8d, 0x58, 0x01, //                   lea ebx, [eax+1]
      0xf4, //                               hlt
    ]);
    const e = asMmio(runToExit(m.cpu));
    expect(e).toMatchObject({ isWrite: false, address: MMIO + 8, size: 4 });
    expect(m.cpu.getRegs().rip).toBe(CODE);
    expect(m.cpu.instructions).toBe(0);
    e.data.set([0x78, 0x56, 0x34, 0x12]);
    const regs = runToHlt(m);
    expect(regs.rax).toBe(0x12345678);
    expect(regs.rbx).toBe(0x12345679);
    expect(m.cpu.instructions).toBe(3);
  });

  it('a write exits after completing, with the bytes little-endian', () => {
    const m = flatMachine({ fastPath });
    load(m, CODE, [
      0xb9, ...le32(0xa1b2c3d4), //          mov ecx, 0xa1b2c3d4
      0x89, 0x0d, ...le32(MMIO + 4), //      mov [MMIO+4], ecx
      0x66, 0x89, 0x0d, ...le32(MMIO), //    mov [MMIO], cx
      0xc6, 0x05, ...le32(MMIO + 2), 0x99, // mov byte [MMIO+2], 0x99
      0xf4, //                               hlt
    ]);
    const w1 = asMmio(runToExit(m.cpu));
    expect(w1).toMatchObject({ isWrite: true, address: MMIO + 4, size: 4 });
    expect([...w1.data]).toEqual([0xd4, 0xc3, 0xb2, 0xa1]);
    expect(m.cpu.getRegs().rip).toBe(CODE + 11);
    const w2 = asMmio(runToExit(m.cpu));
    expect(w2).toMatchObject({ isWrite: true, address: MMIO, size: 2 });
    expect([...w2.data]).toEqual([0xd4, 0xc3]);
    const w3 = asMmio(runToExit(m.cpu));
    expect(w3).toMatchObject({ isWrite: true, address: MMIO + 2, size: 1 });
    expect([...w3.data]).toEqual([0x99]);
    runToHlt(m);
  });

  it('read-modify-write (or [mmio], eax): read exit, then write exit with the result, then flags', () => {
    const m = flatMachine({ fastPath });
    load(m, CODE, [
      0xb8, ...le32(0x80000001), //          mov eax, 0x80000001
      0x09, 0x05, ...le32(MMIO), //          or [MMIO], eax
      0x9c, 0x5a, //                         pushfd; pop edx
      0xf4, //                               hlt
    ]);
    const r = asMmio(runToExit(m.cpu));
    expect(r).toMatchObject({ isWrite: false, address: MMIO, size: 4 });
    r.data.set(le32(0x00f00000));
    const w = asMmio(runToExit(m.cpu));
    expect(w).toMatchObject({ isWrite: true, address: MMIO, size: 4 });
    expect([...w.data]).toEqual(le32(0x80f00001));
    const regs = runToHlt(m);
    expect(regs.rdx & (SF | ZF)).toBe(SF);
    expect(m.cpu.instructions).toBe(5);
  });

  it('inc dword [mmio] and xchg with MMIO: one read and one write each', () => {
    const m = flatMachine({ fastPath });
    load(m, CODE, [
      0xff, 0x05, ...le32(MMIO), //          inc dword [MMIO]
      0x87, 0x1d, ...le32(MMIO + 4), //      xchg [MMIO+4], ebx
      0xf4, //                               hlt
    ]);
    const r1 = asMmio(runToExit(m.cpu));
    r1.data.set(le32(41));
    const w1 = asMmio(runToExit(m.cpu));
    expect([...w1.data]).toEqual(le32(42));
    const r2 = asMmio(runToExit(m.cpu));
    expect(r2).toMatchObject({ isWrite: false, address: MMIO + 4 });
    r2.data.set(le32(7));
    const w2 = asMmio(runToExit(m.cpu));
    expect(w2).toMatchObject({ isWrite: true, address: MMIO + 4 });
    expect([...w2.data]).toEqual(le32(0));
    expect(runToHlt(m).rbx).toBe(7);
  });

  it('an instruction with two MMIO reads (cmpsb) re-executes with both answers', () => {
    const m = flatMachine({ fastPath });
    load(m, CODE, [
      0xbe, ...le32(MMIO), //                mov esi, MMIO
      0xbf, ...le32(MMIO + 0x100), //        mov edi, MMIO + 0x100
      0xa6, //                               cmpsb
      0x9c, 0x5a, //                         pushfd; pop edx
      0xf4, //                               hlt
    ]);
    const a = asMmio(runToExit(m.cpu));
    expect(a.address).toBe(MMIO);
    a.data[0] = 5;
    const b = asMmio(runToExit(m.cpu));
    expect(b.address).toBe(MMIO + 0x100);
    b.data[0] = 5;
    const regs = runToHlt(m);
    expect(regs.rdx & ZF).toBe(ZF);
    expect(regs.rsi).toBe(MMIO + 1);
    expect(regs.rdi).toBe(MMIO + 0x101);
  });

  it('rep movsd from MMIO exits once per element', () => {
    const m = flatMachine({ fastPath });
    load(m, CODE, [
      0xbe, ...le32(MMIO), //                mov esi, MMIO
      0xbf, ...le32(DATA), //                mov edi, DATA
      0xb9, ...le32(3), //                   mov ecx, 3
      0xf3, 0xa5, //                         rep movsd
      0xf4, //                               hlt
    ]);
    for (let i = 0; i < 3; i++) {
      const e = asMmio(runToExit(m.cpu));
      expect(e).toMatchObject({ isWrite: false, address: MMIO + 4 * i, size: 4 });
      e.data.set(le32(0x100 + i));
    }
    const regs = runToHlt(m);
    expect(regs.rcx).toBe(0);
    expect([0, 1, 2].map((i) => m.dv.getUint32(DATA + 4 * i, true))).toEqual([0x100, 0x101, 0x102]);
  });

  it('an access straddling the end of RAM reads the RAM part and exits for the rest', () => {
    const m = flatMachine({ fastPath });
    m.mem[RAM_SIZE - 2] = 0x11;
    m.mem[RAM_SIZE - 1] = 0x22;
    load(m, CODE, [
      0xa1, ...le32(RAM_SIZE - 2), //        mov eax, [RAM_SIZE-2]
      0xf4, //                               hlt
    ]);
    const e = asMmio(runToExit(m.cpu));
    expect(e).toMatchObject({ isWrite: false, address: RAM_SIZE, size: 2 });
    e.data.set([0x33, 0x44]);
    expect(runToHlt(m).rax).toBe(0x44332211);
  });

  it('a readonly region reads like RAM and exits on writes (KVM_MEM_READONLY); other regions are RAM', () => {
    const rom = new Uint8Array(0x1000);
    rom.set(le32(0xfeedface), 0x10);
    const extra = new Uint8Array(0x1000);
    const m = flatMachine({
      fastPath,
      regions: [{ gpa: 0x200000, bytes: rom, readonly: true }, { gpa: 0x300000, bytes: extra, readonly: false }],
    });
    load(m, CODE, [
      0xa1, ...le32(0x200010), //            mov eax, [0x200010]
      0xa3, ...le32(0x300020), //            mov [0x300020], eax
      0xa3, ...le32(0x200010), //            mov [0x200010], eax  ; readonly: exit
      0xf4, //                               hlt
    ]);
    const w = asMmio(runToExit(m.cpu));
    expect(w).toMatchObject({ isWrite: true, address: 0x200010, size: 4 });
    expect(new DataView(extra.buffer).getUint32(0x20, true)).toBe(0xfeedface);
    expect(new DataView(rom.buffer).getUint32(0x10, true)).toBe(0xfeedface);
    expect(runToHlt(m).rax).toBe(0xfeedface);
  });

  it('exit data lives in one reused buffer', () => {
    const m = flatMachine({ fastPath });
    load(m, CODE, [
      0xa3, ...le32(MMIO), //                mov [MMIO], eax
      0xa3, ...le32(MMIO + 4), //            mov [MMIO+4], eax
      0xf4, //                               hlt
    ]);
    const a = asMmio(runToExit(m.cpu));
    const b = asMmio(runToExit(m.cpu));
    expect(a.data.buffer).toBe(b.data.buffer);
  });
});

describe.each(PATHS)('port I/O exits ($name)', ({ fastPath }) => {
  it('out imm8, al and out dx, ax/eax: complete before the exit', () => {
    const m = flatMachine({ fastPath });
    load(m, CODE, [
      0xb8, ...le32(0x11223344), //          mov eax, 0x11223344
      0xe6, 0x80, //                         out 0x80, al
      0xba, ...le32(0x3f8), //               mov edx, 0x3f8
      0x66, 0xef, //                         out dx, ax
      0xef, //                               out dx, eax
      0xf4, //                               hlt
    ]);
    const a = asIo(runToExit(m.cpu));
    expect(a).toMatchObject({ direction: 'out', port: 0x80, size: 1, count: 1 });
    expect([...a.data]).toEqual([0x44]);
    expect(m.cpu.getRegs().rip).toBe(CODE + 7);
    const b = asIo(runToExit(m.cpu));
    expect(b).toMatchObject({ direction: 'out', port: 0x3f8, size: 2, count: 1 });
    expect([...b.data]).toEqual([0x44, 0x33]);
    const c = asIo(runToExit(m.cpu));
    expect(c).toMatchObject({ direction: 'out', port: 0x3f8, size: 4 });
    expect([...c.data]).toEqual([0x44, 0x33, 0x22, 0x11]);
    runToHlt(m);
  });

  it('in al, imm8 and in eax, dx complete on the next run() with the caller\'s data', () => {
    const m = flatMachine({ fastPath });
    load(m, CODE, [
      0xb8, ...le32(0xaabbccdd), //          mov eax, 0xaabbccdd
      0xe4, 0x60, //                         in al, 0x60
      0x89, 0xc3, //                         mov ebx, eax
      0xba, ...le32(0xcfc), //               mov edx, 0xcfc
      0xed, //                               in eax, dx
      0xf4, //                               hlt
    ]);
    const a = asIo(runToExit(m.cpu));
    expect(a).toMatchObject({ direction: 'in', port: 0x60, size: 1, count: 1 });
    expect(m.cpu.getRegs().rip).toBe(CODE + 5);
    a.data[0] = 0x5a;
    const b = asIo(runToExit(m.cpu));
    expect(b).toMatchObject({ direction: 'in', port: 0xcfc, size: 4 });
    b.data.set(le32(0x80001234));
    const regs = runToHlt(m);
    expect(regs.rbx).toBe(0xaabbcc5a);
    expect(regs.rax).toBe(0x80001234);
  });

  it('rep outsb exits once per byte with ESI/ECX advanced each time', () => {
    const m = flatMachine({ fastPath });
    load(m, DATA, [0x68, 0x69, 0x21]);
    load(m, CODE, [
      0xbe, ...le32(DATA), //                mov esi, DATA
      0xb9, ...le32(3), //                   mov ecx, 3
      0xba, ...le32(0x3f8), //               mov edx, 0x3f8
      0xf3, 0x6e, //                         rep outsb
      0xf4, //                               hlt
    ]);
    const bytes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const e = asIo(runToExit(m.cpu));
      expect(e).toMatchObject({ direction: 'out', port: 0x3f8, size: 1, count: 1 });
      bytes.push(e.data[0]!);
      expect(m.cpu.getRegs().rcx).toBe(2 - i);
    }
    expect(bytes).toEqual([0x68, 0x69, 0x21]);
    expect(runToHlt(m).rsi).toBe(DATA + 3);
  });

  it('rep insw stores each answer and advances EDI', () => {
    const m = flatMachine({ fastPath });
    load(m, CODE, [
      0xbf, ...le32(DATA), //                mov edi, DATA
      0xb9, ...le32(2), //                   mov ecx, 2
      0xba, ...le32(0x1f0), //               mov edx, 0x1f0
      0x66, 0xf3, 0x6d, //                   rep insw
      0xf4, //                               hlt
    ]);
    for (let i = 0; i < 2; i++) {
      const e = asIo(runToExit(m.cpu));
      expect(e).toMatchObject({ direction: 'in', port: 0x1f0, size: 2, count: 1 });
      e.data.set([0x10 + i, 0x20 + i]);
    }
    const regs = runToHlt(m);
    expect(regs.rdi).toBe(DATA + 4);
    expect([...m.mem.subarray(DATA, DATA + 4)]).toEqual([0x10, 0x20, 0x11, 0x21]);
  });

  it('an interrupt injected during an in exit is taken after the in completes', () => {
    const m = flatMachine({ fastPath });
    setGate(m, 0x30, CODE + 0x100);
    load(m, CODE + 0x100, [
      0x8b, 0x34, 0x24, //                   mov esi, [esp]       ; return EIP
      0x89, 0xc7, //                         mov edi, eax
      0xcf, //                               iret
    ]);
    load(m, CODE, [
      0xfb, //                               sti
      0x90, //                               nop
      0xe4, 0x71, //                         in al, 0x71          ; at CODE + 2
      0xf4, //                               hlt                  ; at CODE + 4
    ]);
    const e = asIo(runToExit(m.cpu));
    m.cpu.injectInterrupt(0x30);
    e.data[0] = 0x42;
    runToHlt(m);
    const regs = m.cpu.getRegs();
    expect(regs.rsi).toBe(CODE + 4);
    expect(regs.rdi & 0xff).toBe(0x42);
  });
});

/**
 * Real mode and the switch to protected mode as an AP trampoline does it
 * (SIPI -> real mode at vector << 8 : 0; lgdt; mov cr0; far jmp), 16-bit
 * operand/address forms and prefixes, the real-mode IVT, and the
 * register/segment state accessors.
 */
import { describe, expect, it } from 'vitest';
import { CODE, GDT, PATHS, SEL_CODE32, flatMachine, le16, le32, load, realModeMachine, runToHlt } from './helpers.js';

const VECTOR = CODE >> 12; // SIPI vector: CS = 0x1000, IP = 0

describe.each(PATHS)('real and protected mode ($name)', ({ fastPath }) => {
  it('SIPI starts in real mode at CS = vector << 8, IP = 0', () => {
    const m = realModeMachine({ fastPath }, VECTOR);
    const s = m.cpu.getSregs();
    expect(s.cs.selector).toBe(0x1000);
    expect(s.cs.base).toBe(0x10000);
    expect(s.cr0 & 1).toBe(0);
    expect(m.cpu.getRegs().rip).toBe(0);
    expect(m.cpu.halted).toBe(false);
  });

  it('an AP trampoline: lgdt, set CR0.PE, far jmp ptr16:32, reload segments, run 32-bit code', () => {
    const m = realModeMachine({ fastPath }, VECTOR);
    const pm32 = CODE + 0x60;
    load(m, CODE, [
      0xfa, //                                  cli
      0xfc, //                                  cld
      0x8c, 0xc8, //                            mov ax, cs
      0x8e, 0xd8, //                            mov ds, ax
      0x0f, 0x01, 0x16, ...le16(0x40), //       lgdt [0x40]
      0x0f, 0x20, 0xc0, //                      mov eax, cr0
      0x0c, 0x01, //                            or al, 1
      0x0f, 0x22, 0xc0, //                      mov cr0, eax
      0x66, 0xea, ...le32(pm32), ...le16(SEL_CODE32), // jmp dword 0x08:pm32
    ]);
    load(m, CODE + 0x40, [...le16(0x27), ...le32(GDT)]); //   gdtr: limit, base
    load(m, pm32, [
      0x66, 0xb8, ...le16(0x10), //             mov ax, 0x10
      0x8e, 0xd8, //                            mov ds, ax
      0x8e, 0xc0, //                            mov es, ax
      0x8e, 0xd0, //                            mov ss, ax
      0xbc, ...le32(0x80000), //                mov esp, 0x80000
      0x68, ...le32(0x1234), //                 push 0x1234
      0x5b, //                                  pop ebx
      0x8b, 0x0d, ...le32(CODE + 0x40), //      mov ecx, [CODE + 0x40] ; a flat 32-bit address
      0xf4, //                                  hlt
    ]);
    m.mem[GDT + 8 + 5] &= ~1; // clear the accessed bits
    m.mem[GDT + 16 + 5] &= ~1;
    const regs = runToHlt(m);
    expect(regs.rbx).toBe(0x1234);
    expect(regs.rcx).toBe(0x05000027);
    const s = m.cpu.getSregs();
    expect(s.cr0 & 1).toBe(1);
    expect(s.gdt).toEqual({ base: GDT, limit: 0x27 });
    expect(s.cs).toMatchObject({ selector: 8, base: 0, limit: 0xffffffff, db: 1, g: 1, s: 1, present: 1, type: 0xb });
    expect(s.ds).toMatchObject({ selector: 0x10, base: 0, limit: 0xffffffff, db: 1, type: 0x3 });
    expect(s.ss.selector).toBe(0x10);
    expect(m.mem[GDT + 8 + 5]! & 1).toBe(1); // the CPU set the accessed bits
    expect(m.mem[GDT + 16 + 5]! & 1).toBe(1);
  });

  it('the 32-bit operand form of lgdt, and a far jmp ptr16:16 into 16-bit protected-mode code', () => {
    const m = realModeMachine({ fastPath }, VECTOR);
    const low = 0x7000; // 16-bit code segment 0x18 has base 0: the target must be below 64 KiB
    load(m, CODE, [
      0x8c, 0xc8, //                            mov ax, cs
      0x8e, 0xd8, //                            mov ds, ax
      0x66, 0x0f, 0x01, 0x16, ...le16(0x40), // o32 lgdt [0x40]
      0x0f, 0x01, 0xe0, //                      smsw ax
      0x0c, 0x01, //                            or al, 1
      0x0f, 0x01, 0xf0, //                      lmsw ax
      0xea, ...le16(low), ...le16(0x18), //     jmp 0x18:low
    ]);
    load(m, CODE + 0x40, [...le16(0x27), ...le32(GDT)]);
    load(m, low, [
      0xb8, ...le16(0x20), //                   mov ax, 0x20         ; 16-bit operand default
      0x8e, 0xd8, //                            mov ds, ax
      0xc7, 0x06, ...le16(0x7100), ...le16(0xbeef), // mov word [0x7100], 0xbeef
      0x66, 0xb9, ...le32(0xcafef00d), //       mov ecx, 0xcafef00d  ; o32
      0xf4, //                                  hlt
    ]);
    const regs = runToHlt(m);
    expect(m.dv.getUint16(0x7100, true)).toBe(0xbeef);
    expect(regs.rcx).toBe(0xcafef00d);
    expect(regs.rip).toBe(low + 18);
    expect(m.cpu.getSregs().cs).toMatchObject({ selector: 0x18, db: 0 });
  });

  it('real-mode addressing: [bx+si], [bp+di+disp8] on SS, segment bases, 0x66 and 0x67 prefixes, call/ret', () => {
    const m = realModeMachine({ fastPath }, VECTOR);
    load(m, CODE, [
      0xb8, ...le16(0x2000), //                 mov ax, 0x2000
      0x8e, 0xd8, //                            mov ds, ax           ; DS base 0x20000
      0xbc, ...le16(0x8000), //                 mov sp, 0x8000
      0xbb, ...le16(0x10), //                   mov bx, 0x10
      0xbe, ...le16(0x04), //                   mov si, 4
      0xc7, 0x00, ...le16(0x1234), //           mov word [bx+si], 0x1234
      0x8b, 0x00, //                            mov ax, [bx+si]
      0x83, 0xc0, 0x01, //                      add ax, 1
      0xbd, ...le16(0x100), //                  mov bp, 0x100
      0x31, 0xff, //                            xor di, di
      0x89, 0x43, 0x08, //                      mov [bp+di+8], ax    ; SS:0x108
      0xe8, ...le16(0x80 - 34), //              call 0x80            ; at IP 31, next IP 34
      0x66, 0xba, ...le32(0x12345678), //       mov edx, 0x12345678
      0x66, 0xbf, ...le32(0x20014), //          mov edi, 0x20014
      0x31, 0xc0, //                            xor ax, ax
      0x8e, 0xd8, //                            mov ds, ax
      0x67, 0x8b, 0x0f, //                      mov cx, [edi]        ; 32-bit addressing
      0xf4, //                                  hlt
    ]);
    load(m, CODE + 0x80, [
      0x40, //                                  inc ax
      0x50, //                                  push ax
      0x5e, //                                  pop si
      0xc3, //                                  ret
    ]);
    const regs = runToHlt(m);
    expect(m.dv.getUint16(0x20014, true)).toBe(0x1234);
    expect(m.dv.getUint16(0x108, true)).toBe(0x1235);
    expect(regs.rsi).toBe(0x1236);
    expect(regs.rsp).toBe(0x8000);
    expect(regs.rdx).toBe(0x12345678);
    expect(regs.rcx).toBe(0x1234);
  });

  it('real-mode software interrupts go through the IVT and IRET returns', () => {
    const m = realModeMachine({ fastPath }, VECTOR);
    m.dv.setUint16(0x10 * 4, 0x200, true); // IVT[0x10] = 1000:0200
    m.dv.setUint16(0x10 * 4 + 2, 0x1000, true);
    load(m, CODE + 0x200, [
      0xb9, ...le16(0x77), //                   mov cx, 0x77
      0x9c, 0x5a, //                            pushf; pop dx        ; IF cleared inside
      0xcf, //                                  iret
    ]);
    load(m, CODE, [
      0xbc, ...le16(0x8000), //                 mov sp, 0x8000
      0xfb, //                                  sti
      0xcd, 0x10, //                            int 0x10
      0x9c, 0x5b, //                            pushf; pop bx
      0xf4, //                                  hlt
    ]);
    const regs = runToHlt(m);
    expect(regs.rcx).toBe(0x77);
    expect(regs.rdx & 0x200).toBe(0);
    expect(regs.rbx & 0x200).toBe(0x200);
    expect(regs.rsp).toBe(0x8000);
  });

  it('jmp rel8 and loop in 16-bit code wrap IP at 64 KiB', () => {
    const m = realModeMachine({ fastPath }, 0);
    // CS = 0, IP = 0: a short jump backwards wraps to 0xfffe.
    load(m, 0, [0xeb, 0xfc]); //                jmp -4 -> 0xfffe
    load(m, 0xfffe, [0xf4]); //                 hlt
    const regs = runToHlt(m);
    expect(regs.rip).toBe(0xffff);
  });
});

describe('state accessors', () => {
  it('getRegs/setRegs and getSregs/setSregs round-trip', () => {
    const m = flatMachine({ fastPath: true });
    const regs = { rax: 1, rcx: 0xffffffff, rdx: 3, rbx: 4, rsp: 5, rbp: 6, rsi: 7, rdi: 0x80000000, rip: 0x1234, rflags: 0x8d7 | 0x200 };
    m.cpu.setRegs(regs);
    expect(m.cpu.getRegs()).toEqual({ ...regs, rflags: regs.rflags | 2 });
    const s = m.cpu.getSregs();
    const t = { ...s, fs: { ...s.fs, selector: 0x33, base: 0xfffff000 }, cr3: 0x5000, cr4: 0x10, efer: 1 };
    m.cpu.setSregs(t);
    expect(m.cpu.getSregs()).toEqual(t);
  });

  it('the reset state is real mode at F000:FFF0 with CS base 0xffff0000, halted until a SIPI after init()', () => {
    const m = flatMachine({ fastPath: true });
    m.cpu.init();
    const s = m.cpu.getSregs();
    expect(s.cs).toMatchObject({ selector: 0xf000, base: 0xffff0000 });
    expect(m.cpu.getRegs()).toMatchObject({ rip: 0xfff0, rdx: 0x600, rflags: 2 });
    expect(s.cr0).toBe(0x60000010);
    expect(m.cpu.halted).toBe(true);
    expect(m.cpu.run(10).kind).toBe('hlt');
  });
});

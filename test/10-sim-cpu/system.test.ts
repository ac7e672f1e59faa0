/**
 * System instructions: descriptor-table registers, LTR/STR, LLDT/SLDT and
 * LDT selectors, far CALL/RETF, LES/LDS/LSS, CMPXCHG8B, INTO, control,
 * debug and model-specific registers.
 */
import { describe, expect, it } from 'vitest';
import { CODE, DATA, GDT, PATHS, flatMachine, le16, le32, load, runToExit, runToHlt, setGate, type Machine } from './helpers.js';

/** Writes GDT/LDT entry `index` of the table at `table`: base, limit (bytes), access byte, flags nibble. */
function descriptor(m: Machine, table: number, index: number, base: number, limit: number, access: number, flags: number): void {
  m.dv.setUint32(table + index * 8, ((base & 0xffff) << 16) | (limit & 0xffff), true);
  m.dv.setUint32(table + index * 8 + 4,
    (((base >>> 16) & 0xff) | (access << 8) | (limit & 0xf0000) | (flags << 20) | (base & 0xff000000)) >>> 0, true);
}

function extendGdt(m: Machine, entries: number): void {
  const s = m.cpu.getSregs();
  m.cpu.setSregs({ ...s, gdt: { base: GDT, limit: entries * 8 - 1 } });
}

describe.each(PATHS)('system instructions ($name)', ({ fastPath }) => {
  it('sgdt/sidt store limit and base; lgdt/lidt load them', () => {
    const m = flatMachine({ fastPath });
    load(m, DATA + 0x40, [...le16(0x3ff), ...le32(0x7000)]);
    load(m, CODE, [
      0x0f, 0x01, 0x05, ...le32(DATA), //         sgdt [DATA]
      0x0f, 0x01, 0x1d, ...le32(DATA + 0x40), //  lidt [DATA+0x40]
      0x0f, 0x01, 0x0d, ...le32(DATA + 8), //     sidt [DATA+8]
      0xf4, //                                    hlt
    ]);
    runToHlt(m);
    expect(m.dv.getUint16(DATA, true)).toBe(0x27);
    expect(m.dv.getUint32(DATA + 2, true)).toBe(GDT);
    expect(m.dv.getUint16(DATA + 8, true)).toBe(0x3ff);
    expect(m.dv.getUint32(DATA + 10, true)).toBe(0x7000);
    expect(m.cpu.getSregs().idt).toEqual({ base: 0x7000, limit: 0x3ff });
  });

  it('ltr loads an available TSS and marks it busy; str reads the selector back', () => {
    const m = flatMachine({ fastPath });
    descriptor(m, GDT, 6, DATA + 0x800, 0x67, 0x89, 0); // 0x30: available 32-bit TSS
    extendGdt(m, 7);
    load(m, CODE, [
      0xb8, ...le32(0x30), //                     mov eax, 0x30
      0x0f, 0x00, 0xd8, //                        ltr ax
      0x0f, 0x00, 0xcb, //                        str bx
      0xf4, //                                    hlt
    ]);
    const regs = runToHlt(m);
    expect(regs.rbx & 0xffff).toBe(0x30);
    expect(m.cpu.getSregs().tr).toMatchObject({ selector: 0x30, base: DATA + 0x800, limit: 0x67, type: 0xb, s: 0, present: 1 });
    expect(m.mem[GDT + 0x30 + 5]).toBe(0x8b);
  });

  it('lldt, then a data segment loaded through an LDT selector (TI = 1); sldt', () => {
    const m = flatMachine({ fastPath });
    const ldt = DATA + 0x900;
    descriptor(m, GDT, 7, ldt, 0xf, 0x82, 0); //         0x38: LDT, two entries
    descriptor(m, ldt, 1, 0x12340, 0xffff, 0x92, 0x4); // LDT[1]: data, base 0x12340
    extendGdt(m, 8);
    load(m, CODE, [
      0xb8, ...le32(0x38), //                     mov eax, 0x38
      0x0f, 0x00, 0xd0, //                        lldt ax
      0xb8, ...le32(0x0c), //                     mov eax, 0x0c        ; index 1, TI = 1
      0x8e, 0xc0, //                              mov es, ax
      0x26, 0x8b, 0x15, ...le32(0x10), //         mov edx, es:[0x10]
      0x0f, 0x00, 0xc1, //                        sldt cx
      0xf4, //                                    hlt
    ]);
    m.dv.setUint32(0x12350, 0xabcdef01, true);
    const regs = runToHlt(m);
    expect(regs.rdx).toBe(0xabcdef01);
    expect(regs.rcx & 0xffff).toBe(0x38);
    expect(m.cpu.getSregs().es).toMatchObject({ selector: 0x0c, base: 0x12340 });
  });

  it('far call through a memory pointer and retf; direct far call ptr16:32', () => {
    const m = flatMachine({ fastPath });
    const fn = CODE + 0x100;
    load(m, DATA, [...le32(fn), ...le16(0x08)]);
    load(m, fn, [
      0x8b, 0x4c, 0x24, 0x04, //                  mov ecx, [esp+4]     ; pushed CS
      0x43, //                                    inc ebx
      0xcb, //                                    retf
    ]);
    load(m, CODE, [
      0xff, 0x1d, ...le32(DATA), //               call far [DATA]
      0x9a, ...le32(fn), ...le16(0x08), //        call 0x08:fn
      0xf4, //                                    hlt
    ]);
    const regs = runToHlt(m);
    expect(regs.rbx).toBe(2);
    expect(regs.rcx).toBe(0x08);
    expect(regs.rsp).toBe(0x80000);
  });

  it('les/lds/lss load a far pointer', () => {
    const m = flatMachine({ fastPath });
    load(m, DATA, [...le32(0x1111), ...le16(0x10), ...le32(0x70000), ...le16(0x10)]);
    load(m, CODE, [
      0xc4, 0x3d, ...le32(DATA), //               les edi, [DATA]
      0x0f, 0xb2, 0x25, ...le32(DATA + 6), //     lss esp, [DATA+6]
      0xf4, //                                    hlt
    ]);
    const regs = runToHlt(m);
    expect(regs.rdi).toBe(0x1111);
    expect(regs.rsp).toBe(0x70000);
    expect(m.cpu.getSregs().es.selector).toBe(0x10);
  });

  it('cmpxchg8b compares EDX:EAX with m64', () => {
    const m = flatMachine({ fastPath });
    load(m, DATA, [...le32(1), ...le32(2)]);
    load(m, CODE, [
      0xb8, ...le32(1), //                        mov eax, 1
      0xba, ...le32(2), //                        mov edx, 2
      0xbb, ...le32(5), //                        mov ebx, 5
      0xb9, ...le32(6), //                        mov ecx, 6
      0x0f, 0xc7, 0x0d, ...le32(DATA), //         cmpxchg8b [DATA]     ; equal: store ECX:EBX
      0x9c, 0x5e, //                              pushfd; pop esi
      0x0f, 0xc7, 0x0d, ...le32(DATA), //         cmpxchg8b [DATA]     ; not equal: load EDX:EAX
      0xf4, //                                    hlt
    ]);
    const regs = runToHlt(m);
    expect(regs.rsi & 0x40).toBe(0x40);
    expect(regs.rflags & 0x40).toBe(0);
    expect([regs.rax, regs.rdx]).toEqual([5, 6]);
    expect([m.dv.getUint32(DATA, true), m.dv.getUint32(DATA + 4, true)]).toEqual([5, 6]);
  });

  it('into traps to vector 4 only when OF is set', () => {
    const m = flatMachine({ fastPath });
    setGate(m, 4, CODE + 0x100);
    load(m, CODE + 0x100, [0x46, 0xcf]); //        inc esi; iret
    load(m, CODE, [
      0xce, //                                    into                 ; OF = 0
      0xb0, 0x7f, //                              mov al, 0x7f
      0x04, 0x01, //                              add al, 1            ; OF = 1
      0xce, //                                    into
      0xf4, //                                    hlt
    ]);
    expect(runToHlt(m).rsi).toBe(1);
  });

  it('control and debug registers; EFER through wrmsr/rdmsr (LME is #GP)', () => {
    const m = flatMachine({ fastPath });
    setGate(m, 13, CODE + 0x100);
    load(m, CODE + 0x100, [0xbf, ...le32(13), 0xf4]); // mov edi, 13; hlt
    load(m, CODE, [
      0xb8, ...le32(0x9000), //                   mov eax, 0x9000
      0x0f, 0x22, 0xd8, //                        mov cr3, eax
      0x0f, 0x20, 0xdb, //                        mov ebx, cr3
      0x0f, 0x23, 0xc0, //                        mov dr0, eax
      0x0f, 0x21, 0xc2, //                        mov edx, dr0
      0x0f, 0x21, 0xf5, //                        mov ebp, dr6
      0xb9, ...le32(0xc0000080), //               mov ecx, EFER
      0xb8, ...le32(1), //                        mov eax, 1 (SCE)
      0x31, 0xd2, //                              xor edx, edx
      0x0f, 0x30, //                              wrmsr
      0x31, 0xc0, //                              xor eax, eax
      0x0f, 0x32, //                              rdmsr
      0x89, 0xc6, //                              mov esi, eax
      0xb8, ...le32(0x100), //                    mov eax, 0x100 (LME)
      0x0f, 0x30, //                              wrmsr                ; #GP
    ]);
    const regs = runToHlt(m);
    expect(regs.rbx).toBe(0x9000);
    expect(regs.rbp).toBe(0xffff0ff0);
    expect(regs.rsi).toBe(1);
    expect(regs.rdi).toBe(13);
    expect(m.cpu.getSregs()).toMatchObject({ cr3: 0x9000, efer: 1 });
  });

  it('mov ss / pop ss hold off interrupts for one instruction', () => {
    const m = flatMachine({ fastPath });
    setGate(m, 0x20, CODE + 0x100);
    load(m, CODE + 0x100, [0x89, 0xe7, 0xcf]); //  mov edi, esp; iret
    load(m, CODE, [
      0xfb, //                                    sti
      0x90, //                                    nop
      0xb8, ...le32(0x10), //                     mov eax, 0x10
      0x8e, 0xd0, //                              mov ss, ax           ; at CODE + 7
      0xbc, ...le32(0x60000), //                  mov esp, 0x60000     ; runs before the interrupt
      0xf4, //                                    hlt
    ]);
    expect(m.cpu.run(4).kind).toBe('budget'); // sti, nop, mov eax, mov ss
    expect(m.cpu.getRegs().rip).toBe(CODE + 9);
    m.cpu.injectInterrupt(0x20); // arrives in the MOV SS shadow
    expect(runToExit(m.cpu).kind).toBe('hlt');
    expect(m.cpu.getRegs().rdi).toBe(0x60000 - 12);
  });
});

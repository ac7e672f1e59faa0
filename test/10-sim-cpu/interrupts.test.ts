/**
 * Interrupts and exceptions through the IDT: an interrupt source consulted
 * at instruction boundaries, KVM_INTERRUPT-style injection, NMI, HLT and
 * its wake-up, the STI shadow, #UD/#GP/#NP with error codes, #DF, and the
 * triple fault that ends in `shutdown`.
 */
import { describe, expect, it } from 'vitest';
import type { InterruptSource } from '../../src/backend/sim/x86/index.js';
import { CODE, DATA, IF, PATHS, STACK_TOP, flatMachine, le32, load, runToExit, runToHlt, setGate } from './helpers.js';

const HANDLER = CODE + 0x800;

/** A handler that counts into [DATA] and records the interrupted EIP in [DATA+4], then IRETs. */
const COUNTING_HANDLER = [
  0xff, 0x05, ...le32(DATA), //                 inc dword [DATA]
  0x50, //                                      push eax
  0x8b, 0x44, 0x24, 0x04, //                    mov eax, [esp+4]     ; interrupted EIP
  0xa3, ...le32(DATA + 4), //                   mov [DATA+4], eax
  0x58, //                                      pop eax
  0xcf, //                                      iret
];

class CountingSource implements InterruptSource {
  acks = 0;
  constructor(public pending: number, readonly vector: number) {}
  hasInterrupt(): boolean { return this.pending > 0; }
  acknowledge(): number {
    this.pending--;
    this.acks++;
    return this.vector;
  }
}

describe.each(PATHS)('interrupts ($name)', ({ fastPath }) => {
  it('an interrupt source is served at instruction boundaries once IF = 1', () => {
    const m = flatMachine({ fastPath });
    setGate(m, 0x20, HANDLER);
    load(m, HANDLER, COUNTING_HANDLER);
    load(m, CODE, [
      0xfb, //                                  sti
      0x83, 0x3d, ...le32(DATA), 0x03, //       loop: cmp dword [DATA], 3
      0x72, 0xf7, //                            jb loop
      0xf4, //                                  hlt
    ]);
    const src = new CountingSource(3, 0x20);
    m.cpu.setInterruptSource(src);
    const regs = runToHlt(m);
    expect(src.acks).toBe(3);
    expect(m.dv.getUint32(DATA, true)).toBe(3);
    expect(regs.rsp).toBe(STACK_TOP);
  });

  it('the source is not asked while IF = 0, and is asked again when STI sets it', () => {
    const m = flatMachine({ fastPath });
    setGate(m, 0x20, HANDLER);
    load(m, HANDLER, COUNTING_HANDLER);
    load(m, CODE, [
      0xfa, //                                  cli
      0xb9, ...le32(100), //                    mov ecx, 100
      0xe2, 0xfe, //                            loop $
      0xfb, //                                  sti                  ; at CODE + 8
      0x90, //                                  nop                  ; runs in the STI shadow
      0x90, //                                  nop                  ; at CODE + 10: interrupted here
      0xf4, //                                  hlt
    ]);
    const src = new CountingSource(1, 0x20);
    let asked = 0;
    m.cpu.setInterruptSource({ hasInterrupt: () => { asked++; return src.hasInterrupt(); }, acknowledge: () => src.acknowledge() });
    runToHlt(m);
    expect(src.acks).toBe(1);
    expect(m.dv.getUint32(DATA + 4, true)).toBe(CODE + 10);
    expect(asked).toBeLessThan(5);
  });

  it('hlt exits; run() while halted returns hlt without executing; an interrupt wakes it', () => {
    const m = flatMachine({ fastPath });
    setGate(m, 0x21, HANDLER);
    load(m, HANDLER, COUNTING_HANDLER);
    load(m, CODE, [
      0xfb, //                                  sti
      0xf4, //                                  hlt                  ; at CODE + 1
      0xbb, ...le32(1), //                      mov ebx, 1           ; at CODE + 2
      0xf4, //                                  hlt
    ]);
    expect(runToExit(m.cpu).kind).toBe('hlt');
    expect(m.cpu.halted).toBe(true);
    const n = m.cpu.instructions;
    expect(m.cpu.run(1000).kind).toBe('hlt');
    expect(m.cpu.instructions).toBe(n);
    m.cpu.injectInterrupt(0x21);
    const regs = runToHlt(m);
    expect(m.dv.getUint32(DATA, true)).toBe(1);
    expect(m.dv.getUint32(DATA + 4, true)).toBe(CODE + 2);
    expect(regs.rbx).toBe(1);
  });

  it('hlt with IF = 0 stays halted even with an interrupt queued', () => {
    const m = flatMachine({ fastPath });
    setGate(m, 0x21, HANDLER);
    load(m, CODE, [0xfa, 0xf4]); //             cli; hlt
    expect(runToExit(m.cpu).kind).toBe('hlt');
    m.cpu.injectInterrupt(0x21);
    expect(m.cpu.run(1000).kind).toBe('hlt');
    expect(m.cpu.halted).toBe(true);
  });

  it('an interrupt already pending when HLT runs with IF = 1 is taken without a hlt exit', () => {
    const m = flatMachine({ fastPath });
    setGate(m, 0x21, HANDLER);
    load(m, HANDLER, COUNTING_HANDLER);
    load(m, CODE, [
      0xfa, //                                  cli
      0xfb, //                                  sti
      0xf4, //                                  hlt                  ; in the STI shadow
      0xbb, ...le32(7), //                      mov ebx, 7
      0xf4, //                                  hlt
    ]);
    m.cpu.injectInterrupt(0x21);
    const regs = runToHlt(m);
    expect(regs.rbx).toBe(7);
    expect(m.dv.getUint32(DATA, true)).toBe(1);
  });

  it('an interrupt gate clears IF, a trap gate keeps it; IRET restores EFLAGS', () => {
    const m = flatMachine({ fastPath });
    setGate(m, 0x40, HANDLER, 0xe);
    setGate(m, 0x41, HANDLER + 0x40, 0xf);
    load(m, HANDLER, [0x9c, 0x8f, 0x05, ...le32(DATA), 0xcf]); //        pushfd; pop [DATA]; iret
    load(m, HANDLER + 0x40, [0x9c, 0x8f, 0x05, ...le32(DATA + 4), 0xcf]); // pushfd; pop [DATA+4]; iret
    load(m, CODE, [
      0xfb, //                                  sti
      0xcd, 0x40, //                            int 0x40
      0xcd, 0x41, //                            int 0x41
      0x9c, 0x5a, //                            pushfd; pop edx
      0xf4, //                                  hlt
    ]);
    const regs = runToHlt(m);
    expect(m.dv.getUint32(DATA, true) & IF).toBe(0);
    expect(m.dv.getUint32(DATA + 4, true) & IF).toBe(IF);
    expect(regs.rdx & IF).toBe(IF);
  });

  it('int3 and int n push the address of the next instruction', () => {
    const m = flatMachine({ fastPath });
    setGate(m, 3, HANDLER);
    load(m, HANDLER, COUNTING_HANDLER);
    load(m, CODE, [
      0xcc, //                                  int3
      0xf4, //                                  hlt                  ; at CODE + 1
    ]);
    runToHlt(m);
    expect(m.dv.getUint32(DATA + 4, true)).toBe(CODE + 1);
  });

  it('NMI is delivered through vector 2 even with IF = 0', () => {
    const m = flatMachine({ fastPath });
    setGate(m, 2, HANDLER);
    load(m, HANDLER, COUNTING_HANDLER);
    load(m, CODE, [0xfa, 0xf4, 0xf4]); //      cli; hlt; hlt
    expect(runToExit(m.cpu).kind).toBe('hlt');
    m.cpu.injectNmi();
    expect(runToExit(m.cpu).kind).toBe('hlt');
    expect(m.dv.getUint32(DATA, true)).toBe(1);
    expect(m.dv.getUint32(DATA + 4, true)).toBe(CODE + 2);
  });

  it('the interrupt window exit comes once IF = 1 and the STI shadow has passed', () => {
    const m = flatMachine({ fastPath });
    load(m, CODE, [
      0xfa, //                                  cli
      0x90, //                                  nop
      0xfb, //                                  sti
      0x90, //                                  nop                  ; shadow
      0x90, //                                  nop                  ; at CODE + 4
      0xf4, //                                  hlt
    ]);
    m.cpu.requestInterruptWindow(true);
    expect(runToExit(m.cpu).kind).toBe('interrupt-window');
    expect(m.cpu.getRegs().rip).toBe(CODE + 4);
    expect(m.cpu.interruptsEnabled).toBe(true);
    m.cpu.requestInterruptWindow(false);
    expect(runToExit(m.cpu).kind).toBe('hlt');
  });
});

describe.each(PATHS)('exceptions ($name)', ({ fastPath }) => {
  it('#UD (ud2) reaches its handler with EIP on the instruction; the handler skips it', () => {
    const m = flatMachine({ fastPath });
    setGate(m, 6, HANDLER);
    load(m, HANDLER, [
      0xff, 0x05, ...le32(DATA), //             inc dword [DATA]
      0x83, 0x04, 0x24, 0x02, //                add dword [esp], 2   ; skip ud2
      0xcf, //                                  iret
    ]);
    load(m, CODE, [
      0x0f, 0x0b, //                            ud2
      0x0f, 0xff, //                            ud0 (with no ModRM: skipped as 2 bytes)
      0xbb, ...le32(9), //                      mov ebx, 9
      0xf4, //                                  hlt
    ]);
    const regs = runToHlt(m);
    expect(m.dv.getUint32(DATA, true)).toBe(2);
    expect(regs.rbx).toBe(9);
    expect(regs.rsp).toBe(STACK_TOP);
  });

  it('x87 and SSE opcodes are #UD (no FPU), #NM when CR0.EM is set', () => {
    const m = flatMachine({ fastPath });
    setGate(m, 6, HANDLER);
    setGate(m, 7, HANDLER + 0x40);
    load(m, HANDLER, [0xbe, ...le32(6), 0xf4]); //        mov esi, 6; hlt
    load(m, HANDLER + 0x40, [0xbe, ...le32(7), 0xf4]); // mov esi, 7; hlt
    load(m, CODE, [0xd9, 0xe8]); //                       fld1
    expect(runToHlt(m).rsi).toBe(6);
    const s = m.cpu.getSregs();
    m.cpu.setSregs({ ...s, cr0: s.cr0 | 4 });
    m.cpu.setRegs({ ...m.cpu.getRegs(), rip: CODE, rsp: STACK_TOP });
    m.cpu.halted = false;
    expect(runToHlt(m).rsi).toBe(7);
  });

  it('#GP with an error code for a selector beyond the GDT limit; #NP for a not-present segment', () => {
    const m = flatMachine({ fastPath });
    setGate(m, 13, HANDLER);
    setGate(m, 11, HANDLER + 0x40);
    load(m, HANDLER, [0x5b, 0xbe, ...le32(13), 0xf4]); //          pop ebx (error code); mov esi, 13; hlt
    load(m, HANDLER + 0x40, [0x5b, 0xbe, ...le32(11), 0xf4]); //   pop ebx; mov esi, 11; hlt
    load(m, CODE, [
      0xb8, ...le32(0x40), //                   mov eax, 0x40        ; beyond the limit (0x27)
      0x8e, 0xd8, //                            mov ds, ax
    ]);
    let regs = runToHlt(m);
    expect(regs.rsi).toBe(13);
    expect(regs.rbx).toBe(0x40);
    // A not-present data descriptor at 0x20.
    m.dv.setUint32(0x500 + 0x24, m.dv.getUint32(0x500 + 0x24, true) & ~0x8000, true);
    load(m, CODE, [
      0xb8, ...le32(0x23), //                   mov eax, 0x23        ; RPL 3 ignored for the error code
      0x8e, 0xe0, //                            mov fs, ax
    ]);
    m.cpu.setRegs({ ...m.cpu.getRegs(), rip: CODE, rsp: STACK_TOP });
    m.cpu.halted = false;
    // RPL 3 > DPL 0 is a #GP first; with RPL 0 the missing present bit gives #NP.
    regs = runToHlt(m);
    expect(regs.rsi).toBe(13);
    load(m, CODE, [0xb8, ...le32(0x20), 0x8e, 0xe0]); //             mov eax, 0x20; mov fs, ax
    m.cpu.setRegs({ ...m.cpu.getRegs(), rip: CODE, rsp: STACK_TOP });
    m.cpu.halted = false;
    regs = runToHlt(m);
    expect(regs.rsi).toBe(11);
    expect(regs.rbx).toBe(0x20);
  });

  it('a #GP whose gate is not present becomes a #DF (error code 0)', () => {
    const m = flatMachine({ fastPath });
    setGate(m, 8, HANDLER);
    setGate(m, 13, HANDLER + 0x40);
    m.dv.setUint32(0x1000 + 13 * 8 + 4, m.dv.getUint32(0x1000 + 13 * 8 + 4, true) & ~0x8000, true); // #GP gate not present
    load(m, HANDLER, [0x5b, 0xbe, ...le32(8), 0xf4]); //  pop ebx; mov esi, 8; hlt
    load(m, CODE, [0xb8, ...le32(0x40), 0x8e, 0xd8]); //  mov eax, 0x40; mov ds, ax
    const regs = runToHlt(m);
    expect(regs.rsi).toBe(8);
    expect(regs.rbx).toBe(0);
  });

  it('#UD with no usable IDT: #GP, then #DF, then a triple fault: shutdown', () => {
    const m = flatMachine({ fastPath });
    load(m, CODE, [0x0f, 0x0b]); //                       ud2
    expect(runToExit(m.cpu).kind).toBe('shutdown');
    expect(m.cpu.run(10).kind).toBe('shutdown');
    expect(m.cpu.getRegs().rip).toBe(CODE);
  });

  it('an exception in a handler-less real-mode IVT also shuts down once delivery fails three times', () => {
    const m = flatMachine({ fastPath });
    const s = m.cpu.getSregs();
    m.cpu.setSregs({ ...s, idt: { base: 0, limit: 0 } });
    load(m, CODE, [0x31, 0xc9, 0xf7, 0xf1]); //           xor ecx, ecx; div ecx
    expect(runToExit(m.cpu).kind).toBe('shutdown');
  });

  it('executing outside every memory region shuts down (KVM: emulation failure)', () => {
    const m = flatMachine({ fastPath });
    load(m, CODE, [0xe9, ...le32(0xf0000000 - (CODE + 5))]); // jmp 0xf0000000
    expect(runToExit(m.cpu).kind).toBe('shutdown');
  });

  it('setting CR0.PG shuts down (paging is not modelled; this host\'s KVM resets too)', () => {
    const m = flatMachine({ fastPath });
    load(m, CODE, [
      0x0f, 0x20, 0xc0, //                      mov eax, cr0
      0x0d, ...le32(0x80000000), //             or eax, 0x80000000
      0x0f, 0x22, 0xc0, //                      mov cr0, eax
      0xf4, //                                  hlt
    ]);
    expect(runToExit(m.cpu).kind).toBe('shutdown');
  });

  it('rdmsr of an unknown MSR is #GP(0); the hooks answer known ones; cpuid asks its hook', () => {
    const m = flatMachine({
      fastPath,
      hooks: {
        cpuid: (leaf, sub) => ({ eax: leaf + 1, ebx: sub + 2, ecx: 3, edx: 4 }),
        rdmsr: (msr) => (msr === 0x123 ? 0x1_0000_0002n : undefined),
      },
    });
    setGate(m, 13, HANDLER);
    load(m, HANDLER, [0x5b, 0xbe, ...le32(13), 0xf4]); // pop ebx; mov esi, 13; hlt
    load(m, CODE, [
      0xb8, ...le32(7), //                      mov eax, 7
      0xb9, ...le32(1), //                      mov ecx, 1
      0x0f, 0xa2, //                            cpuid
      0x89, 0xdf, //                            mov edi, ebx
      0xb9, ...le32(0x123), //                  mov ecx, 0x123
      0x0f, 0x32, //                            rdmsr
      0x89, 0xd5, //                            mov ebp, edx
      0xb9, ...le32(0x999), //                  mov ecx, 0x999
      0x0f, 0x32, //                            rdmsr                ; #GP
    ]);
    const regs = runToHlt(m);
    expect(regs.rdi).toBe(3);
    expect(regs.rax).toBe(2);
    expect(regs.rbp).toBe(1);
    expect(regs.rsi).toBe(13);
    expect(regs.rbx).toBe(0);
  });

  it('rdtsc returns the retired-instruction count', () => {
    const m = flatMachine({ fastPath });
    load(m, CODE, [
      0x90, 0x90, 0x90, //                      nop x3
      0x0f, 0x31, //                            rdtsc                ; 3 retired before it
      0x89, 0xc3, //                            mov ebx, eax
      0x0f, 0x31, //                            rdtsc
      0xf4, //                                  hlt
    ]);
    const regs = runToHlt(m);
    expect(regs.rbx).toBe(3);
    expect(regs.rax).toBe(5);
    expect(regs.rdx).toBe(0);
  });
});

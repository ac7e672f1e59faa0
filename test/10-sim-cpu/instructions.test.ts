/**
 * Instruction-level behaviour with exact flags, written as the guest's own
 * bytes (one instruction per line, with its assembly). Every case runs
 * through the fast path and through the general decoder alone. Where a flag
 * is undefined (AF after a shift...), the expectation is the default
 * model's, AMD's (src/backend/sim/x86/undefined-flags.ts; the per-vendor
 * models are tested in undefined-flags.test.ts and flags-golden.test.ts).
 */
import { describe, expect, it } from 'vitest';
import {
  AF, ARITH, CF, CODE, DATA, IDT, OF, PATHS, PF, SF, ZF, flagNames, flatMachine, le16, le32, load, runToHlt, setGate,
  type Machine,
} from './helpers.js';

/** PUSHFD; POP EDX; HLT: the flags end up in EDX. */
const FLAGS_HLT = [0x9c, 0x5a, 0xf4];

describe.each(PATHS)('instructions ($name)', ({ fastPath }) => {
  function run(code: number[], setup?: (m: Machine) => void): { m: Machine; regs: ReturnType<Machine['cpu']['getRegs']> } {
    const m = flatMachine({ fastPath });
    load(m, CODE, code);
    setup?.(m);
    return { m, regs: runToHlt(m) };
  }
  const arith = (rflags: number): string => flagNames(rflags & ARITH);

  describe('add, sub, adc, sbb', () => {
    it('add al, 0x7f overflows into the sign bit: OF SF AF', () => {
      const { regs } = run([
        0xb0, 0x01, //                 mov al, 1
        0x04, 0x7f, //                 add al, 0x7f
        ...FLAGS_HLT,
      ]);
      expect(regs.rax & 0xff).toBe(0x80);
      expect(arith(regs.rdx)).toBe(flagNames(OF | SF | AF));
    });

    it('add al, 0x80 + 0x80 carries out and overflows to zero: CF ZF PF OF', () => {
      const { regs } = run([
        0xb0, 0x80, //                 mov al, 0x80
        0x00, 0xc0, //                 add al, al
        ...FLAGS_HLT,
      ]);
      expect(regs.rax & 0xff).toBe(0);
      expect(arith(regs.rdx)).toBe(flagNames(CF | PF | ZF | OF));
    });

    it('sub eax, 2 from 1 borrows: CF SF AF PF', () => {
      const { regs } = run([
        0xb8, ...le32(1), //           mov eax, 1
        0x2d, ...le32(2), //           sub eax, 2
        ...FLAGS_HLT,
      ]);
      expect(regs.rax).toBe(0xffffffff);
      expect(arith(regs.rdx)).toBe(flagNames(CF | PF | AF | SF));
    });

    it('cmp of the most negative with 1 overflows: OF, not SF', () => {
      const { regs } = run([
        0xb8, ...le32(0x80000000), //  mov eax, 0x80000000
        0x83, 0xf8, 0x01, //           cmp eax, 1
        ...FLAGS_HLT,
      ]);
      expect(regs.rax).toBe(0x80000000);
      expect(arith(regs.rdx)).toBe(flagNames(OF | AF | PF));
    });

    it('64-bit add and subtract through adc/sbb chains', () => {
      const { regs, m } = run([
        0xb8, ...le32(0xffffffff), //  mov eax, 0xffffffff
        0xba, ...le32(1), //           mov edx, 1
        0x83, 0xc0, 0x01, //           add eax, 1          ; CF = 1
        0x83, 0xd2, 0x00, //           adc edx, 0          ; edx = 2
        0xa3, ...le32(DATA), //        mov [DATA], eax
        0x89, 0x15, ...le32(DATA + 4), // mov [DATA+4], edx
        0x83, 0xe8, 0x01, //           sub eax, 1          ; 0 - 1: CF = 1
        0x83, 0xda, 0x00, //           sbb edx, 0          ; 2 - 0 - 1 = 1
        0x89, 0xd1, //                 mov ecx, edx
        ...FLAGS_HLT,
      ]);
      expect(m.dv.getUint32(DATA, true)).toBe(0);
      expect(m.dv.getUint32(DATA + 4, true)).toBe(2);
      expect(regs.rax).toBe(0xffffffff);
      expect(regs.rcx).toBe(1);
      expect(arith(regs.rdx)).toBe('-');
    });

    it('adc with carry-in and sbb with borrow-in set AF and OF from the three-input sum', () => {
      const { regs } = run([
        0xf9, //                       stc
        0xb0, 0x7f, //                 mov al, 0x7f
        0x14, 0x00, //                 adc al, 0           ; 0x80: OF SF AF
        0x9c, 0x5b, //                 pushfd; pop ebx
        0xf9, //                       stc
        0xb1, 0x80, //                 mov cl, 0x80
        0x80, 0xd9, 0x00, //           sbb cl, 0           ; 0x7f: OF AF
        ...FLAGS_HLT,
      ]);
      expect(regs.rax & 0xff).toBe(0x80);
      expect(arith(regs.rbx)).toBe(flagNames(OF | SF | AF));
      expect(regs.rcx & 0xff).toBe(0x7f);
      expect(arith(regs.rdx)).toBe(flagNames(OF | AF));
    });

    it('adc of 0xffffffff + 0 + carry wraps to zero with CF (the carry-in counts)', () => {
      const { regs } = run([
        0xf9, //                       stc
        0xb8, ...le32(0xffffffff), //  mov eax, -1
        0x83, 0xd0, 0x00, //           adc eax, 0
        ...FLAGS_HLT,
      ]);
      expect(regs.rax).toBe(0);
      expect(arith(regs.rdx)).toBe(flagNames(CF | PF | AF | ZF));
    });

    it('inc and dec keep CF; inc 0x7fffffff overflows', () => {
      const { regs } = run([
        0xf9, //                       stc
        0xb8, ...le32(0x7fffffff), //  mov eax, 0x7fffffff
        0x40, //                       inc eax
        0x9c, 0x5b, //                 pushfd; pop ebx
        0xf8, //                       clc
        0x31, 0xc9, //                 xor ecx, ecx
        0x49, //                       dec ecx
        ...FLAGS_HLT,
      ]);
      expect(regs.rax).toBe(0x80000000);
      expect(arith(regs.rbx)).toBe(flagNames(CF | PF | AF | SF | OF));
      expect(regs.rcx).toBe(0xffffffff);
      expect(arith(regs.rdx)).toBe(flagNames(PF | AF | SF));
    });

    it('neg sets CF unless the operand is 0, OF for the most negative', () => {
      const { regs } = run([
        0xb8, ...le32(0x80000000), //  mov eax, 0x80000000
        0xf7, 0xd8, //                 neg eax
        0x9c, 0x5b, //                 pushfd; pop ebx
        0x31, 0xc9, //                 xor ecx, ecx
        0xf7, 0xd9, //                 neg ecx
        ...FLAGS_HLT,
      ]);
      expect(regs.rax).toBe(0x80000000);
      expect(arith(regs.rbx)).toBe(flagNames(CF | PF | SF | OF));
      expect(arith(regs.rdx)).toBe(flagNames(PF | ZF));
    });

    it('16-bit operations with the 0x66 prefix touch only the low word', () => {
      const { regs } = run([
        0xb8, ...le32(0x1234ffff), //  mov eax, 0x1234ffff
        0x66, 0x83, 0xc0, 0x01, //     add ax, 1
        ...FLAGS_HLT,
      ]);
      expect(regs.rax).toBe(0x12340000);
      expect(arith(regs.rdx)).toBe(flagNames(CF | PF | AF | ZF));
    });
  });

  describe('logic', () => {
    it('and/or/xor/test clear CF and OF and set ZF SF PF from the result', () => {
      const { regs } = run([
        0xf9, //                       stc
        0xb8, ...le32(0xf0f0f0f0), //  mov eax, 0xf0f0f0f0
        0x25, ...le32(0x80000000), //  and eax, 0x80000000
        0x9c, 0x5b, //                 pushfd; pop ebx
        0x85, 0xc0, //                 test eax, eax
        0xa9, ...le32(0x0f), //        test eax, 0x0f
        ...FLAGS_HLT,
      ]);
      expect(regs.rax).toBe(0x80000000);
      expect(arith(regs.rbx)).toBe(flagNames(PF | SF));
      expect(arith(regs.rdx)).toBe(flagNames(PF | ZF));
    });

    it('not changes no flags', () => {
      const { regs } = run([
        0x31, 0xc0, //                 xor eax, eax        ; ZF PF
        0xf7, 0xd0, //                 not eax
        ...FLAGS_HLT,
      ]);
      expect(regs.rax).toBe(0xffffffff);
      expect(arith(regs.rdx)).toBe(flagNames(PF | ZF));
    });
  });

  describe('shifts and rotates', () => {
    it('a shift count of 0 (CL = 0) leaves the flags and the operand alone', () => {
      const { regs } = run([
        0xb8, ...le32(0x80000000), //  mov eax, 0x80000000
        0x39, 0xc0, //                 cmp eax, eax        ; ZF PF
        0xb9, ...le32(0), //           mov ecx, 0          ; (mov keeps flags)
        0xd3, 0xe0, //                 shl eax, cl
        0xd3, 0xf8, //                 sar eax, cl
        0xd3, 0xc0, //                 rol eax, cl
        ...FLAGS_HLT,
      ]);
      expect(regs.rax).toBe(0x80000000);
      expect(arith(regs.rdx)).toBe(flagNames(ZF | PF));
    });

    it('a count of 32 is masked to 0 too', () => {
      const { regs } = run([
        0xf9, //                       stc
        0xb8, ...le32(0x12345678), //  mov eax, 0x12345678
        0xc1, 0xe0, 0x20, //           shl eax, 32
        ...FLAGS_HLT,
      ]);
      expect(regs.rax).toBe(0x12345678);
      expect(regs.rdx & CF).toBe(CF);
    });

    it('shl by 1: OF = MSB(result) xor CF', () => {
      const { regs } = run([
        0xb8, ...le32(0x40000000), //  mov eax, 0x40000000
        0xd1, 0xe0, //                 shl eax, 1
        ...FLAGS_HLT,
      ]);
      expect(regs.rax).toBe(0x80000000);
      expect(arith(regs.rdx)).toBe(flagNames(PF | AF | SF | OF));
    });

    it('shr by 1: CF = bit 0, OF = the original MSB', () => {
      const { regs } = run([
        0xb8, ...le32(0x80000001), //  mov eax, 0x80000001
        0xd1, 0xe8, //                 shr eax, 1
        ...FLAGS_HLT,
      ]);
      expect(regs.rax).toBe(0x40000000);
      expect(arith(regs.rdx)).toBe(flagNames(CF | PF | AF | OF));
    });

    it('sar by 1 keeps the sign, OF = 0', () => {
      const { regs } = run([
        0xb8, ...le32(0x80000001), //  mov eax, 0x80000001
        0xd1, 0xf8, //                 sar eax, 1
        ...FLAGS_HLT,
      ]);
      expect(regs.rax).toBe(0xc0000000);
      expect(arith(regs.rdx)).toBe(flagNames(CF | PF | AF | SF));
    });

    it('shl by 4 (count > 1): CF is the last bit out, OF = MSB xor CF', () => {
      const { regs } = run([
        0xb0, 0x1f, //                 mov al, 0x1f
        0xc0, 0xe0, 0x04, //           shl al, 4
        ...FLAGS_HLT,
      ]);
      expect(regs.rax & 0xff).toBe(0xf0);
      expect(arith(regs.rdx)).toBe(flagNames(CF | PF | AF | SF));
    });

    it('8-bit shr by 9 shifts everything out: zero, CF = 0', () => {
      const { regs } = run([
        0xb0, 0xff, //                 mov al, 0xff
        0xb1, 0x09, //                 mov cl, 9
        0xd2, 0xe8, //                 shr al, cl
        ...FLAGS_HLT,
      ]);
      expect(regs.rax & 0xff).toBe(0);
      expect(arith(regs.rdx)).toBe(flagNames(PF | AF | ZF));
    });

    it('rol/ror by 1 set CF and OF only; SF/ZF/PF/AF stay', () => {
      const { regs } = run([
        0x31, 0xdb, //                 xor ebx, ebx        ; ZF PF
        0xb0, 0x80, //                 mov al, 0x80
        0xd0, 0xc0, //                 rol al, 1           ; 0x01: CF=1, OF = 0^1
        0x9c, 0x5b, //                 pushfd; pop ebx
        0x31, 0xc9, //                 xor ecx, ecx        ; ZF PF
        0xb1, 0x01, //                 mov cl, 1
        0xd0, 0xc9, //                 ror cl, 1           ; 0x80: CF=1, OF = 1^0
        ...FLAGS_HLT,
      ]);
      expect(regs.rax & 0xff).toBe(0x01);
      expect(arith(regs.rbx)).toBe(flagNames(CF | PF | ZF | OF));
      expect(regs.rcx & 0xff).toBe(0x80);
      expect(arith(regs.rdx)).toBe(flagNames(CF | PF | ZF | OF));
    });

    it('rcl/rcr rotate through CF', () => {
      const { regs } = run([
        0xf9, //                       stc
        0xb0, 0x80, //                 mov al, 0x80
        0xd0, 0xd0, //                 rcl al, 1           ; al = 0x01, CF = 1, OF = 0^1
        0x9c, 0x5b, //                 pushfd; pop ebx
        0xf8, //                       clc
        0xb1, 0x01, //                 mov cl, 1
        0xd0, 0xd9, //                 rcr cl, 1           ; cl = 0x00, CF = 1, OF = 0
        ...FLAGS_HLT,
      ]);
      expect(regs.rax & 0xff).toBe(0x01);
      expect(regs.rbx & (CF | OF)).toBe(CF | OF);
      expect(regs.rcx & 0xff).toBe(0);
      expect(regs.rdx & (CF | OF)).toBe(CF);
    });

    it('rcl of 8 bits by 9 is a full circle: value and CF unchanged', () => {
      const { regs } = run([
        0xf9, //                       stc
        0xb0, 0x5a, //                 mov al, 0x5a
        0xb1, 0x09, //                 mov cl, 9
        0xd2, 0xd0, //                 rcl al, cl
        ...FLAGS_HLT,
      ]);
      expect(regs.rax & 0xff).toBe(0x5a);
      expect(regs.rdx & CF).toBe(CF);
    });

    it('shld/shrd shift in bits from the other register', () => {
      const { regs } = run([
        0xb8, ...le32(0x12345678), //  mov eax, 0x12345678
        0xbb, ...le32(0x9abcdef0), //  mov ebx, 0x9abcdef0
        0x0f, 0xa4, 0xd8, 0x08, //     shld eax, ebx, 8
        0x89, 0xc1, //                 mov ecx, eax
        0xb8, ...le32(0x12345678), //  mov eax, 0x12345678
        0x0f, 0xac, 0xd8, 0x08, //     shrd eax, ebx, 8
        0xf4, //                       hlt
      ]);
      expect(regs.rcx).toBe(0x3456789a);
      expect(regs.rax).toBe(0xf0123456);
    });
  });

  describe('multiply and divide', () => {
    it('imul r32, r/m32 sets CF and OF when the product does not fit', () => {
      const { regs } = run([
        0xb8, ...le32(0x10000), //     mov eax, 0x10000
        0xb9, ...le32(0x10000), //     mov ecx, 0x10000
        0x0f, 0xaf, 0xc1, //           imul eax, ecx
        0x9c, 0x5b, //                 pushfd; pop ebx
        0x6b, 0xf1, 0xfd, //           imul esi, ecx, -3
        ...FLAGS_HLT,
      ]);
      expect(regs.rax).toBe(0);
      expect(regs.rbx & (CF | OF)).toBe(CF | OF);
      expect(regs.rsi).toBe((-3 * 0x10000) >>> 0);
      expect(regs.rdx & (CF | OF)).toBe(0);
    });

    it('one-operand imul sign-extends into EDX; mul sets CF/OF when EDX is used', () => {
      const { regs, m } = run([
        0xb8, ...le32(-2), //          mov eax, -2
        0xb9, ...le32(3), //           mov ecx, 3
        0xf7, 0xe9, //                 imul ecx            ; edx:eax = -6
        0xa3, ...le32(DATA), //        mov [DATA], eax
        0x89, 0x15, ...le32(DATA + 4), // mov [DATA+4], edx
        0x9c, 0x8f, 0x05, ...le32(DATA + 8), // pushfd; pop dword [DATA+8]
        0xb8, ...le32(0x80000000), //  mov eax, 0x80000000
        0xb9, ...le32(2), //           mov ecx, 2
        0xf7, 0xe1, //                 mul ecx             ; edx:eax = 0x1_00000000
        0x89, 0xd6, //                 mov esi, edx
        ...FLAGS_HLT,
      ]);
      expect(m.dv.getUint32(DATA, true)).toBe(0xfffffffa);
      expect(m.dv.getUint32(DATA + 4, true)).toBe(0xffffffff);
      expect(m.dv.getUint32(DATA + 8, true) & (CF | OF)).toBe(0);
      expect(regs.rax).toBe(0);
      expect(regs.rsi).toBe(1);
      expect(regs.rdx & (CF | OF)).toBe(CF | OF);
    });

    it('div and idiv: quotient in EAX, remainder (with the dividend sign) in EDX', () => {
      const { regs } = run([
        0xb8, ...le32(-7), //          mov eax, -7
        0x99, //                       cdq
        0xb9, ...le32(2), //           mov ecx, 2
        0xf7, 0xf9, //                 idiv ecx            ; -3 rem -1
        0x89, 0xc3, //                 mov ebx, eax
        0x89, 0xd6, //                 mov esi, edx
        0xb8, ...le32(0), //           mov eax, 0
        0xba, ...le32(1), //           mov edx, 1          ; edx:eax = 2^32
        0xb9, ...le32(3), //           mov ecx, 3
        0xf7, 0xf1, //                 div ecx             ; 0x55555555 rem 1
        0xf4, //                       hlt
      ]);
      expect(regs.rbx).toBe((-3) >>> 0);
      expect(regs.rsi).toBe((-1) >>> 0);
      expect(regs.rax).toBe(0x55555555);
      expect(regs.rdx).toBe(1);
    });

    it('div by zero raises #DE through the IDT, pointing at the div', () => {
      const handler = CODE + 0x100;
      const { regs, m } = run([
        0xb9, ...le32(0), //           mov ecx, 0
        0xb8, ...le32(5), //           mov eax, 5
        0x31, 0xd2, //                 xor edx, edx
        0xf7, 0xf1, //                 div ecx             ; at CODE + 12
        0xf4, //                       hlt (not reached)
      ], (mm) => {
        setGate(mm, 0, handler);
        load(mm, handler, [
          0x8b, 0x1c, 0x24, //         mov ebx, [esp]      ; the faulting EIP
          0xbe, ...le32(0xdead), //    mov esi, 0xdead
          0xf4, //                     hlt
        ]);
      });
      expect(regs.rsi).toBe(0xdead);
      expect(regs.rbx).toBe(CODE + 12);
      expect(regs.rax).toBe(5); // unchanged
      expect(m.dv.getUint32(regs.rsp + 4, true)).toBe(0x08); // CS
      expect(regs.rsp).toBe(0x80000 - 12);
    });

    it('idiv of -2^31 by -1 overflows: #DE', () => {
      const { regs } = run([
        0xb8, ...le32(0x80000000), //  mov eax, 0x80000000
        0x99, //                       cdq
        0xb9, ...le32(-1), //          mov ecx, -1
        0xf7, 0xf9, //                 idiv ecx
        0xf4, //                       hlt
      ], (mm) => {
        setGate(mm, 0, CODE + 0x100);
        load(mm, CODE + 0x100, [0xbe, ...le32(0xde), 0xf4]); // mov esi, 0xde; hlt
      });
      expect(regs.rsi).toBe(0xde);
    });
  });

  describe('bit operations', () => {
    it('bts/bt with a register offset reach far beyond the operand, also backwards', () => {
      const { regs, m } = run([
        0xbb, ...le32(DATA), //        mov ebx, DATA
        0xb9, ...le32(0x8003), //      mov ecx, 0x8003     ; byte DATA + 0x1000, bit 3
        0x0f, 0xab, 0x0b, //           bts [ebx], ecx      ; CF = 0 (was clear)
        0x9c, 0x5e, //                 pushfd; pop esi
        0x0f, 0xa3, 0x0b, //           bt [ebx], ecx       ; CF = 1
        0x9c, 0x5f, //                 pushfd; pop edi
        0xb9, ...le32(-1), //          mov ecx, -1         ; bit 31 of the dword at DATA - 4
        0x0f, 0xab, 0x0b, //           bts [ebx], ecx
        0x0f, 0xba, 0x33, 0x23, //     btr dword [ebx], 35 ; immediate: bit 3 of [DATA] only
        ...FLAGS_HLT,
      ], (mm) => { mm.mem[DATA] = 0x08; });
      expect(m.mem[DATA + 0x1000]).toBe(0x08);
      expect(regs.rsi & CF).toBe(0);
      expect(regs.rdi & CF).toBe(CF);
      expect(m.mem[DATA - 1]).toBe(0x80);
      expect(m.mem[DATA]).toBe(0);
      expect(regs.rdx & CF).toBe(CF);
    });

    it('bsf/bsr find the lowest/highest set bit; a zero source leaves the destination and sets ZF', () => {
      const { regs } = run([
        0xb9, ...le32(0x00f00100), //  mov ecx, 0x00f00100
        0x0f, 0xbc, 0xc1, //           bsf eax, ecx
        0x0f, 0xbd, 0xd9, //           bsr ebx, ecx
        0x31, 0xc9, //                 xor ecx, ecx
        0xbe, ...le32(0x77), //        mov esi, 0x77
        0x0f, 0xbc, 0xf1, //           bsf esi, ecx
        ...FLAGS_HLT,
      ]);
      expect(regs.rax).toBe(8);
      expect(regs.rbx).toBe(23);
      expect(regs.rsi).toBe(0x77);
      expect(regs.rdx & ZF).toBe(ZF);
    });

    it('bswap, setcc, cmovcc', () => {
      const { regs } = run([
        0xb8, ...le32(0x11223344), //  mov eax, 0x11223344
        0x0f, 0xc8, //                 bswap eax
        0x39, 0xc0, //                 cmp eax, eax
        0x0f, 0x94, 0xc3, //           sete bl
        0x0f, 0x9f, 0xc7, //           setg bh
        0xb9, ...le32(5), //           mov ecx, 5
        0x83, 0xf9, 0x07, //           cmp ecx, 7
        0x0f, 0x4c, 0xf1, //           cmovl esi, ecx
        0x0f, 0x47, 0xf8, //           cmova edi, eax      ; not taken
        0xf4, //                       hlt
      ]);
      expect(regs.rax).toBe(0x44332211);
      expect(regs.rbx & 0xffff).toBe(0x0001);
      expect(regs.rsi).toBe(5);
      expect(regs.rdi).toBe(0);
    });
  });

  describe('string instructions', () => {
    it('rep movsb with DF = 1 copies downwards and leaves ESI/EDI one below', () => {
      const { regs, m } = run([
        0xfd, //                       std
        0xbe, ...le32(DATA + 15), //   mov esi, DATA + 15
        0xbf, ...le32(DATA + 0x10f), // mov edi, DATA + 0x10f
        0xb9, ...le32(16), //          mov ecx, 16
        0xf3, 0xa4, //                 rep movsb
        0xfc, //                       cld
        0xf4, //                       hlt
      ], (mm) => { for (let i = 0; i < 16; i++) mm.mem[DATA + i] = i + 1; });
      expect([...m.mem.subarray(DATA + 0x100, DATA + 0x110)]).toEqual([...Array(16).keys()].map((i) => i + 1));
      expect(regs.rsi).toBe(DATA - 1);
      expect(regs.rdi).toBe(DATA + 0xff);
      expect(regs.rcx).toBe(0);
    });

    it('rep stosd with DF = 1 fills dwords downwards', () => {
      const { regs, m } = run([
        0xfd, //                       std
        0xbf, ...le32(DATA + 12), //   mov edi, DATA + 12
        0xb8, ...le32(0x11223344), //  mov eax, 0x11223344
        0xb9, ...le32(4), //           mov ecx, 4
        0xf3, 0xab, //                 rep stosd
        0xf4, //                       hlt
      ]);
      for (let i = 0; i < 4; i++) expect(m.dv.getUint32(DATA + 4 * i, true)).toBe(0x11223344);
      expect(regs.rdi).toBe(DATA - 4);
      expect(regs.rflags & 0x400).toBe(0x400);
    });

    it('repne scasb stops on the match; repe cmpsb stops on the first difference', () => {
      const { regs } = run([
        0xbf, ...le32(DATA), //        mov edi, DATA
        0xb0, 0x07, //                 mov al, 7
        0xb9, ...le32(16), //          mov ecx, 16
        0xf2, 0xae, //                 repne scasb         ; stops after the 7 (index 6)
        0x89, 0xcb, //                 mov ebx, ecx
        0x89, 0xfa, //                 mov edx, edi
        0xbe, ...le32(DATA), //        mov esi, DATA
        0xbf, ...le32(DATA + 0x100), // mov edi, DATA + 0x100
        0xb9, ...le32(16), //          mov ecx, 16
        0xf3, 0xa6, //                 repe cmpsb          ; differs at index 4
        0xf4, //                       hlt
      ], (mm) => {
        for (let i = 0; i < 16; i++) { mm.mem[DATA + i] = i + 1; mm.mem[DATA + 0x100 + i] = i === 4 ? 0 : i + 1; }
      });
      expect(regs.rbx).toBe(16 - 7);
      expect(regs.rdx).toBe(DATA + 7);
      expect(regs.rcx).toBe(16 - 5);
      expect(regs.rsi).toBe(DATA + 5);
      expect(regs.rflags & (ZF | CF)).toBe(0); // 5 - 0: above
    });

    it('rep with ECX = 0 does nothing; lodsd loads and advances', () => {
      const { regs } = run([
        0x31, 0xc9, //                 xor ecx, ecx
        0xbf, ...le32(DATA), //        mov edi, DATA
        0xf3, 0xaa, //                 rep stosb           ; nothing
        0xbe, ...le32(DATA + 0x10), // mov esi, DATA + 0x10
        0xad, //                       lodsd
        0xf4, //                       hlt
      ], (mm) => { mm.dv.setUint32(DATA + 0x10, 0xcafebabe, true); });
      expect(regs.rdi).toBe(DATA);
      expect(regs.rax).toBe(0xcafebabe);
      expect(regs.rsi).toBe(DATA + 0x14);
    });

    it('a long rep movsd is interruptible: the budget stops it mid-way with EIP still on it, and it resumes', () => {
      const m = flatMachine({ fastPath });
      load(m, CODE, [
        0xbe, ...le32(DATA), //        mov esi, DATA
        0xbf, ...le32(DATA + 0x40000), // mov edi, DATA + 0x40000
        0xb9, ...le32(0x8000), //      mov ecx, 0x8000
        0xf3, 0xa5, //                 rep movsd           ; at CODE + 15
        0xf4, //                       hlt
      ]);
      for (let i = 0; i < 0x20000; i++) m.mem[DATA + i] = i * 7;
      expect(m.cpu.run(4).kind).toBe('budget');
      expect(m.cpu.getRegs().rip).toBe(CODE + 15);
      expect(m.cpu.getRegs().rcx).toBeGreaterThan(0);
      expect(runToHlt(m).rcx).toBe(0);
      expect([...m.mem.subarray(DATA + 0x40000, DATA + 0x60000)]).toEqual([...m.mem.subarray(DATA, DATA + 0x20000)]);
    });
  });

  describe('moves, exchanges, stack', () => {
    it('movsx/movzx from bytes and words', () => {
      const { regs } = run([
        0x0f, 0xbe, 0x05, ...le32(DATA), //     movsx eax, byte [DATA]
        0x0f, 0xb6, 0x0d, ...le32(DATA), //     movzx ecx, byte [DATA]
        0x0f, 0xbf, 0x15, ...le32(DATA + 2), // movsx edx, word [DATA+2]
        0x0f, 0xb7, 0x1d, ...le32(DATA + 2), // movzx ebx, word [DATA+2]
        0x66, 0x0f, 0xbe, 0x35, ...le32(DATA), // movsx si, byte [DATA]
        0xf4, //                                hlt
      ], (mm) => { mm.mem[DATA] = 0x80; mm.dv.setUint16(DATA + 2, 0x8001, true); });
      expect(regs.rax).toBe(0xffffff80);
      expect(regs.rcx).toBe(0x80);
      expect(regs.rdx).toBe(0xffff8001);
      expect(regs.rbx).toBe(0x8001);
      expect(regs.rsi & 0xffff).toBe(0xff80);
    });

    it('cmpxchg stores on a match, loads the accumulator otherwise', () => {
      const { regs, m } = run([
        0xb8, ...le32(5), //                    mov eax, 5
        0xb9, ...le32(9), //                    mov ecx, 9
        0x0f, 0xb1, 0x0d, ...le32(DATA), //     cmpxchg [DATA], ecx   ; [DATA] = 5: store 9, ZF
        0x9c, 0x5b, //                          pushfd; pop ebx
        0xb8, ...le32(5), //                    mov eax, 5
        0x0f, 0xb1, 0x0d, ...le32(DATA), //     cmpxchg [DATA], ecx   ; [DATA] = 9: eax = 9, ZF = 0
        ...FLAGS_HLT,
      ], (mm) => { mm.dv.setUint32(DATA, 5, true); });
      expect(m.dv.getUint32(DATA, true)).toBe(9);
      expect(regs.rbx & ZF).toBe(ZF);
      expect(regs.rax).toBe(9);
      expect(regs.rdx & ZF).toBe(0);
    });

    it('xadd and xchg', () => {
      const { regs, m } = run([
        0xb9, ...le32(3), //                    mov ecx, 3
        0x0f, 0xc1, 0x0d, ...le32(DATA), //     xadd [DATA], ecx      ; [DATA] = 13, ecx = 10
        0xb8, ...le32(1), //                    mov eax, 1
        0x87, 0x05, ...le32(DATA + 4), //       xchg [DATA+4], eax
        0xf4, //                                hlt
      ], (mm) => { mm.dv.setUint32(DATA, 10, true); mm.dv.setUint32(DATA + 4, 77, true); });
      expect(m.dv.getUint32(DATA, true)).toBe(13);
      expect(regs.rcx).toBe(10);
      expect(regs.rax).toBe(77);
      expect(m.dv.getUint32(DATA + 4, true)).toBe(1);
    });

    it('lea with base, scaled index and displacement computes without touching memory or flags', () => {
      const { regs } = run([
        0xbb, ...le32(0x1000), //               mov ebx, 0x1000
        0xbe, ...le32(3), //                    mov esi, 3
        0x8d, 0x84, 0xb3, ...le32(-8), //       lea eax, [ebx + esi*4 - 8]
        0x8d, 0x0c, 0x36, //                    lea ecx, [esi + esi]
        0x8d, 0x14, 0x25, ...le32(0x1234), //   lea edx, [0x1234]     ; SIB without base
        0xf4, //                                hlt
      ]);
      expect(regs.rax).toBe(0x1000 + 12 - 8);
      expect(regs.rcx).toBe(6);
      expect(regs.rdx).toBe(0x1234);
    });

    it('call/ret, push imm, enter/leave and pusha/popa keep the stack balanced', () => {
      const fn = CODE + 0x80;
      const { regs, m } = run([
        0x6a, 0xfe, //                          push -2
        0x68, ...le32(0x12345678), //           push 0x12345678
        0xe8, ...le32(fn - (CODE + 12)), //     call fn
        0x83, 0xc4, 0x08, //                    add esp, 8
        0x60, //                                pusha
        0x31, 0xc0, //                          xor eax, eax
        0x61, //                                popa
        0xf4, //                                hlt
      ], (mm) => {
        load(mm, fn, [
          0xc8, 0x10, 0x00, 0x00, //            enter 16, 0
          0x8b, 0x45, 0x08, //                  mov eax, [ebp+8]      ; 0x12345678
          0x8b, 0x5d, 0x0c, //                  mov ebx, [ebp+12]     ; -2
          0x89, 0x25, ...le32(DATA), //         mov [DATA], esp
          0xc9, //                              leave
          0xc3, //                              ret
        ]);
      });
      expect(regs.rax).toBe(0x12345678);
      expect(regs.rbx).toBe(0xfffffffe);
      expect(regs.rsp).toBe(0x80000);
      // Inside fn: return address at 0x80000-12, EBP pushed at 0x80000-16, 16 bytes of locals below.
      expect(m.dv.getUint32(DATA, true)).toBe(0x80000 - 32);
    });

    it('cbw/cwde/cwd/cdq, lahf/sahf, xlat, loop, jecxz', () => {
      const { regs } = run([
        0xb8, ...le32(0xff80), //               mov eax, 0xff80
        0x98, //                                cwde                  ; eax = 0xffffff80
        0x99, //                                cdq                   ; edx = -1
        0x89, 0xc6, //                          mov esi, eax
        0x66, 0x98, //                          cbw                   ; ax = 0xff80
        0xbb, ...le32(DATA), //                 mov ebx, DATA
        0xb0, 0x03, //                          mov al, 3
        0xd7, //                                xlat                  ; al = [DATA + 3] = 0x33
        0xb9, ...le32(5), //                    mov ecx, 5
        0x31, 0xff, //                          xor edi, edi
        0x47, //                                inc edi               ; loop body
        0xe2, 0xfd, //                          loop -3
        0xe3, 0x01, //                          jecxz +1
        0xf4, //                                hlt                   ; skipped
        0xb4, 0xd5, //                          mov ah, 0xd5
        0x9e, //                                sahf                  ; SF ZF AF PF CF
        0x9f, //                                lahf
        0xf4, //                                hlt
      ], (mm) => { mm.mem[DATA + 3] = 0x33; });
      expect(regs.rsi).toBe(0xffffff80);
      expect(regs.rdx).toBe(0xffffffff);
      expect(regs.rax & 0xff).toBe(0x33);
      expect(regs.rdi).toBe(5);
      expect((regs.rax >> 8) & 0xff).toBe(0xd7);
      expect(regs.rflags & ARITH).toBe(SF | ZF | AF | PF | CF);
    });

    it('segment override: fs with a non-zero base', () => {
      const { regs } = run([
        0xb8, ...le32(0x28), //                 mov eax, 0x28
        0x8e, 0xe0, //                          mov fs, ax
        0x64, 0x8b, 0x1d, ...le32(0x10), //     mov ebx, fs:[0x10]
        0x8c, 0xe1, //                          mov ecx, fs
        0xf4, //                                hlt
      ], (mm) => {
        // GDT entry 5 (0x28): data, base DATA, limit 64 KiB.
        mm.dv.setUint32(0x500 + 0x28, 0x0000ffff | ((DATA & 0xffff) << 16), true);
        mm.dv.setUint32(0x500 + 0x2c, ((DATA >>> 16) & 0xff) | 0x00409200 | (DATA & 0xff000000), true);
        const s = mm.cpu.getSregs();
        mm.cpu.setSregs({ ...s, gdt: { base: 0x500, limit: 0x2f } });
        mm.dv.setUint32(DATA + 0x10, 0x600df00d, true);
      });
      expect(regs.rbx).toBe(0x600df00d);
      expect(regs.rcx).toBe(0x28);
    });

    it('pushf/popf round-trips DF and the arithmetic flags', () => {
      const { regs } = run([
        0x68, ...le32(0x8d5 | 0x400), //        push CF|PF|AF|ZF|SF|OF|DF
        0x9d, //                                popf
        ...FLAGS_HLT,
      ]);
      expect(regs.rdx & (ARITH | 0x400)).toBe(ARITH | 0x400);
    });
  });

  it('the IDT helper writes a present 32-bit gate', () => {
    const m = flatMachine({ fastPath });
    setGate(m, 3, 0x12345678);
    expect(m.dv.getUint32(IDT + 24, true)).toBe((0x08 << 16) | 0x5678);
    expect(m.dv.getUint32(IDT + 28, true)).toBe(0x12348e00);
    expect(le16(0x1234)).toEqual([0x34, 0x12]);
  });
});

/* Interrupt and exception entry stubs for the idt guest: each pushes a
 * dummy error code when the CPU does not, then the vector, saves the
 * general registers and calls isr(frame). */
        .text
        .macro STUB vec, has_error
        .globl isr_\vec
isr_\vec:
        .if \has_error == 0
        push $0
        .endif
        push $\vec
        jmp isr_common
        .endm

        STUB 0, 0
        STUB 3, 0
        STUB 6, 0
        STUB 13, 1
        STUB 48, 0

isr_common:
        pusha
        push %esp
        call isr
        add $4, %esp
        popa
        add $8, %esp
        iret

/* The instructions the guest makes fault, each at a known label. */
        .globl do_div0, div0_insn, do_ud2, ud2_insn, do_gp, gp_insn, do_int30, do_int3, int3_insn
do_div0:                      /* eax = do_div0(): 32-bit div by zero (ecx = 0) */
        xor %ecx, %ecx
        mov $100, %eax
        xor %edx, %edx
div0_insn:
        div %ecx              /* F7 F1: the handler skips these 2 bytes */
        ret
do_ud2:
ud2_insn:
        ud2                   /* 0F 0B */
        ret
do_gp:                        /* load a selector beyond the GDT limit */
        push %ds
        mov $0x48, %eax
gp_insn:
        mov %eax, %ds         /* 8E D8 */
        pop %ds
        ret
do_int30:
        mov $0x11, %eax
        int $0x30
        ret
do_int3:
        int3
int3_insn:
        ret

        .section .note.GNU-stack, "", @progbits

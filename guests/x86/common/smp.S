/* SMP start for the test guests: the AP trampoline the BSP copies to
 * TRAMPOLINE (0x7000, SIPI vector 7), and the 32-bit AP entry it jumps to.
 * A SIPI starts an AP in real mode at CS = 0x0700, IP = 0: it loads the
 * trampoline's own GDT (below 1 MiB, so a 16-bit LGDT reaches it), sets
 * CR0.PE, far-jumps to ap_entry32, takes a stack by its LAPIC ID and calls
 * ap_main(id). Segments as the BSP's: 0x10 flat code, 0x18 flat data. */
        .set TRAMPOLINE, 0x7000

        .section .rodata
        .globl ap_trampoline, ap_trampoline_end
        .code16
ap_trampoline:
        cli
        cld
        xor %ax, %ax
        mov %ax, %ds
        lgdt TRAMPOLINE + (tramp_gdtr - ap_trampoline)
        mov %cr0, %eax
        or $1, %al
        mov %eax, %cr0
        ljmpl $0x10, $ap_entry32
        .align 8
tramp_gdt:
        .quad 0
        .quad 0
        .quad 0x00cf9a000000ffff         /* 0x10: flat 32-bit code */
        .quad 0x00cf92000000ffff         /* 0x18: flat data */
tramp_gdtr:
        .word tramp_gdtr - tramp_gdt - 1
        .long TRAMPOLINE + (tramp_gdt - ap_trampoline)
ap_trampoline_end:

        .text
        .code32
        .globl ap_entry32
ap_entry32:
        mov $0x18, %ax
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %fs
        mov %ax, %gs
        mov %ax, %ss
        mov 0xfee00020, %eax             /* LAPIC ID register: ID in bits 31:24 */
        shr $24, %eax
        mov %eax, %ebx
        inc %eax
        shl $12, %eax
        add $ap_stacks, %eax
        mov %eax, %esp
        push %ebx
        call ap_main
1:      cli
        hlt
        jmp 1b

        .section .bss
        .align 4096
        .globl ap_stacks
ap_stacks:
        .space 4096 * 64

        .section .note.GNU-stack, "", @progbits

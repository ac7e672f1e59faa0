/* Multiboot v1 entry for the test guests.
 * The header asks for page-aligned modules (bit 0) and memory info (bit 1);
 * the loader enters at _start in 32-bit protected mode, paging off,
 * EAX = 0x2BADB002, EBX = the multiboot information structure. */
        .section .multiboot, "a"
        .align 4
        .long 0x1BADB002                 /* magic */
        .long 0x00000003                 /* flags */
        .long -(0x1BADB002 + 0x00000003) /* checksum */

        .section .text
        .globl _start
_start:
        cli
        mov $stack_top, %esp             /* our own stack: multiboot gives none */
        cld
        push %ebx                        /* kmain(magic, info) */
        push %eax
        call kmain
        push %eax                        /* kmain's return value goes to debug-exit */
        call debug_exit
1:      hlt
        jmp 1b

        .section .bss
        .align 16
        .space 16384
stack_top:

        .section .note.GNU-stack, "", @progbits

// The entry of every arm64 guest: a Linux arm64 Image header (so QEMU's
// -kernel and our loader place it the same way: RAM base + text_offset,
// x0 = the DTB, MMU off, EL1h, DAIF masked), the exception vectors, the
// per-CPU stacks, and the secondary CPUs' entry for PSCI CPU_ON.
    .section .text.head, "ax"
    .globl _start
_start:
    b       primary                 // code0
    .long   0                       // code1
    .quad   0x80000                 // text_offset
    .quad   _image_size             // image_size
    .quad   0                       // flags: little-endian, 4K-agnostic, 2MB-aligned base
    .quad   0, 0, 0                 // res2..res4
    .ascii  "ARM\x64"               // magic
    .long   0                       // res5

primary:
    mov     x19, x0                 // the DTB address the loader passed
    adrp    x1, _bss_start
    add     x1, x1, :lo12:_bss_start
    adrp    x2, _bss_end
    add     x2, x2, :lo12:_bss_end
1:  cmp     x1, x2
    b.hs    2f
    str     xzr, [x1], #8
    b       1b
2:  mov     x0, #0
    bl      cpu_setup
    mov     x0, x19
    bl      main
    bl      exit
3:  wfi
    b       3b

// Secondary CPUs (PSCI CPU_ON entry): x0 = context id = the CPU's index.
    .globl secondary_entry
secondary_entry:
    mov     x19, x0
    bl      cpu_setup
    mov     x0, x19
    bl      secondary_main
4:  wfi
    b       4b

// x0 = CPU index: SP_EL1 = its stack top, VBAR_EL1 = vectors. Keeps x19, x30.
cpu_setup:
    msr     spsel, #1
    adrp    x1, _stacks
    add     x1, x1, :lo12:_stacks
    add     x0, x0, #1
    lsl     x0, x0, #14
    add     x1, x1, x0
    mov     sp, x1
    adrp    x1, vectors
    add     x1, x1, :lo12:vectors
    msr     vbar_el1, x1
    isb
    ret

// Exception vectors: 16 entries of 128 bytes. IRQs taken at EL1 with SP_EL1
// call irq_handler() with the caller-saved registers preserved; every other
// exception reports itself and stops the guest.
    .section .text.vectors, "ax"
    .balign 2048
vectors:
    .irp n, 0, 1, 2, 3
    .balign 128
    mov     x0, #\n
    b       unexpected
    .endr
    .balign 128                      // 0x200 current EL, SP_ELx: synchronous
    mov     x0, #4
    b       unexpected
    .balign 128                      // 0x280: IRQ
    b       irq_entry
    .balign 128                      // 0x300: FIQ
    mov     x0, #6
    b       unexpected
    .balign 128                      // 0x380: SError
    mov     x0, #7
    b       unexpected
    .irp n, 8, 9, 10, 11, 12, 13, 14, 15
    .balign 128
    mov     x0, #\n
    b       unexpected
    .endr

irq_entry:
    stp     x29, x30, [sp, #-176]!
    stp     x0, x1, [sp, #16]
    stp     x2, x3, [sp, #32]
    stp     x4, x5, [sp, #48]
    stp     x6, x7, [sp, #64]
    stp     x8, x9, [sp, #80]
    stp     x10, x11, [sp, #96]
    stp     x12, x13, [sp, #112]
    stp     x14, x15, [sp, #128]
    stp     x16, x17, [sp, #144]
    str     x18, [sp, #160]
    bl      irq_handler
    ldr     x18, [sp, #160]
    ldp     x16, x17, [sp, #144]
    ldp     x14, x15, [sp, #128]
    ldp     x12, x13, [sp, #112]
    ldp     x10, x11, [sp, #96]
    ldp     x8, x9, [sp, #80]
    ldp     x6, x7, [sp, #64]
    ldp     x4, x5, [sp, #48]
    ldp     x2, x3, [sp, #32]
    ldp     x0, x1, [sp, #16]
    ldp     x29, x30, [sp], #176
    eret

unexpected:
    mrs     x1, esr_el1
    mrs     x2, elr_el1
    mrs     x3, far_el1
    bl      unexpected_exception
5:  wfi
    b       5b

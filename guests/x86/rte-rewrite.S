/* One entry stub per vector 0x50..0x67: records the vector, then the shared
 * irq_entry (common/irqwait.S). The vector comes from the stub, not from
 * the LAPIC's ISR, which this host's KVM does not show to MMIO reads. */
        .text
        .globl vector_stubs, entered_vector
        .align 16
vector_stubs:
        .set v, 0x50
        .rept 24
        .align 16
        movl $v, entered_vector
        jmp irq_entry
        .set v, v + 1
        .endr

        .data
entered_vector: .long 0
        .section .note.GNU-stack, "", @progbits

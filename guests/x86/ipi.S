/* One entry stub per IPI vector 0x40..0x7f (vector = 0x40 + the sender's APIC
 * ID): pushes its vector for ipi_handler(vector), then leaves like
 * common/irqwait.S's irq_entry (no IRET: drops the frame, back to the wait
 * loop). The vector comes from the stub because this host's KVM shows the
 * LAPIC ISR as zero to MMIO reads. */
        .text
        .globl ipi_stubs
        .align 16
ipi_stubs:
        .set v, 0x40
        .rept 64
        .align 16
        push $v
        jmp ipi_common
        .set v, v + 1
        .endr
ipi_common:
        pusha
        pushl 32(%esp)           /* the vector, above the eight pusha registers */
        call ipi_handler
        add $4, %esp
        popa
        add $16, %esp            /* vector, EIP, CS, EFLAGS of the wait loop */
        jmp *resume_eip
        .section .note.GNU-stack, "", @progbits

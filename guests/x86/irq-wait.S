/* uint32_t wait_irq_hlt(volatile uint32_t *counter, uint32_t target): halts
 * with IF=1 until *counter >= target. No bound: only an interrupt ends the
 * HLT, so the vCPU sleeps inside KVM_RUN (the in-kernel LAPIC keeps a
 * halted vCPU there) until the VMM delivers one. Interrupts resume at 1:
 * with IF=0 (common/irqwait.S's handlers drop the frame). */
        .text
        .globl wait_irq_hlt
wait_irq_hlt:
        mov 4(%esp), %edx
        mov 8(%esp), %ecx
        movl $1f, resume_eip
1:      cmp %ecx, (%edx)
        jae 2f
        sti
        hlt
        cli
        jmp 1b
2:      cli
        mov $1, %eax
        ret
        .section .note.GNU-stack, "", @progbits

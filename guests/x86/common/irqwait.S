/* Interrupt entry and the wait loop it returns to, for guests that take interrupts.
 * This host's KVM cannot emulate a 32-bit IRET (see README), so handlers do
 * not return with IRET: they restore the interrupted registers, drop the
 * interrupt frame and jump back to the wait loop, which re-enables IF. */
        .text
        .globl irq_entry, spurious_entry, wait_irq, wait_irq_spins, resume_eip
irq_entry:
        pusha
        call irq_handler
        popa
        add $12, %esp            /* EIP, CS, EFLAGS of the wait loop */
        jmp *resume_eip

/* The LAPIC's spurious vector (an interrupt withdrawn before it was taken): no EOI. */
spurious_entry:
        add $12, %esp
        jmp *resume_eip

/* uint32_t wait_irq(volatile uint32_t *counter, uint32_t target): spins with
 * IF=1 until *counter >= target; returns 1, or 0 after a bounded number of spins.
 * uint32_t wait_irq_spins(counter, target, spins): the same with the bound given.
 * A PAUSE can cost a VM exit (pause-loop exiting), so a bound in spins is a bound
 * in time only roughly. */
wait_irq:
        mov $20000000, %eax
        jmp 0f
wait_irq_spins:
        mov 12(%esp), %eax
0:      mov 4(%esp), %edx
        mov 8(%esp), %ecx
        movl $1f, resume_eip
1:      sti
        cmp %ecx, (%edx)
        jae 2f
        pause
        dec %eax
        jnz 1b
        cli
        xor %eax, %eax
        ret
2:      cli
        mov $1, %eax
        ret

        .data
resume_eip: .long 0
        .section .note.GNU-stack, "", @progbits

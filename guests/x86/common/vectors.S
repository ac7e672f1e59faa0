/* One 16-byte entry stub per vector 0x40..0x7f (guests that say "build:
 * vectors"): pushes its vector for vector_handler(vector), then leaves like
 * common/irqwait.S's irq_entry (no IRET: drops the frame, back to the wait
 * loop, which must be where the CPU took the interrupt). The vector comes
 * from the stub because this host's KVM shows the LAPIC ISR as zero to MMIO
 * reads. */
        .text
        .globl vector_stubs
        .align 16
vector_stubs:
        .set v, 0x40
        .rept 64
        .align 16
        push $v
        jmp vector_common
        .set v, v + 1
        .endr
vector_common:
        pusha
        pushl 32(%esp)           /* the vector, above the eight pusha registers */
        call vector_handler
        add $4, %esp
        popa
        add $16, %esp            /* vector, EIP, CS, EFLAGS of the wait loop */
        jmp *resume_eip

/* uint32_t outb_wait_irq(uint32_t port, uint32_t value, volatile uint32_t *counter, uint32_t target, uint32_t spins):
 * outb(port, value) with IF = 1 already (past the STI shadow), then wait_irq_spins.
 * An interrupt the write causes is then taken as soon as the write completes,
 * without an interrupt-window exit; it resumes in the wait loop, whose registers
 * (ebx, esi, edi) were set up before the write. */
        .globl outb_wait_irq
outb_wait_irq:
        push %ebx
        push %esi
        push %edi
        mov 16(%esp), %edx
        mov 20(%esp), %eax
        mov 24(%esp), %ebx
        mov 28(%esp), %esi
        mov 32(%esp), %edi
        movl $1f, resume_eip
        sti
        nop
        outb %al, %dx
1:      sti
        cmp %esi, (%ebx)
        jae 2f
        pause
        dec %edi
        jnz 1b
        cli
        xor %eax, %eax
        jmp 3f
2:      cli
        mov $1, %eax
3:      pop %edi
        pop %esi
        pop %ebx
        ret
        .section .note.GNU-stack, "", @progbits

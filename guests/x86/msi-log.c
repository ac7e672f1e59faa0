/* build: irqwait, build: vectors.
 * msi-log: the guest of the irqfd cache's property test on a whole machine
 * (test/40-guests/irqfd-cache-property.test.ts). It says every interrupt it
 * takes on vectors 0x40..0x7f by writing the vector to LOG_PORT (after
 * writing 0 there once when it is ready), EOIs, and waits for the next
 * one (halted, or spinning with `spin=1`), for ever: the host ends the run. The host decides which vector
 * each of its sources' interrupts should arrive on, so the log is the
 * truth the test checks its translations against. */
#include "common/irqguest.h"

#define LOG_PORT 0x5e8

void vector_handler(uint32_t vector) {
    outb(LOG_PORT, vector);
    LAPIC(LAPIC_EOI) = 0;
}

/* Waits with IF=1 for ever; a handler comes back to the STI (resume_eip),
 * whose shadow covers the HLT. `spin=1` spins instead of halting: on this
 * project's KVM hosts `sti; hlt` with an interrupt already pending can
 * sleep for good in split mode (DESIGN.md), and here one often is. */
void idle(void);
void idle_spin(void);
__asm__(
    ".text\n"
    ".globl idle, idle_spin\n"
    "idle:\n"
    "  movl $1f, resume_eip\n"
    "1: sti\n"
    "  hlt\n"
    "  jmp 1b\n"
    "idle_spin:\n"
    "  movl $2f, resume_eip\n"
    "2: sti\n"
    "  pause\n"
    "  jmp 2b\n");

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic;
    uint32_t spin = cmdline_u32(mbi, "spin", 0);
    guest_setup();
    outb(LOG_PORT, 0); /* ready */
    if (spin) idle_spin();
    idle();
    return 0;
}

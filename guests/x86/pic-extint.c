/* build: irqwait, build: vectors.
 * pic-extint: the 8259 pair as a PC's legacy interrupt path. The guest
 * programs both chips (ICW1-4: vectors 0x40/0x48, cascade on IR2), puts
 * LINT0 in ExtINT mode and raises pc-testdev line 3 (ISA IRQ 3; its IOAPIC
 * pin stays masked): the interrupt arrives as ExtINT with vector 0x43.
 * Masking holds it back: IMR bit 3 (delivered at unmask, the request
 * still in IRR), and LINT0 masked. A slave line (IRQ 10, vector 0x4a)
 * goes through the cascade. IRR and ISR read back through OCW3. */
#include "common/irqguest.h"

static volatile uint32_t count, last_vector, isr_in_handler;

void vector_handler(uint32_t vector) {
    last_vector = vector;
    outb(0x20, 0x0b);                 /* OCW3: read ISR */
    isr_in_handler = inb(0x20);
    if (vector >= 0x48) {
        outb(0x2000 + 10, 0);
        outb(0xa0, 0x20);             /* non-specific EOI to the slave, then the master */
    } else {
        outb(0x2000 + (vector - 0x40), 0);
    }
    outb(0x20, 0x20);
    count++;
}

static int wait_one(uint32_t n) { return wait_irq_spins(&count, n, 200000); }
static int stays_quiet(uint32_t n) { return !wait_irq_spins(&count, n, 20000); }

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic; (void)mbi;
    guest_setup(); /* GDT, IDT 0x40..0x7f (the PIC's vectors below), everything masked */

    /* ICW1-4 on both chips: edge, cascade, vectors 0x40 and 0x48, slave on IR2, 8086 mode. */
    outb(0x20, 0x11); outb(0x21, 0x40); outb(0x21, 0x04); outb(0x21, 0x01);
    outb(0xa0, 0x11); outb(0xa1, 0x48); outb(0xa1, 0x02); outb(0xa1, 0x01);
    outb(0x21, 0xff); outb(0xa1, 0xff);  /* everything masked */
    LAPIC(0x350) = 0x700;                /* LINT0: ExtINT, unmasked */
    int ok = 1, r;

    /* 1. IR3 unmasked: the edge arrives as ExtINT with the master's vector 0x43, ISR bit 3 while in service. */
    outb(0x21, 0xff & ~(1 << 3));
    outb(0x2003, 1);
    r = wait_one(1) && last_vector == 0x43;
    say("IRQ 3 delivered as ExtINT, vector 0x43", r); ok &= r;
    r = isr_in_handler == (1 << 3);
    say("ISR bit 3 set in the handler", r); ok &= r;
    outb(0x20, 0x0b);
    r = inb(0x20) == 0;
    say("ISR clear after EOI", r); ok &= r;

    /* 2. IMR: a masked IR3 is not delivered; its request waits in IRR and is delivered at unmask. */
    outb(0x21, 0xff);
    outb(0x2003, 1);
    r = stays_quiet(2);
    say("masked in IMR: not delivered", r); ok &= r;
    outb(0x20, 0x0a);                    /* OCW3: read IRR */
    r = (inb(0x20) & (1 << 3)) != 0;
    say("request pending in IRR", r); ok &= r;
    outb(0x21, 0xff & ~(1 << 3));
    r = wait_one(2) && last_vector == 0x43;
    say("delivered at unmask", r); ok &= r;

    /* 3. LINT0 masked: the PIC's INT does not reach the CPU until LINT0 is unmasked. */
    LAPIC(0x350) = 0x10700;
    outb(0x2003, 1);
    r = stays_quiet(3);
    say("LINT0 masked: not delivered", r); ok &= r;
    LAPIC(0x350) = 0x700;
    r = wait_one(3) && last_vector == 0x43;
    say("delivered when LINT0 is unmasked", r); ok &= r;

    /* 4. The slave through the cascade: IRQ 10 -> master IR2 -> vector 0x4a. */
    outb(0x21, 0xff & ~(1 << 2));
    outb(0xa1, 0xff & ~(1 << 2));
    outb(0x2000 + 10, 1);
    r = wait_one(4) && last_vector == 0x4a;
    say("IRQ 10 through the cascade, vector 0x4a", r); ok &= r;

    outb(0x21, 0xff); outb(0xa1, 0xff);
    LAPIC(0x350) = 0x10700;
    puts(ok ? "pic-extint: PASS\n" : "pic-extint: FAIL\n");
    return ok ? 0 : 1;
}

/* build: irqwait, build: vectors.
 * uart-thre: the 16550's transmitter interrupt (IER THRE, IOAPIC pin 4,
 * edge, vector 0x44). Enabling it with THR empty interrupts at once; IIR
 * then reads THRE, and reading it clears the interrupt. Then a line is
 * sent by interrupts alone: each THRE interrupt's handler writes the next
 * byte to THR without reading IIR, so every byte must make the line fall
 * and rise again (a new edge) for the next interrupt to come. Prints
 * nothing while THRE interrupts are enabled except what the handler sends. */
#include "common/irqguest.h"

#define PIN 4
#define VECTOR 0x44
#define IER (COM1 + 1)
#define IIR (COM1 + 2)
#define IER_THRE 0x02

static const char line[] = "this line was sent by THRE interrupts\n";
static volatile uint32_t interrupts, next, sending, iir_first, iir_again;

void vector_handler(uint32_t vector) {
    (void)vector; /* only VECTOR is routed */
    interrupts++;
    if (!sending) {
        uint32_t iir = inb(IIR); /* THRE: reading it clears the interrupt */
        if (interrupts == 1) { iir_first = iir; iir_again = inb(IIR); }
    } else if (line[next]) {
        outb(COM1, (uint8_t)line[next++]); /* answers THRE; IIR not read */
    } else {
        (void)inb(IIR); /* nothing left to send: clear THRE */
    }
    LAPIC(LAPIC_EOI) = 0;
}

static int quiet(uint32_t n) { return !wait_irq_spins(&interrupts, n + 1, 20000); }

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic; (void)mbi;
    guest_setup();
    set_rte(PIN, VECTOR, 0); /* edge, active high, fixed, physical CPU 0, unmasked */
    outb(COM1 + 3, 0x03);    /* LCR: 8N1, DLAB off */
    outb(IIR, 0x00);         /* FCR: no FIFO (IIR bits 7:6 read 0) */
    outb(COM1 + 4, 0x08);    /* MCR: OUT2, the PC's interrupt gate */
    puts("uart-thre: start\n");

    /* THR is empty (the last putc has left): enabling THRE interrupts at once. */
    outb(IER, IER_THRE);
    int a = wait_irq_spins(&interrupts, 1, 200000) && interrupts == 1;
    int a_quiet = quiet(1);
    outb(IER, 0);

    /* Off and on again re-arms it; from then on the handler sends the line. */
    uint32_t len = sizeof line - 1;
    sending = 1;
    outb(IER, IER_THRE);
    int b = wait_irq_spins(&interrupts, 1 + len + 1, 2000000);
    int b_quiet = quiet(1 + len + 1);
    outb(IER, 0);
    uint32_t taken = interrupts;

    say("enabling THRE interrupts with THR empty interrupts", a);
    say("IIR reads THRE (0x02) in the handler", (iir_first & 0xff) == 0x02);
    say("reading IIR cleared it (0x01)", (iir_again & 0xff) == 0x01);
    say("no second interrupt after the IIR read", a_quiet);
    say("the whole line went out by interrupts, one per byte", b && next == len);
    say("no interrupt after the last byte's", b_quiet);
    puts("THRE interrupts: "); put_dec(taken); puts(" (1 + "); put_dec(len); puts(" bytes + 1)\n");
    int ok = a && (iir_first & 0xff) == 0x02 && (iir_again & 0xff) == 0x01 && a_quiet && b && next == len && b_quiet &&
             taken == 1 + len + 1;
    puts(ok ? "uart-thre: PASS\n" : "uart-thre: FAIL\n");
    return ok ? 0 : 1;
}

/* build: irqwait, build: vectors.
 * uart-echo: reads lines from the 16550's receiver through its interrupt
 * (IER receive-data-available, IOAPIC pin 4, edge, vector 0x44): the
 * handler drains the FIFO; the main loop waits with IF=1 and echoes each
 * line in upper case. Ends after the line "quit" (PASS) or "lines=N"
 * lines (default 3). The VMM feeds the receiver (the CLI: stdin). */
#include "common/irqguest.h"

#define PIN 4
#define VECTOR 0x44

static volatile char buf[4096];
static volatile uint32_t head, newlines, interrupts;

void vector_handler(uint32_t vector) {
    (void)vector; /* only VECTOR is routed */
    interrupts++;
    while (inb(COM1 + 5) & 1) { /* LSR.DR */
        char c = (char)inb(COM1);
        if (head < sizeof buf) buf[head++] = c;
        if (c == '\n') newlines++;
    }
    LAPIC(LAPIC_EOI) = 0;
}

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic;
    guest_setup();

    uint32_t max_lines = cmdline_u32(mbi, "lines", 3);
    set_rte(PIN, VECTOR, 0);              /* edge, active high, fixed, physical CPU 0, unmasked */
    outb(COM1 + 2, 0x01);                 /* FIFO on (what arrived before stays) */
    outb(COM1 + 4, 0x08);                 /* OUT2: the PC's interrupt gate */
    outb(COM1 + 1, 0x01);                 /* IER: received data available */
    puts("uart-echo: ready\n");

    uint32_t start = 0, line = 0;
    int quit = 0;
    while (line < max_lines && !quit) {
        if (!wait_irq(&newlines, line + 1)) { puts("uart-echo: FAIL (no input)\n"); return 1; }
        uint32_t end = start;
        while (buf[end] != '\n') end++;
        quit = end - start == 4 && buf[start] == 'q' && buf[start + 1] == 'u' && buf[start + 2] == 'i' && buf[start + 3] == 't';
        puts("> ");
        for (uint32_t i = start; i < end; i++) {
            char c = buf[i];
            putc(c >= 'a' && c <= 'z' ? c - 32 : c);
        }
        putc('\n');
        start = end + 1;
        line++;
    }
    outb(COM1 + 1, 0x00);
    puts(interrupts ? "receive interrupts: yes\n" : "receive interrupts: NO\n");
    puts("uart-echo: PASS\n");
    return interrupts ? 0 : 1;
}

/* build: irqwait.
 * uart-echo: reads lines from the 16550's receiver through its interrupt
 * (IER receive-data-available, IOAPIC pin 4, edge, vector 0x44): the
 * handler drains the FIFO; the main loop waits with IF=1 and echoes each
 * line in upper case. Ends after the line "quit" (PASS) or "lines=N"
 * lines (default 3). The VMM feeds the receiver (the CLI: stdin). */
#include "common/rt.h"

#define IOAPIC ((volatile uint32_t *)0xfec00000)
#define LAPIC(off) (*(volatile uint32_t *)(0xfee00000 + (off)))
#define PIN 4
#define VECTOR 0x44

extern char irq_entry[], spurious_entry[];
uint32_t wait_irq(volatile uint32_t *counter, uint32_t target);

static uint64_t gdt[4] = {0, 0, 0x00cf9a000000ffffull, 0x00cf92000000ffffull};
static uint64_t idt[256];
static volatile char buf[4096];
static volatile uint32_t head, newlines, interrupts;

static void ioapic_write(uint32_t reg, uint32_t v) { IOAPIC[0] = reg; IOAPIC[4] = v; }

void irq_handler(void) {
    interrupts++;
    while (inb(COM1 + 5) & 1) { /* LSR.DR */
        char c = (char)inb(COM1);
        if (head < sizeof buf) buf[head++] = c;
        if (c == '\n') newlines++;
    }
    LAPIC(0xb0) = 0;
}

static void set_gate(int v, void *h) {
    uint32_t a = (uint32_t)h;
    idt[v] = (a & 0xffff) | (0x10u << 16) | ((uint64_t)0x8e00 << 32) | ((uint64_t)(a >> 16) << 48);
}

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic;
    struct { uint16_t limit; uint32_t base; } __attribute__((packed)) gdtr = {sizeof gdt - 1, (uint32_t)gdt},
                                                                          idtr = {sizeof idt - 1, (uint32_t)idt};
    __asm__ volatile("lgdt %0" : : "m"(gdtr));
    __asm__ volatile("ljmp $0x10, $1f\n1:\n\tmov $0x18, %%ax\n\tmov %%ax, %%ds\n\tmov %%ax, %%es\n\tmov %%ax, %%ss" : : : "eax", "memory");
    set_gate(VECTOR, irq_entry);
    set_gate(0xff, spurious_entry);
    __asm__ volatile("lidt %0" : : "m"(idtr));
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
    LAPIC(0x350) = 1 << 16;
    LAPIC(0xf0) = 0x1ff;

    uint32_t max_lines = cmdline_u32(mbi, "lines", 3);
    ioapic_write(0x11 + 2 * PIN, 0);
    ioapic_write(0x10 + 2 * PIN, VECTOR); /* edge, active high, fixed, physical CPU 0, unmasked */
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

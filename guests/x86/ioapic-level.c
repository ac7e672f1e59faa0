/* build: irqwait.
 * ioapic-level: a level-triggered IOAPIC pin driven by pc-testdev (line 5,
 * port 0x2005), through the split irqchip: remote IRR set while the
 * interrupt is in service, cleared after the EOI; a line still high at EOI
 * is delivered again; a masked pin holds its interrupt until unmasked.
 * Two assertions while the interrupt is in service coalesce into one.
 * Prints only what the architecture guarantees (order, remote IRR state),
 * never timing. */
#include "common/rt.h"
#include "common/gdt.h"

#define IOAPIC ((volatile uint32_t *)0xfec00000)
#define LAPIC(off) (*(volatile uint32_t *)(0xfee00000 + (off)))
#define PIN 5
#define VECTOR 0x45
#define LINE_PORT (0x2000 + PIN)

extern char irq_entry[], spurious_entry[];
uint32_t wait_irq(volatile uint32_t *counter, uint32_t target);

static uint64_t idt[256];
volatile uint32_t count, rirr_in_handler, keep_high;

static uint32_t ioapic_read(uint32_t reg) { IOAPIC[0] = reg; return IOAPIC[4]; }
static void ioapic_write(uint32_t reg, uint32_t v) { IOAPIC[0] = reg; IOAPIC[4] = v; }
static uint32_t rte_lo(void) { return ioapic_read(0x10 + 2 * PIN); }
static void set_rte(uint32_t lo) { ioapic_write(0x11 + 2 * PIN, 0); ioapic_write(0x10 + 2 * PIN, lo); }

void irq_handler(void) {
    count++;
    rirr_in_handler = (rte_lo() >> 14) & 1;
    if (!keep_high) outb(LINE_PORT, 0);
    keep_high = 0;
    LAPIC(0xb0) = 0; /* EOI */
}

/* Remote IRR must clear after the EOI; give the EOI exit a few exits to arrive. */
static int remote_irr_clears(void) {
    for (int i = 0; i < 100; i++) {
        __asm__ volatile("sti; nop; nop; cli");
        if (!((rte_lo() >> 14) & 1)) return 1;
    }
    return 0;
}

static void say(const char *what, int ok) { puts(what); puts(ok ? ": yes\n" : ": NO\n"); }

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic; (void)mbi;
    struct { uint16_t limit; uint32_t base; } __attribute__((packed)) idtr = {sizeof idt - 1, (uint32_t)idt};
    load_flat_gdt();
    uint32_t h = (uint32_t)irq_entry;
    idt[VECTOR] = (h & 0xffff) | (0x10u << 16) | ((uint64_t)0x8e00 << 32) | ((uint64_t)(h >> 16) << 48);
    h = (uint32_t)spurious_entry;
    idt[0xff] = (h & 0xffff) | (0x10u << 16) | ((uint64_t)0x8e00 << 32) | ((uint64_t)(h >> 16) << 48);
    __asm__ volatile("lidt %0" : : "m"(idtr));
    /* Under QEMU the BIOS leaves the 8259 PIC wired to LINT0 (virtual wire mode): mask the PIC and LINT0 so
     * that pc-testdev's ISA lines reach the CPU only through the IOAPIC. */
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
    LAPIC(0x350) = 1 << 16; /* LVT LINT0 masked */
    LAPIC(0xf0) = 0x1ff; /* software enable, spurious vector 0xff */

    int ok = 1, r;
    puts("ioapic version ");
    put_hex(ioapic_read(1) & 0xff, 2);
    puts(", redirection entries ");
    put_dec(((ioapic_read(1) >> 16) & 0xff) + 1);
    putc('\n');

    /* 1. Level interrupt: delivered once, remote IRR set in the handler, cleared after EOI. */
    set_rte(VECTOR | (1 << 15));
    outb(LINE_PORT, 1);
    r = wait_irq(&count, 1);
    say("level interrupt delivered", r); ok &= r;
    say("remote IRR set while in service", rirr_in_handler); ok &= rirr_in_handler;
    r = remote_irr_clears();
    say("remote IRR cleared after EOI", r); ok &= r;

    /* 2. A line still high at EOI is delivered again. */
    keep_high = 1;
    outb(LINE_PORT, 1);
    r = wait_irq(&count, 3);
    say("still-high line delivered again after EOI", r); ok &= r;

    /* 3. Masked: held while masked, delivered at unmask. */
    set_rte(VECTOR | (1 << 15) | (1 << 16));
    outb(LINE_PORT, 1);
    r = wait_irq(&count, 4);
    say("masked pin holds the interrupt", !r); ok &= !r;
    set_rte(VECTOR | (1 << 15));
    r = wait_irq(&count, 4);
    say("delivered at unmask", r); ok &= r;
    r = remote_irr_clears();
    say("remote IRR cleared again", r); ok &= r;

    /* 4. Coalescing: with IF = 0, assert, deassert, assert again. The second assertion finds remote IRR
     * set and is not delivered; once IF = 1 the handler runs once, and after its EOI the line is low. */
    outb(LINE_PORT, 1);
    outb(LINE_PORT, 0);
    outb(LINE_PORT, 1);
    r = wait_irq(&count, 5);
    say("two assertions while in service: delivered", r); ok &= r;
    r = !wait_irq(&count, 6);
    say("coalesced into one interrupt", r); ok &= r;
    puts(ok ? "ioapic-level: PASS\n" : "ioapic-level: FAIL\n");
    return ok ? 0 : 1;
}

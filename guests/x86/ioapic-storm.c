/* build: irqwait, build: vectors.
 * ioapic-storm: raises and lowers a level IOAPIC line (pc-testdev line 11)
 * "n=N" times (default 1000): each raise is delivered, the handler lowers
 * the line and EOIs, and the guest waits for it before the next raise.
 * Counts handled interrupts. Used by the ioapic_storm_vs_qemu benchmark.
 * Prints "at least" rather than an exact count: on the development hosts'
 * KVM a level vector can be delivered a second time (DESIGN.md). */
#include "common/irqguest.h"

#define PIN 11

uint32_t outb_wait_irq(uint32_t port, uint32_t value, volatile uint32_t *counter, uint32_t target, uint32_t spins);
#define VEC 0x5b

static volatile uint32_t handled;

void vector_handler(uint32_t vector) {
    if (vector == VEC) {
        testdev_line(PIN, 0);
        handled++;
    }
    LAPIC(LAPIC_EOI) = 0;
}

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic;
    guest_setup();
    uint32_t n = cmdline_u32(mbi, "n", 1000);
    set_rte(PIN, VEC | RTE_LEVEL, 0);
    uint32_t lost = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t before = handled;
        /* The raise with IF = 1: the interrupt is taken when the write completes (no window exit). */
        if (!outb_wait_irq(0x2000 + PIN, 1, &handled, before + 1, 200000)) lost++;
    }
    set_rte(PIN, RTE_MASKED, 0);
    puts("storm: "); put_dec(n); puts(" raised, ");
    puts(handled >= n && !lost ? "every one handled\n" : "SOME LOST\n");
    int ok = handled >= n && !lost;
    puts(ok ? "ioapic-storm: PASS\n" : "ioapic-storm: FAIL\n");
    return ok ? 0 : 1;
}

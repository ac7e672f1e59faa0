/* build: irqwait, build: vectors.
 * ioapic-tmr: the LAPIC's trigger-mode register follows the trigger mode
 * of the interrupt it accepted: while a level IOAPIC interrupt is in
 * service its TMR bit is 1, for an edge one it is 0; IRR is clear once the
 * interrupt was taken. Pins: pc-testdev lines 14 (level), 15 (edge). */
#include "common/irqguest.h"

#define LEVEL_PIN 14
#define EDGE_PIN 15
#define LEVEL_VEC 0x6a
#define EDGE_VEC 0x6b

static volatile uint32_t count, tmr_bit, irr_bit;

static uint32_t bit_of(uint32_t base, uint32_t vector) {
    return (LAPIC(base + 0x10 * (vector / 32)) >> (vector % 32)) & 1;
}

void vector_handler(uint32_t vector) {
    tmr_bit = bit_of(0x180, vector);
    irr_bit = bit_of(0x200, vector);
    if (vector == LEVEL_VEC) testdev_line(LEVEL_PIN, 0);
    count++;
    LAPIC(LAPIC_EOI) = 0;
}

static int got(uint32_t n) { return wait_irq_spins(&count, n, 200000) && count == n; }

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic; (void)mbi;
    guest_setup();
    int ok = 1, r;

    set_rte(LEVEL_PIN, LEVEL_VEC | RTE_LEVEL, 0);
    testdev_line(LEVEL_PIN, 1);
    r = got(1);
    say("level interrupt delivered", r); ok &= r;
    say("TMR bit set for the level vector", tmr_bit == 1); ok &= tmr_bit == 1;
    say("IRR bit clear while in service", irr_bit == 0); ok &= irr_bit == 0;

    set_rte(EDGE_PIN, EDGE_VEC, 0);
    testdev_line(EDGE_PIN, 1);
    r = got(2);
    say("edge interrupt delivered", r); ok &= r;
    say("TMR bit clear for the edge vector", tmr_bit == 0); ok &= tmr_bit == 0;
    testdev_line(EDGE_PIN, 0);

    set_rte(LEVEL_PIN, RTE_MASKED, 0);
    set_rte(EDGE_PIN, RTE_MASKED, 0);
    puts(ok ? "ioapic-tmr: PASS\n" : "ioapic-tmr: FAIL\n");
    return ok ? 0 : 1;
}

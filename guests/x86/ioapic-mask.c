/* build: irqwait, build: vectors.
 * ioapic-mask: the 82093AA's mask rules. An edge that arrives while its pin
 * is masked is dropped: not delivered at unmask, even with the line still
 * high; the next edge after unmask is. A level line asserted while masked
 * is delivered at unmask (the line is sampled again), and a level line
 * that went low again while masked is not. Pins: pc-testdev lines 12
 * (edge) and 13 (level). */
#include "common/irqguest.h"

#define EDGE_PIN 12
#define LEVEL_PIN 13
#define EDGE_VEC 0x58
#define LEVEL_VEC 0x59

static volatile uint32_t count, last_vector;

void vector_handler(uint32_t vector) {
    last_vector = vector;
    if (vector == LEVEL_VEC) testdev_line(LEVEL_PIN, 0); /* the device is serviced */
    count++;
    LAPIC(LAPIC_EOI) = 0;
}

static int got(uint32_t n) { return wait_irq_spins(&count, n, 200000) && count == n; }
static int quiet(uint32_t n) { return !wait_irq_spins(&count, n, 20000); }

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic; (void)mbi;
    guest_setup();
    int ok = 1, r;

    /* Edge: masked, rising edge, unmask with the line still high -> nothing. */
    set_rte(EDGE_PIN, EDGE_VEC | RTE_MASKED, 0);
    testdev_line(EDGE_PIN, 1);
    r = quiet(1);
    say("edge on a masked pin: not delivered", r); ok &= r;
    set_rte(EDGE_PIN, EDGE_VEC, 0);
    r = quiet(1);
    say("unmasked with the line high: the edge was dropped", r); ok &= r;
    testdev_line(EDGE_PIN, 0);
    testdev_line(EDGE_PIN, 1);
    r = got(1) && last_vector == EDGE_VEC;
    say("next edge after unmask: delivered", r); ok &= r;
    testdev_line(EDGE_PIN, 0);
    set_rte(EDGE_PIN, RTE_MASKED, 0);

    /* Level: asserted while masked -> delivered at unmask. */
    set_rte(LEVEL_PIN, LEVEL_VEC | RTE_LEVEL | RTE_MASKED, 0);
    testdev_line(LEVEL_PIN, 1);
    r = quiet(2);
    say("level line asserted while masked: held", r); ok &= r;
    set_rte(LEVEL_PIN, LEVEL_VEC | RTE_LEVEL, 0);
    r = got(2) && last_vector == LEVEL_VEC;
    say("delivered at unmask", r); ok &= r;

    /* Level: asserted and deasserted while masked -> nothing at unmask. */
    set_rte(LEVEL_PIN, LEVEL_VEC | RTE_LEVEL | RTE_MASKED, 0);
    testdev_line(LEVEL_PIN, 1);
    testdev_line(LEVEL_PIN, 0);
    set_rte(LEVEL_PIN, LEVEL_VEC | RTE_LEVEL, 0);
    r = quiet(3);
    say("level line low again before unmask: not delivered", r); ok &= r;

    set_rte(LEVEL_PIN, RTE_MASKED, 0);
    puts(ok ? "ioapic-mask: PASS\n" : "ioapic-mask: FAIL\n");
    return ok ? 0 : 1;
}

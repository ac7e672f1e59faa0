/* build: irqwait, build: vectors.
 * ioapic-edge: an edge-triggered IOAPIC pin (pc-testdev line 10): one
 * interrupt per rising edge with the RTE's vector, a line held high
 * requests once, remote IRR never set; edges that arrive while IF = 0
 * coalesce in the LAPIC's IRR (one interrupt); physical destination to an
 * absent APIC ID reaches nobody; logical (flat) destination matches the
 * LDR. */
#include "common/irqguest.h"

#define PIN 10
#define VEC 0x50

static volatile uint32_t count, last_vector, rirr_in_handler;

void vector_handler(uint32_t vector) {
    last_vector = vector;
    rirr_in_handler = (rte_lo(PIN) & RTE_RIRR) != 0;
    count++;
    LAPIC(LAPIC_EOI) = 0;
}

static int got(uint32_t n) { return wait_irq_spins(&count, n, 200000) && count == n; }
static int quiet(uint32_t n) { return !wait_irq_spins(&count, n, 20000); }

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic; (void)mbi;
    guest_setup();
    int ok = 1, r;

    set_rte(PIN, VEC, 0); /* edge, active high, fixed, physical APIC 0, unmasked */
    testdev_line(PIN, 1);
    r = got(1) && last_vector == VEC;
    say("rising edge delivered with the RTE's vector", r); ok &= r;
    r = !rirr_in_handler && !(rte_lo(PIN) & RTE_RIRR);
    say("remote IRR stays clear for edge", r); ok &= r;
    r = quiet(2);
    say("line held high: no second interrupt", r); ok &= r;
    testdev_line(PIN, 0);
    testdev_line(PIN, 1);
    r = got(2);
    say("next rising edge delivered", r); ok &= r;
    testdev_line(PIN, 0);

    /* Three edges with IF = 0: one IRR bit, so one interrupt once IF = 1. */
    for (int i = 0; i < 3; i++) { testdev_line(PIN, 1); testdev_line(PIN, 0); }
    r = got(3) && quiet(4);
    say("three edges while IF = 0 coalesce into one interrupt", r); ok &= r;

    /* Physical destination 5: no such LAPIC, nobody takes it. */
    set_rte(PIN, VEC, 5);
    testdev_line(PIN, 1);
    testdev_line(PIN, 0);
    r = quiet(4);
    say("physical destination 5 (absent) not delivered to CPU 0", r); ok &= r;

    /* Logical flat: LDR bit 0 set on this CPU, destination 0x01 matches. */
    LAPIC(0xe0) = 0xffffffff;  /* DFR flat */
    LAPIC(0xd0) = 1u << 24;    /* LDR: logical ID 0x01 */
    set_rte(PIN, (VEC + 1) | RTE_LOGICAL, 0x01);
    testdev_line(PIN, 1);
    r = got(4) && last_vector == VEC + 1;
    say("logical flat destination 0x01 delivered", r); ok &= r;
    testdev_line(PIN, 0);
    set_rte(PIN, (VEC + 1) | RTE_LOGICAL, 0x02);
    testdev_line(PIN, 1);
    testdev_line(PIN, 0);
    r = quiet(5);
    say("logical destination 0x02 (not this CPU) not delivered", r); ok &= r;

    set_rte(PIN, RTE_MASKED, 0);
    puts(ok ? "ioapic-edge: PASS\n" : "ioapic-edge: FAIL\n");
    return ok ? 0 : 1;
}

/* build: irqwait, build: vectors.
 * ir-ioapic: IOAPIC pins in VT-d's remappable RTE format (bit 48 set, the
 * interrupt index in bits 63:49), driven by pc-testdev lines, with
 * interrupt remapping on:
 *   - an edge pin arrives with its IRTE's vector, from the IOAPIC's
 *     source-id (validated: SVT 1, SID 0xff00 as on QEMU's q35);
 *   - a level pin arrives, stays in service (remote IRR) until the EOI,
 *     which clears it (the EOI reaches the IOAPIC because the pin's route
 *     holds the translated, level-triggered message);
 *   - after the IRTE changes and its index is invalidated, the new vector
 *     arrives, never the old; a destination without a CPU gets nothing.
 * The same transcript under QEMU -machine q35,kernel-irqchip=split with
 * -device intel-iommu,intremap=on -device pc-testdev. */
#include "common/irqguest.h"
#include "common/vtd.h"

#define EDGE_PIN 10
#define LEVEL_PIN 11
#define IOAPIC_SID 0xff00u
#define SVT_SID (IOAPIC_SID | (1u << 18)) /* SVT 1: verify the whole source-id */

static volatile uint32_t count, last_vector, rirr_in_handler;

void vector_handler(uint32_t vector) {
    last_vector = vector;
    count++;
    if (vector == 0x61) {
        rirr_in_handler = (rte_lo(LEVEL_PIN) >> 14) & 1;
        testdev_line(LEVEL_PIN, 0);
    }
    LAPIC(LAPIC_EOI) = 0;
}

/* A remappable RTE: index in 63:49 (and 15 in bit 11), format bit 48, the vector the IRTE has (for EOI matching). */
static void rte_remap(int pin, uint32_t index, uint32_t vector, int level) {
    ioapic_write(0x11 + 2 * pin, ((index & 0x7fff) << 17) | (1u << 16));
    ioapic_write(0x10 + 2 * pin, vector | (level ? RTE_LEVEL : 0) | (((index >> 15) & 1) << 11));
}

static uint32_t edge(void) {
    uint32_t before = count;
    testdev_line(EDGE_PIN, 1);
    testdev_line(EDGE_PIN, 0);
    return wait_irq_spins(&count, before + 1, 2000000) && count == before + 1 ? last_vector : 0;
}

/* Remote IRR must clear after the EOI; give the EOI exit a few turns to arrive. */
static int remote_irr_clears(int pin) {
    for (int i = 0; i < 1000; i++) if (!((rte_lo(pin) >> 14) & 1)) return 1;
    return 0;
}

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic; (void)mbi;
    guest_setup();
    int ok = 1, r;
    for (uint32_t i = 0; i < 256; i++) irte_clear(i);
    irte_set(20, 0x60, 0, 0, 0, SVT_SID);
    irte_set(21, 0x61, 0, 1, 0, SVT_SID);
    r = vtd_present() && qi_enable() && ir_enable(7);
    say("VT-d: queued invalidation and interrupt remapping enabled", r); ok &= r;
    if (!r) { puts("ir-ioapic: FAIL\n"); return 1; }

    rte_remap(EDGE_PIN, 20, 0x60, 0);
    r = edge() == 0x60;
    say("edge pin, remappable RTE (index 20): IRTE 20's vector, source-id validated", r); ok &= r;

    rte_remap(LEVEL_PIN, 21, 0x61, 1);
    uint32_t before = count;
    testdev_line(LEVEL_PIN, 1);
    r = wait_irq_spins(&count, before + 1, 2000000) && last_vector == 0x61 && rirr_in_handler && remote_irr_clears(LEVEL_PIN);
    say("level pin, remappable RTE (index 21): delivered in service, the EOI clears remote IRR", r); ok &= r;

    irte_set(20, 0x62, 0, 0, 0, SVT_SID);
    rte_remap(EDGE_PIN, 20, 0x62, 0);
    r = iec_invalidate(20, 0) && edge() == 0x62;
    say("IRTE 20 changed and invalidated: the new vector", r); ok &= r;

    irte_set(20, 0x63, 1, 0, 0, SVT_SID);
    r = iec_invalidate(20, 0);
    before = count;
    testdev_line(EDGE_PIN, 1);
    testdev_line(EDGE_PIN, 0);
    r &= !wait_irq_spins(&count, before + 1, 20000);
    irte_set(20, 0x63, 0, 0, 0, SVT_SID);
    r &= iec_invalidate(20, 0);
    say("IRTE 20 aimed at APIC ID 1 (no such CPU): not delivered here", r); ok &= r;

    puts(ok ? "ir-ioapic: PASS\n" : "ir-ioapic: FAIL\n");
    return ok ? 0 : 1;
}

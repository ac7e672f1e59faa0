/* build: irqwait, build: vectors.
 * edu-intx: QEMU's educational PCI device interrupting through INTA#, a
 * level line into the IOAPIC (PIRQ A..D/E..H on pins 16..23 on Q35; which
 * one depends on the slot, so the guest finds it: every pin 16..23 gets a
 * vector of its own, and the first raise tells):
 *   - one level interrupt per raise, remote IRR set while in service; the
 *     handler acks the device (the line drops) before its EOI: nothing more;
 *   - the config status register's interrupt bit follows the line;
 *   - INTx disable in the command register holds the line low, and clearing
 *     it lets the still-pending interrupt through;
 *   - a masked pin holds a level interrupt, delivered at unmask;
 *   - with MSI enabled, INTx stays quiet.
 * Same transcript under `qemu -machine q35,kernel-irqchip=split -device edu`. */
#include "common/irqguest.h"
#include "common/pci.h"

#define VEC0 0x60 /* pin 16 + i gets vector 0x60 + i */

static volatile uint32_t *edu;
static volatile uint32_t count, last_vector, rirr_in_handler, status_bit_in_handler;
static int dev = -1;

void vector_handler(uint32_t vector) {
    last_vector = vector;
    rirr_in_handler = (rte_lo(16 + (int)(vector - VEC0)) & RTE_RIRR) != 0;
    status_bit_in_handler = (cfg_read(dev, 0x04) >> 16 >> 3) & 1;
    count++;
    edu[0x64 / 4] = edu[0x24 / 4]; /* ack the device: the line drops */
    LAPIC(LAPIC_EOI) = 0;
}

static int got(uint32_t n) { return wait_irq_spins(&count, n, 2000000) && count == n; }
static int quiet(uint32_t n) { return !wait_irq_spins(&count, n, 20000); }

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic; (void)mbi;
    guest_setup();
    int ok = 1, r;
    dev = pci_find(0x11e81234u);
    if (dev < 0) {
        puts("edu: not found on bus 0\nedu-intx: FAIL\n");
        return 1;
    }
    say("interrupt pin is INTA#", ((cfg_read(dev, 0x3c) >> 8) & 0xff) == 1);
    cfg_write(dev, 0x04, (cfg_read(dev, 0x04) & 0xffff & ~0x400u) | 0x6); /* memory, bus master, INTx enabled */
    edu = (volatile uint32_t *)(cfg_read(dev, 0x10) & ~0xfu);

    for (int i = 0; i < 8; i++) set_rte(16 + i, (VEC0 + i) | RTE_LEVEL, 0); /* level, active high, physical APIC 0 */

    edu[0x60 / 4] = 0x1;
    r = got(1) && last_vector >= VEC0 && last_vector < VEC0 + 8;
    say("raise: one level interrupt on one of the IOAPIC pins 16..23", r); ok &= r;
    int pin = 16 + (int)(last_vector - VEC0);
    for (int i = 0; i < 8; i++) if (16 + i != pin) set_rte(16 + i, (VEC0 + i) | RTE_LEVEL | RTE_MASKED, 0);
    say("remote IRR set in the handler", rirr_in_handler);
    say("config status interrupt bit set in the handler", status_bit_in_handler);
    r = quiet(2) && !(rte_lo(pin) & RTE_RIRR) && !((cfg_read(dev, 0x04) >> 16 >> 3) & 1);
    say("acked before EOI: nothing more, remote IRR and status bit clear", r); ok &= r;

    cfg_write(dev, 0x04, (cfg_read(dev, 0x04) & 0xffff) | 0x400); /* INTx disable */
    edu[0x60 / 4] = 0x2;
    r = quiet(2) && ((cfg_read(dev, 0x04) >> 16 >> 3) & 1);
    say("INTx disabled: no interrupt, the status bit still says pending", r); ok &= r;
    cfg_write(dev, 0x04, (cfg_read(dev, 0x04) & 0xffff & ~0x400u));
    r = got(2);
    say("INTx enabled again: the pending interrupt arrives", r); ok &= r;

    set_rte(pin, (uint32_t)last_vector | RTE_LEVEL | RTE_MASKED, 0);
    edu[0x60 / 4] = 0x4;
    r = quiet(3);
    say("masked pin: held", r); ok &= r;
    set_rte(pin, (uint32_t)last_vector | RTE_LEVEL, 0);
    r = got(3);
    say("unmasked: the level interrupt arrives", r); ok &= r;

    /* MSI on (address and data left 0: nothing sensible would arrive anyway); INTx must stay quiet. */
    int msi = pci_find_cap(dev, 0x05);
    cfg_write(dev, 0x04, (cfg_read(dev, 0x04) & 0xffff & ~0x4u) | 0x2); /* no bus master: the MSI goes nowhere */
    cfg_write(dev, msi, (cfg_read(dev, msi) & 0xffff) | (1u << 16));
    edu[0x60 / 4] = 0x8;
    r = quiet(4);
    say("MSI enabled: INTx stays quiet", r); ok &= r;
    edu[0x64 / 4] = 0x8;

    puts(ok ? "edu-intx: PASS\n" : "edu-intx: FAIL\n");
    return ok ? 0 : 1;
}

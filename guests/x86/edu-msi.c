/* build: irqwait, build: vectors.
 * edu-msi: QEMU's educational PCI device interrupting through its MSI
 * capability (64-bit, one vector), no IOAPIC involved:
 *   - nothing arrives before MSI is enabled (and INTx is never seen: the
 *     IOAPIC pins stay masked);
 *   - every raise that leaves the interrupt status non-zero sends one MSI
 *     (QEMU's edu_raise_irq calls msi_notify each time), acked or not;
 *   - the factorial's completion interrupt (status bit 7) and the DMA's
 *     (command bit 2) arrive as MSIs with the status bits set;
 *   - the MSI data's vector is the one delivered, and a reprogrammed data
 *     register takes effect for the next message;
 *   - with bus mastering off, the device cannot send at all.
 * Slot- and placement-independent: the same transcript under
 * `qemu -machine q35 -device edu`. */
#include "common/irqguest.h"
#include "common/pci.h"

#define VEC 0x51
#define VEC2 0x52

static volatile uint32_t count, last_vector;

void vector_handler(uint32_t vector) {
    last_vector = vector;
    count++;
    LAPIC(LAPIC_EOI) = 0;
}

static int got(uint32_t n) { return wait_irq_spins(&count, n, 2000000) && count == n; }
static int quiet(uint32_t n) { return !wait_irq_spins(&count, n, 20000); }

static int wait_clear(volatile uint32_t *reg, uint32_t mask) {
    for (uint32_t n = 0; n < 200000000u; n++) {
        if ((*reg & mask) == 0) return 1;
        __asm__ volatile("pause");
    }
    return 0;
}

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic; (void)mbi;
    guest_setup();
    int ok = 1, r;
    int dev = pci_find(0x11e81234u);
    if (dev < 0) {
        puts("edu: not found on bus 0\nedu-msi: FAIL\n");
        return 1;
    }
    int msi = pci_find_cap(dev, 0x05);
    say("MSI capability found", msi != 0);
    if (!msi) { puts("edu-msi: FAIL\n"); return 1; }

    cfg_write(dev, 0x04, (cfg_read(dev, 0x04) & 0xffff) | 0x6); /* memory decode, bus master */
    volatile uint32_t *e = (volatile uint32_t *)(cfg_read(dev, 0x10) & ~0xfu);

    /* Address (physical APIC 0), upper address, data (fixed, edge): 64-bit layout, data at +0xc. */
    cfg_write(dev, msi + 4, 0xfee00000u);
    cfg_write(dev, msi + 8, 0);
    cfg_write(dev, msi + 0xc, VEC);

    e[0x60 / 4] = 0x1;
    r = quiet(1);
    say("MSI disabled: no interrupt", r); ok &= r;
    e[0x64 / 4] = 0x1;

    cfg_write(dev, msi, (cfg_read(dev, msi) & 0xffff) | (1u << 16)); /* MSI enable, one vector */
    e[0x60 / 4] = 0x1;
    r = got(1) && last_vector == VEC;
    say("raise: one MSI with the data's vector", r); ok &= r;
    e[0x60 / 4] = 0x2;
    r = got(2) && quiet(3);
    say("another raise while the status is non-zero: another MSI", r); ok &= r;
    e[0x64 / 4] = 0x3;
    r = e[0x24 / 4] == 0 && quiet(3);
    say("ack: status clear, nothing more", r); ok &= r;

    e[0x20 / 4] = 0x80; /* interrupt when the factorial is done */
    e[0x08 / 4] = 5;
    r = got(3) && (e[0x24 / 4] & 0x1) && e[0x08 / 4] == 120;
    say("factorial done: an MSI, status bit 0x1", r); ok &= r;
    e[0x64 / 4] = 0x1;
    e[0x20 / 4] = 0;

    cfg_write(dev, msi + 0xc, VEC2);
    volatile uint8_t *buf = (volatile uint8_t *)0x200000;
    for (int i = 0; i < 16; i++) buf[i] = (uint8_t)i;
    e[0x80 / 4] = 0x200000; e[0x84 / 4] = 0;
    e[0x88 / 4] = 0x40000; e[0x8c / 4] = 0;
    e[0x90 / 4] = 16; e[0x94 / 4] = 0;
    e[0x98 / 4] = 0x1 | 0x4; /* RAM -> device, interrupt when done */
    r = wait_clear(&e[0x98 / 4], 1) && got(4) && last_vector == VEC2 && (e[0x24 / 4] & 0x100);
    say("DMA done: an MSI with the reprogrammed vector, status bit 0x100", r); ok &= r;
    e[0x64 / 4] = 0x100;

    cfg_write(dev, 0x04, (cfg_read(dev, 0x04) & 0xffff & ~0x4u) | 0x2); /* bus master off */
    e[0x60 / 4] = 0x8;
    r = quiet(5);
    say("bus master off: the device cannot send", r); ok &= r;
    e[0x64 / 4] = 0x8;

    puts(ok ? "edu-msi: PASS\n" : "edu-msi: FAIL\n");
    return ok ? 0 : 1;
}

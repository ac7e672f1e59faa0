/* build: irqwait, build: vectors.
 * ir-msi: edu's MSIs through VT-d interrupt remapping (QEMU's
 * -device intel-iommu,intremap=on, or our --iommu intel):
 *   - the unit is there (version 1.0, QI and IR offered) and takes the
 *     queue, the table and the enable;
 *   - a remappable-format MSI arrives with its IRTE's vector;
 *   - after the IRTE changes and its index is invalidated, the new vector
 *     arrives, never the old;
 *   - with SHV the subhandle (the MSI data) is added to the handle;
 *   - a range invalidation (index mask) and a global one each bring in the
 *     entries' new vectors.
 * The same transcript under QEMU -machine q35,kernel-irqchip=split. */
#include "common/irqguest.h"
#include "common/pci.h"
#include "common/vtd.h"

static volatile uint32_t count, last_vector;

void vector_handler(uint32_t vector) {
    last_vector = vector;
    count++;
    LAPIC(LAPIC_EOI) = 0;
}

static volatile uint32_t *e;
static int msi;
static int dev;

static int got(uint32_t n) { return wait_irq_spins(&count, n, 2000000) && count == n; }

/* Program edu's MSI (64-bit layout: data at +0xc) and raise: one interrupt expected, its vector returned. */
static uint32_t fire(uint32_t address, uint32_t data) {
    cfg_write(dev, msi + 4, address);
    cfg_write(dev, msi + 8, 0);
    cfg_write(dev, msi + 0xc, data);
    uint32_t before = count;
    e[0x60 / 4] = 0x1;
    uint32_t v = got(before + 1) ? last_vector : 0;
    e[0x64 / 4] = 0x1;
    return v;
}

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic; (void)mbi;
    guest_setup();
    int ok = 1, r;
    r = vtd_present();
    say("VT-d at 0xfed90000: version 1.0, queued invalidation and interrupt remapping offered", r); ok &= r;
    dev = pci_find(0x11e81234u);
    msi = dev >= 0 ? pci_find_cap(dev, 0x05) : 0;
    if (!r || dev < 0 || !msi) { puts("ir-msi: FAIL\n"); return 1; }
    cfg_write(dev, 0x04, (cfg_read(dev, 0x04) & 0xffff) | 0x6); /* memory decode, bus master */
    e = (volatile uint32_t *)(cfg_read(dev, 0x10) & ~0xfu);

    for (uint32_t i = 0; i < 256; i++) irte_clear(i);
    irte_set(10, 0x50, 0, 0, 0, 0);
    r = qi_enable() && ir_enable(7);
    say("queued invalidation and interrupt remapping enabled (256-entry table)", r); ok &= r;
    cfg_write(dev, msi, (cfg_read(dev, msi) & 0xffff) | (1u << 16)); /* MSI enable, one vector */

    r = fire(msi_remap_address(10, 0), 0) == 0x50;
    say("remappable MSI (handle 10) arrives with its IRTE's vector", r); ok &= r;

    irte_set(10, 0x51, 0, 0, 0, 0);
    r = iec_invalidate(10, 0) && fire(msi_remap_address(10, 0), 0) == 0x51;
    say("IRTE 10 changed and invalidated: the new vector", r); ok &= r;

    irte_set(11, 0x52, 0, 0, 0, 0);
    r = iec_invalidate(11, 0) && fire(msi_remap_address(8, 1), 3) == 0x52;
    say("SHV: handle 8 + subhandle 3 selects IRTE 11", r); ok &= r;

    for (uint32_t i = 8; i < 16; i++) irte_set(i, 0x58 + (i - 8), 0, 0, 0, 0);
    r = iec_invalidate(13, 3) && fire(msi_remap_address(11, 0), 0) == 0x5b && fire(msi_remap_address(15, 0), 0) == 0x5f;
    say("range invalidation (index 13, mask 3: entries 8..15): their new vectors", r); ok &= r;

    irte_set(11, 0x54, 0, 0, 0, 0);
    r = iec_global() && fire(msi_remap_address(11, 0), 0) == 0x54;
    say("global invalidation: the new vector", r); ok &= r;

    puts(ok ? "ir-msi: PASS\n" : "ir-msi: FAIL\n");
    return ok ? 0 : 1;
}

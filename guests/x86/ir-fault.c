/* build: irqwait, build: vectors.
 * ir-fault: VT-d interrupt-remapping faults, one by one, from edu's MSIs:
 * index beyond the table (0x21), entry not present (0x22), reserved bits
 * (0x24), compatibility format while blocked (0x25), source-id mismatch
 * (0x26). Each is recorded in the fault-recording register with its reason,
 * edu's source-id and the IRTE index; the fault event interrupt arrives
 * and the blocked MSI does not. FPD suppresses the recording (the MSI is
 * still blocked); a masked fault event waits in FECTL.IP until unmasked;
 * CFI lets compatibility-format MSIs through.
 * Not run under QEMU: QEMU 7.2 blocks these interrupts but records no
 * interrupt-remapping fault. */
#include "common/irqguest.h"
#include "common/pci.h"
#include "common/vtd.h"

#define FAULT_VEC 0x7e

static volatile uint32_t count, faults, last_vector;

void vector_handler(uint32_t vector) {
    if (vector == FAULT_VEC) faults++;
    else { last_vector = vector; count++; }
    LAPIC(LAPIC_EOI) = 0;
}

static volatile uint32_t *e;
static int msi, dev;

/* Program edu's MSI and raise; returns whether an MSI arrived (it should not, when blocked). */
static int raise(uint32_t address, uint32_t data) {
    cfg_write(dev, msi + 4, address);
    cfg_write(dev, msi + 8, 0);
    cfg_write(dev, msi + 0xc, data);
    uint32_t before = count;
    e[0x60 / 4] = 0x1;
    int arrived = wait_irq_spins(&count, before + 1, 20000);
    e[0x64 / 4] = 0x1;
    return arrived;
}

/* The recorded fault is `reason` for `index` from edu, the fault event came, and then it is cleared. */
static int recorded(uint32_t reason, uint32_t index, uint32_t faults_before) {
    int r = wait_irq_spins(&faults, faults_before + 1, 2000000);
    r &= (VTD(VTD_FSTS) & 2) != 0;                      /* PPF */
    r &= (VTD(VTD_FRCD + 12) & 0x800000ffu) == (0x80000000u | reason); /* F, reason */
    r &= (VTD(VTD_FRCD + 8) & 0xffff) == (uint32_t)(dev << 3); /* source-id: bus 0, edu's slot */
    r &= (VTD(VTD_FRCD + 4) >> 16) == index;             /* fault info: the index in 63:48 */
    VTD(VTD_FRCD + 12) = 0x80000000u;                    /* clear F */
    VTD(VTD_FSTS) = 0x7d;                                /* clear the write-one-to-clear status */
    r &= (VTD(VTD_FSTS) & 0xff) == 0;
    return r;
}

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic; (void)mbi;
    guest_setup();
    int ok = 1, r;
    dev = pci_find(0x11e81234u);
    msi = dev >= 0 ? pci_find_cap(dev, 0x05) : 0;
    if (!vtd_present() || dev < 0 || !msi) { puts("ir-fault: FAIL\n"); return 1; }
    cfg_write(dev, 0x04, (cfg_read(dev, 0x04) & 0xffff) | 0x6);
    e = (volatile uint32_t *)(cfg_read(dev, 0x10) & ~0xfu);
    for (uint32_t i = 0; i < 256; i++) irte_clear(i);
    irte_set(31, 0x51, 0, 0, 1u << 13, 0);                 /* a reserved bit */
    irte_set(32, 0x52, 0, 0, 0, 0x0100u | (1u << 18));     /* SVT 1: only 01:00.0 may use it */
    irte_set(34, 0x54, 0, 0, 0, 0);
    VTD_IRT[33 * 4] = 2;                                   /* FPD, not present */
    r = qi_enable() && ir_enable(7);
    VTD(VTD_FEDATA) = FAULT_VEC;
    VTD(VTD_FEADDR) = 0xfee00000u;
    VTD(VTD_FEUADDR) = 0;
    VTD(VTD_FECTL) = 0;
    cfg_write(dev, msi, (cfg_read(dev, msi) & 0xffff) | (1u << 16));
    r &= raise(msi_remap_address(34, 0), 0) && last_vector == 0x54;
    say("interrupt remapping on, a good IRTE delivers", r); ok &= r;

    uint32_t f = faults;
    r = !raise(msi_remap_address(300, 0), 0) && recorded(0x21, 300, f);
    say("index 300 beyond the 256-entry table: fault 0x21, the event, nothing delivered", r); ok &= r;
    f = faults;
    r = !raise(msi_remap_address(30, 0), 0) && recorded(0x22, 30, f);
    say("IRTE 30 not present: fault 0x22", r); ok &= r;
    f = faults;
    r = !raise(msi_remap_address(31, 0), 0) && recorded(0x24, 31, f);
    say("IRTE 31 with a reserved bit: fault 0x24", r); ok &= r;
    f = faults;
    r = !raise(0xfee00000u, 0x55) && recorded(0x25, 0, f);
    say("compatibility format while CFI is off: fault 0x25", r); ok &= r;
    f = faults;
    r = !raise(msi_remap_address(32, 0), 0) && recorded(0x26, 32, f);
    say("IRTE 32 for another source-id: fault 0x26", r); ok &= r;

    f = faults;
    r = !raise(msi_remap_address(33, 0), 0) && !wait_irq_spins(&faults, f + 1, 20000) && (VTD(VTD_FSTS) & 2) == 0;
    say("IRTE 33 with FPD: blocked, nothing recorded, no event", r); ok &= r;

    VTD(VTD_FECTL) = 1u << 31;
    f = faults;
    r = !raise(msi_remap_address(30, 0), 0) && !wait_irq_spins(&faults, f + 1, 20000) && VTD(VTD_FECTL) == 0xc0000000u;
    VTD(VTD_FECTL) = 0;
    r &= recorded(0x22, 30, f);
    say("fault event masked: pending in FECTL.IP, sent at unmask", r); ok &= r;

    r = vtd_command(GCMD_CFI, 1) && raise(0xfee00000u, 0x56) && last_vector == 0x56;
    say("CFI on: compatibility format delivered", r); ok &= r;

    puts(ok ? "ir-fault: PASS\n" : "ir-fault: FAIL\n");
    return ok ? 0 : 1;
}

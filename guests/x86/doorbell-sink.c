/* build: irqwait, build: vectors.
 * doorbell-sink: the guest side of --doorbell-load. Every MSI-X vector of
 * the doorbell (up to 2048) is programmed (IDT vector 0x40 + n % 32, APIC
 * 0) and unmasked; the
 * guest then takes interrupts until the device's LOAD register says the
 * load generator is done and no interrupt has come for a while. Checks that
 * interrupts came, that every vector was heard from (when the load rang each
 * at least once), and that none arrived on a vector no entry holds.
 * `verbose=1` prints the count (it depends on timing: rings that come while
 * a vector's interrupt is still pending coalesce). `reprogram=K`: every K
 * interrupts the handler reprograms one entry, round robin -- masked, its
 * vector moved between 0x40 + n % 32 and 0x60 + n % 32, unmasked, as a
 * driver retargeting an interrupt does -- so each policy meets an
 * invalidation every K interrupts (an interrupt may then arrive on either
 * of an entry's two vectors). */
#include "common/irqguest.h"
#include "common/pci.h"

#define MAXV 2048
#define IDT_VECTORS 32

static volatile uint32_t count, wrong, used, nvec, reprogram, reprogrammed;
static volatile uint32_t per_vector[IDT_VECTORS];
static volatile uint32_t *table;

void vector_handler(uint32_t vector) {
    uint32_t i = vector - 0x40;
    if (reprogram && i >= IDT_VECTORS && i < 2 * IDT_VECTORS) i -= IDT_VECTORS;
    if (vector >= 0x40 && i < used) per_vector[i]++;
    else wrong++;
    count++;
    if (reprogram && count % reprogram == 0) {
        uint32_t n = reprogrammed++ % nvec;
        table[n * 4 + 3] = 1;                  /* mask */
        table[n * 4 + 2] ^= IDT_VECTORS;       /* 0x40 + j <-> 0x60 + j */
        table[n * 4 + 3] = 0;                  /* unmask */
    }
    LAPIC(LAPIC_EOI) = 0;
}


int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic;
    guest_setup();
    int verbose = cmdline_u32(mbi, "verbose", 0);
    int dev = pci_find(0xd00b1234u);
    int cap = dev >= 0 ? pci_find_cap(dev, 0x11) : 0;
    if (dev < 0 || !cap) { puts("doorbell-sink: no doorbell\ndoorbell-sink: FAIL\n"); return 1; }
    cfg_write(dev, 0x04, (cfg_read(dev, 0x04) & 0xffff) | 0x6);
    table = (volatile uint32_t *)(cfg_read(dev, 0x10) & ~0xfu);
    volatile uint32_t *regs = (volatile uint32_t *)(cfg_read(dev, 0x18) & ~0xfu);
    nvec = regs[0x04 / 4];
    if (nvec > MAXV) nvec = MAXV;
    reprogram = cmdline_u32(mbi, "reprogram", 0);
    used = nvec < IDT_VECTORS ? nvec : IDT_VECTORS;
    for (uint32_t n = 0; n < nvec; n++) {
        table[n * 4 + 0] = 0xfee00000u;
        table[n * 4 + 1] = 0;
        table[n * 4 + 2] = 0x40 + n % IDT_VECTORS;
        table[n * 4 + 3] = 0;
    }
    cfg_write(dev, cap, (cfg_read(dev, cap) & 0xffff) | (1u << 31));
    /* Take interrupts until the load is done and the line has been quiet for a while. */
    for (uint32_t quiet = 0; quiet < 3;) {
        uint32_t before = count;
        wait_irq_spins(&count, before + 1, 200000);
        if (count == before && regs[0x14 / 4] == 0) quiet++;
        else quiet = 0;
    }
    uint32_t rings = regs[0x10 / 4]; (void)rings;
    int ok = 1, r;
    r = count > 0;
    say("interrupts received while the load ran", r); ok &= r;
    r = 1;
    for (uint32_t n = 0; n < used; n++) r &= per_vector[n] > 0;
    say("every vector heard from", r); ok &= r;
    r = wrong == 0;
    say("nothing on a vector no entry holds", r); ok &= r;
    if (verbose) { puts("interrupts="); put_dec(count); puts(" reprogrammed="); put_dec(reprogrammed); puts("\n"); }
    puts(ok ? "doorbell-sink: PASS\n" : "doorbell-sink: FAIL\n");
    return ok ? 0 : 1;
}

/* build: irqwait, build: vectors.
 * doorbell-storm: the doorbell device's MSI-X vectors, each an eventfd
 * rung from outside the guest (the device's RANGE register asks the VMM to
 * write them), in rounds; between rounds the guest reprograms a sliding
 * range of entries to new vectors, which invalidates their cached
 * translations. Proves, whatever the VMM's irqfd-cache policy:
 *   - entries come out of reset masked: a ring latches the PBA bit and
 *     nothing arrives;
 *   - every round, every vector rung arrives exactly once, with the vector
 *     its entry holds now: never one from before the last reprogramming;
 *   - a masked vector latches its ring and delivers it once at unmask, with
 *     the message it has then;
 *   - the function mask holds every vector; clearing it delivers each once;
 *   - then through VT-d interrupt remapping: every entry remappable (handle
 *     n), and between rounds a sliding aligned range of IRTEs changes and
 *     is invalidated with one index-range IEC invalidation: every vector
 *     arrives with its IRTE's current vector, never a stale one.
 * The device exists only in this VMM (no QEMU run). */
#include "common/irqguest.h"
#include "common/pci.h"
#include "common/vtd.h"

#define MAXV 16
#define BASE_A 0x40
#define BASE_B 0x60
#define ROUNDS 8

static volatile uint32_t count, wrong;
static volatile uint32_t arrived[0x80];

void vector_handler(uint32_t vector) {
    if (vector < 0x80) arrived[vector]++;
    else wrong++;
    count++;
    LAPIC(LAPIC_EOI) = 0;
}

static volatile uint32_t *table, *regs;
static uint32_t nvec;
/* The vector each entry holds now. */
static uint32_t current[MAXV];

static void program(uint32_t n, uint32_t vector) {
    table[n * 4 + 0] = 0xfee00000u; /* physical APIC 0 */
    table[n * 4 + 1] = 0;
    table[n * 4 + 2] = vector;      /* fixed, edge */
    current[n] = vector;
}
static void mask(uint32_t n, int on) { table[n * 4 + 3] = on ? 1 : 0; }
static void clear_arrivals(void) { for (int v = 0; v < 0x80; v++) arrived[v] = 0; count = 0; }
static void ring_range(uint32_t first, uint32_t n) { regs[0x0c / 4] = first | (n << 16); }
static void ring(uint32_t n) { regs[0x08 / 4] = n; }
static int quiet(uint32_t n) { return !wait_irq_spins(&count, n, 20000); }
static volatile uint32_t *pba;
/* A ring reaches the device when the VMM serves its eventfd, a little after
 * the write: wait (bounded) until the PBA shows every bit of `bits`. */
static int wait_pba(uint32_t bits) {
    for (uint32_t n = 0; n < 200000u; n++) {
        if ((pba[0] & bits) == bits) return 1;
        __asm__ volatile("pause");
    }
    return 0;
}

/* Exactly one arrival on each entry's current vector, none anywhere else. */
static int exactly_current(void) {
    for (uint32_t v = 0; v < 0x80; v++) {
        uint32_t want = 0;
        for (uint32_t n = 0; n < nvec; n++) if (current[n] == v) want = 1;
        if (arrived[v] != want) return 0;
    }
    return 1;
}

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic; (void)mbi;
    guest_setup();
    int ok = 1, r;
    int dev = pci_find(0xd00b1234u);
    if (dev < 0) {
        puts("doorbell: not found on bus 0\ndoorbell-storm: FAIL\n");
        return 1;
    }
    int cap = pci_find_cap(dev, 0x11);
    cfg_write(dev, 0x04, (cfg_read(dev, 0x04) & 0xffff) | 0x6); /* memory decode, bus master */
    table = (volatile uint32_t *)(cfg_read(dev, 0x10) & ~0xfu);
    regs = (volatile uint32_t *)(cfg_read(dev, 0x18) & ~0xfu);
    nvec = regs[0x04 / 4];
    uint32_t ctl = cfg_read(dev, cap) >> 16;
    r = cap != 0 && regs[0] == 0x4c425244u && nvec == (ctl & 0x7ff) + 1 && nvec >= 8 && nvec <= MAXV;
    say("doorbell with MSI-X, table size = VECTORS register", r); ok &= r;
    r = (cfg_read(dev, cap + 4) & 7) == 0 && (cfg_read(dev, cap + 8) & 7) == 0 && (cfg_read(dev, cap + 8) & ~7u) == 0x8000;
    say("table in BAR0 at 0, PBA in BAR0 at 0x8000", r); ok &= r;
    if (!r || nvec < 8 || nvec > MAXV) { puts("doorbell-storm: FAIL\n"); return 1; }
    pba = table + 0x8000 / 4;
    uint32_t all = nvec == 32 ? 0xffffffffu : (1u << nvec) - 1;

    for (uint32_t n = 0; n < nvec; n++) program(n, BASE_A + n);
    cfg_write(dev, cap, (cfg_read(dev, cap) & 0xffff) | (1u << 31)); /* MSI-X enable */

    /* Out of reset every entry is masked: rings latch, nothing arrives. */
    clear_arrivals();
    ring_range(0, nvec);
    r = wait_pba(all) && quiet(1) && pba[0] == all;
    say("entries reset masked: rings latch in the PBA, nothing arrives", r); ok &= r;
    for (uint32_t n = 0; n < nvec; n++) mask(n, 0);
    r = wait_irq_spins(&count, nvec, 2000000) && quiet(nvec + 1) && exactly_current() && pba[0] == 0;
    say("unmasking delivers each latched vector once", r); ok &= r;

    int rounds_ok = 1;
    for (int round = 0; round < ROUNDS; round++) {
        /* Twice per round: the first ring may fill a cache, the second may hit it. */
        for (int k = 0; k < 2; k++) {
            clear_arrivals();
            ring_range(0, nvec);
            rounds_ok &= wait_irq_spins(&count, nvec, 2000000) && quiet(nvec + 1) && exactly_current();
        }
        /* Reprogram a sliding range of 5 entries to the other bank. */
        for (uint32_t i = 0; i < 5; i++) {
            uint32_t n = (uint32_t)(round * 3 + i) % nvec;
            program(n, (current[n] >= BASE_B ? BASE_A : BASE_B) + n);
        }
    }
    say("8 rounds: every vector rung arrives once, on its current vector, never a stale one", rounds_ok); ok &= rounds_ok;

    /* Mask one, ring it, reprogram it while masked, unmask: one arrival, the new vector. */
    clear_arrivals();
    mask(2, 1);
    ring(2);
    r = wait_pba(1u << 2) && quiet(1);
    program(2, (current[2] >= BASE_B ? BASE_A : BASE_B) + 2);
    mask(2, 0);
    r &= wait_irq_spins(&count, 1, 2000000) && quiet(2) && arrived[current[2]] == 1 && !(pba[0] & (1u << 2));
    say("masked vector: latched, then delivered once at unmask with its new message", r); ok &= r;

    /* The function mask holds them all. */
    clear_arrivals();
    cfg_write(dev, cap, (cfg_read(dev, cap) & 0xffff) | (3u << 30)); /* enable + function mask */
    ring_range(0, nvec);
    r = wait_pba(all) && quiet(1);
    cfg_write(dev, cap, (cfg_read(dev, cap) & 0xffff) | (1u << 31)); /* enable, function mask off */
    r &= wait_irq_spins(&count, nvec, 2000000) && quiet(nvec + 1) && exactly_current();
    say("function mask holds every ring; clearing it delivers each once", r); ok &= r;

    /* Through interrupt remapping: IRTE n holds entry n's vector; entries name their IRTE. */
    for (uint32_t i = 0; i < 256; i++) irte_clear(i);
    for (uint32_t n = 0; n < nvec; n++) { irte_set(n, BASE_A + n, 0, 0, 0, 0); current[n] = BASE_A + n; }
    r = vtd_present() && qi_enable() && ir_enable(7);
    for (uint32_t n = 0; n < nvec; n++) {
        table[n * 4 + 0] = msi_remap_address(n, 0);
        table[n * 4 + 1] = 0;
        table[n * 4 + 2] = 0;
    }
    say("interrupt remapping on, every entry remappable (handle n)", r); ok &= r;
    int ir_ok = r;
    for (int round = 0; round < ROUNDS && ir_ok; round++) {
        for (int k = 0; k < 2; k++) {
            clear_arrivals();
            ring_range(0, nvec);
            ir_ok &= wait_irq_spins(&count, nvec, 2000000) && quiet(nvec + 1) && exactly_current();
        }
        /* A sliding aligned range of 4 IRTEs to the other bank, one range invalidation (mask 2). */
        uint32_t first = (uint32_t)(round * 4) % nvec;
        for (uint32_t n = first; n < first + 4; n++) {
            current[n] = (current[n] >= BASE_B ? BASE_A : BASE_B) + n;
            irte_set(n, current[n], 0, 0, 0, 0);
        }
        ir_ok &= iec_invalidate(first, 2);
    }
    clear_arrivals();
    ring_range(0, nvec);
    ir_ok &= wait_irq_spins(&count, nvec, 2000000) && quiet(nvec + 1) && exactly_current();
    say("8 rounds with IRTE range invalidations: every vector once, its IRTE's current vector", ir_ok); ok &= ir_ok;

    ok &= wrong == 0;
    puts(ok ? "doorbell-storm: PASS\n" : "doorbell-storm: FAIL\n");
    return ok ? 0 : 1;
}

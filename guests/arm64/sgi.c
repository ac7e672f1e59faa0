/* sgi: four CPUs, the secondaries started with PSCI CPU_ON; once all are up,
   every CPU sends SGI (1 + its index) to every other CPU once (GICD_SGIR with
   a target list), and each receiver records the SGI and the source CPU the
   IAR reports. The boot CPU prints the matrix. */
#include "common/gic.h"

#define NCPU 4
extern char secondary_entry[];
static volatile uint32_t up[NCPU], go, done[NCPU];
static volatile uint32_t got[NCPU][NCPU];   /* got[receiver][source] = SGI id seen (0: none) */
static volatile uint32_t bad[NCPU];

void irq_handler(void) {
    uint32_t me = cpu_index();
    uint32_t iar = gicc_read(GICC_IAR), id = iar & 0x3ff, src = (iar >> 10) & 7;
    if (id < 16 && src < NCPU && got[me][src] == 0) got[me][src] = id;
    else if (id != GIC_SPURIOUS) bad[me]++;
    if (id != GIC_SPURIOUS) gicc_write(GICC_EOIR, iar);
}

static void run_cpu(uint32_t me) {
    for (uint32_t s = 0; s < 16; s++) gic_config(s, 0x80, me, 1);
    gic_cpu_init();
    irq_enable();
    up[me] = 1;
    while (!go) { }
    for (uint32_t t = 0; t < NCPU; t++) {
        if (t == me) continue;
        gicd_write(GICD_SGIR, (1u << (16 + t)) | (1 + me));   /* filter 0: the target list */
    }
    uint32_t want = NCPU - 1, have;
    do {
        have = 0;
        for (uint32_t s = 0; s < NCPU; s++) have += got[me][s] != 0;
    } while (have < want);
    irq_disable();
    done[me] = 1;
}

void secondary_main(uint32_t cpu) {
    run_cpu(cpu);
    psci_call(PSCI_CPU_OFF, 0, 0, 0);
}

int main(uint64_t dtb) {
    (void)dtb;
    gic_dist_enable();
    for (uint32_t c = 1; c < NCPU; c++) {
        uint64_t r = psci_call(PSCI_CPU_ON, c, (uint64_t)secondary_entry, c);
        if (r != 0) { puts("CPU_ON failed for cpu "); put_dec(c); putc('\n'); return 1; }
    }
    up[0] = 1;
    for (uint32_t c = 0; c < NCPU; c++) while (!up[c]) { }
    puts("all 4 CPUs up\n");
    go = 1;
    run_cpu(0);
    for (uint32_t c = 0; c < NCPU; c++) while (!done[c]) { }
    for (uint32_t r = 0; r < NCPU; r++) {
        puts("cpu");
        put_dec(r);
        puts(" got");
        for (uint32_t s = 0; s < NCPU; s++) {
            if (s == r) continue;
            puts(" sgi");
            put_dec(got[r][s]);
            puts("<-cpu");
            put_dec(s);
        }
        putc('\n');
    }
    uint32_t nbad = 0;
    for (uint32_t c = 0; c < NCPU; c++) nbad += bad[c];
    check(nbad == 0, "no unexpected interrupts");
    return 0;
}

/* build: smp, build: irqwait, build: vectors.
 * ipi: every CPU pings every other CPU with a fixed IPI, physical
 * destination, vector 0x40 + its own APIC ID, then waits (IF=1, spinning)
 * until each other CPU's IPI has arrived. The BSP prints, per CPU, whether
 * it heard from every other CPU exactly once. */
#include "common/smp.h"
#include "common/irqguest.h"

#define MAX_CPUS 64
#define IPI_BASE 0x40

static volatile uint32_t got[MAX_CPUS][MAX_CPUS]; /* [receiver][sender] */
static volatile uint32_t received[MAX_CPUS], up_count, done_count, go, stray;
static uint32_t ncpus;

void vector_handler(uint32_t vector) {
    uint32_t me = lapic_id(), from = vector - IPI_BASE;
    if (me < MAX_CPUS && from < MAX_CPUS) got[me][from]++;
    else stray++;
    if (me < MAX_CPUS) received[me]++;
    LAPIC(LAPIC_EOI) = 0;
}

/* An AP: the BSP's IDT, its own LAPIC software-enabled. */
static void ap_setup(void) {
    load_idt();
    LAPIC(LAPIC_SVR) = 0x1ff;
}

static void ping_all(uint32_t me) {
    for (uint32_t j = 0; j < ncpus; j++)
        if (j != me) send_ipi(j, (1u << 14) | (IPI_BASE + me)); /* fixed, physical, assert */
    wait_irq(&received[me], ncpus - 1);
    atomic_inc(&done_count);
}

void ap_main(uint32_t id) {
    ap_setup();
    atomic_inc(&up_count);
    while (!go) cpu_relax();
    ping_all(id);
}

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic; (void)mbi;
    guest_setup(); /* GDT, IDT (vectors 0x40..0x7f: one per sender), 8259s and LINT0 masked: only IPIs */

    ncpus = fw_cfg_cpus();
    puts("cpus: "); put_dec(ncpus); putc('\n');
    if (ncpus < 2 || ncpus > MAX_CPUS) { puts("ipi: FAIL (cpu count)\n"); return 1; }
    start_aps();
    for (uint32_t i = 0; i < 50000000 && up_count < ncpus - 1; i++) cpu_relax();
    if (up_count != ncpus - 1) { puts("ipi: FAIL (APs did not start)\n"); return 1; }

    go = 1;
    ping_all(0);
    for (uint32_t i = 0; i < 50000000 && done_count < ncpus; i++) cpu_relax();

    int ok = done_count == ncpus && !stray;
    for (uint32_t r = 0; r < ncpus; r++) {
        int all = 1;
        for (uint32_t s = 0; s < ncpus; s++) all &= s == r ? got[r][s] == 0 : got[r][s] == 1;
        puts("cpu "); put_dec(r);
        puts(all ? ": one IPI from every other CPU\n" : ": WRONG\n");
        ok &= all;
    }
    puts("ipis: "); put_dec(ncpus * (ncpus - 1)); putc('\n');
    puts(ok ? "ipi: PASS\n" : "ipi: FAIL\n");
    return ok ? 0 : 1;
}

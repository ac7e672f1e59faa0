/* build: smp, build: irqwait, build: vectors.
 * ipi: every CPU pings every other CPU with a fixed IPI, physical
 * destination, vector 0x40 + its own APIC ID, then waits (IF=1, spinning)
 * until each other CPU's IPI has arrived. The BSP prints, per CPU, whether
 * it heard from every other CPU exactly once. */
#include "common/smp.h"

#define MAX_CPUS 64
#define IPI_BASE 0x40

extern char vector_stubs[], spurious_entry[];
uint32_t wait_irq(volatile uint32_t *counter, uint32_t target);

static uint64_t gdt[4] = {0, 0, 0x00cf9a000000ffffull, 0x00cf92000000ffffull}; /* 0x10 code, 0x18 data */
static uint64_t idt[256];
static struct { uint16_t limit; uint32_t base; } __attribute__((packed)) idtr = {sizeof idt - 1, 0};
static volatile uint32_t got[MAX_CPUS][MAX_CPUS]; /* [receiver][sender] */
static volatile uint32_t received[MAX_CPUS], up_count, done_count, go, stray;
static uint32_t ncpus;

static void set_gate(int v, void *h) {
    uint32_t a = (uint32_t)h;
    idt[v] = (a & 0xffff) | (0x10u << 16) | ((uint64_t)0x8e00 << 32) | ((uint64_t)(a >> 16) << 48);
}

void vector_handler(uint32_t vector) {
    uint32_t me = lapic_id(), from = vector - IPI_BASE;
    if (me < MAX_CPUS && from < MAX_CPUS) got[me][from]++;
    else stray++;
    if (me < MAX_CPUS) received[me]++;
    LAPIC(LAPIC_EOI) = 0;
}

/* common/irqwait.S's irq_entry calls this; no gate points there here. */
void irq_handler(void) { stray++; }

static void cpu_setup(void) {
    __asm__ volatile("lidt %0" : : "m"(idtr));
    LAPIC(LAPIC_SVR) = 0x1ff; /* software enable, spurious vector 0xff */
}

static void ping_all(uint32_t me) {
    for (uint32_t j = 0; j < ncpus; j++)
        if (j != me) send_ipi(j, (1u << 14) | (IPI_BASE + me)); /* fixed, physical, assert */
    wait_irq(&received[me], ncpus - 1);
    atomic_inc(&done_count);
}

void ap_main(uint32_t id) {
    cpu_setup();
    atomic_inc(&up_count);
    while (!go) cpu_relax();
    ping_all(id);
}

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic; (void)mbi;
    struct { uint16_t limit; uint32_t base; } __attribute__((packed)) gdtr = {sizeof gdt - 1, (uint32_t)gdt};
    __asm__ volatile("lgdt %0" : : "m"(gdtr));
    __asm__ volatile("ljmp $0x10, $1f\n1:\n\tmov $0x18, %%ax\n\tmov %%ax, %%ds\n\tmov %%ax, %%es\n\tmov %%ax, %%ss" : : : "eax", "memory");
    for (int i = 0; i < MAX_CPUS; i++) set_gate(IPI_BASE + i, vector_stubs + 16 * i);
    set_gate(0xff, spurious_entry);
    idtr.base = (uint32_t)idt;
    outb(0x21, 0xff); /* 8259s masked, LINT0 masked: only IPIs reach the CPUs */
    outb(0xa1, 0xff);
    LAPIC(LAPIC_LINT0) = 1 << 16;
    cpu_setup();

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

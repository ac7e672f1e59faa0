/* build: smp, build: irqwait, build: vectors.
 * ioapic-migrate: the seed-002 scenario on 4 CPUs. A level interrupt
 * (pc-testdev line 9, IOAPIC pin 9) is delivered to CPU 2, whose handler
 * masks the pin and EOIs with the line still high, as Linux does before it
 * moves an IRQ. The BSP then moves the RTE to CPU 0 (high word, while
 * masked) and unmasks it (low word): the pending interrupt must arrive on
 * CPU 0 — a VMM that redelivers before updating the KVM route sends it to
 * CPU 2 again. Then the single-write variant: the vector changes in the
 * same low-word write that unmasks, and the interrupt must carry the new
 * vector. Every delivery to another CPU or with another vector counts as a
 * misdelivery; the guest passes with 0. Rounds: "rounds=N" (default 20). */
#include "common/smp.h"

#define IOAPIC ((volatile uint32_t *)0xfec00000)
#define PIN 9
#define LINE_PORT (0x2000 + PIN)
#define V1 0x51
#define V2 0x62
#define LEVEL (1u << 15)
#define MASKED (1u << 16)
#define MAX_CPUS 64

extern char vector_stubs[], spurious_entry[];
uint32_t wait_irq(volatile uint32_t *counter, uint32_t target);
uint32_t wait_irq_spins(volatile uint32_t *counter, uint32_t target, uint32_t spins);

static uint64_t gdt[4] = {0, 0, 0x00cf9a000000ffffull, 0x00cf92000000ffffull}; /* 0x10 code, 0x18 data */
static uint64_t idt[256];
static struct { uint16_t limit; uint32_t base; } __attribute__((packed)) idtr = {sizeof idt - 1, 0};
static volatile uint32_t up_count, quit, stray;
/* What the current phase expects: the CPU, the vector, and what the handler does. */
static volatile uint32_t want_cpu, want_vector, mask_in_handler;
static volatile uint32_t hits, misdelivered, ap_hits[MAX_CPUS];
static volatile uint32_t wrong_cpu[8], wrong_vector[8], wrong_phase[8], phase;
static uint32_t ncpus;

static uint32_t ioapic_read(uint32_t reg) { IOAPIC[0] = reg; return IOAPIC[4]; }
static void ioapic_write(uint32_t reg, uint32_t v) { IOAPIC[0] = reg; IOAPIC[4] = v; }
static void rte_hi(uint32_t v) { ioapic_write(0x11 + 2 * PIN, v); }
static void rte_lo(uint32_t v) { ioapic_write(0x10 + 2 * PIN, v); }

static void set_gate(int v, void *h) {
    uint32_t a = (uint32_t)h;
    idt[v] = (a & 0xffff) | (0x10u << 16) | ((uint64_t)0x8e00 << 32) | ((uint64_t)(a >> 16) << 48);
}

void irq_handler(void) { stray++; }

void vector_handler(uint32_t vector) {
    uint32_t me = lapic_id();
    if (me < MAX_CPUS) ap_hits[me]++;
    if (me != want_cpu || vector != want_vector) {
        uint32_t k = misdelivered++;
        if (k < 8) { wrong_cpu[k] = me; wrong_vector[k] = vector; wrong_phase[k] = phase; }
        rte_lo(want_vector | LEVEL | MASKED); /* keep a wrong delivery from repeating */
    } else if (mask_in_handler) {
        rte_lo(vector | LEVEL | MASKED);      /* Linux's ack of a moving IRQ: mask, EOI, line still high */
    } else {
        outb(LINE_PORT, 0);                   /* the device is serviced: the line drops */
    }
    LAPIC(LAPIC_EOI) = 0;
    hits++;
}

static void cpu_setup(void) {
    __asm__ volatile("lidt %0" : : "m"(idtr));
    LAPIC(LAPIC_SVR) = 0x1ff;
}

void ap_main(uint32_t id) {
    (void)id;
    cpu_setup();
    atomic_inc(&up_count);
    while (!quit) wait_irq(&quit, 1); /* IF=1 here only: interrupts land in this loop */
}

/* Waits with IF=1 on the BSP until the handler ran `n` times in all (bounded). */
static int wait_hits(uint32_t n) { return wait_irq_spins(&hits, n, 200000); }

/* Gives a misdelivered or duplicate interrupt time to show itself (BSP with IF=1). */
static void settle(void) { static volatile uint32_t never; wait_irq_spins(&never, 1, 20000); }

static void say(const char *what, int ok) { puts(what); puts(ok ? ": yes\n" : ": NO\n"); }

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic;
    struct { uint16_t limit; uint32_t base; } __attribute__((packed)) gdtr = {sizeof gdt - 1, (uint32_t)gdt};
    __asm__ volatile("lgdt %0" : : "m"(gdtr));
    __asm__ volatile("ljmp $0x10, $1f\n1:\n\tmov $0x18, %%ax\n\tmov %%ax, %%ds\n\tmov %%ax, %%es\n\tmov %%ax, %%ss" : : : "eax", "memory");
    for (int i = 0; i < 64; i++) set_gate(0x40 + i, vector_stubs + 16 * i);
    set_gate(0xff, spurious_entry);
    idtr.base = (uint32_t)idt;
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
    LAPIC(LAPIC_LINT0) = 1 << 16;
    cpu_setup();

    uint32_t rounds = cmdline_u32(mbi, "rounds", 20);
    ncpus = fw_cfg_cpus();
    puts("cpus: "); put_dec(ncpus); puts(", rounds: "); put_dec(rounds); putc('\n');
    if (ncpus < 3 || ncpus > MAX_CPUS) { puts("ioapic-migrate: FAIL (needs 3 or more CPUs)\n"); return 1; }
    start_aps();
    for (uint32_t i = 0; i < 2000000 && up_count < ncpus - 1; i++) cpu_relax();
    if (up_count != ncpus - 1) { puts("ioapic-migrate: FAIL (APs did not start)\n"); return 1; }

    int ok = 1, on_cpu2 = 1, moved = 1, new_vector = 1;
    for (uint32_t r = 0; r < rounds; r++) {
        /* 1. Level interrupt on CPU 2; its handler masks the pin and EOIs, the line stays high. */
        rte_lo(V1 | LEVEL | MASKED);
        rte_hi(2u << 24);
        phase = 1; want_cpu = 2; want_vector = V1; mask_in_handler = 1;
        uint32_t base = hits;
        outb(LINE_PORT, 1);
        rte_lo(V1 | LEVEL);
        on_cpu2 &= wait_hits(base + 1);
        for (int i = 0; i < 2000 && !(ioapic_read(0x10 + 2 * PIN) & MASKED); i++) cpu_relax();

        /* 2. Move it to CPU 0 while masked (high word), then unmask (low word): pending, so delivered at once. */
        phase = 2; want_cpu = 0; want_vector = V1; mask_in_handler = 0;
        base = hits;
        rte_hi(0u << 24);
        rte_lo(V1 | LEVEL);
        moved &= wait_hits(base + 1);

        /* 3. Single write: masked with V1, line high, then one low-word write that unmasks with V2. */
        rte_lo(V1 | LEVEL | MASKED);
        phase = 3; want_cpu = 0; want_vector = V2; mask_in_handler = 0;
        base = hits;
        outb(LINE_PORT, 1);
        rte_lo(V2 | LEVEL);
        new_vector &= wait_hits(base + 1);
        rte_lo(V2 | LEVEL | MASKED);
    }
    settle();
    say("level interrupt taken on CPU 2", on_cpu2); ok &= on_cpu2;
    say("after the move, delivered on CPU 0", moved); ok &= moved;
    say("vector changed with the unmask, new vector delivered", new_vector); ok &= new_vector;
    puts("misdeliveries: "); put_dec(misdelivered); putc('\n');
    for (uint32_t k = 0; k < misdelivered && k < 8; k++) {
        puts("  phase "); put_dec(wrong_phase[k]); puts(": vector 0x"); put_hex(wrong_vector[k], 2);
        puts(" on cpu "); put_dec(wrong_cpu[k]); putc('\n');
    }
    ok &= misdelivered == 0 && stray == 0;
    quit = 1;
    puts(ok ? "ioapic-migrate: PASS\n" : "ioapic-migrate: FAIL\n");
    return ok ? 0 : 1;
}

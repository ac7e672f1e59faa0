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
#include "common/irqguest.h"

#define PIN 9
#define LINE_PORT (0x2000 + PIN)
#define V1 0x51
#define V2 0x62
#define MAX_CPUS 64

static volatile uint32_t up_count, quit;
/* What the current phase expects: the CPU, the vector, and what the handler does. */
static volatile uint32_t want_cpu, want_vector, mask_in_handler;
static volatile uint32_t hits, misdelivered, ap_hits[MAX_CPUS];
static volatile uint32_t wrong_cpu[8], wrong_vector[8], wrong_phase[8], phase;
static uint32_t ncpus;

/* The pin's RTE words, written one at a time as the scenario needs. */
static void pin_hi(uint32_t v) { ioapic_write(0x11 + 2 * PIN, v); }
static void pin_lo(uint32_t v) { ioapic_write(0x10 + 2 * PIN, v); }

void vector_handler(uint32_t vector) {
    uint32_t me = lapic_id();
    if (me < MAX_CPUS) ap_hits[me]++;
    if (me != want_cpu || vector != want_vector) {
        uint32_t k = misdelivered++;
        if (k < 8) { wrong_cpu[k] = me; wrong_vector[k] = vector; wrong_phase[k] = phase; }
        pin_lo(want_vector | RTE_LEVEL | RTE_MASKED); /* keep a wrong delivery from repeating */
    } else if (mask_in_handler) {
        pin_lo(vector | RTE_LEVEL | RTE_MASKED);      /* Linux's ack of a moving IRQ: mask, EOI, line still high */
    } else {
        outb(LINE_PORT, 0);                   /* the device is serviced: the line drops */
    }
    LAPIC(LAPIC_EOI) = 0;
    hits++;
}

/* An AP: the BSP's IDT, its own LAPIC software-enabled. */
static void ap_setup(void) {
    load_idt();
    LAPIC(LAPIC_SVR) = 0x1ff;
}

void ap_main(uint32_t id) {
    (void)id;
    ap_setup();
    atomic_inc(&up_count);
    while (!quit) wait_irq(&quit, 1); /* IF=1 here only: interrupts land in this loop */
}

/* Waits with IF=1 on the BSP until the handler ran `n` times in all (bounded). */
static int wait_hits(uint32_t n) { return wait_irq_spins(&hits, n, 200000); }

/* Gives a misdelivered or duplicate interrupt time to show itself (BSP with IF=1). */
static void settle(void) { static volatile uint32_t never; wait_irq_spins(&never, 1, 20000); }

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic;
    guest_setup();

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
        pin_lo(V1 | RTE_LEVEL | RTE_MASKED);
        pin_hi(2u << 24);
        phase = 1; want_cpu = 2; want_vector = V1; mask_in_handler = 1;
        uint32_t base = hits;
        outb(LINE_PORT, 1);
        pin_lo(V1 | RTE_LEVEL);
        on_cpu2 &= wait_hits(base + 1);
        for (int i = 0; i < 2000 && !(rte_lo(PIN) & RTE_MASKED); i++) cpu_relax();

        /* 2. Move it to CPU 0 while masked (high word), then unmask (low word): pending, so delivered at once. */
        phase = 2; want_cpu = 0; want_vector = V1; mask_in_handler = 0;
        base = hits;
        pin_hi(0u << 24);
        pin_lo(V1 | RTE_LEVEL);
        moved &= wait_hits(base + 1);

        /* 3. Single write: masked with V1, line high, then one low-word write that unmasks with V2. */
        pin_lo(V1 | RTE_LEVEL | RTE_MASKED);
        phase = 3; want_cpu = 0; want_vector = V2; mask_in_handler = 0;
        base = hits;
        outb(LINE_PORT, 1);
        pin_lo(V2 | RTE_LEVEL);
        new_vector &= wait_hits(base + 1);
        pin_lo(V2 | RTE_LEVEL | RTE_MASKED);
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
    ok &= misdelivered == 0;
    quit = 1;
    puts(ok ? "ioapic-migrate: PASS\n" : "ioapic-migrate: FAIL\n");
    return ok ? 0 : 1;
}

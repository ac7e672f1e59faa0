/* Shared set-up for the interrupt guests (they say "build: irqwait,
 * build: vectors"): a flat GDT, an IDT whose vectors 0x40..0x7f go to
 * common/vectors.S's stubs (vector_handler(vector)), the 8259s and LINT0
 * masked so that only the IOAPIC and the LAPIC interrupt, and helpers for
 * the IOAPIC's indirect registers. Waits are bounded in spins
 * (wait_irq_spins): a PAUSE can cost a VM exit, so keep bounds modest. */
#pragma once
#include "common/rt.h"
#include "common/gdt.h"

#define IOAPIC ((volatile uint32_t *)0xfec00000)
#define LAPIC(off) (*(volatile uint32_t *)(0xfee00000 + (off)))
#define LAPIC_EOI 0xb0
#define RTE_LEVEL (1u << 15)
#define RTE_MASKED (1u << 16)
#define RTE_RIRR (1u << 14)
#define RTE_LOGICAL (1u << 11)

extern char vector_stubs[], spurious_entry[];
uint32_t wait_irq(volatile uint32_t *counter, uint32_t target);
uint32_t wait_irq_spins(volatile uint32_t *counter, uint32_t target, uint32_t spins);
void vector_handler(uint32_t vector);

/* common/irqwait.S's irq_entry calls this; no gate points there. */
void irq_handler(void) {}

static uint64_t guest_idt[256];

static inline void set_gate(int v, void *h) {
    uint32_t a = (uint32_t)h;
    guest_idt[v] = (a & 0xffff) | (0x10u << 16) | ((uint64_t)0x8e00 << 32) | ((uint64_t)(a >> 16) << 48);
}

/* The shared IDT on this CPU (the BSP in guest_setup; each AP loads it too). */
static inline void load_idt(void) {
    struct { uint16_t limit; uint32_t base; } __attribute__((packed)) idtr = {sizeof guest_idt - 1, (uint32_t)guest_idt};
    __asm__ volatile("lidt %0" : : "m"(idtr));
}

static inline void guest_setup(void) {
    load_flat_gdt();
    for (int i = 0; i < 64; i++) set_gate(0x40 + i, vector_stubs + 16 * i);
    set_gate(0xff, spurious_entry);
    load_idt();
    outb(0x21, 0xff); /* QEMU's BIOS leaves the 8259 wired to LINT0: mask both */
    outb(0xa1, 0xff);
    LAPIC(0x350) = 1u << 16; /* LVT LINT0 masked */
    LAPIC(0xf0) = 0x1ff;     /* software enable, spurious vector 0xff */
}

static inline uint32_t ioapic_read(uint32_t reg) { IOAPIC[0] = reg; return IOAPIC[4]; }
static inline void ioapic_write(uint32_t reg, uint32_t v) { IOAPIC[0] = reg; IOAPIC[4] = v; }
static inline uint32_t rte_lo(int pin) { return ioapic_read(0x10 + 2 * pin); }
/* High word (destination) first, then the low word that may unmask. */
static inline void set_rte(int pin, uint32_t lo, uint32_t dest) {
    ioapic_write(0x11 + 2 * pin, dest << 24);
    ioapic_write(0x10 + 2 * pin, lo);
}
static inline void testdev_line(int n, int level) { outb(0x2000 + n, level); }

static inline void say(const char *what, int ok) { puts(what); puts(ok ? ": yes\n" : ": NO\n"); }

/* SMP helpers for the test guests (common/smp.S holds the AP trampoline). */
#pragma once
#include "common/rt.h"

#define LAPIC(off) (*(volatile uint32_t *)(0xfee00000 + (off)))
#define LAPIC_ID 0x20
#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_LINT0 0x350
#define TRAMPOLINE 0x7000u

extern const char ap_trampoline[], ap_trampoline_end[];

static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint32_t lapic_id(void) { return LAPIC(LAPIC_ID) >> 24; }
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
static inline uint32_t atomic_inc(volatile uint32_t *p) {
    uint32_t v = 1;
    __asm__ volatile("lock xaddl %0, %1" : "+r"(v), "+m"(*p) : : "memory");
    return v + 1;
}

/* QEMU's fw_cfg: the number of CPUs (key 0x05, 16 bits little-endian). */
static inline uint32_t fw_cfg_cpus(void) {
    outw(0x510, 0x05);
    uint32_t lo = inb(0x511), hi = inb(0x511);
    return lo | (hi << 8);
}

static inline void spin(uint32_t n) { for (volatile uint32_t i = 0; i < n; i++) cpu_relax(); }

/* Waits (bounded) for the ICR's delivery status to clear. */
static inline void icr_wait(void) {
    for (int i = 0; i < 1000000 && (LAPIC(LAPIC_ICR_LO) & (1u << 12)); i++) cpu_relax();
}

static inline void send_ipi(uint32_t dest, uint32_t lo) {
    icr_wait();
    LAPIC(LAPIC_ICR_HI) = dest << 24;
    LAPIC(LAPIC_ICR_LO) = lo;
}

/* Copies the trampoline below 1 MiB and starts every other CPU: INIT, then SIPI twice
 * (the MP spec's sequence; a CPU already started ignores the second SIPI). */
static inline void start_aps(void) {
    memcpy((void *)TRAMPOLINE, ap_trampoline, (size_t)(ap_trampoline_end - ap_trampoline));
    send_ipi(0, 0x000c4500);                  /* INIT, assert, level, all excluding self */
    spin(100000);
    for (int i = 0; i < 2; i++) {
        send_ipi(0, 0x000c4600 | (TRAMPOLINE >> 12)); /* SIPI, all excluding self */
        spin(20000);
    }
}

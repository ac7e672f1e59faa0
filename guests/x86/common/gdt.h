/* The flat GDT the interrupt and SMP guests load for themselves (multiboot
 * gives no GDT to rely on): 0x10 = flat 32-bit code, 0x18 = flat data, the
 * selectors the loader entered with. The APs' trampoline (common/smp.S)
 * uses the same layout. */
#pragma once
#include <stdint.h>

static inline void load_flat_gdt(void) {
    static uint64_t gdt[4] = {0, 0, 0x00cf9a000000ffffull, 0x00cf92000000ffffull};
    struct { uint16_t limit; uint32_t base; } __attribute__((packed)) gdtr = {sizeof gdt - 1, (uint32_t)gdt};
    __asm__ volatile("lgdt %0" : : "m"(gdtr));
    __asm__ volatile("ljmp $0x10, $1f\n1:\n\tmov $0x18, %%ax\n\tmov %%ax, %%ds\n\tmov %%ax, %%es\n\tmov %%ax, %%ss" : : : "eax", "memory");
}

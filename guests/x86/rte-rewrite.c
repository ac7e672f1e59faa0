/* build: irqwait.
 * rte-rewrite: reprograms all 24 IOAPIC RTEs "rounds=R" times (default 20)
 * and after each round raises one edge interrupt on pin 5 (pc-testdev line
 * 5; not 0, which a PC routes to IOAPIC pin 2), which must arrive with the
 * vector the round gave pin 5. "same=1"
 * rewrites the same values every round. The route-push benchmark counts
 * KVM_SET_GSI_ROUTING calls per RTE write with it. */
#include "common/rt.h"
#include "common/gdt.h"

#define IOAPIC ((volatile uint32_t *)0xfec00000)
#define LAPIC(off) (*(volatile uint32_t *)(0xfee00000 + (off)))
#define BASE_VECTOR 0x50

extern char irq_entry[], spurious_entry[], vector_stubs[];
extern volatile uint32_t entered_vector;
uint32_t wait_irq(volatile uint32_t *counter, uint32_t target);

static uint64_t idt[256];
volatile uint32_t count, last_isr_vector;

static void gate(int v, void *h) {
    uint32_t a = (uint32_t)h;
    idt[v] = (a & 0xffff) | (0x10u << 16) | ((uint64_t)0x8e00 << 32) | ((uint64_t)(a >> 16) << 48);
}

void irq_handler(void) {
    last_isr_vector = entered_vector;
    count++;
    LAPIC(0xb0) = 0;
}

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic;
    uint32_t rounds = cmdline_u32(mbi, "rounds", 20), same = cmdline_u32(mbi, "same", 0);
    struct { uint16_t limit; uint32_t base; } __attribute__((packed)) idtr = {sizeof idt - 1, (uint32_t)idt};
    load_flat_gdt();
    for (int v = BASE_VECTOR; v < BASE_VECTOR + 24; v++) gate(v, vector_stubs + 16 * (v - BASE_VECTOR));
    gate(0xff, spurious_entry);
    __asm__ volatile("lidt %0" : : "m"(idtr));
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
    LAPIC(0x350) = 1 << 16;
    LAPIC(0xf0) = 0x1ff;
    int ok = 1;
    for (uint32_t r = 0; r < rounds; r++) {
        uint32_t shift = same ? 0 : r;
        for (uint32_t pin = 0; pin < 24; pin++) {
            IOAPIC[0] = 0x11 + 2 * pin;
            IOAPIC[4] = 0;
            IOAPIC[0] = 0x10 + 2 * pin;
            IOAPIC[4] = BASE_VECTOR + (pin + shift) % 24; /* edge, fixed, unmasked */
        }
        outb(0x2005, 1);
        outb(0x2005, 0);
        uint32_t got = wait_irq(&count, r + 1);
        if (!got || last_isr_vector != BASE_VECTOR + (5 + shift) % 24) {
            if (ok && cmdline_u32(mbi, "verbose", 0)) {
                puts("round "); put_dec(r); puts(got ? " vector " : " timeout, vector "); put_hex(last_isr_vector, 2);
                puts(" count "); put_dec(count); putc('\n');
            }
            ok = 0;
        }
    }
    puts("rte-rewrite: rounds ");
    put_dec(rounds);
    puts(ok ? ", every interrupt arrived with its round's vector\nrte-rewrite: PASS\n" : "\nrte-rewrite: FAIL\n");
    return ok ? 0 : 1;
}

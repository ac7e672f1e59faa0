/* build: irqwait.
 * irq-wait: waits for one interrupt that the guest does not cause itself —
 * the VMM asserts IOAPIC pin "pin=N" (default 6) through an eventfd-backed
 * line, from another thread on KVM. Level-triggered vector 0x46 to APIC 0;
 * the handler EOIs. Proves that an event signalled while the vCPU runs (or,
 * with "halt=1", sleeps in HLT inside KVM_RUN) reaches the guest. */
#include "common/rt.h"
#include "common/gdt.h"

#define IOAPIC ((volatile uint32_t *)0xfec00000)
#define LAPIC(off) (*(volatile uint32_t *)(0xfee00000 + (off)))
#define VECTOR 0x46

extern char irq_entry[], spurious_entry[];
uint32_t wait_irq(volatile uint32_t *counter, uint32_t target);
uint32_t wait_irq_hlt(volatile uint32_t *counter, uint32_t target);

static uint64_t idt[256];
volatile uint32_t count;

static void gate(int v, void *h) {
    uint32_t a = (uint32_t)h;
    idt[v] = (a & 0xffff) | (0x10u << 16) | ((uint64_t)0x8e00 << 32) | ((uint64_t)(a >> 16) << 48);
}

void irq_handler(void) {
    count++;
    LAPIC(0xb0) = 0;
}

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic;
    uint32_t pin = cmdline_u32(mbi, "pin", 6);
    struct { uint16_t limit; uint32_t base; } __attribute__((packed)) idtr = {sizeof idt - 1, (uint32_t)idt};
    load_flat_gdt();
    gate(VECTOR, irq_entry);
    gate(0xff, spurious_entry);
    __asm__ volatile("lidt %0" : : "m"(idtr));
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
    LAPIC(0x350) = 1 << 16;
    LAPIC(0xf0) = 0x1ff;
    IOAPIC[0] = 0x11 + 2 * pin;
    IOAPIC[4] = 0;
    IOAPIC[0] = 0x10 + 2 * pin;
    IOAPIC[4] = VECTOR | (1 << 15);
    puts("irq-wait: waiting on pin ");
    put_dec(pin);
    putc('\n');
    int ok = 1;
    if (cmdline_u32(mbi, "halt", 0)) ok = wait_irq_hlt(&count, 1);
    else for (int i = 0; i < 50 && !(ok = wait_irq(&count, 1)); i++) { /* keep waiting, bounded */ }
    puts(ok ? "external interrupt received\nirq-wait: PASS\n" : "no interrupt\nirq-wait: FAIL\n");
    return ok ? 0 : 1;
}

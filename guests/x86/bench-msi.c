/* build: irqwait, build: vectors.
 * bench-msi: the guest of msi_hit_vs_c / msi_miss_vs_c (scripts/bench/). A
 * ping-pong with a ringer outside the guest: the guest writes ACK_PORT once
 * when it is ready and once per interrupt from then on; the ringer (behind
 * an ioeventfd on that port) rings the doorbell's vector 0 after each
 * acknowledgement. So one round trip is: eventfd write -> the interrupt
 * (through a cached irqfd, or read and signalled by userspace) -> the
 * handler's EOI and port write -> the ringer wakes. Between interrupts the
 * CPU halts, leaving the host's cores to the ringer and the VMM.
 * With a doorbell (our VMM) it programs MSI-X entry 0 to vector 0x40, APIC
 * 0; without one (scripts/bench/msi-ref.c, which routes the eventfd itself
 * to that message) it skips that. `count=N` interrupts, then it prints the
 * count and exits through isa-debug-exit (status 1).
 * `ioapic=1`: the interrupt comes from IOAPIC pin 16 instead (edge,
 * vector 0x40, APIC 0; an edge eventfd line on that pin is the doorbell).
 * `retarget=K`: every K interrupts the handler moves the source to the
 * other of vectors 0x40 and 0x60 (the MSI-X entry masked, its data
 * rewritten, unmasked; or the RTE rewritten) before it acknowledges, so the
 * next ring must arrive on the new vector: one on the old is counted stale
 * and fails the run -- a cached translation that outlived its invalidation. */
#include "common/irqguest.h"
#include "common/pci.h"

#define ACK_PORT 0x5e0
#define VECTOR 0x40
#define OTHER_VECTOR 0x60
#define PIN 16

static volatile uint32_t count, wrong, stale, retargeted, current = VECTOR;
static uint32_t retarget, use_ioapic;
static volatile uint32_t *table;

/* Points the source at `vector`. */
static void program(uint32_t vector) {
    if (use_ioapic) {
        set_rte(PIN, vector, 0); /* edge, fixed, physical APIC 0, unmasked */
    } else if (table) {
        table[3] = 1; /* masked while it changes */
        table[0] = 0xfee00000u;
        table[1] = 0;
        table[2] = vector;
        table[3] = 0;
    }
}

void vector_handler(uint32_t vector) {
    if (vector != VECTOR && vector != OTHER_VECTOR) wrong++;
    else if (vector != current) stale++;
    count++;
    if (retarget && count % retarget == 0) {
        current = current == VECTOR ? OTHER_VECTOR : VECTOR;
        program(current);
        retargeted++;
    }
    LAPIC(LAPIC_EOI) = 0;
    outb(ACK_PORT, 0);
}

/* void hlt_wait(volatile uint32_t *counter, uint32_t target): halts with IF=1
 * until *counter >= target. STI's shadow covers the HLT, so an interrupt
 * cannot slip in between the check and the halt; the handler comes back to
 * the check (resume_eip). */
void hlt_wait(volatile uint32_t *counter, uint32_t target);
__asm__(
    ".text\n"
    ".globl hlt_wait\n"
    "hlt_wait:\n"
    "  mov 4(%esp), %edx\n"
    "  mov 8(%esp), %ecx\n"
    "  movl $1f, resume_eip\n"
    "1: cli\n"
    "  cmp %ecx, (%edx)\n"
    "  jae 2f\n"
    "  sti\n"
    "  hlt\n"
    "  jmp 1b\n"
    "2: ret\n");

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic;
    guest_setup();
    uint32_t n = cmdline_u32(mbi, "count", 1000);
    retarget = cmdline_u32(mbi, "retarget", 0);
    use_ioapic = cmdline_u32(mbi, "ioapic", 0);
    if (use_ioapic) {
        program(VECTOR);
    } else {
        int dev = pci_find(0xd00b1234u);
        int cap = dev >= 0 ? pci_find_cap(dev, 0x11) : 0;
        if (dev >= 0 && cap) {
            cfg_write(dev, 0x04, (cfg_read(dev, 0x04) & 0xffff) | 0x6); /* memory decode, bus master */
            table = (volatile uint32_t *)(cfg_read(dev, 0x10) & ~0xfu);
            program(VECTOR);
            cfg_write(dev, cap, (cfg_read(dev, cap) & 0xffff) | (1u << 31)); /* MSI-X enable */
        }
    }
    outb(ACK_PORT, 0); /* ready */
    hlt_wait(&count, n);
    puts("bench-msi: interrupts=");
    put_dec(count);
    if (retarget) { puts(" retargeted="); put_dec(retargeted); puts(" stale="); put_dec(stale); }
    int ok = !wrong && !stale;
    puts(ok ? ": PASS\n" : wrong ? " (and some on a vector no source holds): FAIL\n" : ": FAIL\n");
    return ok ? 0 : 1;
}

/* build: irqwait, build: vectors.
 * doorbell-sink: the guest side of --doorbell-load. Every MSI-X vector of
 * the doorbell (up to 2048) is programmed (IDT vector 0x40 + n % 32, APIC
 * 0) and unmasked; the
 * guest then takes interrupts until the device's LOAD register says the
 * load generator is done and no interrupt has come for a while. Checks that
 * interrupts came, that every vector was heard from (when the load rang each
 * at least once), and that none arrived on a vector no entry holds.
 * `verbose=1` prints the count (it depends on timing: rings that come while
 * a vector's interrupt is still pending coalesce). `reprogram=K`: every K
 * interrupts the handler reprograms one entry, round robin -- masked, its
 * vector moved between 0x40 + n % 32 and 0x60 + n % 32, unmasked, as a
 * driver retargeting an interrupt does -- so each policy meets an
 * invalidation every K interrupts (an interrupt may then arrive on either
 * of an entry's two vectors). `halt=1`: wait between interrupts halted
 * (IF=1), woken by the next interrupt or a periodic LAPIC timer tick
 * (vector 0x30, ~1 ms on KVM) that lets the quiet check run; spinning is
 * the default. On these hosts an interrupt reaches a vCPU spinning in the
 * guest late, one halted at once, so interrupts/s measures the VMM only
 * when the guest halts. */
#include "common/irqguest.h"
#include "common/pci.h"

#define MAXV 2048
#define IDT_VECTORS 32

static volatile uint32_t count, wrong, used, nvec, reprogram, reprogrammed;
static volatile uint32_t per_vector[IDT_VECTORS];
static volatile uint32_t *table;
static volatile uint32_t ticks;

#define TIMER_VECTOR 0x30
#define LVT_TIMER 0x320
#define TIMER_INITIAL 0x380
#define TIMER_DIVIDE 0x3e0
#define LVT_PERIODIC (1u << 17)

void timer_handler(void) {
    ticks++;
    LAPIC(LAPIC_EOI) = 0;
}

/* The timer's entry: leaves like common/irqwait.S's irq_entry (no IRET). */
extern char timer_entry[];
__asm__(
    ".text\n"
    ".globl timer_entry\n"
    "timer_entry:\n"
    "  pusha\n"
    "  call timer_handler\n"
    "  popa\n"
    "  add $12, %esp\n"           /* EIP, CS, EFLAGS of the wait loop */
    "  jmp *resume_eip\n");

/* uint32_t hlt_wait_tick(volatile uint32_t *counter, uint32_t target, uint32_t tick_seen):
 * halts with IF=1 until *counter >= target (returns 1) or the timer has
 * ticked since `tick_seen` (returns 0). STI's shadow covers the HLT, so an
 * interrupt cannot slip in between the checks and the halt; a handler comes
 * back to the checks (resume_eip). */
uint32_t hlt_wait_tick(volatile uint32_t *counter, uint32_t target, uint32_t tick_seen);
__asm__(
    ".text\n"
    ".globl hlt_wait_tick\n"
    "hlt_wait_tick:\n"
    "  movl $1f, resume_eip\n"
    "1: cli\n"
    "  mov 4(%esp), %edx\n"
    "  mov 8(%esp), %ecx\n"
    "  cmp %ecx, (%edx)\n"
    "  jae 2f\n"
    "  mov ticks, %eax\n"
    "  cmp 12(%esp), %eax\n"
    "  jne 3f\n"
    "  sti\n"
    "  hlt\n"
    "  jmp 1b\n"
    "2: mov $1, %eax\n"
    "  ret\n"
    "3: xor %eax, %eax\n"
    "  ret\n");

void vector_handler(uint32_t vector) {
    uint32_t i = vector - 0x40;
    if (reprogram && i >= IDT_VECTORS && i < 2 * IDT_VECTORS) i -= IDT_VECTORS;
    if (vector >= 0x40 && i < used) per_vector[i]++;
    else wrong++;
    count++;
    if (reprogram && count % reprogram == 0) {
        uint32_t n = reprogrammed++ % nvec;
        table[n * 4 + 3] = 1;                  /* mask */
        table[n * 4 + 2] ^= IDT_VECTORS;       /* 0x40 + j <-> 0x60 + j */
        table[n * 4 + 3] = 0;                  /* unmask */
    }
    LAPIC(LAPIC_EOI) = 0;
}


int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic;
    guest_setup();
    int verbose = cmdline_u32(mbi, "verbose", 0);
    int halt = cmdline_u32(mbi, "halt", 0);
    int dev = pci_find(0xd00b1234u);
    int cap = dev >= 0 ? pci_find_cap(dev, 0x11) : 0;
    if (dev < 0 || !cap) { puts("doorbell-sink: no doorbell\ndoorbell-sink: FAIL\n"); return 1; }
    cfg_write(dev, 0x04, (cfg_read(dev, 0x04) & 0xffff) | 0x6);
    table = (volatile uint32_t *)(cfg_read(dev, 0x10) & ~0xfu);
    volatile uint32_t *regs = (volatile uint32_t *)(cfg_read(dev, 0x18) & ~0xfu);
    nvec = regs[0x04 / 4];
    if (nvec > MAXV) nvec = MAXV;
    reprogram = cmdline_u32(mbi, "reprogram", 0);
    used = nvec < IDT_VECTORS ? nvec : IDT_VECTORS;
    for (uint32_t n = 0; n < nvec; n++) {
        table[n * 4 + 0] = 0xfee00000u;
        table[n * 4 + 1] = 0;
        table[n * 4 + 2] = 0x40 + n % IDT_VECTORS;
        table[n * 4 + 3] = 0;
    }
    cfg_write(dev, cap, (cfg_read(dev, cap) & 0xffff) | (1u << 31));
    if (halt) {
        set_gate(TIMER_VECTOR, timer_entry);
        LAPIC(TIMER_DIVIDE) = 0xb;                         /* divide by 1 */
        LAPIC(LVT_TIMER) = LVT_PERIODIC | TIMER_VECTOR;
        LAPIC(TIMER_INITIAL) = 1000000;                    /* ~1 ms at KVM's 1 GHz APIC bus */
    }
    /* Take interrupts until the load is done and the line has been quiet for a while. */
    for (uint32_t quiet = 0; quiet < 3;) {
        uint32_t before = count;
        if (halt) {
            /* Quiet means a whole timer period without an interrupt. */
            uint32_t t = ticks;
            while (count == before && ticks - t < 2) hlt_wait_tick(&count, before + 1, ticks);
        } else {
            wait_irq_spins(&count, before + 1, 200000);
        }
        if (count == before && regs[0x14 / 4] == 0) quiet++;
        else quiet = 0;
    }
    if (halt) LAPIC(TIMER_INITIAL) = 0;                    /* timer off */
    uint32_t rings = regs[0x10 / 4]; (void)rings;
    int ok = 1, r;
    r = count > 0;
    say("interrupts received while the load ran", r); ok &= r;
    r = 1;
    for (uint32_t n = 0; n < used; n++) r &= per_vector[n] > 0;
    say("every vector heard from", r); ok &= r;
    r = wrong == 0;
    say("nothing on a vector no entry holds", r); ok &= r;
    if (verbose) { puts("interrupts="); put_dec(count); puts(" reprogrammed="); put_dec(reprogrammed); puts("\n"); }
    puts(ok ? "doorbell-sink: PASS\n" : "doorbell-sink: FAIL\n");
    return ok ? 0 : 1;
}

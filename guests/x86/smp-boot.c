/* build: smp.
 * smp-boot: the BSP learns the CPU count from fw_cfg (key 0x05), starts
 * every other CPU with INIT, SIPI, SIPI (all excluding self); each AP runs
 * the real-mode trampoline (common/smp.S) into protected mode, takes a
 * stack by its LAPIC ID and reports in. The BSP prints who reported, in
 * APIC ID order, and passes when all N did. */
#include "common/smp.h"
#include "common/gdt.h"

#define MAX_CPUS 64

static volatile uint32_t reported[MAX_CPUS], up_count, bad_id;

void ap_main(uint32_t id) {
    if (id < MAX_CPUS) reported[id]++;
    else bad_id = 1;
    atomic_inc(&up_count);
}

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic; (void)mbi;
    load_flat_gdt();
    LAPIC(LAPIC_SVR) = 0x1ff;

    uint32_t n = fw_cfg_cpus();
    puts("cpus: "); put_dec(n); puts(", bsp apic id: "); put_dec(lapic_id()); putc('\n');
    if (n < 2 || n > MAX_CPUS) { puts("smp-boot: FAIL (cpu count)\n"); return 1; }

    start_aps();
    for (uint32_t i = 0; i < 50000000 && up_count < n - 1; i++) cpu_relax();
    spin(10000); /* a CPU reporting twice (a second SIPI that restarted it) would show now */

    int ok = !bad_id && up_count == n - 1 && reported[0] == 0;
    for (uint32_t id = 1; id < n; id++) {
        puts("cpu ");
        put_dec(id);
        puts(reported[id] == 1 ? ": up\n" : reported[id] ? ": up more than once\n" : ": MISSING\n");
        ok &= reported[id] == 1;
    }
    puts("aps up: "); put_dec(up_count); putc('\n');
    puts(ok ? "smp-boot: PASS\n" : "smp-boot: FAIL\n");
    return ok ? 0 : 1;
}

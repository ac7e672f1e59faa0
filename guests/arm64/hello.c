/* hello: the PL011 prints, the boot protocol holds (EL1h, DAIF masked, x0 = a
   flattened device tree), and PSCI SYSTEM_OFF ends the VM. */
#include "common/rt.h"

int main(uint64_t dtb) {
    puts("hello from arm64\n");
    uint64_t el = (read_sysreg(CurrentEL) >> 2) & 3;
    puts("EL");
    put_dec(el);
    puts(", DAIF masked: ");
    puts((read_sysreg(daif) & 0x3c0) == 0x3c0 ? "yes" : "no");
    puts(", cpu ");
    put_dec(cpu_index());
    putc('\n');
    const uint8_t *p = (const uint8_t *)dtb;
    int fdt = dtb != 0 && (dtb & 7) == 0 && p[0] == 0xd0 && p[1] == 0x0d && p[2] == 0xfe && p[3] == 0xed;
    puts(fdt ? "x0 holds a device tree\n" : "x0 holds no device tree\n");
    uint64_t v = psci_call(PSCI_VERSION, 0, 0, 0);
    puts(v >= 2 ? "PSCI 0.2 or later\n" : "PSCI too old\n");
    puts("bye\n");
    return 0;
}

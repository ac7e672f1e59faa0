/* bench-pio: N writes to port 0x80 (N from "count=N", default 100000),
 * then exit with value 0. The benchmark counts exits per second. */
#include "common/rt.h"

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic;
    uint32_t n = cmdline_u32(mbi, "count", 100000);
    puts("bench-pio: ");
    put_dec(n);
    puts(" writes\n");
    for (uint32_t i = 0; i < n; i++) outb(0x80, (uint8_t)i);
    puts("done\n");
    return 0;
}

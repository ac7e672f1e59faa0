/* hello: the first guest. Prints a greeting, checks the multiboot handoff
 * and the memory information, exits with debug-exit value 0 (status 1).
 * The exact mem_upper differs between loaders (QEMU's option ROM reports
 * SeaBIOS's e801 answer, which keeps the top 128 KiB for the BIOS), so the
 * transcript prints a bound that both must meet with -m 64. */
#include "common/rt.h"

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    puts("Hello from a tiny multiboot guest!\n");
    if (magic != MULTIBOOT_MAGIC) {
        put_line("bad multiboot magic: ", magic);
        return 1;
    }
    if (!(mbi->flags & 1)) {
        puts("no memory information\n");
        return 1;
    }
    puts(mbi->mem_upper >= 62 * 1024 ? "memory above 1 MiB: at least 62 MiB\n" : "memory above 1 MiB: less than 62 MiB\n");
    puts("bye\n");
    return 0;
}

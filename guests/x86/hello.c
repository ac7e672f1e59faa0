/* hello: the first guest. Prints a greeting, checks the multiboot handoff,
 * reports the memory size, exits with debug-exit value 0 (status 1). */
#include "common/rt.h"

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    puts("Hello from a tiny multiboot guest!\n");
    if (magic != MULTIBOOT_MAGIC) {
        put_line("bad multiboot magic: ", magic);
        return 1;
    }
    if (mbi->flags & 1) {
        puts("mem_upper KiB: ");
        put_dec(mbi->mem_upper);
        putc('\n');
    }
    puts("bye\n");
    return 0;
}

/* strings: the string instructions in 8/16/32-bit forms, both directions,
 * with REP, REPE and REPNE termination and overlapping moves. Prints one
 * line per case with the registers and memory they leave behind. */
#include "common/rt.h"

static uint8_t buf[256], buf2[256];

static uint32_t sum(const uint8_t *p, unsigned n) {
    uint32_t h = 2166136261u;
    for (unsigned i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

static void line(const char *name, uint32_t a, uint32_t b, uint32_t c) {
    puts(name); putc(' '); put_hex(a, 8); putc(' '); put_hex(b, 8); putc(' '); put_hex(c, 8); putc('\n');
}

static void fill(void) {
    for (unsigned i = 0; i < sizeof buf; i++) { buf[i] = (uint8_t)(i * 7 + 3); buf2[i] = 0; }
}

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic; (void)mbi;
    uint32_t si, di, cx, ax, f;

    fill();
    __asm__ volatile("cld; rep movsb" : "=S"(si), "=D"(di), "=c"(cx) : "S"(buf), "D"(buf2), "c"(37) : "memory");
    line("rep-movsb", si - (uint32_t)buf, di - (uint32_t)buf2, sum(buf2, 64));
    fill();
    __asm__ volatile("cld; rep movsw" : "=S"(si), "=D"(di), "=c"(cx) : "S"(buf), "D"(buf2), "c"(13) : "memory");
    line("rep-movsw", si - (uint32_t)buf, di - (uint32_t)buf2, sum(buf2, 64));
    fill();
    __asm__ volatile("cld; rep movsl" : "=S"(si), "=D"(di), "=c"(cx) : "S"(buf), "D"(buf2), "c"(9) : "memory");
    line("rep-movsl", si - (uint32_t)buf, di - (uint32_t)buf2, sum(buf2, 64));
    fill();
    /* Overlapping forward move smears, backward move (DF=1) shifts. */
    __asm__ volatile("cld; rep movsb" : "=S"(si), "=D"(di), "=c"(cx) : "S"(buf), "D"(buf + 1), "c"(20) : "memory");
    line("overlap-fwd", si - (uint32_t)buf, di - (uint32_t)buf, sum(buf, 32));
    fill();
    __asm__ volatile("std; rep movsb; cld" : "=S"(si), "=D"(di), "=c"(cx) : "S"(buf + 19), "D"(buf + 20), "c"(20) : "memory");
    line("overlap-back", si - (uint32_t)buf, di - (uint32_t)buf, sum(buf, 32));
    fill();
    __asm__ volatile("cld; rep stosl" : "=D"(di), "=c"(cx) : "D"(buf2), "c"(5), "a"(0xa5a5f00d) : "memory");
    line("rep-stosl", di - (uint32_t)buf2, cx, sum(buf2, 32));
    __asm__ volatile("std; rep stosw; cld" : "=D"(di), "=c"(cx) : "D"(buf2 + 40), "c"(4), "a"(0x1234) : "memory");
    line("rep-stosw-back", di - (uint32_t)buf2, cx, sum(buf2, 48));
    fill();
    __asm__ volatile("cld; lodsb; lodsw; lodsl" : "=S"(si), "=a"(ax) : "S"(buf), "a"(0) : "memory");
    line("lods", si - (uint32_t)buf, ax, 0);
    fill();
    buf2[0] = buf[0]; buf2[1] = buf[1]; buf2[2] = buf[2]; buf2[3] = 0xee;
    __asm__ volatile("cld; repe cmpsb; pushf; pop %[f]" : "=S"(si), "=D"(di), "=c"(cx), [f] "=r"(f) : "S"(buf), "D"(buf2), "c"(10) : "memory", "cc");
    line("repe-cmpsb", si - (uint32_t)buf, cx, f & 0x8d5);
    __asm__ volatile("cld; repne scasb; pushf; pop %[f]" : "=D"(di), "=c"(cx), [f] "=r"(f) : "D"(buf), "c"(100), "a"(buf[17]) : "memory", "cc");
    line("repne-scasb", di - (uint32_t)buf, cx, f & 0x8d5);
    __asm__ volatile("cld; repne scasl; pushf; pop %[f]" : "=D"(di), "=c"(cx), [f] "=r"(f) : "D"(buf), "c"(8), "a"(0x12345678) : "memory", "cc");
    line("repne-scasl-miss", di - (uint32_t)buf, cx, f & 0x8d5);
    __asm__ volatile("cld; repe cmpsw; pushf; pop %[f]" : "=S"(si), "=D"(di), "=c"(cx), [f] "=r"(f) : "S"(buf), "D"(buf), "c"(6) : "memory", "cc");
    line("repe-cmpsw-equal", si - (uint32_t)buf, cx, f & 0x8d5);
    __asm__ volatile("std; cmpsl; cld; pushf; pop %[f]" : "=S"(si), "=D"(di), [f] "=r"(f) : "S"(buf + 8), "D"(buf + 4) : "memory", "cc");
    line("cmpsl-back", si - (uint32_t)buf, di - (uint32_t)buf, f & 0x8d5);
    __asm__ volatile("cld; rep movsb" : "=S"(si), "=D"(di), "=c"(cx) : "S"(buf), "D"(buf2), "c"(0) : "memory");
    line("rep-zero-count", si - (uint32_t)buf, di - (uint32_t)buf2, cx);
    return 0;
}

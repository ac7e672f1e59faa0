#include "rt.h"

void putc(char c) {
    while (!(inb(COM1 + 5) & 0x20)) { /* wait for THRE */ }
    outb(COM1, (uint8_t)c);
}

void puts(const char *s) { while (*s) putc(*s++); }

void put_hex(uint32_t v, int digits) {
    static const char hex[] = "0123456789abcdef";
    for (int i = digits - 1; i >= 0; i--) putc(hex[(v >> (4 * i)) & 15]);
}

void put_dec(uint32_t v) {
    char buf[12];
    int n = 0;
    do { buf[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n) putc(buf[--n]);
}

void put_line(const char *label, uint32_t v) {
    puts(label);
    puts("0x");
    put_hex(v, 8);
    putc('\n');
}

uint32_t cmdline_u32(const struct multiboot_info *mbi, const char *key, uint32_t dflt) {
    if (!(mbi->flags & (1u << 2)) || !mbi->cmdline) return dflt;
    const char *s = (const char *)mbi->cmdline;
    for (; *s; s++) {
        if (s != (const char *)mbi->cmdline && s[-1] != ' ') continue;
        const char *k = key, *p = s;
        while (*k && *p == *k) { k++; p++; }
        if (*k || *p != '=') continue;
        p++;
        uint32_t v = 0;
        int any = 0;
        while (*p >= '0' && *p <= '9') { v = v * 10 + (uint32_t)(*p++ - '0'); any = 1; }
        return any ? v : dflt;
    }
    return dflt;
}

void debug_exit(uint32_t v) {
    outl(DEBUG_EXIT_PORT, v);
    for (;;) __asm__ volatile("cli; hlt");
}

void *memset(void *d, int c, size_t n) {
    uint8_t *p = d;
    while (n--) *p++ = (uint8_t)c;
    return d;
}

void *memcpy(void *d, const void *s, size_t n) {
    uint8_t *p = d;
    const uint8_t *q = s;
    while (n--) *p++ = *q++;
    return d;
}

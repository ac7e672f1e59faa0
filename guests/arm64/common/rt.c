#include "rt.h"

uint64_t psci_call(uint32_t fn, uint64_t a1, uint64_t a2, uint64_t a3) {
    register uint64_t x0 __asm__("x0") = fn;
    register uint64_t x1 __asm__("x1") = a1;
    register uint64_t x2 __asm__("x2") = a2;
    register uint64_t x3 __asm__("x3") = a3;
    __asm__ volatile("hvc #0" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3) :: "memory");
    return x0;
}

void putc(char c) {
    while (mmio_read32(UART_BASE + 0x18) & (1u << 5)) { /* TXFF */ }
    mmio_write32(UART_BASE, (uint8_t)c);
}

void puts(const char *s) { while (*s) putc(*s++); }

void put_hex(uint64_t v, int digits) {
    static const char hex[] = "0123456789abcdef";
    for (int i = digits - 1; i >= 0; i--) putc(hex[(v >> (4 * i)) & 15]);
}

void put_dec(uint64_t v) {
    char buf[24];
    int n = 0;
    do { buf[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n) putc(buf[--n]);
}

static volatile uint32_t exiting;

void exit(uint32_t code) {
    /* Once only: where the debug-exit register does not exist (QEMU's virt) the
       write aborts, and the abort handler's own exit goes straight to SYSTEM_OFF. */
    if (code != 0 && !exiting) {
        exiting = 1;
        mmio_write32(DEBUG_EXIT_BASE, code);
    }
    psci_call(PSCI_SYSTEM_OFF, 0, 0, 0);
    for (;;) wfi();
}

void check(int ok, const char *what) {
    puts(ok ? "ok   " : "FAIL ");
    puts(what);
    putc('\n');
    if (!ok) exit(3);
}

void unexpected_exception(uint64_t kind, uint64_t esr, uint64_t elr, uint64_t far) {
    puts("unexpected exception ");
    put_dec(kind);
    puts(" esr=0x");
    put_hex(esr, 8);
    puts(" elr=0x");
    put_hex(elr, 8);
    puts(" far=0x");
    put_hex(far, 8);
    putc('\n');
    exit(0x7f);
}

__attribute__((weak)) void irq_handler(void) { puts("unexpected irq\n"); exit(0x7e); }
__attribute__((weak)) void secondary_main(uint32_t cpu) { (void)cpu; for (;;) wfi(); }

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

/* arith: proves the interpreter's arithmetic and flags against real
 * hardware. Each operation runs over a table of interesting operands
 * (8, 16 and 32 bits) with two incoming flag patterns, and folds results
 * and the flags the SDM defines for it (undefined ones masked out) into a
 * hash; one line per operation. "verbose=1" prints every case instead. */
#include "common/rt.h"

#define CF 0x001
#define PF 0x004
#define AF 0x010
#define ZF 0x040
#define SF 0x080
#define OF 0x800
#define ALL (CF | PF | AF | ZF | SF | OF)

static const uint32_t vals[] = {0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff,
                                0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x12345678, 0xdeadbeef};
#define NV (sizeof vals / sizeof vals[0])
static const uint32_t fins[2] = {0x002, 0x002 | ALL};
static const uint8_t counts[] = {0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31};
#define NC (sizeof counts / sizeof counts[0])

static uint32_t h, total = 2166136261u, verbose;

static void mix(uint32_t x) { h = (h ^ x) * 16777619u; }

static void report(const char *name) {
    puts(name);
    putc(' ');
    put_hex(h, 8);
    putc('\n');
    total = (total ^ h) * 16777619u;
    h = 2166136261u;
}

static void show(const char *name, uint32_t a, uint32_t b, uint32_t fin, uint32_t r, uint32_t f) {
    if (!verbose) return;
    puts(name); putc(' '); put_hex(a, 8); putc(' '); put_hex(b, 8); putc(' '); put_hex(fin, 3);
    puts(" -> "); put_hex(r, 8); putc(' '); put_hex(f, 3); putc('\n');
}

/* Binary ALU op "INSN src, dst" at width T with register class RC. */
#define BIN(NAME, INSN, T, RC, MASK)                                                              \
    static void NAME(void) {                                                                      \
        for (unsigned i = 0; i < NV; i++)                                                         \
            for (unsigned j = 0; j < NV; j++)                                                     \
                for (unsigned c = 0; c < 2; c++) {                                                \
                    T a = (T)vals[i], b = (T)vals[j];                                             \
                    uint32_t f;                                                                   \
                    __asm__ volatile("push %[fin]\n\tpopf\n\t" INSN " %[b], %[a]\n\tpushf\n\tpop %[f]" \
                                     : [a] "+" RC(a), [f] "=&r"(f)                                \
                                     : [b] RC(b), [fin] "r"(fins[c])                              \
                                     : "cc");                                                     \
                    mix((uint32_t)a); mix(f & (MASK));                                            \
                    show(#NAME, vals[i], vals[j], fins[c], (uint32_t)a, f & (MASK));              \
                }                                                                                 \
        report(#NAME);                                                                            \
    }

/* Unary op "INSN dst". */
#define UN(NAME, INSN, T, RC, MASK)                                                               \
    static void NAME(void) {                                                                      \
        for (unsigned i = 0; i < NV; i++)                                                         \
            for (unsigned c = 0; c < 2; c++) {                                                    \
                T a = (T)vals[i];                                                                 \
                uint32_t f;                                                                       \
                __asm__ volatile("push %[fin]\n\tpopf\n\t" INSN " %[a]\n\tpushf\n\tpop %[f]"       \
                                 : [a] "+" RC(a), [f] "=&r"(f)                                    \
                                 : [fin] "r"(fins[c])                                             \
                                 : "cc");                                                         \
                mix((uint32_t)a); mix(f & (MASK));                                                \
                show(#NAME, vals[i], 0, fins[c], (uint32_t)a, f & (MASK));                        \
            }                                                                                     \
        report(#NAME);                                                                            \
    }

/* Shift/rotate by CL: flags defined depend on the count. */
#define SH(NAME, INSN, T, RC, MASK1, MASKN)                                                       \
    static void NAME(void) {                                                                      \
        for (unsigned i = 0; i < NV; i++)                                                         \
            for (unsigned k = 0; k < NC; k++)                                                     \
                for (unsigned c = 0; c < 2; c++) {                                                \
                    T a = (T)vals[i];                                                             \
                    uint32_t f, n = counts[k], m = n == 0 ? ALL : n == 1 ? (MASK1) : (MASKN);     \
                    __asm__ volatile("push %[fin]\n\tpopf\n\t" INSN " %%cl, %[a]\n\tpushf\n\tpop %[f]" \
                                     : [a] "+" RC(a), [f] "=&r"(f)                                \
                                     : "c"(n), [fin] "r"(fins[c])                                 \
                                     : "cc");                                                     \
                    mix((uint32_t)a); mix(f & m);                                                 \
                    show(#NAME, vals[i], n, fins[c], (uint32_t)a, f & m);                         \
                }                                                                                 \
        report(#NAME);                                                                            \
    }

BIN(add8, "addb", uint8_t, "q", ALL)   BIN(add16, "addw", uint16_t, "r", ALL)   BIN(add32, "addl", uint32_t, "r", ALL)
BIN(adc8, "adcb", uint8_t, "q", ALL)   BIN(adc16, "adcw", uint16_t, "r", ALL)   BIN(adc32, "adcl", uint32_t, "r", ALL)
BIN(sub8, "subb", uint8_t, "q", ALL)   BIN(sub16, "subw", uint16_t, "r", ALL)   BIN(sub32, "subl", uint32_t, "r", ALL)
BIN(sbb8, "sbbb", uint8_t, "q", ALL)   BIN(sbb16, "sbbw", uint16_t, "r", ALL)   BIN(sbb32, "sbbl", uint32_t, "r", ALL)
BIN(cmp8, "cmpb", uint8_t, "q", ALL)   BIN(cmp32, "cmpl", uint32_t, "r", ALL)
BIN(and8, "andb", uint8_t, "q", ALL & ~AF) BIN(and32, "andl", uint32_t, "r", ALL & ~AF)
BIN(or16, "orw", uint16_t, "r", ALL & ~AF) BIN(or32, "orl", uint32_t, "r", ALL & ~AF)
BIN(xor8, "xorb", uint8_t, "q", ALL & ~AF) BIN(xor32, "xorl", uint32_t, "r", ALL & ~AF)
BIN(test32, "testl", uint32_t, "r", ALL & ~AF)
BIN(imul16, "imulw", uint16_t, "r", CF | OF) BIN(imul32, "imull", uint32_t, "r", CF | OF)
BIN(bt32, "btl", uint32_t, "r", CF) BIN(bts32, "btsl", uint32_t, "r", CF)
BIN(btr32, "btrl", uint32_t, "r", CF) BIN(btc32, "btcl", uint32_t, "r", CF)
BIN(bt16, "btw", uint16_t, "r", CF)
BIN(xadd32, "xaddl", uint32_t, "r", ALL)
UN(inc8, "incb", uint8_t, "q", ALL)    UN(inc32, "incl", uint32_t, "r", ALL)
UN(dec16, "decw", uint16_t, "r", ALL)  UN(dec32, "decl", uint32_t, "r", ALL)
UN(neg8, "negb", uint8_t, "q", ALL)    UN(neg16, "negw", uint16_t, "r", ALL)    UN(neg32, "negl", uint32_t, "r", ALL)
UN(not32, "notl", uint32_t, "r", ALL)
UN(bswap32, "bswap", uint32_t, "r", ALL)
SH(shl8, "shlb", uint8_t, "q", ALL & ~AF, CF | PF | ZF | SF)
SH(shl32, "shll", uint32_t, "r", ALL & ~AF, CF | PF | ZF | SF)
SH(shr16, "shrw", uint16_t, "r", ALL & ~AF, CF | PF | ZF | SF)
SH(shr32, "shrl", uint32_t, "r", ALL & ~AF, CF | PF | ZF | SF)
SH(sar8, "sarb", uint8_t, "q", ALL & ~AF, CF | PF | ZF | SF)
SH(sar32, "sarl", uint32_t, "r", ALL & ~AF, CF | PF | ZF | SF)
SH(rol8, "rolb", uint8_t, "q", CF | OF, CF)
SH(rol32, "roll", uint32_t, "r", CF | OF, CF)
SH(ror16, "rorw", uint16_t, "r", CF | OF, CF)
SH(ror32, "rorl", uint32_t, "r", CF | OF, CF)
SH(rcl8, "rclb", uint8_t, "q", CF | OF, CF)
SH(rcl32, "rcll", uint32_t, "r", CF | OF, CF)
SH(rcr16, "rcrw", uint16_t, "r", CF | OF, CF)
SH(rcr32, "rcrl", uint32_t, "r", CF | OF, CF)

/* One-operand multiply and divide, bit scans, double shifts, setcc/cmovcc. */
static void muldiv(void) {
    for (unsigned i = 0; i < NV; i++)
        for (unsigned j = 0; j < NV; j++) {
            uint32_t a = vals[i], b = vals[j], lo, hi, f;
            __asm__ volatile("mull %[b]\n\tpushf\n\tpop %[f]" : "=a"(lo), "=d"(hi), [f] "=r"(f) : "a"(a), [b] "r"(b) : "cc");
            mix(lo); mix(hi); mix(f & (CF | OF));
            __asm__ volatile("imull %[b]\n\tpushf\n\tpop %[f]" : "=a"(lo), "=d"(hi), [f] "=r"(f) : "a"(a), [b] "r"(b) : "cc");
            mix(lo); mix(hi); mix(f & (CF | OF));
            uint16_t ax;
            __asm__ volatile("mulb %b[b]\n\tpushf\n\tpop %[f]" : "=a"(ax), [f] "=r"(f) : "a"((uint16_t)(a & 0xff)), [b] "q"((uint8_t)b) : "cc");
            mix(ax); mix(f & (CF | OF));
            __asm__ volatile("imulb %b[b]\n\tpushf\n\tpop %[f]" : "=a"(ax), [f] "=r"(f) : "a"((uint16_t)(a & 0xff)), [b] "q"((uint8_t)b) : "cc");
            mix(ax); mix(f & (CF | OF));
            if (b != 0) {
                uint32_t q, r;
                __asm__ volatile("divl %[b]" : "=a"(q), "=d"(r) : "a"(a), "d"(0), [b] "r"(b) : "cc");
                mix(q); mix(r);
                if (!((int32_t)a == INT32_MIN && (int32_t)b == -1)) {
                    __asm__ volatile("cltd\n\tidivl %[b]" : "=a"(q), "=d"(r) : "a"(a), [b] "r"(b) : "cc");
                    mix(q); mix(r);
                }
                if ((a >> 16) < (b & 0xffff) || 1) {
                    uint16_t b16 = (uint16_t)b;
                    if (b16 != 0) {
                        uint16_t q16, r16;
                        __asm__ volatile("divw %[b]" : "=a"(q16), "=d"(r16) : "a"((uint16_t)a), "d"((uint16_t)0), [b] "r"(b16) : "cc");
                        mix(q16); mix(r16);
                    }
                }
            }
        }
    report("muldiv");
    for (unsigned i = 0; i < NV; i++) {
        uint32_t a = vals[i], r = 0x55, f;
        if (!a) continue;
        __asm__ volatile("bsfl %[a], %[r]\n\tpushf\n\tpop %[f]" : [r] "+r"(r), [f] "=r"(f) : [a] "r"(a) : "cc");
        mix(r); mix(f & ZF);
        __asm__ volatile("bsrl %[a], %[r]\n\tpushf\n\tpop %[f]" : [r] "+r"(r), [f] "=r"(f) : [a] "r"(a) : "cc");
        mix(r); mix(f & ZF);
    }
    report("bitscan");
    for (unsigned i = 0; i < NV; i++)
        for (unsigned j = 0; j < NV; j++)
            for (unsigned k = 1; k < NC; k++) {
                uint32_t a = vals[i], b = vals[j], n = counts[k], f, m = n == 1 ? (ALL & ~AF) : (CF | PF | ZF | SF);
                __asm__ volatile("shldl %%cl, %[b], %[a]\n\tpushf\n\tpop %[f]" : [a] "+r"(a), [f] "=r"(f) : [b] "r"(b), "c"(n) : "cc");
                mix(a); mix(f & m);
                a = vals[i];
                __asm__ volatile("shrdl %%cl, %[b], %[a]\n\tpushf\n\tpop %[f]" : [a] "+r"(a), [f] "=r"(f) : [b] "r"(b), "c"(n) : "cc");
                mix(a); mix(f & m);
            }
    report("shld-shrd");
    for (unsigned i = 0; i < NV; i++)
        for (unsigned j = 0; j < NV; j++) {
            uint32_t a = vals[i], b = vals[j], s = 0, v;
#define CC(X)                                                                                     \
    __asm__ volatile("cmpl %[b], %[a]\n\tset" X " %b[v]\n\tmovzbl %b[v], %[v]" : [v] "=q"(v) : [a] "r"(a), [b] "r"(b) : "cc"); \
    s = s * 2 + v;
            CC("o") CC("no") CC("b") CC("ae") CC("e") CC("ne") CC("be") CC("a")
            CC("s") CC("ns") CC("p") CC("np") CC("l") CC("ge") CC("le") CC("g")
            mix(s);
            uint32_t x = 0x1111, y = 0x2222;
            __asm__ volatile("cmpl %[b], %[a]\n\tcmovll %[y], %[x]" : [x] "+r"(x) : [a] "r"(a), [b] "r"(b), [y] "r"(y) : "cc");
            mix(x);
        }
    report("setcc-cmov");
}

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic;
    verbose = cmdline_u32(mbi, "verbose", 0);
    h = 2166136261u;
    add8(); add16(); add32(); adc8(); adc16(); adc32(); sub8(); sub16(); sub32(); sbb8(); sbb16(); sbb32();
    cmp8(); cmp32(); and8(); and32(); or16(); or32(); xor8(); xor32(); test32(); imul16(); imul32();
    bt32(); bts32(); btr32(); btc32(); bt16(); xadd32();
    inc8(); inc32(); dec16(); dec32(); neg8(); neg16(); neg32(); not32(); bswap32();
    shl8(); shl32(); shr16(); shr32(); sar8(); sar32(); rol8(); rol32(); ror16(); ror32();
    rcl8(); rcl32(); rcr16(); rcr32();
    muldiv();
    puts("arith total ");
    put_hex(total, 8);
    putc('\n');
    return 0;
}

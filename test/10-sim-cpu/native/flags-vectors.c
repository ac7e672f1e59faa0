/* Records what this host's CPU does to EFLAGS (and the result) for the
 * arithmetic, logic, shift, rotate, multiply, divide and bit instructions,
 * on random and edge operands, as golden vectors for the interpreter's
 * flag tests (flags-golden.test.ts). User mode, 64-bit build: 8/16/32-bit
 * operand forms behave as in 32-bit code, so these are the instructions a
 * 32-bit guest runs under KVM on the same CPU.
 *
 * One file per CPU vendor, named after the sim's model of that vendor's
 * undefined flags (src/backend/sim/x86/undefined-flags.ts): the golden test
 * runs each file against its model and checks that the header names the
 * model's vendor. Rebuild (from the repository root) on a host of that
 * vendor:
 *   gcc -O1 -o /tmp/flags-vectors test/10-sim-cpu/native/flags-vectors.c
 *   AMD (AuthenticAMD):
 *     /tmp/flags-vectors > test/10-sim-cpu/native/flags-vectors-amd.txt
 *   Intel (GenuineIntel):
 *     /tmp/flags-vectors > test/10-sim-cpu/native/flags-vectors-intel.txt
 * A new file makes the golden test run that vendor's model against it:
 * fix the model where it fails, then mark it `recorded` (the test checks
 * that a model is recorded exactly when its file exists).
 *
 * Output: a header line naming the CPU (# <vendor> <brand>), then one line per case, in hex:
 *   <insn> <a> <b> <flags-in> <result> <result2> <flags-out>
 * b is the source, the count (CL) or the high half of a dividend;
 * result2 is EDX/DX/AH for mul/div, otherwise 0.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

#define ARITH 0x8d5u /* CF PF AF ZF SF OF */

typedef void (*fn_t)(uint32_t a, uint32_t b, uint32_t fin, uint32_t *res, uint32_t *res2, uint32_t *fout);

/* dst op= src, 8/16/32 bits */
#define BIN(name, insn, sfx, mod, cons) \
static void name(uint32_t a, uint32_t b, uint32_t fin, uint32_t *res, uint32_t *res2, uint32_t *fout) { \
    uint32_t r = a; uint64_t f64; \
    __asm__ volatile("push %[fi]\n\tpopf\n\t" insn sfx " %" mod "[s], %" mod "[r]\n\tpushf\n\tpop %[f]" \
        : [r] "+" cons (r), [f] "=&r" (f64) : [s] cons (b), [fi] "r" ((uint64_t)fin) : "cc"); \
    *res = r; *res2 = 0; *fout = (uint32_t)f64; }
#define BIN3(op) BIN(op##8, #op, "b", "b", "q") BIN(op##16, #op, "w", "w", "r") BIN(op##32, #op, "l", "k", "r")
BIN3(add) BIN3(adc) BIN3(sub) BIN3(sbb) BIN3(and) BIN3(or) BIN3(xor) BIN3(cmp) BIN3(test)
BIN(bsf16, "bsf", "w", "w", "r") BIN(bsf32, "bsf", "l", "k", "r")
BIN(bsr16, "bsr", "w", "w", "r") BIN(bsr32, "bsr", "l", "k", "r")
BIN(bt16, "bt", "w", "w", "r") BIN(bt32, "bt", "l", "k", "r")
BIN(bts16, "bts", "w", "w", "r") BIN(bts32, "bts", "l", "k", "r")
BIN(btr16, "btr", "w", "w", "r") BIN(btr32, "btr", "l", "k", "r")
BIN(btc16, "btc", "w", "w", "r") BIN(btc32, "btc", "l", "k", "r")
BIN(imul2_16, "imul", "w", "w", "r") BIN(imul2_32, "imul", "l", "k", "r")

/* op dst */
#define UN(name, insn, sfx, mod, cons) \
static void name(uint32_t a, uint32_t b, uint32_t fin, uint32_t *res, uint32_t *res2, uint32_t *fout) { \
    uint32_t r = a; uint64_t f64; (void)b; \
    __asm__ volatile("push %[fi]\n\tpopf\n\t" insn sfx " %" mod "[r]\n\tpushf\n\tpop %[f]" \
        : [r] "+" cons (r), [f] "=&r" (f64) : [fi] "r" ((uint64_t)fin) : "cc"); \
    *res = r; *res2 = 0; *fout = (uint32_t)f64; }
#define UN3(op) UN(op##8, #op, "b", "b", "q") UN(op##16, #op, "w", "w", "r") UN(op##32, #op, "l", "k", "r")
UN3(inc) UN3(dec) UN3(neg) UN3(not)

/* op dst, cl */
#define SH(name, insn, sfx, mod, cons) \
static void name(uint32_t a, uint32_t b, uint32_t fin, uint32_t *res, uint32_t *res2, uint32_t *fout) { \
    uint32_t r = a; uint64_t f64; \
    __asm__ volatile("push %[fi]\n\tpopf\n\t" insn sfx " %%cl, %" mod "[r]\n\tpushf\n\tpop %[f]" \
        : [r] "+" cons (r), [f] "=&r" (f64) : "c" (b), [fi] "r" ((uint64_t)fin) : "cc"); \
    *res = r; *res2 = 0; *fout = (uint32_t)f64; }
#define SH3(op) SH(op##8, #op, "b", "b", "q") SH(op##16, #op, "w", "w", "r") SH(op##32, #op, "l", "k", "r")
SH3(shl) SH3(shr) SH3(sar) SH3(rol) SH3(ror) SH3(rcl) SH3(rcr)

/* shld/shrd dst, src, cl: b = count | (src << 8) is too narrow for 32-bit, so src is a fixed function of a */
#define DSH(name, insn, sfx, mod) \
static void name(uint32_t a, uint32_t b, uint32_t fin, uint32_t *res, uint32_t *res2, uint32_t *fout) { \
    uint32_t r = a, s = a * 0x9e3779b1u + 0x7f4a7c15u; uint64_t f64; \
    __asm__ volatile("push %[fi]\n\tpopf\n\t" insn sfx " %%cl, %" mod "[s], %" mod "[r]\n\tpushf\n\tpop %[f]" \
        : [r] "+r" (r), [f] "=&r" (f64) : "c" (b), [s] "r" (s), [fi] "r" ((uint64_t)fin) : "cc"); \
    *res = r; *res2 = s; *fout = (uint32_t)f64; }
DSH(shld16, "shld", "w", "w") DSH(shld32, "shld", "l", "k") DSH(shrd16, "shrd", "w", "w") DSH(shrd32, "shrd", "l", "k")

/* mul/imul one operand: EDX:EAX = EAX * src */
#define MUL(name, insn) \
static void name##8(uint32_t a, uint32_t b, uint32_t fin, uint32_t *res, uint32_t *res2, uint32_t *fout) { \
    uint32_t ax = a & 0xff; uint64_t f64; \
    __asm__ volatile("push %[fi]\n\tpopf\n\t" insn "b %b[s]\n\tpushf\n\tpop %[f]" \
        : "+a" (ax), [f] "=&r" (f64) : [s] "q" (b), [fi] "r" ((uint64_t)fin) : "cc"); \
    *res = ax & 0xff; *res2 = (ax >> 8) & 0xff; *fout = (uint32_t)f64; } \
static void name##16(uint32_t a, uint32_t b, uint32_t fin, uint32_t *res, uint32_t *res2, uint32_t *fout) { \
    uint32_t ax = a, dx = 0; uint64_t f64; \
    __asm__ volatile("push %[fi]\n\tpopf\n\t" insn "w %w[s]\n\tpushf\n\tpop %[f]" \
        : "+a" (ax), "+d" (dx), [f] "=&r" (f64) : [s] "r" (b), [fi] "r" ((uint64_t)fin) : "cc"); \
    *res = ax & 0xffff; *res2 = dx & 0xffff; *fout = (uint32_t)f64; } \
static void name##32(uint32_t a, uint32_t b, uint32_t fin, uint32_t *res, uint32_t *res2, uint32_t *fout) { \
    uint32_t ax = a, dx = 0; uint64_t f64; \
    __asm__ volatile("push %[fi]\n\tpopf\n\t" insn "l %k[s]\n\tpushf\n\tpop %[f]" \
        : "+a" (ax), "+d" (dx), [f] "=&r" (f64) : [s] "r" (b), [fi] "r" ((uint64_t)fin) : "cc"); \
    *res = ax; *res2 = dx; *fout = (uint32_t)f64; }
MUL(mul, "mul") MUL(imul1_, "imul")

/* div/idiv: dividend a (AX for 8-bit, DX:AX = a for 16, EDX:EAX = a zero- (div) or sign-extended (idiv) for 32) by b (no #DE cases) */
#define DIV(name, insn, hi32) \
static void name##8(uint32_t a, uint32_t b, uint32_t fin, uint32_t *res, uint32_t *res2, uint32_t *fout) { \
    uint32_t ax = a & 0xffff; uint64_t f64; \
    __asm__ volatile("push %[fi]\n\tpopf\n\t" insn "b %b[s]\n\tpushf\n\tpop %[f]" \
        : "+a" (ax), [f] "=&r" (f64) : [s] "q" (b), [fi] "r" ((uint64_t)fin) : "cc"); \
    *res = ax & 0xff; *res2 = (ax >> 8) & 0xff; *fout = (uint32_t)f64; } \
static void name##16(uint32_t a, uint32_t b, uint32_t fin, uint32_t *res, uint32_t *res2, uint32_t *fout) { \
    uint32_t ax = a & 0xffff, dx = a >> 16; uint64_t f64; \
    __asm__ volatile("push %[fi]\n\tpopf\n\t" insn "w %w[s]\n\tpushf\n\tpop %[f]" \
        : "+a" (ax), "+d" (dx), [f] "=&r" (f64) : [s] "r" (b), [fi] "r" ((uint64_t)fin) : "cc"); \
    *res = ax & 0xffff; *res2 = dx & 0xffff; *fout = (uint32_t)f64; } \
static void name##32(uint32_t a, uint32_t b, uint32_t fin, uint32_t *res, uint32_t *res2, uint32_t *fout) { \
    uint32_t ax = a, dx = hi32; uint64_t f64; \
    __asm__ volatile("push %[fi]\n\tpopf\n\t" insn "l %k[s]\n\tpushf\n\tpop %[f]" \
        : "+a" (ax), "+d" (dx), [f] "=&r" (f64) : [s] "r" (b), [fi] "r" ((uint64_t)fin) : "cc"); \
    *res = ax; *res2 = dx; *fout = (uint32_t)f64; }
DIV(div, "div", 0) DIV(idiv, "idiv", (uint32_t)((int32_t)a >> 31))

struct insn { const char *name; fn_t fn; int bits; int kind; };
enum { K_BIN, K_SHIFT, K_DIV, K_IDIV, K_BIT };

#define E3(op, k) { #op "8", op##8, 8, k }, { #op "16", op##16, 16, k }, { #op "32", op##32, 32, k }
static const struct insn insns[] = {
    E3(add, K_BIN), E3(adc, K_BIN), E3(sub, K_BIN), E3(sbb, K_BIN), E3(and, K_BIN), E3(or, K_BIN),
    E3(xor, K_BIN), E3(cmp, K_BIN), E3(test, K_BIN), E3(inc, K_BIN), E3(dec, K_BIN), E3(neg, K_BIN),
    E3(not, K_BIN), E3(shl, K_SHIFT), E3(shr, K_SHIFT), E3(sar, K_SHIFT), E3(rol, K_SHIFT), E3(ror, K_SHIFT),
    E3(rcl, K_SHIFT), E3(rcr, K_SHIFT), E3(mul, K_BIN), E3(imul1_, K_BIN), E3(div, K_DIV), E3(idiv, K_IDIV),
    { "shld16", shld16, 16, K_SHIFT }, { "shld32", shld32, 32, K_SHIFT },
    { "shrd16", shrd16, 16, K_SHIFT }, { "shrd32", shrd32, 32, K_SHIFT },
    { "imul2_16", imul2_16, 16, K_BIN }, { "imul2_32", imul2_32, 32, K_BIN },
    { "bsf16", bsf16, 16, K_BIN }, { "bsf32", bsf32, 32, K_BIN }, { "bsr16", bsr16, 16, K_BIN }, { "bsr32", bsr32, 32, K_BIN },
    { "bt16", bt16, 16, K_BIT }, { "bt32", bt32, 32, K_BIT }, { "bts16", bts16, 16, K_BIT }, { "bts32", bts32, 32, K_BIT },
    { "btr16", btr16, 16, K_BIT }, { "btr32", btr32, 32, K_BIT }, { "btc16", btc16, 16, K_BIT }, { "btc32", btc32, 32, K_BIT },
};

static uint32_t edge(int bits) {
    static const uint32_t e[] = { 0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 0xf, 0x10 };
    uint32_t v = e[rnd() % (sizeof e / sizeof e[0])];
    return bits == 32 ? v : v & ((1u << bits) - 1);
}

int main(void) {
    char vendor[13] = { 0 }, model[49] = { 0 };
    uint32_t r[4];
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(0), "c"(0));
    memcpy(vendor, &r[1], 4); memcpy(vendor + 4, &r[3], 4); memcpy(vendor + 8, &r[2], 4);
    for (uint32_t i = 0; i < 3; i++) {
        __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(0x80000002u + i), "c"(0));
        memcpy(model + 16 * i, r, 16);
    }
    printf("# %s %s\n", vendor, model);
    for (size_t k = 0; k < sizeof insns / sizeof insns[0]; k++) {
        const struct insn *in = &insns[k];
        uint32_t mask = in->bits == 32 ? 0xffffffffu : (1u << in->bits) - 1;
        for (int n = 0; n < 96; n++) {
            uint32_t a = (n % 3 == 0 ? edge(in->bits) : rnd()) & mask;
            uint32_t b = (n % 4 == 1 ? edge(in->bits) : rnd()) & mask;
            uint32_t fin = (n % 4 == 0 ? 0 : n % 4 == 1 ? ARITH : rnd() & ARITH) | 0x2;
            if (in->kind == K_SHIFT) b = n < 64 ? (uint32_t)n % 34 : rnd() & 0xff;
            if (in->kind == K_BIT) b = rnd() % in->bits | (rnd() & 0xff00 & mask);
            if (in->kind == K_DIV) {
                /* keep the quotient in range: high part of the dividend below the divisor */
                if (in->bits == 32) { if (b == 0) b = 1; }
                else {
                    if (b == 0) b = 1;
                    uint32_t hi = (a >> in->bits) % b;
                    a = (a & mask) | (hi << in->bits);
                }
            }
            if (in->kind == K_IDIV) {
                int32_t sb;
                if (in->bits == 32) { sb = (int32_t)b; if (sb == 0 || sb == -1) b = sb = 3; }
                else {
                    sb = (int32_t)(b << (32 - in->bits)) >> (32 - in->bits);
                    if (sb == 0) { b = 3; sb = 3; }
                    /* a small dividend so the quotient fits */
                    int32_t lim = 1 << (in->bits - 2);
                    int32_t sa = (int32_t)(rnd() % (2 * lim)) - lim;
                    a = (uint32_t)sa & ((1u << (2 * in->bits)) - 1);
                }
            }
            uint32_t res, res2, fout;
            in->fn(a, b, fin, &res, &res2, &fout);
            printf("%s %x %x %x %x %x %x\n", in->name, a, b, fin, res, res2, fout & (ARITH | 0x2));
        }
    }
    return 0;
}

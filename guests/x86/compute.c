/* compute: a CPU-bound workload for the sim's speed and for the
 * interpreter's correctness against KVM: a sieve of Eratosthenes, integer
 * hashing with multiply/divide/shift/rotate, repeated "rounds=R" times
 * (default 1). Prints the prime count and a checksum, exits with value 0. */
#include "common/rt.h"

#define LIMIT 50000
static uint8_t composite[LIMIT];

static uint32_t rotl(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

static uint32_t sieve(void) {
    memset(composite, 0, sizeof composite);
    uint32_t count = 0;
    for (uint32_t i = 2; i < LIMIT; i++) {
        if (composite[i]) continue;
        count++;
        for (uint32_t j = i * 2; j < LIMIT; j += i) composite[j] = 1;
    }
    return count;
}

static uint32_t mix(uint32_t h, uint32_t round) {
    /* FNV-1a over the sieve, then arithmetic that exercises mul, div, mod and shifts. */
    for (uint32_t i = 0; i < LIMIT; i += 7) {
        h ^= composite[i];
        h *= 16777619u;
    }
    for (uint32_t i = 1; i < 2000; i++) {
        uint32_t q = (h | 1) / i;
        uint32_t r = (h ^ round) % (i + 3);
        int32_t s = (int32_t)(h - q) >> (i & 7);
        h = rotl(h + q * 31u + r, (int)(i % 31) + 1) ^ (uint32_t)s;
    }
    return h;
}

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic;
    uint32_t rounds = cmdline_u32(mbi, "rounds", 1);
    uint32_t h = 2166136261u, primes = 0;
    for (uint32_t r = 0; r < rounds; r++) {
        primes = sieve();
        h = mix(h, r);
    }
    puts("compute: rounds ");
    put_dec(rounds);
    puts(" primes ");
    put_dec(primes);
    puts(" checksum ");
    put_hex(h, 8);
    putc('\n');
    return 0;
}

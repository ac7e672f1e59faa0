/* compute: CPU-bound work with checkable results (a prime sieve, a bitwise
   CRC-32, a sort, 64-bit multiply-accumulate), the same on every backend;
   the bench's sim_a64_mips runs it. */
#include "common/rt.h"

static uint8_t composite[300000];
static uint8_t data[65536];
static uint32_t keys[3000];

static uint32_t crc32(const uint8_t *p, uint32_t n) {
    uint32_t c = 0xffffffffu;
    for (uint32_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

int main(uint64_t dtb) {
    (void)dtb;
    uint32_t primes = 0;
    uint64_t psum = 0;
    for (uint32_t i = 2; i < sizeof composite; i++) {
        if (composite[i]) continue;
        primes++;
        psum += i;
        for (uint32_t j = i * 2; j < sizeof composite; j += i) composite[j] = 1;
    }
    puts("primes below 300000: ");
    put_dec(primes);
    puts(", sum ");
    put_dec(psum);
    putc('\n');

    uint64_t x = 0x9e3779b97f4a7c15ul;
    for (uint32_t i = 0; i < sizeof data; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        data[i] = (uint8_t)(x >> 24);
    }
    puts("crc32 of 64 KiB: 0x");
    put_hex(crc32(data, sizeof data), 8);
    putc('\n');

    for (uint32_t i = 0; i < 3000; i++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; keys[i] = (uint32_t)x; }
    for (uint32_t i = 1; i < 3000; i++) {
        uint32_t k = keys[i];
        int j = (int)i - 1;
        while (j >= 0 && keys[j] > k) { keys[j + 1] = keys[j]; j--; }
        keys[j + 1] = k;
    }
    int sorted = 1;
    for (uint32_t i = 1; i < 3000; i++) sorted &= keys[i - 1] <= keys[i];
    uint64_t mac = 0;
    for (uint32_t i = 0; i < 3000; i++) mac = mac * 6364136223846793005ul + keys[i];
    puts(sorted ? "sorted 3000 keys, mac 0x" : "NOT sorted, mac 0x");
    put_hex(mac, 16);
    putc('\n');
    return 0;
}

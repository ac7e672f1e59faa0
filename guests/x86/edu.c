/* edu: QEMU's educational PCI device (1234:11e8), found and driven the way a
 * driver would, through configuration mechanism #1 and BAR0 only:
 *   - scan bus 0 for it; the header (class, revision, interrupt pin), BAR0's
 *     sizing (a 1 MiB 32-bit memory BAR), the capability list (one MSI, 64-bit,
 *     one vector);
 *   - memory decode and bus mastering on, then identification, liveness,
 *     factorial (polling the busy bit), the interrupt status (raise, ack),
 *     and DMA from RAM to the device buffer and back (polling the start bit).
 * Nothing in the transcript depends on where firmware placed BAR0 or on the
 * slot: it runs the same under `qemu -machine q35 -device edu`, where
 * SeaBIOS did the placing, and here, where the VMM did. */
#include "common/pci.h"

static int failures;

static void check(const char *what, int ok) {
    puts(what);
    puts(ok ? ": yes\n" : ": NO\n");
    if (!ok) failures++;
}

/* Polls until (*reg & mask) == 0; QEMU's edu finishes a DMA after 100 ms of virtual time. */
static int wait_clear(volatile uint32_t *reg, uint32_t mask) {
    for (uint32_t n = 0; n < 200000000u; n++) {
        if ((*reg & mask) == 0) return 1;
        __asm__ volatile("pause");
    }
    return 0;
}

#define RAM_SRC 0x200000u
#define RAM_DST 0x300000u
#define EDU_BUF 0x40000u

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic; (void)mbi;
    int dev = pci_find(0x11e81234u);
    if (dev < 0) {
        puts("edu: not found on bus 0\nedu: FAIL\n");
        return 1;
    }
    uint32_t class_rev = cfg_read(dev, 0x08);
    put_line("edu found: class ", class_rev >> 8);
    put_line("revision: ", class_rev & 0xff);
    put_line("interrupt pin: ", (cfg_read(dev, 0x3c) >> 8) & 0xff);

    /* BAR0 sizing: all ones in, the size mask out; then the address back. */
    uint32_t bar = cfg_read(dev, 0x10);
    cfg_write(dev, 0x10, 0xffffffffu);
    uint32_t mask = cfg_read(dev, 0x10);
    cfg_write(dev, 0x10, bar);
    check("BAR0 is 32-bit memory, not prefetchable", (mask & 0xf) == 0);
    put_line("BAR0 size (KiB): ", (~(mask & ~0xfu) + 1) >> 10);
    check("BAR0 address kept after sizing", cfg_read(dev, 0x10) == bar);

    /* Capabilities. */
    check("capability list present", (cfg_read(dev, 0x04) >> 16) & 0x10);
    for (uint32_t at = cfg_read(dev, 0x34) & 0xfc, n = 0; at && n < 16; n++) {
        uint32_t h = cfg_read(dev, at);
        put_line("capability: ", h & 0xff);
        if ((h & 0xff) == 0x05) {
            uint32_t control = h >> 16;
            check("MSI: 64-bit", (control >> 7) & 1);
            put_line("MSI vectors: ", 1u << ((control >> 1) & 7));
            check("MSI: no per-vector masking", !((control >> 8) & 1));
        }
        at = (h >> 8) & 0xfc;
    }

    /* Memory decode and bus mastering (DMA) on. */
    cfg_write(dev, 0x04, (cfg_read(dev, 0x04) & 0xffff) | 0x6);
    volatile uint32_t *r = (volatile uint32_t *)(bar & ~0xfu);

    put_line("identification: ", r[0x00 / 4]);
    r[0x04 / 4] = 0x12345678u;
    check("liveness: reads back inverted", r[0x04 / 4] == ~0x12345678u);

    r[0x08 / 4] = 10;
    check("factorial finishes", wait_clear(&r[0x20 / 4], 1));
    put_line("10! = ", r[0x08 / 4]);

    r[0x60 / 4] = 0x4;
    check("raise: interrupt status 0x4", r[0x24 / 4] == 0x4);
    r[0x64 / 4] = 0x4;
    check("ack: interrupt status clear", r[0x24 / 4] == 0);

    volatile uint8_t *src = (volatile uint8_t *)RAM_SRC;
    volatile uint8_t *dst = (volatile uint8_t *)RAM_DST;
    for (int i = 0; i < 64; i++) { src[i] = (uint8_t)(i * 7 + 1); dst[i] = 0; }
    r[0x80 / 4] = RAM_SRC; r[0x84 / 4] = 0;
    r[0x88 / 4] = EDU_BUF; r[0x8c / 4] = 0;
    r[0x90 / 4] = 64; r[0x94 / 4] = 0;
    r[0x98 / 4] = 0x1; /* RAM -> device */
    check("DMA to the device finishes", wait_clear(&r[0x98 / 4], 1));
    r[0x80 / 4] = EDU_BUF; r[0x84 / 4] = 0;
    r[0x88 / 4] = RAM_DST; r[0x8c / 4] = 0;
    r[0x90 / 4] = 64; r[0x94 / 4] = 0;
    r[0x98 / 4] = 0x3; /* device -> RAM */
    check("DMA back to RAM finishes", wait_clear(&r[0x98 / 4], 1));
    int same = 1;
    for (int i = 0; i < 64; i++) if (dst[i] != (uint8_t)(i * 7 + 1)) same = 0;
    check("64 bytes through the device buffer intact", same);

    puts(failures ? "edu: FAIL\n" : "edu: PASS\n");
    return failures ? 1 : 0;
}

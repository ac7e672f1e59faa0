/* iommu-dma: edu's DMA through VT-d second-level translation (legacy root
 * and context tables, 3-level page tables for a 39-bit address width):
 *   - a mapped bus address reads and writes the guest page it maps to;
 *   - a write to a read-only page faults (0x05, a write) and leaves the
 *     page unchanged; a read of an unmapped page faults (0x06, a read);
 *     each recorded with edu's source-id and the page address;
 *   - after a mapping is removed and the IOTLB invalidated, it faults.
 * The same transcript under QEMU -machine q35 -device intel-iommu -device edu. */
#include "common/pci.h"
#include "common/vtd.h"

#define ROOT ((volatile uint32_t *)0x810000)
#define CTX ((volatile uint32_t *)0x811000)
#define L3 ((volatile uint32_t *)0x812000)
#define L2 ((volatile uint32_t *)0x813000)
#define L1 ((volatile uint32_t *)0x814000)
#define IOVA 0x1000000u
#define PAGE_RW ((volatile uint8_t *)0x900000)
#define PAGE_RO ((volatile uint8_t *)0x901000)

static void say(const char *what, int ok) { puts(what); puts(ok ? ": yes\n" : ": NO\n"); }

static volatile uint32_t *e;
static int dev;

static int wait_clear(volatile uint32_t *reg, uint32_t mask) {
    for (uint32_t n = 0; n < 200000000u; n++) {
        if ((*reg & mask) == 0) return 1;
        __asm__ volatile("pause");
    }
    return 0;
}

/* One edu DMA of `n` bytes between bus address `bus` and the device buffer at 0x40000 + `off`. */
static int dma(uint32_t bus, uint32_t off, uint32_t n, int to_ram) {
    e[0x80 / 4] = to_ram ? 0x40000 + off : bus; e[0x84 / 4] = 0;
    e[0x88 / 4] = to_ram ? bus : 0x40000 + off; e[0x8c / 4] = 0;
    e[0x90 / 4] = n; e[0x94 / 4] = 0;
    e[0x98 / 4] = 0x1 | (to_ram ? 0x2 : 0);
    return wait_clear(&e[0x98 / 4], 1);
}

static void zero(volatile uint32_t *t) { for (int i = 0; i < 1024; i++) t[i] = 0; }

/* The recorded fault: reason, read (T) or write, edu's source-id, the page; then cleared. */
static int fault(uint32_t reason, int read, uint32_t page) {
    int r = (VTD(VTD_FSTS) & 2) != 0;
    r &= (VTD(VTD_FRCD + 12) & 0xc00000ffu) == (0x80000000u | (read ? 0x40000000u : 0) | reason);
    r &= (VTD(VTD_FRCD + 8) & 0xffff) == (uint32_t)(dev << 3);
    r &= VTD(VTD_FRCD) == page && VTD(VTD_FRCD + 4) == 0;
    VTD(VTD_FRCD + 12) = 0x80000000u;
    VTD(VTD_FSTS) = 0x7d;
    return r;
}

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic; (void)mbi;
    int ok = 1, r;
    dev = pci_find(0x11e81234u);
    if ((VTD(VTD_VER) != 0x10) || dev < 0) { puts("iommu-dma: FAIL\n"); return 1; }
    cfg_write(dev, 0x04, (cfg_read(dev, 0x04) & 0xffff) | 0x6);
    e = (volatile uint32_t *)(cfg_read(dev, 0x10) & ~0xfu);

    zero(ROOT); zero(CTX); zero(L3); zero(L2); zero(L1);
    ROOT[0] = (uint32_t)CTX | 1;                        /* bus 0 */
    CTX[dev * 8 * 4 + 0] = (uint32_t)L3 | 1;            /* 00:dev.0: present, multi-level */
    CTX[dev * 8 * 4 + 2] = 1 | (1u << 8);               /* 39-bit (3-level), domain 1 */
    L3[(IOVA >> 30) * 2] = (uint32_t)L2 | 3;
    L2[((IOVA >> 21) & 511) * 2] = (uint32_t)L1 | 3;
    L1[((IOVA >> 12) & 511) * 2] = (uint32_t)PAGE_RW | 3;       /* read/write */
    L1[(((IOVA >> 12) + 1) & 511) * 2] = (uint32_t)PAGE_RO | 1; /* read-only */
    for (int i = 0; i < 32; i++) { PAGE_RW[i] = (uint8_t)(0xa0 + i); PAGE_RO[i] = 0x5a; }

    VTD(VTD_RTADDR) = 0x810000; VTD(VTD_RTADDR + 4) = 0;
    r = vtd_command(GCMD_SRTP, 1) && qi_enable() && context_global() && iotlb_global() && vtd_command(GCMD_TE, 1);
    say("VT-d: root table set, caches invalidated, translation enabled", r); ok &= r;

    r = dma(IOVA, 0, 16, 0) && dma(IOVA + 16, 0, 16, 1);
    for (int i = 0; i < 16; i++) r &= PAGE_RW[16 + i] == (uint8_t)(0xa0 + i);
    r &= (VTD(VTD_FSTS) & 2) == 0;
    say("DMA through bus address 0x1000000 (mapped to 0x900000): read and written back, no fault", r); ok &= r;

    r = dma(IOVA + 0x1000, 0, 16, 1) && fault(0x05, 0, IOVA + 0x1000);
    for (int i = 0; i < 16; i++) r &= PAGE_RO[i] == 0x5a;
    say("DMA write to the read-only page: fault 0x05 (write) at 0x1001000, the page unchanged", r); ok &= r;

    r = dma(IOVA + 0x2000, 0, 16, 0) && fault(0x06, 1, IOVA + 0x2000);
    say("DMA read of an unmapped page: fault 0x06 (read) at 0x1002000", r); ok &= r;

    L1[((IOVA >> 12) & 511) * 2] = 0;
    r = iotlb_global() && dma(IOVA, 0, 16, 0) && fault(0x06, 1, IOVA);
    say("mapping removed, IOTLB invalidated: the page faults", r); ok &= r;

    puts(ok ? "iommu-dma: PASS\n" : "iommu-dma: FAIL\n");
    return ok ? 0 : 1;
}

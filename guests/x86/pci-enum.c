/* pci-enum: enumerates PCI bus 0 through configuration mechanism #1 and
 * prints what it finds for the host bridge and the edu device: IDs, class,
 * header type, each BAR's kind and size by the sizing protocol (the BAR
 * restored after), the interrupt pin, the capability list. Other functions
 * are counted as present, not printed (QEMU's q35 has more of them: VGA,
 * the NIC, the ICH9 functions), and nothing placement-dependent is printed
 * (slots, BAR addresses, interrupt lines), so the transcript is the same
 * under QEMU -machine q35 -device edu. Then the same space through PCIe
 * ECAM at 0xb0000000, where q35 (and QEMU's firmware) put it: every
 * function's header reads as through 0xcf8, a write through it reads back
 * through 0xcf8, and a conventional function's extended space reads all
 * ones. */
#include "common/pci.h"

static void say(const char *what, int ok) { puts(what); puts(ok ? ": yes\n" : ": NO\n"); }

#define ECAM_BASE 0xb0000000u
static volatile uint32_t *ecam32(int dev, int reg) { return (volatile uint32_t *)(ECAM_BASE + ((uint32_t)dev << 15) + (uint32_t)reg); }



static void size_text(uint32_t size) {
    if (size >= (1u << 20) && size % (1u << 20) == 0) { put_dec(size >> 20); puts(" MiB"); }
    else if (size >= 1024 && size % 1024 == 0) { put_dec(size >> 10); puts(" KiB"); }
    else { put_dec(size); puts(" bytes"); }
}

/* BAR `i`: its kind and size by the sizing protocol (all ones, read back, restore). Returns the BARs it used (2 for 64-bit). */
static int describe_bar(int dev, int i) {
    int reg = 0x10 + 4 * i;
    uint32_t old = cfg_read(dev, reg);
    cfg_write(dev, reg, 0xffffffffu);
    uint32_t probe = cfg_read(dev, reg);
    cfg_write(dev, reg, old);
    if (probe == 0) return 1;
    puts("  BAR"); put_dec((uint32_t)i); puts(": ");
    if (probe & 1) {
        uint32_t size = ~(probe & ~3u) + 1;
        if ((probe & 0xffff0000u) == 0) size &= 0xffff; /* 16-bit I/O decoders */
        puts("I/O, "); size_text(size); puts("\n");
        return 1;
    }
    int is64 = ((probe >> 1) & 3) == 2;
    uint32_t size = ~(probe & ~0xfu) + 1;
    puts(is64 ? "64-bit memory, " : "32-bit memory, ");
    puts(probe & 8 ? "prefetchable, " : "non-prefetchable, ");
    size_text(size);
    puts("\n");
    if (is64) {
        uint32_t hi = cfg_read(dev, reg + 4);
        cfg_write(dev, reg + 4, 0xffffffffu);
        cfg_write(dev, reg + 4, hi);
    }
    return is64 ? 2 : 1;
}

static void describe(int dev, const char *name) {
    uint32_t id = cfg_read(dev, 0x00), cls = cfg_read(dev, 0x08), hdr = cfg_read(dev, 0x0c), intr = cfg_read(dev, 0x3c);
    puts(name); puts(": "); put_hex(id & 0xffff, 4); puts(":"); put_hex(id >> 16, 4);
    puts(", class "); put_hex(cls >> 8, 6); puts(", revision "); put_hex(cls & 0xff, 2);
    puts(", header type "); put_hex((hdr >> 16) & 0x7f, 2); puts("\n");
    int type0 = ((hdr >> 16) & 0x7f) == 0;
    for (int i = 0; type0 && i < 6;) i += describe_bar(dev, i);
    uint32_t pin = (intr >> 8) & 0xff;
    puts("  interrupt pin: ");
    puts(pin == 0 ? "none" : pin == 1 ? "INTA#" : pin == 2 ? "INTB#" : pin == 3 ? "INTC#" : pin == 4 ? "INTD#" : "invalid");
    puts("\n  capabilities:");
    int any = 0;
    if ((cfg_read(dev, 0x04) >> 16) & 0x10) {
        for (uint32_t at = cfg_read(dev, 0x34) & 0xfc, n = 0; at && n < 48; n++) {
            uint32_t h = cfg_read(dev, (int)at);
            uint32_t cid = h & 0xff;
            puts(" ");
            puts(cid == 0x05 ? "MSI" : cid == 0x11 ? "MSI-X" : cid == 0x10 ? "PCI Express" : cid == 0x01 ? "power management" : cid == 0x09 ? "vendor-specific" : "other");
            if (cid == 0x05) {
                uint32_t ctl = h >> 16;
                puts((ctl & 0x80) ? " (64-bit" : " (32-bit");
                puts((ctl & 0x100) ? ", per-vector masking, " : ", ");
                put_dec(1u << ((ctl >> 1) & 7)); puts(" vectors)");
            }
            any = 1;
            at = (h >> 8) & 0xfc;
        }
    }
    puts(any ? "\n" : " none\n");
}

int kmain(uint32_t magic, const struct multiboot_info *mbi) {
    (void)magic; (void)mbi;
    int ok = 1, r;
    int functions = 0, host = -1, edu = -1;
    for (int d = 0; d < 32; d++) {
        uint32_t id = cfg_read(d, 0x00);
        if ((id & 0xffff) == 0xffff) continue;
        functions++;
        if (id == 0x29c08086u) host = d;
        if (id == 0x11e81234u) edu = d;
    }
    r = functions >= 2;
    say("bus 0 scanned: the host bridge and at least one device", r); ok &= r;
    r = host == 0;
    say("the host bridge at 00:00.0", r); ok &= r;
    if (host == 0) describe(0, "host bridge");
    r = edu > 0;
    say("edu found", r); ok &= r;
    if (edu > 0) describe(edu, "edu");
    /* An absent device reads all ones (master abort). */
    int absent = -1;
    for (int d = 1; d < 32 && absent < 0; d++) if ((cfg_read(d, 0) & 0xffff) == 0xffff) absent = d;
    r = absent > 0 && cfg_read(absent, 0x08) == 0xffffffffu;
    say("an empty slot reads all ones", r); ok &= r;
    r = 1;
    for (int d = 0; d < 32; d++)
        for (int reg = 0; reg < 0x40; reg += 4) r &= *ecam32(d, reg) == cfg_read(d, reg);
    say("ECAM at 0xb0000000 reads what 0xcf8 reads", r); ok &= r;
    if (edu > 0) {
        uint32_t line = cfg_read(edu, 0x3c);
        *(volatile uint8_t *)ecam32(edu, 0x3c) = 0x5a;
        r = (cfg_read(edu, 0x3c) & 0xff) == 0x5a;
        cfg_write(edu, 0x3c, line);
        say("an ECAM byte write reads back through 0xcf8", r); ok &= r;
        r = *ecam32(edu, 0x100) == 0xffffffffu;
        say("edu's extended configuration space reads all ones", r); ok &= r;
    }
    puts(ok ? "pci-enum: PASS\n" : "pci-enum: FAIL\n");
    return ok ? 0 : 1;
}

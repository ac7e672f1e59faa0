/* PCI configuration mechanism #1 for the guests (0xcf8 address, 0xcfc data),
 * bus 0 only: dword reads and writes, finding a device by its IDs and a
 * capability by its ID. */
#pragma once
#include "common/rt.h"

static inline uint32_t inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static inline uint32_t cfg_read(int dev, int reg) {
    outl(0xcf8, 0x80000000u | ((uint32_t)dev << 11) | (uint32_t)(reg & 0xfc));
    return inl(0xcfc);
}

static inline void cfg_write(int dev, int reg, uint32_t v) {
    outl(0xcf8, 0x80000000u | ((uint32_t)dev << 11) | (uint32_t)(reg & 0xfc));
    outl(0xcfc, v);
}

/* The slot of the first function 0 on bus 0 with these IDs (device << 16 | vendor), or -1. */
static inline int pci_find(uint32_t ids) {
    for (int d = 0; d < 32; d++) if (cfg_read(d, 0x00) == ids) return d;
    return -1;
}

/* The config offset of capability `id` of `dev`, or 0 (the list walk is bounded). */
static inline int pci_find_cap(int dev, uint32_t id) {
    for (uint32_t at = cfg_read(dev, 0x34) & 0xfc, n = 0; at && n < 16; n++) {
        uint32_t h = cfg_read(dev, (int)at);
        if ((h & 0xff) == id) return (int)at;
        at = (h >> 8) & 0xfc;
    }
    return 0;
}

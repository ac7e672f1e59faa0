/* The Intel IOMMU (VT-d) at 0xfed90000 for the guests, as QEMU's
 * intel-iommu and our --iommu intel present it: register access, global
 * commands, queued invalidation (with a wait descriptor that writes a
 * status word, polled bounded), the interrupt-remapping table and its
 * entries, and the interrupt-entry-cache invalidations. Tables live in RAM
 * at fixed addresses above the kernel (the guests run with 64 MiB). */
#pragma once
#include "common/rt.h"

#define VTD_BASE 0xfed90000u
#define VTD(off) (*(volatile uint32_t *)(VTD_BASE + (off)))
#define VTD_VER 0x00
#define VTD_CAP 0x08
#define VTD_ECAP 0x10
#define VTD_GCMD 0x18
#define VTD_GSTS 0x1c
#define VTD_RTADDR 0x20
#define VTD_FSTS 0x34
#define VTD_FECTL 0x38
#define VTD_FEDATA 0x3c
#define VTD_FEADDR 0x40
#define VTD_FEUADDR 0x44
#define VTD_IQH 0x80
#define VTD_IQT 0x88
#define VTD_IQA 0x90
#define VTD_IRTA 0xb8
#define VTD_FRCD 0x220

#define GCMD_TE (1u << 31)
#define GCMD_SRTP (1u << 30)
#define GCMD_QIE (1u << 26)
#define GCMD_IRE (1u << 25)
#define GCMD_SIRTP (1u << 24)
#define GCMD_CFI (1u << 23)

#define VTD_IRT ((volatile uint32_t *)0x800000)   /* 256 entries, 4 KiB */
#define VTD_QUEUE ((volatile uint32_t *)0x801000) /* 256 descriptors, 4 KiB */
#define VTD_STATUS ((volatile uint32_t *)0x802000)

/* A global command: keep what is on (less the one-shot pointer commands), add `bit`, wait for its status. */
static inline int vtd_command(uint32_t bit, int on) {
    uint32_t keep = VTD(VTD_GSTS) & ~(GCMD_SRTP | GCMD_SIRTP);
    VTD(VTD_GCMD) = on ? (keep | bit) : (keep & ~bit);
    for (int n = 0; n < 100000; n++) if (((VTD(VTD_GSTS) & bit) != 0) == (on != 0)) return 1;
    return 0;
}

static uint32_t vtd_tail;

/* Posts one 128-bit descriptor and moves the tail. */
static inline void qi_post(uint32_t lo0, uint32_t lo1, uint32_t hi0, uint32_t hi1) {
    volatile uint32_t *d = VTD_QUEUE + vtd_tail * 4;
    d[0] = lo0; d[1] = lo1; d[2] = hi0; d[3] = hi1;
    vtd_tail = (vtd_tail + 1) % 256;
    VTD(VTD_IQT) = vtd_tail << 4;
}

/* A wait descriptor with a status write, then a bounded poll for it: the queue has drained. */
static inline int qi_sync(void) {
    static uint32_t token;
    token++;
    qi_post(0x5 | (1u << 5), token, (uint32_t)VTD_STATUS, 0);
    for (int n = 0; n < 100000; n++) if (*VTD_STATUS == token) return 1;
    return 0;
}

/* Queued invalidation on: the queue at VTD_QUEUE (one page). */
static inline int qi_enable(void) {
    VTD(VTD_IQA) = (uint32_t)VTD_QUEUE;
    VTD(VTD_IQA + 4) = 0;
    vtd_tail = 0;
    VTD(VTD_IQT) = 0;
    return vtd_command(GCMD_QIE, 1);
}

/* Interrupt-entry-cache invalidation of the 2^mask entries around `index`, then a sync. */
static inline int iec_invalidate(uint32_t index, uint32_t mask) {
    qi_post(0x4 | 0x10 | (mask << 27), index, 0, 0);
    return qi_sync();
}
static inline int iec_global(void) { qi_post(0x4, 0, 0, 0); return qi_sync(); }
static inline int context_global(void) { qi_post(0x1 | (1u << 4), 0, 0, 0); return qi_sync(); }
static inline int iotlb_global(void) { qi_post(0x2 | (1u << 4), 0, 0, 0); return qi_sync(); }

/* IRTE `i`: present, fixed delivery, physical destination `dest`, `vector`, edge or level, plus raw extras. */
static inline void irte_set(uint32_t i, uint32_t vector, uint32_t dest, int level, uint32_t lo_extra, uint32_t sid_word) {
    volatile uint32_t *e = VTD_IRT + i * 4;
    e[0] = 0; /* not present while it changes */
    e[1] = dest << 8;
    e[2] = sid_word;
    e[3] = 0;
    e[0] = 1u | (level ? 1u << 4 : 0) | (vector << 16) | lo_extra;
}
static inline void irte_clear(uint32_t i) { volatile uint32_t *e = VTD_IRT + i * 4; e[0] = e[1] = e[2] = e[3] = 0; }

/* The interrupt-remapping table at VTD_IRT with 2^(size+1) entries; IR on (compatibility format blocked). */
static inline int ir_enable(uint32_t size) {
    VTD(VTD_IRTA) = (uint32_t)VTD_IRT | size;
    VTD(VTD_IRTA + 4) = 0;
    if (!vtd_command(GCMD_SIRTP, 1)) return 0;
    if (!iec_global()) return 0;
    return vtd_command(GCMD_IRE, 1);
}

/* The remappable-format MSI address naming `handle` (SHV: data carries a subhandle). */
static inline uint32_t msi_remap_address(uint32_t handle, int shv) {
    return 0xfee00000u | ((handle & 0x7fff) << 5) | (1u << 4) | (shv ? 1u << 3 : 0) | (((handle >> 15) & 1) << 2);
}

static inline int vtd_present(void) {
    return VTD(VTD_VER) == 0x10 && (VTD(VTD_ECAP) & 0xa) == 0xa; /* version 1.0, QI and IR */
}

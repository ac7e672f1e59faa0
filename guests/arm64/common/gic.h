/* GICv2 registers (distributor at GICD_BASE, CPU interface at GICC_BASE). */
#ifndef GIC_H
#define GIC_H
#include "rt.h"
#define GICD_CTLR        0x000
#define GICD_TYPER       0x004
#define GICD_IGROUPR     0x080
#define GICD_ISENABLER   0x100
#define GICD_ICENABLER   0x180
#define GICD_ISPENDR     0x200
#define GICD_ICPENDR     0x280
#define GICD_ISACTIVER   0x300
#define GICD_ICACTIVER   0x380
#define GICD_IPRIORITYR  0x400
#define GICD_ITARGETSR   0x800
#define GICD_ICFGR       0xc00
#define GICD_SGIR        0xf00
#define GICD_CPENDSGIR   0xf10
#define GICD_SPENDSGIR   0xf20
#define GICC_CTLR        0x000
#define GICC_PMR         0x004
#define GICC_BPR         0x008
#define GICC_IAR         0x00c
#define GICC_EOIR        0x010
#define GICC_RPR         0x014
#define GICC_HPPIR       0x018
#define GICC_APR0        0x0d0
#define GICC_DIR         0x1000
#define GIC_SPURIOUS     1023

static inline uint32_t gicd_read(uint32_t off) { return mmio_read32(GICD_BASE + off); }
static inline void gicd_write(uint32_t off, uint32_t v) { mmio_write32(GICD_BASE + off, v); }
static inline uint32_t gicc_read(uint32_t off) { return mmio_read32(GICC_BASE + off); }
static inline void gicc_write(uint32_t off, uint32_t v) { mmio_write32(GICC_BASE + off, v); }

/* Interrupt `id`: priority, enabled; SPIs routed to CPU `cpu`, edge (1) or level (0). */
static inline void gic_config(uint32_t id, uint8_t prio, uint32_t cpu, int edge) {
    mmio_write8(GICD_BASE + GICD_IPRIORITYR + id, prio);
    if (id >= 32) {
        mmio_write8(GICD_BASE + GICD_ITARGETSR + id, (uint8_t)(1u << cpu));
        uint32_t off = GICD_ICFGR + (id / 16) * 4, shift = (id % 16) * 2 + 1;
        uint32_t v = gicd_read(off);
        gicd_write(off, edge ? (v | (1u << shift)) : (v & ~(1u << shift)));
    }
}
static inline void gic_enable(uint32_t id) { gicd_write(GICD_ISENABLER + (id / 32) * 4, 1u << (id % 32)); }
static inline void gic_disable(uint32_t id) { gicd_write(GICD_ICENABLER + (id / 32) * 4, 1u << (id % 32)); }
static inline int gic_pending(uint32_t id) { return (gicd_read(GICD_ISPENDR + (id / 32) * 4) >> (id % 32)) & 1; }
static inline int gic_active(uint32_t id) { return (gicd_read(GICD_ISACTIVER + (id / 32) * 4) >> (id % 32)) & 1; }
static inline void gic_cpu_init(void) { gicc_write(GICC_PMR, 0xff); gicc_write(GICC_BPR, 0); gicc_write(GICC_CTLR, 1); }
static inline void gic_dist_enable(void) { gicd_write(GICD_CTLR, 1); }
#endif

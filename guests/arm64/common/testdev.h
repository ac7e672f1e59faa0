/* Our test device (src/machine/arm64/testdev.ts): not in QEMU's map. */
#ifndef TESTDEV_H
#define TESTDEV_H
#include "rt.h"
#define TESTDEV_BASE       0x09110000ul
#define TESTDEV_IRQ        64            /* SPI 32 */
#define TD_ID              0x00
#define TD_LEVEL_REQUEST   0x04
#define TD_LEVEL_PENDING   0x08
#define TD_LEVEL_ACK       0x0c
#define TD_DOORBELL        0x10
#define TD_DOORBELL_COUNT  0x14
#define TD_DOORBELL_UNMATCHED 0x18
#define DOORBELL_MAGIC     0x600db311u
static inline uint32_t td_read(uint32_t off) { return mmio_read32(TESTDEV_BASE + off); }
static inline void td_write(uint32_t off, uint32_t v) { mmio_write32(TESTDEV_BASE + off, v); }
#endif

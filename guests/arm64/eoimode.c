/* eoimode: GICC_CTLR.EOImode. With EOImode = 1 a write to EOIR only drops the
   running priority (the interrupt stays active, another one of the same
   priority can be taken) and GICC_DIR deactivates; with EOImode = 0 EOIR does
   both. Sources: a soft-pended SPI (the PL011's, line low) and SGIs. */
#include "common/gic.h"

#define UART_IRQ 33
static void soft_pend(uint32_t id) { gicd_write(GICD_ISPENDR + (id / 32) * 4, 1u << (id % 32)); }

int main(uint64_t dtb) {
    (void)dtb;
    puts("eoimode: start\n");
    mmio_write32(UART_BASE + 0x38, 0);       /* the UART's own line stays low */
    gic_config(UART_IRQ, 0x80, 0, 0);
    gic_enable(UART_IRQ);
    gic_config(3, 0x80, 0, 1);
    gic_config(4, 0x40, 0, 1);
    gic_dist_enable();
    gicc_write(GICC_PMR, 0xff);
    gicc_write(GICC_BPR, 0);
    gicc_write(GICC_CTLR, 1 | (1u << 9));    /* EnableGrp0, EOImode = 1 */
    check((gicc_read(GICC_CTLR) & (1u << 9)) != 0, "EOImode reads back");
    check((gicc_read(GICC_RPR) & 0xff) == 0xff, "idle running priority 0xff");

    soft_pend(UART_IRQ);
    uint32_t iar = gicc_read(GICC_IAR);
    check(iar == UART_IRQ, "SPI taken");
    check((gicc_read(GICC_RPR) & 0xff) == 0x80, "running priority is the SPI's");
    gicc_write(GICC_EOIR, iar);
    check((gicc_read(GICC_RPR) & 0xff) == 0xff, "EOIR drops the priority");
    check(gic_active(UART_IRQ), "EOIR leaves it active (EOImode 1)");
    check((gicc_read(GICC_IAR) & 0x3ff) == GIC_SPURIOUS, "an active interrupt is not taken again");
    gicd_write(GICD_SGIR, (2u << 24) | 3);
    uint32_t iar3 = gicc_read(GICC_IAR);
    check(iar3 == 3, "after the drop another interrupt of the same priority is taken");
    gicd_write(GICD_SGIR, (2u << 24) | 4);
    uint32_t iar4 = gicc_read(GICC_IAR);
    check(iar4 == 4, "a higher priority preempts the running SGI");
    check((gicc_read(GICC_RPR) & 0xff) == 0x40, "running priority 0x40");
    gicc_write(GICC_EOIR, iar4);
    check((gicc_read(GICC_RPR) & 0xff) == 0x80, "priority drop back to 0x80");
    gicc_write(GICC_EOIR, iar3);
    check((gicc_read(GICC_RPR) & 0xff) == 0xff, "and back to idle");
    check(gic_active(3) && gic_active(4) && gic_active(UART_IRQ), "all three still active");
    gicc_write(GICC_DIR, iar4);
    check(!gic_active(4) && gic_active(3), "DIR deactivates SGI 4 only");
    gicc_write(GICC_DIR, iar3);
    gicc_write(GICC_DIR, iar);
    check(!gic_active(3) && !gic_active(UART_IRQ), "DIR deactivates the SGI 3 and the SPI");

    gicc_write(GICC_CTLR, 1);                /* EOImode = 0 */
    soft_pend(UART_IRQ);
    iar = gicc_read(GICC_IAR);
    check(iar == UART_IRQ, "EOImode 0: SPI taken");
    gicc_write(GICC_EOIR, iar);
    check(!gic_active(UART_IRQ) && (gicc_read(GICC_RPR) & 0xff) == 0xff, "EOImode 0: EOIR drops and deactivates");
    puts("eoimode: done\n");
    return 0;
}

/* early-irq (seed 000): before the first vCPU run the VMM gives the test
   device an event, whose level line (SPI 32, INTID 64) rises while the
   distributor is disabled and the interrupt disabled. It is pending on the
   distributor, never dropped and never acknowledged on the guest's behalf:
   once the guest enables it, the distributor and the CPU interface, it is
   taken exactly once, and the acknowledged event lowers the line. */
#include "common/gic.h"
#include "common/testdev.h"

static volatile uint32_t taken, others;

void irq_handler(void) {
    uint32_t iar = gicc_read(GICC_IAR), id = iar & 0x3ff;
    if (id == TESTDEV_IRQ) { taken++; td_write(TD_LEVEL_ACK, 1); }
    else if (id != GIC_SPURIOUS) others++;
    if (id != GIC_SPURIOUS) gicc_write(GICC_EOIR, iar);
}

int main(uint64_t dtb) {
    (void)dtb;
    check((gicd_read(GICD_CTLR) & 1) == 0, "the distributor starts disabled");
    check(gic_pending(TESTDEV_IRQ), "the SPI raised before the first run is pending");
    check(td_read(TD_LEVEL_PENDING) == 1, "its event is still there");
    gic_config(TESTDEV_IRQ, 0x80, 0, 0);
    gic_enable(TESTDEV_IRQ);
    gic_cpu_init();
    irq_enable();
    for (volatile int i = 0; i < 10000; i++) { }
    check(taken == 0, "not delivered while the distributor is disabled");
    gic_dist_enable();
    WAIT_UNTIL(taken != 0);
    irq_disable();
    check(taken == 1 && others == 0, "delivered exactly once after the distributor is enabled");
    check(td_read(TD_LEVEL_PENDING) == 0, "the event was acknowledged");
    check(!gic_pending(TESTDEV_IRQ), "the line is low, nothing pending");
    return 0;
}

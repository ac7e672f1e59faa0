/* spi-level: a level-triggered SPI driven through eventfds from another
   thread. The guest asks the test device for N events; a ringer thread
   writes the device's eventfd; the device holds its line (trigger eventfd)
   high while events are pending. Each interrupt acknowledges one event; the
   EOI deactivates it, the GIC resamples the line (resample eventfd) and the
   device raises it again while events remain: exactly N interrupts. */
#include "common/gic.h"
#include "common/testdev.h"

#define EVENTS 8
static volatile uint32_t irqs, acks, others;

void irq_handler(void) {
    uint32_t iar = gicc_read(GICC_IAR), id = iar & 0x3ff;
    if (id == TESTDEV_IRQ) {
        irqs++;
        if (td_read(TD_LEVEL_PENDING) > 0) { td_write(TD_LEVEL_ACK, 1); acks++; }
    } else if (id != GIC_SPURIOUS) {
        others++;
    }
    if (id != GIC_SPURIOUS) gicc_write(GICC_EOIR, iar);
}

int main(uint64_t dtb) {
    (void)dtb;
    check(td_read(TD_ID) == 0x54535444, "the test device answers");
    gic_config(TESTDEV_IRQ, 0x80, 0, 0);           /* level */
    gic_enable(TESTDEV_IRQ);
    gic_dist_enable();
    gic_cpu_init();
    irq_enable();
    td_write(TD_LEVEL_REQUEST, EVENTS);
    WAIT_UNTIL(acks >= EVENTS);
    irq_disable();
    puts("events acknowledged: ");
    put_dec(acks);
    puts(", interrupts: ");
    put_dec(irqs);
    putc('\n');
    check(irqs == EVENTS, "one interrupt per event (the line resampled at each EOI)");
    check(td_read(TD_LEVEL_PENDING) == 0 && !gic_pending(TESTDEV_IRQ), "nothing pending, the line low");
    check(others == 0, "no other interrupt");
    return 0;
}

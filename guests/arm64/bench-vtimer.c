/* bench-vtimer: the vtimer round trip, N times, as fast as it goes: the
   timer fires -> KVM reports the level (KVM_EXIT_INTR) -> the GIC raises the
   vCPU's line (KVM_IRQ_LINE) -> the handler reads GICC_IAR, re-arms the timer
   a few ticks ahead (the level falls) and writes GICC_EOIR. The bench runs it
   on our VMM and on scripts/bench/vtimer-ref.c, the same sequence in raw C. */
#include "common/gic.h"
#include "common/timer.h"

#define TICKS 2000
static volatile uint32_t ticks;

void irq_handler(void) {
    uint32_t iar = gicc_read(GICC_IAR);
    if ((iar & 0x3ff) == VTIMER_PPI) {
        ticks++;
        write_sysreg(cntv_tval_el0, 16);
        if (ticks >= TICKS) write_sysreg(cntv_ctl_el0, CNT_ENABLE | CNT_IMASK);
        isb();
    }
    if ((iar & 0x3ff) != GIC_SPURIOUS) gicc_write(GICC_EOIR, iar);
}

int main(uint64_t dtb) {
    (void)dtb;
    gic_config(VTIMER_PPI, 0x80, 0, 0);
    gic_enable(VTIMER_PPI);
    gic_dist_enable();
    gic_cpu_init();
    write_sysreg(cntv_tval_el0, 16);
    write_sysreg(cntv_ctl_el0, CNT_ENABLE);
    isb();
    irq_enable();
    WAIT_UNTIL(ticks >= TICKS);
    irq_disable();
    puts("bench-vtimer: ");
    put_dec(ticks);
    puts(" ticks\n");
    return 0;
}

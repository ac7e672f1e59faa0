/* early-timer (seed 000, the thread's own case): the virtual timer fires
   before the GIC is set up -- the distributor off, PPI 27 disabled, the CPU
   interface off. Its level reaches the distributor anyway (KVM reports it
   after the run; QEMU wires it) and is held pending there, not dropped and
   not acknowledged on the guest's behalf; once the guest enables the PPI,
   the distributor and the CPU interface, it is taken exactly once. */
#include "common/gic.h"
#include "common/timer.h"

static volatile uint32_t taken, others;

void irq_handler(void) {
    uint32_t iar = gicc_read(GICC_IAR), id = iar & 0x3ff;
    if (id == VTIMER_PPI) {
        taken++;
        write_sysreg(cntv_ctl_el0, CNT_ENABLE | CNT_IMASK);
        isb();
    } else if (id != GIC_SPURIOUS) {
        others++;
    }
    if (id != GIC_SPURIOUS) gicc_write(GICC_EOIR, iar);
}

int main(uint64_t dtb) {
    (void)dtb;
    gicd_write(GICD_CTLR, 0);
    gic_disable(VTIMER_PPI);
    write_sysreg(cntv_cval_el0, 0);               /* already in the past */
    write_sysreg(cntv_ctl_el0, CNT_ENABLE);
    isb();
    for (volatile int i = 0; i < 20000; i++) { }  /* exits happen meanwhile; the level is reported */
    (void)gicd_read(GICD_TYPER);                  /* and at least this one */
    check((read_sysreg(cntv_ctl_el0) & CNT_ISTATUS) != 0, "the timer fired");
    check(gic_pending(VTIMER_PPI), "PPI 27 is pending with the distributor and the PPI disabled");
    gic_config(VTIMER_PPI, 0x80, 0, 0);
    gic_enable(VTIMER_PPI);
    gic_cpu_init();
    irq_enable();
    for (volatile int i = 0; i < 20000; i++) { }
    check(taken == 0, "nothing taken while the distributor is disabled");
    gic_dist_enable();
    WAIT_UNTIL(taken != 0);
    irq_disable();
    check(taken == 1 && others == 0, "taken exactly once after the distributor is enabled");
    check(!gic_pending(VTIMER_PPI), "masked by the handler: the line fell, nothing pending");
    return 0;
}

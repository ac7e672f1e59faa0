/* timer: the virtual timer's PPI 27 through the GIC. A one-shot, then N
   re-armed ticks; the handler masks the timer (CNTV_CTL.IMASK) before EOI,
   so the line KVM reports falls and the GIC follows; ISTATUS stays set while
   masked. ptimer.c builds the same checks on the EL1 physical timer (PPI 30). */
#include "common/gic.h"
#include "common/timer.h"

#ifndef USE_PTIMER
#define TIMER_PPI VTIMER_PPI
#define NAME "vtimer"
#define read_ctl() read_sysreg(cntv_ctl_el0)
#define write_ctl(v) write_sysreg(cntv_ctl_el0, v)
#define write_tval(v) write_sysreg(cntv_tval_el0, v)
#define read_cval() read_sysreg(cntv_cval_el0)
#define write_cval(v) write_sysreg(cntv_cval_el0, v)
#define counter() cntvct()
#else
#define TIMER_PPI PTIMER_PPI
#define NAME "ptimer"
#define read_ctl() read_sysreg(cntp_ctl_el0)
#define write_ctl(v) write_sysreg(cntp_ctl_el0, v)
#define write_tval(v) write_sysreg(cntp_tval_el0, v)
#define read_cval() read_sysreg(cntp_cval_el0)
#define write_cval(v) write_sysreg(cntp_cval_el0, v)
#define counter() cntpct()
#endif

#define TICKS 10
static volatile uint32_t ticks, spurious, others, rearm;
static uint64_t period;

void irq_handler(void) {
    uint32_t iar = gicc_read(GICC_IAR), id = iar & 0x3ff;
    if (id == GIC_SPURIOUS) { spurious++; return; }
    if (id == TIMER_PPI) {
        ticks++;
        write_ctl(CNT_ENABLE | CNT_IMASK);     /* the line falls with the mask */
        isb();
        if (rearm && ticks < TICKS) {
            write_tval(period);
            write_ctl(CNT_ENABLE);
            isb();
        }
    } else {
        others++;
    }
    gicc_write(GICC_EOIR, iar);
}

int main(uint64_t dtb) {
    (void)dtb;
    puts(NAME ": start\n");
    period = cntfrq() / 1000;                  /* 1 ms */
    check(cntfrq() != 0, "CNTFRQ_EL0 is set");
    gic_config(TIMER_PPI, 0x80, 0, 0);
    gic_enable(TIMER_PPI);
    gic_dist_enable();
    gic_cpu_init();

    /* Disabled timer: no ISTATUS, no interrupt. */
    write_ctl(0);
    isb();
    check((read_ctl() & CNT_ISTATUS) == 0, "a disabled timer has ISTATUS clear");

    /* One-shot through CVAL, taken once, masked in the handler. */
    write_cval(counter() + period);
    write_ctl(CNT_ENABLE);
    isb();
    irq_enable();
    WAIT_UNTIL(ticks >= 1);
    irq_disable();
    check(ticks == 1, "the one-shot fired once");
    check((read_ctl() & (CNT_ENABLE | CNT_IMASK | CNT_ISTATUS)) == (CNT_ENABLE | CNT_IMASK | CNT_ISTATUS),
          "masked after firing: ISTATUS still set");
    check(counter() >= read_cval(), "the counter passed CVAL");
    uint32_t hppir = gicc_read(GICC_HPPIR) & 0x3ff;
    check(hppir == GIC_SPURIOUS, "nothing pending once the masked line fell");
    /* Masked, it never fires again. */
    for (volatile int i = 0; i < 20000; i++) { }
    irq_enable();
    for (volatile int i = 0; i < 20000; i++) { }
    irq_disable();
    check(ticks == 1, "a masked timer raises nothing");

    /* Re-armed ticks via TVAL. */
    ticks = 0;
    rearm = 1;
    write_tval(period);
    write_ctl(CNT_ENABLE);
    isb();
    irq_enable();
    WAIT_UNTIL(ticks >= TICKS);
    irq_disable();
    puts(NAME ": ");
    put_dec(ticks);
    puts(" ticks\n");
    check(spurious == 0 && others == 0, "no spurious or foreign interrupts");
    write_ctl(0);
    puts(NAME ": done\n");
    return 0;
}

/* The generic timer: virtual (PPI 27) and physical (PPI 30) EL1 timers. */
#ifndef TIMER_H
#define TIMER_H
#include "rt.h"
#define VTIMER_PPI 27
#define PTIMER_PPI 30
#define CNT_ENABLE  1u
#define CNT_IMASK   2u
#define CNT_ISTATUS 4u
static inline uint64_t cntfrq(void) { return read_sysreg(cntfrq_el0); }
static inline uint64_t cntvct(void) { isb(); return read_sysreg(cntvct_el0); }
static inline uint64_t cntpct(void) { isb(); return read_sysreg(cntpct_el0); }
#endif

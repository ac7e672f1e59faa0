/* ptimer: timer.c's checks on the EL1 physical timer (CNTP, PPI 30). */
#define USE_PTIMER 1
#include "timer.c"

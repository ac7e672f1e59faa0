/* gic-state: the GIC's IRQ state rules (seed 003, DESIGN.md arm64 #6-7), one
   check per rule. The level source is the PL011's interrupt (SPI 1, INTID 33):
   every character written sets its TX status, so IMSC.TX alone drives the
   line high or low. CPU 1 (PSCI CPU_ON) is the second SGI source. IRQs stay
   masked at the CPU: the checks read the state registers and poll IAR. */
#include "common/gic.h"

#define UART_IRQ 33
#define UART_IMSC (UART_BASE + 0x38)
extern char secondary_entry[];
static volatile uint32_t cpu1_up, cpu1_go, cpu1_sent;

static void line(int high) { mmio_write32(UART_IMSC, high ? (1u << 5) : 0); }
static uint8_t sgi_sources(uint32_t sgi) { return mmio_read8(GICD_BASE + GICD_SPENDSGIR + sgi); }
static void set_edge(uint32_t id, int edge) { gic_config(id, 0x80, 0, edge); }

void secondary_main(uint32_t cpu) {
    (void)cpu;
    gic_cpu_init();
    cpu1_up = 1;
    while (!cpu1_go) { }
    gicd_write(GICD_SGIR, (1u << 16) | 5);   /* SGI 5 to CPU 0 */
    cpu1_sent = 1;
    psci_call(PSCI_CPU_OFF, 0, 0, 0);
}

int main(uint64_t dtb) {
    (void)dtb;
    puts("gic-state: start\n");
    uint32_t iar;
    gicd_write(GICD_CTLR, 0);
    gic_cpu_init();
    set_edge(UART_IRQ, 0);
    gic_disable(UART_IRQ);
    line(0);
    gicd_write(GICD_ICPENDR + 4, 1u << 1);

    /* Latched before the distributor is enabled, with the interrupt disabled (seed 000). */
    set_edge(UART_IRQ, 1);
    line(1);
    line(0);
    check(gic_pending(UART_IRQ), "edge: a rising edge latches pending, distributor and interrupt disabled");
    gicd_write(GICD_ICPENDR + 4, 1u << 1);
    check(!gic_pending(UART_IRQ), "edge: ICPENDR clears the latch");

    set_edge(UART_IRQ, 0);
    line(1);
    check(gic_pending(UART_IRQ), "level: pending while the line is high, distributor disabled");
    line(0);
    check(!gic_pending(UART_IRQ), "level: not pending once the line is low");

    gicd_write(GICD_ISPENDR + 4, 1u << 1);
    check(gic_pending(UART_IRQ), "level: a soft pend holds with the line low");

    gic_enable(UART_IRQ);
    gic_dist_enable();
    iar = gicc_read(GICC_IAR);
    check((iar & 0x3ff) == UART_IRQ, "the soft-pended level interrupt is acknowledged");
    check(!gic_pending(UART_IRQ) && gic_active(UART_IRQ), "ack of a level interrupt: pending = line (low), active");
    gicc_write(GICC_EOIR, iar);
    check(!gic_active(UART_IRQ), "EOI deactivates");

    line(1);
    iar = gicc_read(GICC_IAR);
    check((iar & 0x3ff) == UART_IRQ, "the high level line is acknowledged");
    check(gic_pending(UART_IRQ) && gic_active(UART_IRQ), "ack of a level interrupt: pending = line (high), active and pending");
    check((gicc_read(GICC_IAR) & 0x3ff) == GIC_SPURIOUS, "an active interrupt is not taken again: 1023");
    gicd_write(GICD_ICPENDR + 4, 1u << 1);
    check(gic_pending(UART_IRQ), "ICPENDR cannot clear a level interrupt whose line is high");
    line(0);
    check(!gic_pending(UART_IRQ) && gic_active(UART_IRQ), "the line falls: not pending, still active");
    gic_disable(UART_IRQ);
    check(gic_active(UART_IRQ), "disabling keeps active");
    gicd_write(GICD_ICPENDR + 4, 1u << 1);
    check(gic_active(UART_IRQ), "ICPENDR keeps active");
    gicc_write(GICC_EOIR, iar);
    check(!gic_active(UART_IRQ), "EOI of the disabled interrupt deactivates it");
    gic_enable(UART_IRQ);

    set_edge(UART_IRQ, 1);
    line(1);
    iar = gicc_read(GICC_IAR);
    check((iar & 0x3ff) == UART_IRQ && !gic_pending(UART_IRQ) && gic_active(UART_IRQ), "ack of an edge interrupt: not pending, active");
    line(0);
    line(1);
    check(gic_pending(UART_IRQ) && gic_active(UART_IRQ), "a new edge while active: active and pending");
    gicc_write(GICC_EOIR, iar);
    iar = gicc_read(GICC_IAR);
    check((iar & 0x3ff) == UART_IRQ, "the edge latched while active is taken after EOI");
    gicc_write(GICC_EOIR, iar);
    line(0);
    set_edge(UART_IRQ, 0);
    check((gicc_read(GICC_IAR) & 0x3ff) == GIC_SPURIOUS, "nothing pending: 1023");

    /* SGIs: one pending bit per source CPU. */
    gic_config(5, 0x80, 0, 1);
    if (psci_call(PSCI_CPU_ON, 1, (uint64_t)secondary_entry, 1) != 0) { puts("CPU_ON failed\n"); return 1; }
    while (!cpu1_up) { }
    gicd_write(GICD_SGIR, (2u << 24) | 5);   /* filter 2: to myself */
    cpu1_go = 1;
    while (!cpu1_sent) { }
    check(sgi_sources(5) == 0x3, "SGI 5 pending from CPU 0 and CPU 1: two source bits");
    iar = gicc_read(GICC_IAR);
    check(iar == 5, "the first ack names SGI 5 from CPU 0");
    check(sgi_sources(5) == 0x2, "the ack clears only CPU 0's bit");
    gicc_write(GICC_EOIR, iar);
    iar = gicc_read(GICC_IAR);
    check(iar == (5 | (1u << 10)), "the second ack names SGI 5 from CPU 1");
    gicc_write(GICC_EOIR, iar);
    check(sgi_sources(5) == 0, "no source left");
    mmio_write8(GICD_BASE + GICD_SPENDSGIR + 5, 0x2);
    check(sgi_sources(5) == 0x2, "SPENDSGIR sets a source bit");
    mmio_write8(GICD_BASE + GICD_CPENDSGIR + 5, 0x2);
    check(sgi_sources(5) == 0 && (gicc_read(GICC_IAR) & 0x3ff) == GIC_SPURIOUS, "CPENDSGIR clears it");
    puts("gic-state: done\n");
    return 0;
}

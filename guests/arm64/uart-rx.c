/* uart-rx: the PL011's receive interrupt (SPI 1) through the GIC. Input bytes
   arrive on the RX FIFO; the handler drains it and the guest echoes each line
   upper-cased, until a line "quit". */
#include "common/gic.h"

#define UART_IRQ 33
#define DR    (UART_BASE + 0x00)
#define FR    (UART_BASE + 0x18)
#define LCR_H (UART_BASE + 0x2c)
#define IMSC  (UART_BASE + 0x38)
#define MIS   (UART_BASE + 0x40)
#define ICR   (UART_BASE + 0x44)
#define RX_BITS ((1u << 4) | (1u << 6))      /* RXIM | RTIM */

static volatile char buf[256];
static volatile uint32_t head, tail, irqs;

void irq_handler(void) {
    uint32_t iar = gicc_read(GICC_IAR);
    if ((iar & 0x3ff) == UART_IRQ) {
        irqs++;
        while (!(mmio_read32(FR) & (1u << 4))) {          /* until RXFE */
            char c = (char)(mmio_read32(DR) & 0xff);
            if (head - tail < sizeof buf) buf[head++ % sizeof buf] = c;
        }
        mmio_write32(ICR, RX_BITS);
    }
    if ((iar & 0x3ff) != GIC_SPURIOUS) gicc_write(GICC_EOIR, iar);
}

static int getc(void) {
    WAIT_UNTIL(head != tail);
    return buf[tail++ % sizeof buf];
}

int main(uint64_t dtb) {
    (void)dtb;
    mmio_write32(LCR_H, (3u << 5) | (1u << 4));          /* 8 bits, FIFOs on */
    gic_config(UART_IRQ, 0x80, 0, 0);
    gic_enable(UART_IRQ);
    gic_dist_enable();
    gic_cpu_init();
    mmio_write32(IMSC, RX_BITS);
    irq_enable();
    puts("uart-rx: ready\n");
    char line[64];
    for (;;) {
        uint32_t n = 0;
        int c;
        while ((c = getc()) != '\n') if (c != '\r' && n < sizeof line - 1) line[n++] = (char)c;
        line[n] = 0;
        if (n == 4 && line[0] == 'q' && line[1] == 'u' && line[2] == 'i' && line[3] == 't') break;
        puts("> ");
        for (uint32_t i = 0; i < n; i++) putc(line[i] >= 'a' && line[i] <= 'z' ? (char)(line[i] - 32) : line[i]);
        putc('\n');
    }
    irq_disable();
    check(irqs > 0, "input came by interrupt");
    puts("uart-rx: bye\n");
    return 0;
}

/* The arm64 guests' runtime: QEMU virt's map, the PL011, PSCI, exit, the GICv2. */
#ifndef RT_H
#define RT_H
typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef unsigned long uint64_t;
typedef unsigned long size_t;
typedef long int64_t;

#define UART_BASE       0x09000000ul
#define GICD_BASE       0x08000000ul
#define GICC_BASE       0x08010000ul
/* Our debug-exit register (x86's rule: a write of v ends the VM with status (v << 1) | 1). */
#define DEBUG_EXIT_BASE 0x09100000ul

#define PSCI_VERSION     0x84000000u
#define PSCI_CPU_OFF     0x84000002u
#define PSCI_CPU_ON      0xc4000003u
#define PSCI_SYSTEM_OFF  0x84000008u

static inline uint32_t mmio_read32(uint64_t a) { uint32_t v; __asm__ volatile("ldr %w0, [%1]" : "=r"(v) : "r"(a) : "memory"); return v; }
static inline void mmio_write32(uint64_t a, uint32_t v) { __asm__ volatile("str %w0, [%1]" :: "r"(v), "r"(a) : "memory"); }
static inline uint8_t mmio_read8(uint64_t a) { uint32_t v; __asm__ volatile("ldrb %w0, [%1]" : "=r"(v) : "r"(a) : "memory"); return (uint8_t)v; }
static inline void mmio_write8(uint64_t a, uint8_t v) { __asm__ volatile("strb %w0, [%1]" :: "r"((uint32_t)v), "r"(a) : "memory"); }

#define read_sysreg(r) ({ uint64_t __v; __asm__ volatile("mrs %0, " #r : "=r"(__v)); __v; })
#define write_sysreg(r, v) do { __asm__ volatile("msr " #r ", %0" :: "r"((uint64_t)(v))); } while (0)
static inline void isb(void) { __asm__ volatile("isb" ::: "memory"); }
static inline void dsb(void) { __asm__ volatile("dsb sy" ::: "memory"); }
static inline void irq_enable(void) { __asm__ volatile("msr daifclr, #2" ::: "memory"); }
static inline void irq_disable(void) { __asm__ volatile("msr daifset, #2" ::: "memory"); }
static inline void wfi(void) { __asm__ volatile("wfi" ::: "memory"); }
/* Sleeps until `cond` holds, taking interrupts meanwhile, with no lost wake-up: the condition is
   tested with IRQs masked, and WFI wakes on an interrupt that is pending even while masked, which
   the unmask then takes. (`while (!cond) wfi();` with IRQs on can take the last interrupt between
   the test and the WFI, then sleep forever.) Returns with IRQs masked. */
#define WAIT_UNTIL(cond) do { \
    irq_disable(); \
    while (!(cond)) { wfi(); irq_enable(); isb(); irq_disable(); } \
} while (0)
static inline uint32_t cpu_index(void) { return (uint32_t)(read_sysreg(mpidr_el1) & 0xff); }

uint64_t psci_call(uint32_t fn, uint64_t a1, uint64_t a2, uint64_t a3);
void putc(char c);
void puts(const char *s);
void put_hex(uint64_t v, int digits);
void put_dec(uint64_t v);
/* exit(0): PSCI SYSTEM_OFF (status 0); exit(n): the debug-exit register (status (n << 1) | 1). */
void exit(uint32_t code) __attribute__((noreturn));
void check(int ok, const char *what);
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);

/* Each guest defines main(); irq_handler() and secondary_main() when it uses them (weak defaults). */
int main(uint64_t dtb);
void irq_handler(void);
void secondary_main(uint32_t cpu);
#endif

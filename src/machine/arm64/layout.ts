/**
 * The arm64 `virt` machine's map: QEMU's hw/arm/virt.c addresses for what we
 * model, so the same images run under QEMU, and the interrupt numbers.
 */
export const RAM_BASE = 0x4000_0000;
/** RAM ends below 1 TiB in QEMU's map; 255 GiB would do, 16 GiB is plenty for tiny guests and Linux. */
export const MAX_MEM_MIB = 16 * 1024;
export const MAX_CPUS = 8; // GICv2: eight CPU interfaces

export const GICD_BASE = 0x0800_0000;
export const GICD_SIZE = 0x1_0000;
export const GICC_BASE = 0x0801_0000;
export const GICC_SIZE = 0x1_0000;
export const UART_BASE = 0x0900_0000;
export const UART_SIZE = 0x1000;
/** Our debug-exit register (not in QEMU's map: a hole between its GPIO blocks and virtio-mmio). */
export const DEBUG_EXIT_BASE = 0x0910_0000;
export const DEBUG_EXIT_SIZE = 0x1000;

/** SPI numbers (INTID - 32) of the devices. */
export const UART_SPI = 1;
/** The first SPI the VMM hands out to eventfd lines (`--irq-line`), above QEMU's fixed ones. */
export const FIRST_FREE_SPI = 32;
/** SPIs the distributor implements (QEMU virt: 256, ITLinesNumber 8, INTIDs 32..287). */
export const GIC_SPIS = 256;

/** PPIs (INTIDs) of the generic timer and the PMU, as KVM's device_irq_level bits feed them. */
export const PPI_VTIMER = 27;
export const PPI_PTIMER = 30;
export const PPI_PMU = 23;
/** The timer's PPIs in the DT's order: secure phys 13, non-secure phys 14, virt 11, hyp 10 (INTID - 16). */
export const TIMER_DT_PPIS = [13, 14, 11, 10] as const;

/** The PL011's reference clock (QEMU's apb-pclk: 24 MHz). */
export const UART_CLOCK_HZ = 24_000_000;

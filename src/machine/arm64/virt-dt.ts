/**
 * The device tree of our arm64 `virt` machine, with the node names,
 * properties and bindings QEMU's own `virt` tree uses for the same devices
 * (hw/arm/virt.c): memory, cpus with PSCI as enable-method, psci 0.2+ over
 * HVC, the GICv2 (arm,cortex-a15-gic), the architected timer's four PPIs,
 * the PL011 with its 24 MHz apb-pclk, and `chosen`.
 */
import { buildFdt, node, u64Cells, type FdtNode, type FdtValue } from '../../loader/fdt.js';
import {
  GICC_BASE, GICC_SIZE, GICD_BASE, GICD_SIZE, RAM_BASE, TIMER_DT_PPIS, UART_BASE, UART_CLOCK_HZ, UART_SIZE, UART_SPI,
} from './layout.js';

export interface VirtDtOptions {
  memBytes: number;
  cpus: number;
  bootargs?: string;
  /** initrd placement (linux,initrd-start/end in /chosen). */
  initrd?: { start: number; end: number };
}

const PHANDLE_CLK = 0x8000;
const PHANDLE_GIC = 0x8001;
/** GIC interrupt specifier: type (0 SPI, 1 PPI), number, flags. */
const SPI = 0, PPI = 1;
const IRQ_TYPE_LEVEL_HIGH = 4;

export function virtDeviceTree(o: VirtDtOptions): FdtNode {
  const reg = (base: number, size: number): number[] => [...u64Cells(base), ...u64Cells(size)];
  // GICv2 PPIs carry the CPUs they go to in bits 15:8 of the flags cell.
  const ppiFlags = (((1 << o.cpus) - 1) << 8) | IRQ_TYPE_LEVEL_HIGH;
  const uartPath = `/pl011@${UART_BASE.toString(16)}`;
  const chosen: [string, FdtValue][] = [];
  if (o.bootargs !== undefined) chosen.push(['bootargs', o.bootargs]);
  chosen.push(['stdout-path', uartPath]);
  if (o.initrd) {
    chosen.push(['linux,initrd-start', u64Cells(o.initrd.start)]);
    chosen.push(['linux,initrd-end', u64Cells(o.initrd.end)]);
  }
  return node('', [
    ['interrupt-parent', [PHANDLE_GIC]],
    ['model', 'linux,dummy-virt'],
    ['#size-cells', [2]],
    ['#address-cells', [2]],
    ['compatible', 'linux,dummy-virt'],
  ], [
    node('psci', [
      ['migrate', [0xc400_0005]],
      ['cpu_on', [0xc400_0003]],
      ['cpu_off', [0x8400_0002]],
      ['cpu_suspend', [0xc400_0001]],
      ['method', 'hvc'],
      ['compatible', ['arm,psci-1.0', 'arm,psci-0.2', 'arm,psci']],
    ]),
    node(`memory@${RAM_BASE.toString(16)}`, [
      ['reg', reg(RAM_BASE, o.memBytes)],
      ['device_type', 'memory'],
    ]),
    node(`pl011@${UART_BASE.toString(16)}`, [
      ['clock-names', ['uartclk', 'apb_pclk']],
      ['clocks', [PHANDLE_CLK, PHANDLE_CLK]],
      ['interrupts', [SPI, UART_SPI, IRQ_TYPE_LEVEL_HIGH]],
      ['reg', reg(UART_BASE, UART_SIZE)],
      ['compatible', ['arm,pl011', 'arm,primecell']],
    ]),
    node(`intc@${GICD_BASE.toString(16)}`, [
      ['phandle', [PHANDLE_GIC]],
      ['reg', [...reg(GICD_BASE, GICD_SIZE), ...reg(GICC_BASE, GICC_SIZE)]],
      ['compatible', 'arm,cortex-a15-gic'],
      ['ranges', null],
      ['#size-cells', [2]],
      ['#address-cells', [2]],
      ['interrupt-controller', null],
      ['#interrupt-cells', [3]],
    ]),
    node('cpus', [['#size-cells', [0]], ['#address-cells', [1]]],
      Array.from({ length: o.cpus }, (_, i) => node(`cpu@${i.toString(16)}`, [
        ['reg', [i]],
        ['enable-method', 'psci'],
        ['compatible', 'arm,arm-v8'],
        ['device_type', 'cpu'],
      ]))),
    node('timer', [
      ['interrupts', TIMER_DT_PPIS.flatMap((p) => [PPI, p, ppiFlags])],
      ['always-on', null],
      ['compatible', ['arm,armv8-timer', 'arm,armv7-timer']],
    ]),
    node('apb-pclk', [
      ['phandle', [PHANDLE_CLK]],
      ['clock-output-names', 'clk24mhz'],
      ['clock-frequency', [UART_CLOCK_HZ]],
      ['#clock-cells', [0]],
      ['compatible', 'fixed-clock'],
    ]),
    node('chosen', chosen),
  ]);
}

export function virtDtb(o: VirtDtOptions): Uint8Array {
  return buildFdt(virtDeviceTree(o));
}

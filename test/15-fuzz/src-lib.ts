/** The DeviceLib of the vitest runs: the modules straight from src/ (the script passes dist/'s). */
import * as debugExit from '../../src/devices/debug-exit.js';
import * as fwCfg from '../../src/devices/fw-cfg.js';
import * as irq from '../../src/devices/irq.js';
import * as pcTestdev from '../../src/devices/pc-testdev.js';
import * as uart from '../../src/devices/uart16550.js';
import * as errors from '../../src/errors.js';
import * as ioapic from '../../src/irqchip/ioapic.js';
import * as lapic from '../../src/irqchip/lapic.js';
import * as pic from '../../src/irqchip/pic8259.js';
import * as rte from '../../src/irqchip/rte.js';
import * as pci from '../../src/pci/function.js';
import * as msi from '../../src/pci/msi.js';
import type { DeviceLib } from './harness.js';

export const srcLib: DeviceLib = { uart, irq, ioapic, rte, lapic, pic, fwCfg, pcTestdev, debugExit, pci, msi, errors };

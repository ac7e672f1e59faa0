/**
 * The library API (`import { … } from 'tsvmm'`): enough to script an
 * experiment -- open a backend, build the x86 machine with its devices, the
 * irqfd-cache policy and the IOMMU, or the arm64 `virt` machine with its
 * userspace GICv2, run a guest, read the counters, watch the trace points. The CLI (`vmm`) is built on exactly this.
 */
export { openHypervisor, type BackendChoice, type OpenedHypervisor } from './backend/index.js';
export type { Hypervisor, Vm, Vcpu, EventFd, GuestMemory, VcpuExit, Msi, GsiRoute, Arch, ArmVcpuInit } from './backend/types.js';
export { KvmHypervisor } from './backend/kvm/index.js';
export { SimHypervisor } from './backend/sim/index.js';
export { isKvmAvailable, kvmUnavailableReason } from './native/binding.js';
export {
  X86Machine, parseDeviceSpec, parseIommuSpec, exitStatusFor, PCI_DEVICES, MAX_CPUS, MAX_MEM_MIB,
  type X86MachineOptions, type RunResult, type PciDeviceName, type PciDeviceSpec,
} from './machine/x86-pc.js';
export type { StopReason } from './machine/run-loop.js';
export { Arm64Machine, type Arm64MachineOptions } from './machine/arm64/virt.js';
export { virtDeviceTree, virtDtb, type VirtDtOptions } from './machine/arm64/virt-dt.js';
export { GicV2, type GicV2Options, type GicV2Outputs } from './irqchip/gic/gicv2.js';
export { buildFdt, parseFdt, node as fdtNode, type FdtNode, type FdtValue } from './loader/fdt.js';
export { ARM64_REG, ARM64_SYSREG, arm64SysReg, armIrqCpu, armFeatures, PSCI } from './backend/arm64.js';
export { DoorbellPci } from './machine/doorbell-pci.js';
export {
  IrqfdCache, IRQ_CACHE_POLICIES, NO_REMAPPING,
  type IrqCachePolicy, type IrqCacheStats, type InterruptTranslator, type Translation, type CachedSourceSpec,
} from './irq/irqfd-cache.js';
export { VtdUnit, FaultReason, VTD_BASE, type VtdFault } from './iommu/vtd.js';
export { decodeMsi, encodeCompatMsi, encodeRemappableMsi, type MsiMessage } from './irq/msi.js';
export type { IrqLine, LineKind } from './irq/line.js';
export { subscribe, TRACE_NAMES, type TraceEvents, type TraceName } from './trace/events.js';
export {
  VmmError, InvalidArgumentError, LoaderError, BackendError, BackendUnavailableError, MappingInUseError, ClosedError,
} from './errors.js';

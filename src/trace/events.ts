/**
 * Every trace point of the VMM, in one place, on node:diagnostics_channel.
 * Names are `vmm:<area>:<event>`; payloads are typed here. Publishing is
 * guarded by `hasSubscribers`, so an unobserved trace point costs a branch.
 * Every event that happens inside a VM carries that VM's id (`vm`; 0 for a
 * device model used on its own), so a process running several machines
 * gets one trace track group per VM; only `vmm:machine:backend`, said
 * before any VM exists, has none.
 */
import diagnostics_channel from 'node:diagnostics_channel';

export interface TraceEvents {
  /**
   * A vCPU exit was served in userspace (kind as in VcpuExit), published
   * once it is served: `us` is the time its service took.
   */
  'vmm:vcpu:exit': { vm: number; vcpu: number; kind: string; port?: number; address?: number; us: number };
  /** A guest access hit no device: read answered with all ones, write dropped. */
  'vmm:bus:unhandled': { vm: number; space: 'pio' | 'mmio'; address: number; size: number; write: boolean; value?: number };
  /** A device saw a register access real hardware would ignore. */
  'vmm:device:guest-error': { vm: number; device: string; what: string };
  /** The guest wrote isa-debug-exit. */
  'vmm:machine:debug-exit': { vm: number; value: number; status: number };
  /** The machine stopped. */
  'vmm:machine:stop': { vm: number; reason: string; status: number };
  /** An IOAPIC input line changed (logical level). */
  'vmm:ioapic:set_irq': { vm: number; pin: number; level: boolean };
  /** The IOAPIC looked at a pin to deliver it: delivered, or why not. */
  'vmm:ioapic:service': { vm: number; pin: number; result: 'delivered' | 'masked' | 'remote-irr' | 'line-low' | 'no-edge' };
  /** A pin's MSI route was recomputed from its RTE (pushed to KVM before the next delivery). */
  'vmm:ioapic:route_update': { vm: number; pin: number; addressLo: number; data: number };
  /** An EOI reached the IOAPIC (KVM_EXIT_IOAPIC_EOI or the EOI register); pins: level pins it completed. */
  'vmm:ioapic:eoi': { vm: number; vector: number; pins: number[] };
  /** A level pin's remote IRR was set (delivery) or cleared (EOI, switch to edge). */
  'vmm:ioapic:remote_irr': { vm: number; pin: number; set: boolean };
  /** The 8259 pair's vector was injected as ExtINT (KVM_INTERRUPT). */
  'vmm:pic:extint': { vm: number; vector: number };
  /** KVM_SET_GSI_ROUTING was issued by the routing manager. */
  'vmm:gsi:push': { vm: number; entries: number; pushes: number };
  /**
   * An MSI delivered from userspace (path 'miss': a ring the kernel did not
   * serve, or a device model's own MSI, the IOAPIC's pins included -- source
   * 'ioapic.pinN') or blocked by the remapping unit ('fault'). accepted: how
   * many vCPUs took it (0 for a fault). Hits happen in the kernel and are
   * only counted.
   */
  'vmm:irq:deliver': { vm: number; source: string; vector: number; destination: number; path: 'miss' | 'fault'; accepted: number };
  /** The irqfd cache served a source's eventfd in userspace (events: the count read). */
  'vmm:irqcache:miss': { vm: number; source: string; events: number };
  /** The remapping unit blocked an interrupt being delivered. */
  'vmm:irqcache:fault': { vm: number; source: string; reason: string };
  /** A translated route was cached for a source (irte -1: not remapped). */
  'vmm:irqcache:fill': { vm: number; source: string; gsi: number; vector: number; irte: number };
  /** An invalidation (entry, IRTE range, global, translator change) and how many irqfds it detached. */
  'vmm:irqcache:invalidate': { vm: number; scope: string; first: number; last: number; detached: number };
  /** A source's irqfd left the kernel (invalidation, mask, removal). */
  'vmm:irqcache:detach': { vm: number; source: string; gsi: number };
  /** The IOMMU recorded a fault (reason as VT-d numbers them; info: page address or IRTE index << 48). */
  'vmm:iommu:fault': { vm: number; reason: number; sourceId: number; info: number; read: boolean };
  /** arm64: the user-IRQ levels KVM reported after a KVM_RUN changed (bit 0 vtimer, 1 ptimer, 2 PMU). */
  'vmm:gic:device_irq_level': { vm: number; vcpu: number; level: number };
  /** arm64: a GIC CPU interface's IRQ output changed, driven to the vCPU with KVM_IRQ_LINE. */
  'vmm:gic:irq_line': { vm: number; vcpu: number; level: boolean };
  /** arm64: an interrupt was deactivated (EOI or DIR): a level eventfd line resamples. */
  'vmm:gic:deactivate': { vm: number; intid: number; vcpu: number };
  /** Which backend runs the machine, and why. */
  'vmm:machine:backend': { backend: string; reason: string };
}

export type TraceName = keyof TraceEvents;

const channels = new Map<TraceName, diagnostics_channel.Channel>();

export function channel(name: TraceName): diagnostics_channel.Channel {
  let c = channels.get(name);
  if (!c) {
    c = diagnostics_channel.channel(name);
    channels.set(name, c);
  }
  return c;
}

export const TRACE_NAMES: readonly TraceName[] = [
  'vmm:vcpu:exit', 'vmm:bus:unhandled', 'vmm:device:guest-error', 'vmm:machine:debug-exit',
  'vmm:machine:stop', 'vmm:machine:backend', 'vmm:gsi:push', 'vmm:pic:extint',
  'vmm:ioapic:set_irq', 'vmm:ioapic:service', 'vmm:ioapic:route_update', 'vmm:ioapic:eoi', 'vmm:ioapic:remote_irr',
  'vmm:gic:device_irq_level', 'vmm:gic:irq_line', 'vmm:gic:deactivate',
  'vmm:iommu:fault', 'vmm:irq:deliver', 'vmm:irqcache:miss', 'vmm:irqcache:fault', 'vmm:irqcache:fill', 'vmm:irqcache:invalidate', 'vmm:irqcache:detach',
];

/** One trace point, bound once: what an exit path holds instead of looking the channel up by name at every event. */
export interface TracePoint<N extends TraceName> {
  /** Whether anyone listens (check before building a payload). */
  readonly hasSubscribers: boolean;
  publish(payload: TraceEvents[N]): void;
}

/** The trace point `name`, for a module-level constant on a hot path (`if (p.hasSubscribers) p.publish({ … })`). */
export function tracePoint<N extends TraceName>(name: N): TracePoint<N> {
  return channel(name);
}

/** Publishes `payload` on `name` if anyone listens. */
export function trace<N extends TraceName>(name: N, payload: TraceEvents[N]): void {
  const c = channel(name);
  if (c.hasSubscribers) c.publish(payload);
}

/** Subscribes to the named trace points (all by default); returns the unsubscribe function. */
export function subscribe(fn: (name: TraceName, payload: unknown) => void, names: readonly TraceName[] = TRACE_NAMES): () => void {
  const subs = names.map((n) => {
    const f = (msg: unknown): void => fn(n, msg);
    channel(n).subscribe(f);
    return () => channel(n).unsubscribe(f);
  });
  return () => { for (const u of subs) u(); };
}

/**
 * The GSI routing manager: the single owner of the VM's routing table.
 *
 * KVM_SET_GSI_ROUTING replaces the whole table and every push walks every
 * irqfd and synchronizes SRCU (DESIGN.md, "Kernel contracts" 3), so:
 * - GSIs are allocated lazily from a bitmap and released for reuse;
 * - changes are staged and pushed once per `commit()`;
 * - a commit that changes nothing pushes nothing;
 * - the table size is capped by KVM_CAP_IRQ_ROUTING;
 * - an irqfd is assigned only to a GSI whose route has been pushed, and is
 *   deassigned before its route disappears (contract 4).
 */
import type { EventFd, GsiRoute, Vm } from '../backend/types.js';
import { VmmError } from '../errors.js';
import { trace } from '../trace/events.js';

export type RouteTarget =
  | { type: 'msi'; addressLo: number; addressHi: number; data: number; devid?: number }
  | { type: 'irqchip'; irqchip: number; pin: number };

/** The routing table cannot hold another entry (KVM_CAP_IRQ_ROUTING reached). */
export class GsiExhaustedError extends VmmError {
  constructor(message: string) { super('ERR_GSI_EXHAUSTED', message); }
}

/** A GSI was used that is not allocated or reserved here. */
export class GsiStateError extends VmmError {
  constructor(message: string) { super('ERR_GSI_STATE', message); }
}

function sameTarget(a: RouteTarget | undefined, b: RouteTarget | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.type === 'msi' && b.type === 'msi') {
    return a.addressLo === b.addressLo && a.addressHi === b.addressHi && a.data === b.data && a.devid === b.devid;
  }
  if (a.type === 'irqchip' && b.type === 'irqchip') return a.irqchip === b.irqchip && a.pin === b.pin;
  return false;
}

export interface GsiRoutingOptions {
  /** GSIs below this are reserved for the IOAPIC pins (split irqchip: 24). */
  reserved: number;
  /** Maximum number of GSIs (KVM_CAP_IRQ_ROUTING). */
  maxRoutes: number;
  /** The VM id its trace events carry (default 0). */
  vmId?: number;
}

export class GsiRoutingManager {
  private readonly used: Uint32Array;
  /** The table as last pushed to the kernel. */
  private readonly pushed = new Map<number, RouteTarget>();
  /** The table as it will be after the next commit. */
  private readonly staged = new Map<number, RouteTarget>();
  private readonly irqfds = new Map<number, Set<EventFd>>();
  private readonly reserved: number;
  private readonly maxRoutes: number;
  private hint: number;
  private readonly vmId: number;
  /** KVM_SET_GSI_ROUTING calls made. */
  pushes = 0;

  constructor(private readonly vm: Pick<Vm, 'setGsiRouting' | 'irqfd' | 'irqfdDeassign'>, opts: GsiRoutingOptions) {
    if (!(opts.maxRoutes > 0) || opts.reserved < 0 || opts.reserved > opts.maxRoutes) {
      throw new GsiStateError(`bad routing limits: reserved ${opts.reserved}, max ${opts.maxRoutes}`);
    }
    this.reserved = opts.reserved;
    this.maxRoutes = opts.maxRoutes;
    this.used = new Uint32Array(Math.ceil(opts.maxRoutes / 32));
    this.hint = opts.reserved;
    this.vmId = opts.vmId ?? 0;
  }

  /** Allocates the lowest free GSI above the reserved range. */
  allocate(): number {
    for (let n = 0, g = this.hint; n < this.maxRoutes - this.reserved; n++, g++) {
      if (g >= this.maxRoutes) g = this.reserved;
      if (!(this.used[g >>> 5]! & (1 << (g & 31)))) {
        this.used[g >>> 5]! |= 1 << (g & 31);
        this.hint = g + 1;
        return g;
      }
    }
    throw new GsiExhaustedError(`all ${this.maxRoutes - this.reserved} dynamic GSIs are in use (KVM_CAP_IRQ_ROUTING = ${this.maxRoutes})`);
  }

  isAllocated(gsi: number): boolean {
    return gsi >= this.reserved && gsi < this.maxRoutes && (this.used[gsi >>> 5]! & (1 << (gsi & 31))) !== 0;
  }

  /** Number of dynamic GSIs in use. */
  get allocatedCount(): number {
    let n = 0;
    for (const w of this.used) { let x = w; while (x) { x &= x - 1; n++; } }
    return n;
  }

  private checkGsi(gsi: number): void {
    if (!Number.isInteger(gsi) || gsi < 0 || gsi >= this.maxRoutes) throw new GsiStateError(`GSI ${gsi} is outside 0..${this.maxRoutes - 1}`);
    if (gsi >= this.reserved && !this.isAllocated(gsi)) throw new GsiStateError(`GSI ${gsi} is not allocated`);
  }

  /** Stages `gsi → target`; pushed at the next commit (if it changes anything). */
  set(gsi: number, target: RouteTarget): void {
    this.checkGsi(gsi);
    this.staged.set(gsi, { ...target });
  }

  /** The staged route of `gsi`. */
  get(gsi: number): RouteTarget | undefined { return this.staged.get(gsi); }

  /** True when `gsi`'s route as pushed equals its staged route. */
  isPushed(gsi: number): boolean { return sameTarget(this.pushed.get(gsi), this.staged.get(gsi)); }

  /** Stages removal of `gsi`'s route, deassigning its irqfds first (they must never outlive the route). */
  remove(gsi: number): void {
    this.checkGsi(gsi);
    this.detachAll(gsi);
    this.staged.delete(gsi);
  }

  /** Removes the route (staged) and returns the GSI to the pool. */
  release(gsi: number): void {
    if (!this.isAllocated(gsi)) throw new GsiStateError(`GSI ${gsi} is not allocated`);
    this.remove(gsi);
    this.used[gsi >>> 5]! &= ~(1 << (gsi & 31));
    if (gsi < this.hint) this.hint = gsi;
  }

  private changed(): boolean {
    if (this.staged.size !== this.pushed.size) return true;
    for (const [gsi, t] of this.staged) if (!sameTarget(t, this.pushed.get(gsi))) return true;
    return false;
  }

  /** Pushes the staged table if it differs from the pushed one. Returns true if it pushed. */
  commit(): boolean {
    if (!this.changed()) return false;
    const table: GsiRoute[] = [...this.staged].sort((a, b) => a[0] - b[0]).map(([gsi, t]) => ({ gsi, ...t }));
    this.vm.setGsiRouting(table);
    this.pushed.clear();
    for (const [gsi, t] of this.staged) this.pushed.set(gsi, t);
    this.pushes++;
    trace('vmm:gsi:push', { vm: this.vmId, entries: table.length, pushes: this.pushes });
    return true;
  }

  /** Assigns an irqfd to `gsi`, committing first so the route exists before the irqfd does. */
  attachIrqfd(gsi: number, eventfd: EventFd): void {
    this.checkGsi(gsi);
    if (!this.staged.has(gsi)) throw new GsiStateError(`GSI ${gsi} has no route: add the route before the irqfd`);
    this.commit();
    this.vm.irqfd({ eventfd, gsi });
    let set = this.irqfds.get(gsi);
    if (!set) this.irqfds.set(gsi, (set = new Set()));
    set.add(eventfd);
  }

  /** Deassigns one irqfd (idempotent). */
  detachIrqfd(gsi: number, eventfd: EventFd): void {
    const set = this.irqfds.get(gsi);
    if (!set?.delete(eventfd)) return;
    this.vm.irqfdDeassign({ eventfd, gsi });
    if (set.size === 0) this.irqfds.delete(gsi);
  }

  private detachAll(gsi: number): void {
    for (const e of [...(this.irqfds.get(gsi) ?? [])]) this.detachIrqfd(gsi, e);
  }

  /** The table as last pushed (sorted by GSI). */
  pushedTable(): GsiRoute[] {
    return [...this.pushed].sort((a, b) => a[0] - b[0]).map(([gsi, t]) => ({ gsi, ...t }));
  }
}

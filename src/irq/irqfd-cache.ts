/**
 * The irqfd cache (DESIGN.md, "The irqfd cache"; issue 8): KVM_IRQFD treated
 * as a cache of MSI translations, never as the only path.
 *
 * Every cached source is an eventfd that something outside the VMM's JS
 * thread rings (a doorbell, vhost, VFIO). While its entry is not in the
 * kernel, userspace serves it (the slow path): read the eventfd, let the
 * device fire the vector (it sends, or latches it pending while masked),
 * translate the message at delivery time (faults are recorded only then),
 * deliver with KVM_SIGNAL_MSI and -- policy `lazy` -- fill the cache: a GSI
 * route holding the translated message plus an irqfd on the eventfd, so the
 * next ring never leaves the kernel. While the irqfd is attached the VMM
 * does not watch the eventfd at all: a hit wakes no userspace code.
 *
 * Invalidation:
 * - reprogramming a vector's message invalidates that entry;
 * - an interrupt-entry-cache invalidation of an IRTE index range detaches
 *   exactly the irqfds whose translation went through an IRTE in that
 *   range (a global one detaches every remapped entry); their routes stay
 *   in the table, stale but unreferenced, and the next fill overwrites
 *   them, so an invalidation costs a detach and no KVM_SET_GSI_ROUTING;
 * - masking is not invalidation: a masked vector's irqfd is detached so the
 *   device can latch its pending bit, and re-attached to the same route,
 *   still valid, at unmask.
 * Nothing is lost across a detach: the kernel has flushed the irqfd when
 * KVM_IRQFD returns, an event that arrived meanwhile is still in the
 * eventfd's counter, and the VMM reads it right after re-watching.
 *
 * Policies (per VM, so users can compare them on the same guest):
 * - `lazy` (ours): as above.
 * - `eager` (QEMU's): translate at programming time without recording
 *   faults, and on any invalidation re-translate and re-push every cached
 *   route; entries that no longer translate are detached.
 * - `none`: every interrupt through userspace.
 */
import type { EventFd, Msi, Vcpu, Vm } from '../backend/types.js';
import { InvalidArgumentError } from '../errors.js';
import { trace } from '../trace/events.js';
import type { GsiRoutingManager } from './gsi-routing.js';
import { toKvmX2apicMsi, type MsiMessage } from './msi.js';

export type IrqCachePolicy = 'none' | 'eager' | 'lazy';
export const IRQ_CACHE_POLICIES: readonly IrqCachePolicy[] = ['none', 'eager', 'lazy'];

/** What an interrupt translates to (the remapping unit's answer). */
export type Translation =
  /** `irte`: the remapping-table index used (the invalidation cookie), or null when no remapping applied. */
  | { ok: true; msi: MsiMessage; irte: number | null }
  | { ok: false; reason: string };

/**
 * The interrupt-remapping unit as the cache sees it. `deliverNow` is true
 * when an interrupt is being delivered (a fault is recorded and signalled
 * as the hardware would) and false for a speculative translation (the
 * eager policy, a pre-fill), which must record nothing.
 */
export interface InterruptTranslator {
  translate(message: MsiMessage, sourceId: number, deliverNow: boolean): Translation;
}

/** No remapping unit: a message is its own translation. */
export const NO_REMAPPING: InterruptTranslator = {
  translate: (message) => ({ ok: true, msi: { ...message }, irte: null }),
};

/** A source whose interrupts the cache serves: one vector of a device, backed by an eventfd. */
export interface CachedSourceSpec {
  eventfd: EventFd;
  /** The requester ID its MSIs carry (bus << 8 | device << 3 | function). */
  sourceId: number;
  /** For traces and errors: 'doorbell0.7'. */
  label: string;
  /**
   * The message the device sends for this vector now, or null when it
   * cannot send one (MSI-X off, function or vector masked, bus mastering
   * off): then the irqfd must not be in the kernel.
   */
  message(): MsiMessage | null;
  /**
   * Userspace read events from the eventfd: the device signals the vector.
   * It sends (through `IrqfdCache.deliver`) or latches it pending.
   */
  fire(): void;
}

export interface IrqCacheStats {
  /** Events served in userspace (eventfd reads that found events; a read of n coalesced rings counts once). */
  misses: number;
  /** Rings consumed in userspace: the sum of the counts those reads returned. */
  ringsInUserspace: number;
  /** MSIs delivered from userspace (KVM_SIGNAL_MSI). */
  deliveries: number;
  /** Deliveries no vCPU accepted (KVM_SIGNAL_MSI returned 0). */
  undelivered: number;
  /** Interrupts blocked by the remapping unit at delivery. */
  faults: number;
  /** Translated routes written into the cache (a fill or an eager re-translation). */
  fills: number;
  /** Invalidation requests (entry reprogrammed, IEC index/range, IEC global). */
  invalidations: number;
  /** irqfds deassigned (invalidations, masks, teardown). */
  detaches: number;
  /** irqfds assigned. */
  attaches: number;
  /** KVM_SET_GSI_ROUTING calls made by the cache. */
  routePushes: number;
}

interface Entry {
  readonly spec: CachedSourceSpec;
  readonly id: number;
  /** The GSI holding this entry's route (kept across invalidations for the next fill). */
  gsi: number | null;
  /** The route at `gsi` holds this entry's current translation. */
  routeValid: boolean;
  /** The IRTE index of the cached translation (null: not remapped). */
  irte: number | null;
  /** The irqfd is in the kernel. */
  attached: boolean;
  /** The userspace watch (null while attached). */
  unwatch: (() => void) | null;
  closed: boolean;
}

/** A cached source, as returned by `IrqfdCache.add`. */
export interface CacheHandle {
  readonly label: string;
  /** Whether the irqfd is in the kernel now (an interrupt would be a hit). */
  readonly cached: boolean;
}

export interface IrqfdCacheOptions {
  /**
   * With onWatchesServed, the lazy fills of one batch of watch callbacks
   * share one route push (without it, each fill pushes at once).
   */
  vm: Pick<Vm, 'signalMsi' | 'watchEventFd'> & Partial<Pick<Vm, 'onWatchesServed'>>;
  routing: GsiRoutingManager;
  translator?: InterruptTranslator;
  policy?: IrqCachePolicy;
  /** vCPUs the userspace watch kicks out of KVM_RUN (those run on this JS thread). */
  kick?: () => readonly Vcpu[];
  /** KVM_CAP_X2APIC_API is on: messages go to KVM with the extended destination in address_hi. */
  x2apicApi?: boolean;
  /** Names the VM in trace events. */
  vmId?: number;
}

export class IrqfdCache {
  readonly policy: IrqCachePolicy;
  private readonly vm: IrqfdCacheOptions['vm'];
  private readonly routing: GsiRoutingManager;
  private readonly translator: InterruptTranslator;
  private readonly entries = new Set<Entry>();
  private readonly handles = new WeakMap<CacheHandle, Entry>();
  /** Cached entries by the IRTE index of their translation. */
  private readonly byIrte = new Map<number, Set<Entry>>();
  private readonly kick: () => readonly Vcpu[];
  private readonly x2apicApi: boolean;
  private readonly vmId: number;
  private nextId = 0;
  /** Inside a watch callback of a VM that reports the end of each batch: fills wait for it. */
  private serving = 0;
  /** Lazy fills staged in this batch: one push at its end, then their irqfds. */
  private readonly staged = new Set<Entry>();
  /** Unregisters from the VM's batch ends (onWatchesServed); null when the VM reports none and fills push at once. */
  private readonly unwatchBatches: (() => void) | null;
  readonly stats: IrqCacheStats = {
    misses: 0, ringsInUserspace: 0, deliveries: 0, undelivered: 0, faults: 0,
    fills: 0, invalidations: 0, detaches: 0, attaches: 0, routePushes: 0,
  };

  constructor(opts: IrqfdCacheOptions) {
    const policy = opts.policy ?? 'lazy';
    if (!IRQ_CACHE_POLICIES.includes(policy)) throw new InvalidArgumentError(`irq cache policy '${String(policy)}': one of ${IRQ_CACHE_POLICIES.join(', ')}`);
    this.policy = policy;
    this.vm = opts.vm;
    this.routing = opts.routing;
    this.translator = opts.translator ?? NO_REMAPPING;
    this.kick = opts.kick ?? (() => []);
    this.x2apicApi = opts.x2apicApi === true;
    this.vmId = opts.vmId ?? 0;
    this.unwatchBatches = opts.vm.onWatchesServed?.(() => this.commitStaged()) ?? null;
  }

  /** Starts serving a source: watched in userspace, and (eager) translated and cached at once. */
  add(spec: CachedSourceSpec): CacheHandle {
    const e: Entry = { spec, id: this.nextId++, gsi: null, routeValid: false, irte: null, attached: false, unwatch: null, closed: false };
    this.entries.add(e);
    const handle: CacheHandle = { label: spec.label, get cached() { return e.attached; } };
    this.handles.set(handle, e);
    this.watch(e);
    if (this.policy === 'eager') this.speculate([e]);
    return handle;
  }

  /** Stops serving a source: its irqfd is detached, its GSI released, the eventfd no longer watched (not closed: the caller owns it). */
  remove(h: CacheHandle): void {
    this.removeEntry(this.entryOf(h));
  }

  private removeEntry(e: Entry): void {
    this.staged.delete(e);
    this.detach(e, false);
    e.unwatch?.();
    e.unwatch = null;
    this.forgetIrte(e);
    if (e.gsi !== null) this.routing.release(e.gsi);
    e.gsi = null;
    e.closed = true;
    this.entries.delete(e);
  }

  /**
   * The device sends `message` for this source (its vector fired, or went
   * out at unmask): translate it now (a fault is recorded here and only
   * here), deliver it, and -- lazy -- cache the translation.
   */
  deliver(h: CacheHandle, message: MsiMessage): void {
    const e = this.entryOf(h);
    const t = this.translateAndSignal(message, e.spec.sourceId, e.spec.label);
    if (t && this.policy === 'lazy' && !e.closed) this.fill(e, t);
  }

  /**
   * An MSI from a device model in userspace that has no eventfd (edu's, or
   * an IOAPIC pin a device model drives): translated now (a fault recorded
   * here) and delivered. Returns the vCPUs that accepted it, or -1 when the
   * remapping unit blocked it.
   */
  sendMsi(message: MsiMessage, sourceId: number, label: string): number {
    const t = this.translateAndSignal(message, sourceId, label);
    return t ? t.accepted : -1;
  }

  /** Translates at delivery time (faults recorded) and signals the result; null when blocked. */
  private translateAndSignal(message: MsiMessage, sourceId: number, label: string): (Extract<Translation, { ok: true }> & { accepted: number }) | null {
    const t = this.translator.translate(message, sourceId, true);
    if (!t.ok) {
      this.stats.faults++;
      trace('vmm:irqcache:fault', { vm: this.vmId, source: label, reason: t.reason });
      trace('vmm:irq:deliver', { vm: this.vmId, source: label, vector: message.data & 0xff, destination: -1, path: 'fault', accepted: 0 });
      return null;
    }
    const accepted = this.vm.signalMsi(this.toKvm(t.msi));
    this.stats.deliveries++;
    if (accepted === 0) this.stats.undelivered++;
    trace('vmm:irq:deliver', { vm: this.vmId, source: label, vector: t.msi.data & 0xff, destination: (t.msi.addressLo >>> 12) & 0xff, path: 'miss', accepted });
    return { ...t, accepted };
  }

  /** The source's message was reprogrammed: its cached translation is gone (eager re-translates it now). */
  entryChanged(h: CacheHandle): void {
    const e = this.entryOf(h);
    this.stats.invalidations++;
    trace('vmm:irqcache:invalidate', { vm: this.vmId, scope: 'entry', first: e.id, last: e.id, detached: Number(e.attached) });
    this.drop(e);
    if (this.policy === 'eager') this.speculate([e]);
  }

  /**
   * Whether the source may send changed (masked/unmasked, MSI-X enabled or
   * disabled, bus mastering): the irqfd leaves the kernel while it may not,
   * and comes back on its still-valid route when it may. Not an invalidation.
   */
  sendableChanged(h: CacheHandle): void {
    const e = this.entryOf(h);
    const may = e.spec.message() !== null;
    if (e.attached && !may) this.detach(e, true);
    else if (!e.attached && may && e.routeValid && this.policy !== 'none') this.attach(e);
    // eager (QEMU's vector-unmask path): a vector that may send now gets its route at once.
    else if (!e.attached && may && !e.routeValid && this.policy === 'eager') this.speculate([e]);
  }

  /**
   * An interrupt-entry-cache invalidation of IRTE indexes first..last
   * (VT-d's index-selective invalidation with its index mask, as a range).
   * lazy: exactly the entries cached through those IRTEs are detached.
   * eager: every cached route is re-translated and pushed again (QEMU).
   */
  invalidateIrteRange(first: number, last: number): void {
    this.stats.invalidations++;
    if (this.policy === 'eager') { this.reTranslateAll('range', first, last); return; }
    let detached = 0;
    if (last - first + 1 < this.byIrte.size) {
      for (let i = first; i <= last; i++) {
        const set = this.byIrte.get(i);
        if (set) for (const e of [...set]) { detached += Number(e.attached); this.drop(e); }
      }
    } else {
      for (const [i, set] of [...this.byIrte]) {
        if (i >= first && i <= last) for (const e of [...set]) { detached += Number(e.attached); this.drop(e); }
      }
    }
    trace('vmm:irqcache:invalidate', { vm: this.vmId, scope: 'range', first, last, detached });
  }

  /**
   * A global interrupt-entry-cache invalidation (remapped entries go), or
   * `translator`: the remapping setup itself changed (enabled, disabled,
   * table moved, CFI), and every cached translation goes.
   */
  invalidateAll(scope: 'global' | 'translator' = 'global'): void {
    this.stats.invalidations++;
    if (this.policy === 'eager') { this.reTranslateAll(scope, 0, 0xffff); return; }
    let detached = 0;
    for (const e of [...this.entries]) {
      if (!e.routeValid) continue;
      // A global IEC flush concerns remapped entries; a new translator concerns all of them.
      if (scope === 'global' && e.irte === null) continue;
      detached += Number(e.attached);
      this.drop(e);
    }
    trace('vmm:irqcache:invalidate', { vm: this.vmId, scope, first: 0, last: 0xffff, detached });
  }

  /** Entries whose irqfd is in the kernel now. */
  get cachedCount(): number {
    let n = 0;
    for (const e of this.entries) n += Number(e.attached);
    return n;
  }

  /** Detaches every irqfd and stops every watch (the VM is closing). The eventfds stay open: their owners close them. */
  close(): void {
    for (const e of [...this.entries]) this.removeEntry(e);
    this.unwatchBatches?.();
  }

  // ---- internals ----------------------------------------------------------

  private entryOf(h: CacheHandle): Entry {
    const e = this.handles.get(h);
    if (!e || e.closed) throw new InvalidArgumentError(`irq cache source '${h.label}' is not (or no longer) served by this cache`);
    return e;
  }

  private toKvm(m: MsiMessage): Msi { return this.x2apicApi ? toKvmX2apicMsi(m) : { ...m }; }

  /** Userspace serves the eventfd: the slow path. */
  private watch(e: Entry): void {
    if (e.unwatch || e.closed) return;
    e.unwatch = this.vm.watchEventFd(e.spec.eventfd, () => this.serveWatched(e), this.kick());
  }

  private serve(e: Entry): void {
    if (e.closed || e.attached) return;
    const n = e.spec.eventfd.read();
    if (n === null) return;
    this.stats.misses++;
    this.stats.ringsInUserspace += Number(n);
    trace('vmm:irqcache:miss', { vm: this.vmId, source: e.spec.label, events: Number(n) });
    e.spec.fire();
  }

  /**
   * serve() as a watch callback: its fills wait for the batch's end. (The other caller, a detach that
   * reads what arrived meanwhile, runs outside any batch: its fill pushes at once.)
   */
  private serveWatched(e: Entry): void {
    this.serving++;
    try {
      this.serve(e);
    } finally {
      this.serving--;
    }
  }

  /**
   * The batch of watch callbacks ended: one push for the routes its fills
   * staged, then their irqfds. A burst of first rings over many vectors (a
   * storm's start, 2048 vectors round robin) costs one KVM_SET_GSI_ROUTING
   * of the whole table per wake-up instead of one per vector; each ring of
   * the batch was delivered already, by KVM_SIGNAL_MSI.
   */
  private commitStaged(): void {
    if (this.staged.size === 0) return;
    const ready = [...this.staged];
    this.staged.clear();
    this.pushRoutes();
    for (const e of ready) if (!e.closed && e.routeValid && !e.attached && e.spec.message() !== null) this.attach(e);
  }

  /** Lazy fill after a delivery: the translated route, then the irqfd. */
  private fill(e: Entry, t: Extract<Translation, { ok: true }>): void {
    if (e.routeValid) {
      // Already cached (an unmask delivered a pending vector): only the irqfd may be missing -- unless
      // this batch staged the route, whose end attaches it after the push.
      if (!e.attached && !this.staged.has(e) && e.spec.message() !== null) this.attach(e);
      return;
    }
    this.store(e, t);
    // Served from a watch of a VM that reports batch ends: the push waits for the batch's end.
    if (this.unwatchBatches !== null && this.serving > 0) {
      this.staged.add(e);
      return;
    }
    this.pushRoutes();
    if (e.spec.message() !== null) this.attach(e);
  }

  /** Writes `t` as e's route (staged; the caller commits). */
  private store(e: Entry, t: Extract<Translation, { ok: true }>): void {
    if (e.gsi === null) e.gsi = this.routing.allocate();
    this.routing.set(e.gsi, { type: 'msi', ...this.toKvm(t.msi) });
    e.routeValid = true;
    this.forgetIrte(e);
    e.irte = t.irte;
    if (t.irte !== null) {
      let set = this.byIrte.get(t.irte);
      if (!set) this.byIrte.set(t.irte, (set = new Set()));
      set.add(e);
    }
    this.stats.fills++;
    trace('vmm:irqcache:fill', { vm: this.vmId, source: e.spec.label, gsi: e.gsi, vector: t.msi.data & 0xff, irte: t.irte ?? -1 });
  }

  private pushRoutes(): void {
    if (this.routing.commit()) this.stats.routePushes++;
  }

  private forgetIrte(e: Entry): void {
    if (e.irte === null) return;
    const set = this.byIrte.get(e.irte);
    set?.delete(e);
    if (set?.size === 0) this.byIrte.delete(e.irte);
    e.irte = null;
  }

  private attach(e: Entry): void {
    if (e.attached || e.gsi === null || e.closed) return;
    // Stop watching first: from here on the kernel consumes the counter (and
    // polls it at assignment, so an event already there is delivered at once).
    e.unwatch?.();
    e.unwatch = null;
    this.routing.attachIrqfd(e.gsi, e.spec.eventfd);
    e.attached = true;
    this.stats.attaches++;
  }

  /** Takes the irqfd out of the kernel; with `serve`, userspace watches again and reads what arrived meanwhile. */
  private detach(e: Entry, serve: boolean): void {
    if (e.attached) {
      this.routing.detachIrqfd(e.gsi!, e.spec.eventfd);
      e.attached = false;
      this.stats.detaches++;
      trace('vmm:irqcache:detach', { vm: this.vmId, source: e.spec.label, gsi: e.gsi! });
    }
    if (serve && !e.closed) {
      this.watch(e);
      this.serve(e);
    }
  }

  /** An invalidated entry: out of the kernel, its route stale (kept for the next fill, not pushed). */
  private drop(e: Entry): void {
    this.staged.delete(e);
    e.routeValid = false;
    this.forgetIrte(e);
    this.detach(e, true);
  }

  /** eager: translate without recording faults and cache what translates; one push for all. */
  private speculate(list: readonly Entry[]): void {
    const ready: Entry[] = [];
    for (const e of list) {
      if (e.closed) continue;
      const message = e.spec.message();
      const t = message === null ? null : this.translator.translate(message, e.spec.sourceId, false);
      if (t?.ok) {
        this.store(e, t);
        ready.push(e);
      } else if (e.routeValid) {
        e.routeValid = false;
        this.forgetIrte(e);
        this.detach(e, true);
      }
    }
    this.pushRoutes();
    for (const e of ready) if (!e.attached && e.routeValid) this.attach(e);
  }

  private reTranslateAll(scope: string, first: number, last: number): void {
    const before = this.stats.detaches;
    this.speculate([...this.entries].filter((e) => e.routeValid || e.spec.message() !== null));
    trace('vmm:irqcache:invalidate', { vm: this.vmId, scope, first, last, detached: this.stats.detaches - before });
  }
}

/**
 * `--trace FILE`: the trace points as Chrome trace-event JSON (the JSON
 * array format), which Perfetto (ui.perfetto.dev) and chrome://tracing open.
 *
 * One process per VM; in it a track per vCPU with its exits as slices
 * (name = exit kind, duration = the time userspace took to serve it; the
 * gaps between are the guest running), a track for interrupt deliveries
 * (vector, destination, path miss/fault, IOAPIC pin) and one for the irqfd
 * cache and the routing table (fills, invalidations, detaches, route
 * pushes, faults). Events are streamed to the file as they come, so a long
 * run costs no memory; `close()` ends the array.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { subscribe, type TraceEvents, type TraceName } from './events.js';

/** Track ids inside a VM's process: vCPUs use their id; these sit above any vCPU. */
export const TRACK_IRQ = 1000;
export const TRACK_CACHE = 1001;
export const TRACK_MACHINE = 1002;

interface ChromeEvent {
  name: string;
  cat: string;
  ph: 'X' | 'i' | 'M' | 'C';
  ts: number;
  pid: number;
  tid: number;
  dur?: number;
  s?: 't' | 'p' | 'g';
  args?: Record<string, unknown>;
}

export class ChromeTraceWriter {
  private readonly fd: number;
  private readonly t0 = performance.now();
  private readonly unsubscribe: () => void;
  private readonly named = new Set<string>();
  private first = true;
  private closed = false;
  /** Events written (metadata included). */
  events = 0;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'w');
    writeSync(this.fd, '[\n');
    this.unsubscribe = subscribe((name, payload) => this.onEvent(name, payload));
  }

  private now(): number { return (performance.now() - this.t0) * 1000; }

  private write(e: ChromeEvent): void {
    writeSync(this.fd, `${this.first ? '' : ',\n'}${JSON.stringify(e)}`);
    this.first = false;
    this.events++;
  }

  /** The process and thread names, the first time a track is used. */
  private track(pid: number, tid: number, name: string): void {
    const key = `${pid}/${tid}`;
    if (!this.named.has(`${pid}`)) {
      this.named.add(`${pid}`);
      this.write({ name: 'process_name', cat: '__metadata', ph: 'M', ts: 0, pid, tid: 0, args: { name: pid === 0 ? 'vmm' : `VM ${pid}` } });
    }
    if (this.named.has(key)) return;
    this.named.add(key);
    this.write({ name: 'thread_name', cat: '__metadata', ph: 'M', ts: 0, pid, tid, args: { name } });
  }

  private instant(pid: number, tid: number, trackName: string, name: string, cat: string, args: Record<string, unknown>): void {
    this.track(pid, tid, trackName);
    this.write({ name, cat, ph: 'i', s: 't', ts: this.now(), pid, tid, args });
  }

  private onEvent(name: TraceName, payload: unknown): void {
    if (this.closed) return;
    const p = payload as Record<string, unknown>;
    const vm = typeof p['vm'] === 'number' ? p['vm'] : 0;
    switch (name) {
      case 'vmm:vcpu:exit': {
        const x = payload as TraceEvents['vmm:vcpu:exit'];
        const end = this.now();
        this.track(x.vm, x.vcpu, `vCPU ${x.vcpu}`);
        const args: Record<string, unknown> = {};
        if (x.port !== undefined) args['port'] = `0x${x.port.toString(16)}`;
        if (x.address !== undefined) args['address'] = `0x${x.address.toString(16)}`;
        this.write({ name: x.kind, cat: 'exit', ph: 'X', ts: Math.max(0, end - x.us), dur: x.us, pid: x.vm, tid: x.vcpu, args });
        return;
      }
      case 'vmm:irq:deliver': {
        const x = payload as TraceEvents['vmm:irq:deliver'];
        this.instant(vm, TRACK_IRQ, 'interrupts', `${x.path} v0x${x.vector.toString(16)}`, 'irq', { ...x });
        return;
      }
      case 'vmm:irqcache:miss': case 'vmm:irqcache:fault': case 'vmm:irqcache:fill':
      case 'vmm:irqcache:invalidate': case 'vmm:irqcache:detach': case 'vmm:gsi:push': case 'vmm:iommu:fault':
        this.instant(vm, TRACK_CACHE, 'irqfd cache & routes', name.slice(4), 'irqcache', { ...p });
        return;
      case 'vmm:machine:stop': case 'vmm:machine:debug-exit': case 'vmm:machine:backend': case 'vmm:device:guest-error': case 'vmm:bus:unhandled':
        this.instant(vm, TRACK_MACHINE, 'machine', name.slice(4), 'machine', { ...p });
        return;
      default:
        // The IOAPIC's and PIC's finer steps (set_irq, service, EOI, route updates) on the interrupt track.
        this.instant(vm, TRACK_IRQ, 'interrupts', name.slice(4), 'irqchip', { ...p });
    }
  }

  /** Stops listening and ends the JSON array. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    writeSync(this.fd, '\n]\n');
    closeSync(this.fd);
  }
}

/**
 * Decoding of `struct kvm_run` into the `VcpuExit` tagged union.
 *
 * Pure: takes the mapped page and the offsets/constants the addon computed
 * with `offsetof`, so it can be unit-tested on synthetic buffers.
 */
import type { KvmConstants, KvmLayout } from '../../native/binding.js';
import type { VcpuExit, X86Regs } from '../types.js';

const REG_NAMES = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rsp', 'rbp', 'r8', 'r9', 'r10', 'r11',
  'r12', 'r13', 'r14', 'r15', 'rip', 'rflags'] as const;

export class KvmRunView {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  private readonly o: KvmLayout['kvm_run'];
  private readonly regsAt: number;
  /** arm64: where `s.regs.device_irq_level` lives (-1 on x86). */
  private readonly irqLevelAt: number;
  private readonly regOffsets: KvmLayout['kvm_regs'];
  private readonly c: KvmConstants;
  /** Last io data view, reused while KVM keeps the same data_offset and length. */
  private ioCacheOffset = -1;
  private ioCacheLength = -1;
  private ioCache: Uint8Array;
  /** mmio.data's first n bytes, n = 0..8: an MMIO exit picks its view instead of making one. */
  private readonly mmioData: readonly Uint8Array[];
  // The exit path allocates nothing: port and MMIO exits reuse one object each
  // (valid until the next run(), like the kvm_run page they describe).
  private readonly ioOut = { kind: 'io-out' as const, port: 0, size: 1 as 1 | 2 | 4, count: 0, data: new Uint8Array(0) as Uint8Array };
  private readonly ioIn = { kind: 'io-in' as const, port: 0, size: 1 as 1 | 2 | 4, count: 0, data: new Uint8Array(0) as Uint8Array };
  private readonly mmioWrite = { kind: 'mmio-write' as const, address: 0, size: 0, data: new Uint8Array(0) as Uint8Array };
  private readonly mmioRead = { kind: 'mmio-read' as const, address: 0, size: 0, data: new Uint8Array(0) as Uint8Array };

  constructor(buffer: ArrayBuffer, layout: KvmLayout, constants: KvmConstants) {
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
    this.o = layout.kvm_run;
    this.regsAt = layout.kvm_run.sync_regs + (layout.kvm_sync_regs.regs ?? 0);
    this.regOffsets = layout.kvm_regs;
    this.irqLevelAt = layout.kvm_sync_regs.device_irq_level === undefined ? -1 : layout.kvm_run.sync_regs + layout.kvm_sync_regs.device_irq_level;
    this.c = constants;
    this.ioCache = this.bytes.subarray(0, 0);
    this.mmioData = Array.from({ length: 9 }, (_, n) => this.bytes.subarray(this.o.mmio_data, this.o.mmio_data + n));
  }

  get exitReason(): number { return this.view.getUint32(this.o.exit_reason, true); }
  get immediateExit(): number { return this.bytes[this.o.immediate_exit]!; }
  set immediateExit(v: number) { this.bytes[this.o.immediate_exit] = v; }
  get requestInterruptWindow(): number { return this.bytes[this.o.request_interrupt_window]!; }
  set requestInterruptWindow(v: number) { this.bytes[this.o.request_interrupt_window] = v; }
  get readyForInterruptInjection(): boolean { return this.bytes[this.o.ready_for_interrupt_injection] !== 0; }
  get ifFlag(): boolean { return this.bytes[this.o.if_flag] !== 0; }
  /** `kvm_valid_regs`: which KVM_SYNC_X86_* sets KVM copies into kvm_run on every exit. */
  get validRegs(): bigint { return this.view.getBigUint64(this.o.kvm_valid_regs, true); }
  set validRegs(v: bigint) { this.view.setBigUint64(this.o.kvm_valid_regs, v, true); }
  /** `kvm_dirty_regs`: which sets KVM must load from kvm_run before the next entry. */
  get dirtyRegs(): bigint { return this.view.getBigUint64(this.o.kvm_dirty_regs, true); }
  set dirtyRegs(v: bigint) { this.view.setBigUint64(this.o.kvm_dirty_regs, v, true); }

  /** arm64 (KVM_CAP_ARM_USER_IRQ): the timer/PMU levels KVM last reported; 0 on x86. */
  get deviceIrqLevel(): number { return this.irqLevelAt < 0 ? 0 : this.view.getUint32(this.irqLevelAt, true); }

  /** `s.regs.regs`: the general registers as of the last exit (valid with KVM_SYNC_X86_REGS). */
  readSyncRegs(): X86Regs {
    const out = {} as X86Regs;
    for (const n of REG_NAMES) out[n] = this.view.getBigUint64(this.regsAt + this.regOffsets[n], true);
    return out;
  }

  /** Writes `s.regs.regs` and marks KVM_SYNC_X86_REGS dirty so KVM loads them on entry. */
  writeSyncRegs(regs: X86Regs): void {
    for (const n of REG_NAMES) this.view.setBigUint64(this.regsAt + this.regOffsets[n], BigInt.asUintN(64, regs[n]), true);
    this.dirtyRegs = this.dirtyRegs | BigInt(this.c.KVM_SYNC_X86_REGS);
  }

  private ioData(offset: number, length: number): Uint8Array {
    if (offset !== this.ioCacheOffset || length !== this.ioCacheLength) {
      if (offset + length > this.bytes.length) throw new RangeError(`KVM_EXIT_IO data ${offset}+${length} beyond kvm_run`);
      this.ioCache = this.bytes.subarray(offset, offset + length);
      this.ioCacheOffset = offset;
      this.ioCacheLength = length;
    }
    return this.ioCache;
  }

  /** Decodes the current exit. */
  decode(): VcpuExit {
    const o = this.o;
    const c = this.c;
    const v = this.view;
    const reason = v.getUint32(o.exit_reason, true);
    switch (reason) {
      case c.KVM_EXIT_IO: {
        const e = this.bytes[o.io_direction] === c.KVM_EXIT_IO_OUT ? this.ioOut : this.ioIn;
        e.size = this.bytes[o.io_size]! as 1 | 2 | 4;
        e.port = v.getUint16(o.io_port, true);
        e.count = v.getUint32(o.io_count, true);
        // data_offset is a u64 the kernel keeps below the mapping size: read its low word.
        e.data = this.ioData(v.getUint32(o.io_data_offset, true), e.size * e.count);
        return e;
      }
      case c.KVM_EXIT_MMIO: {
        const e = this.bytes[o.mmio_is_write] ? this.mmioWrite : this.mmioRead;
        e.address = v.getUint32(o.mmio_phys_addr, true) + v.getUint32(o.mmio_phys_addr + 4, true) * 2 ** 32;
        e.size = Math.min(v.getUint32(o.mmio_len, true), 8);
        e.data = this.mmioData[e.size]!;
        return e;
      }
      case c.KVM_EXIT_HLT: return { kind: 'hlt' };
      case c.KVM_EXIT_SHUTDOWN: return { kind: 'shutdown' };
      case c.KVM_EXIT_INTR: return { kind: 'intr' };
      case c.KVM_EXIT_IRQ_WINDOW_OPEN: return { kind: 'irq-window-open' };
      case c.KVM_EXIT_IOAPIC_EOI: return { kind: 'ioapic-eoi', vector: this.bytes[o.eoi_vector]! };
      case c.KVM_EXIT_DEBUG: return { kind: 'debug' };
      case c.KVM_EXIT_FAIL_ENTRY:
        return {
          kind: 'fail-entry',
          hardwareEntryFailureReason: v.getBigUint64(o.fail_entry_hardware_entry_failure_reason, true),
          cpu: v.getUint32(o.fail_entry_cpu, true),
        };
      case c.KVM_EXIT_INTERNAL_ERROR: {
        const n = Math.min(v.getUint32(o.internal_ndata, true), 16);
        const data: bigint[] = [];
        for (let i = 0; i < n; i++) data.push(v.getBigUint64(o.internal_data + 8 * i, true));
        return { kind: 'internal-error', suberror: v.getUint32(o.internal_suberror, true), data };
      }
      case c.KVM_EXIT_SYSTEM_EVENT: {
        const n = Math.min(v.getUint32(o.system_event_ndata, true), 16);
        const data: bigint[] = [];
        for (let i = 0; i < n; i++) data.push(v.getBigUint64(o.system_event_data + 8 * i, true));
        return { kind: 'system-event', type: v.getUint32(o.system_event_type, true), data };
      }
      default: return { kind: 'unknown', exitReason: reason };
    }
  }
}

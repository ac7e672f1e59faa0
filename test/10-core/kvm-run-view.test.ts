/**
 * The kvm_run decoder on synthetic pages: every exit reason the VMM
 * handles maps to its tagged-union member, with offsets from the addon.
 */
import { describe, expect, it } from 'vitest';
import { tryLoadBinding } from '../../src/native/binding.js';
import { KvmRunView } from '../../src/backend/kvm/exits.js';
import { nativeSkipSuffix } from '../helpers/backends.js';

const b = tryLoadBinding();

describe.skipIf(!b)(`kvm_run decoder${nativeSkipSuffix()}`, () => {
  // Read lazily: the describe body runs at collection even when it is skipped.
  const L = b?.layout as NonNullable<typeof b>['layout'];
  const C = b?.constants as NonNullable<typeof b>['constants'];
  const page = (): { view: KvmRunView; dv: DataView; bytes: Uint8Array } => {
    const buf = new ArrayBuffer(8192);
    return { view: new KvmRunView(buf, L, C), dv: new DataView(buf), bytes: new Uint8Array(buf) };
  };

  it('KVM_EXIT_IO out: port, size, count and a data view at data_offset', () => {
    const { view, dv, bytes } = page();
    dv.setUint32(L.kvm_run.exit_reason, C.KVM_EXIT_IO, true);
    bytes[L.kvm_run.io_direction] = C.KVM_EXIT_IO_OUT;
    bytes[L.kvm_run.io_size] = 2;
    dv.setUint16(L.kvm_run.io_port, 0x3f8, true);
    dv.setUint32(L.kvm_run.io_count, 3, true);
    dv.setBigUint64(L.kvm_run.io_data_offset, 4096n, true);
    bytes.set([1, 2, 3, 4, 5, 6], 4096);
    const e = view.decode();
    expect(e).toMatchObject({ kind: 'io-out', port: 0x3f8, size: 2, count: 3 });
    expect([...(e as { data: Uint8Array }).data]).toEqual([1, 2, 3, 4, 5, 6]);
    // The data is a view: writes land in the page (how io-in is answered).
    (e as { data: Uint8Array }).data[0] = 9;
    expect(bytes[4096]).toBe(9);
  });

  it('KVM_EXIT_IO in and KVM_EXIT_MMIO read/write', () => {
    const { view, dv, bytes } = page();
    dv.setUint32(L.kvm_run.exit_reason, C.KVM_EXIT_IO, true);
    bytes[L.kvm_run.io_direction] = C.KVM_EXIT_IO_IN;
    bytes[L.kvm_run.io_size] = 1;
    dv.setUint32(L.kvm_run.io_count, 1, true);
    dv.setBigUint64(L.kvm_run.io_data_offset, 4096n, true);
    expect(view.decode()).toMatchObject({ kind: 'io-in', size: 1, count: 1 });
    dv.setUint32(L.kvm_run.exit_reason, C.KVM_EXIT_MMIO, true);
    dv.setBigUint64(L.kvm_run.mmio_phys_addr, 0xfec0_0010n, true);
    dv.setUint32(L.kvm_run.mmio_len, 4, true);
    bytes[L.kvm_run.mmio_is_write] = 1;
    bytes.set([0xaa, 0xbb, 0xcc, 0xdd], L.kvm_run.mmio_data);
    const w = view.decode();
    expect(w).toMatchObject({ kind: 'mmio-write', address: 0xfec0_0010, size: 4 });
    expect([...(w as { data: Uint8Array }).data]).toEqual([0xaa, 0xbb, 0xcc, 0xdd]);
    bytes[L.kvm_run.mmio_is_write] = 0;
    expect(view.decode()).toMatchObject({ kind: 'mmio-read', address: 0xfec0_0010, size: 4 });
  });

  it.each([
    ['KVM_EXIT_HLT', 'hlt'], ['KVM_EXIT_SHUTDOWN', 'shutdown'], ['KVM_EXIT_INTR', 'intr'],
    ['KVM_EXIT_IRQ_WINDOW_OPEN', 'irq-window-open'], ['KVM_EXIT_DEBUG', 'debug'],
  ] as const)('%s → %s', (reason, kind) => {
    const { view, dv } = page();
    dv.setUint32(L.kvm_run.exit_reason, C[reason], true);
    expect(view.decode()).toEqual({ kind });
  });

  it('KVM_EXIT_IOAPIC_EOI carries the vector; FAIL_ENTRY and INTERNAL_ERROR their fields', () => {
    const { view, dv, bytes } = page();
    dv.setUint32(L.kvm_run.exit_reason, C.KVM_EXIT_IOAPIC_EOI, true);
    bytes[L.kvm_run.eoi_vector] = 0x31;
    expect(view.decode()).toEqual({ kind: 'ioapic-eoi', vector: 0x31 });
    dv.setUint32(L.kvm_run.exit_reason, C.KVM_EXIT_FAIL_ENTRY, true);
    dv.setBigUint64(L.kvm_run.fail_entry_hardware_entry_failure_reason, 0x80000021n, true);
    dv.setUint32(L.kvm_run.fail_entry_cpu, 1, true);
    expect(view.decode()).toEqual({ kind: 'fail-entry', hardwareEntryFailureReason: 0x80000021n, cpu: 1 });
    dv.setUint32(L.kvm_run.exit_reason, C.KVM_EXIT_INTERNAL_ERROR, true);
    dv.setUint32(L.kvm_run.internal_suberror, 1, true);
    dv.setUint32(L.kvm_run.internal_ndata, 2, true);
    dv.setBigUint64(L.kvm_run.internal_data, 7n, true);
    dv.setBigUint64(L.kvm_run.internal_data + 8, 8n, true);
    expect(view.decode()).toEqual({ kind: 'internal-error', suberror: 1, data: [7n, 8n] });
  });

  it('an exit reason the VMM does not know decodes as unknown, never throws', () => {
    const { view, dv } = page();
    dv.setUint32(L.kvm_run.exit_reason, 0xdead, true);
    expect(view.decode()).toEqual({ kind: 'unknown', exitReason: 0xdead });
  });

  it('sync regs round-trip through the page and mark the dirty bit', () => {
    const { view } = page();
    const regs = view.readSyncRegs();
    regs.rip = 0x100000n;
    regs.rax = 0x2badb002n;
    view.writeSyncRegs(regs);
    expect(view.readSyncRegs()).toMatchObject({ rip: 0x100000n, rax: 0x2badb002n });
    expect(view.dirtyRegs & BigInt(C.KVM_SYNC_X86_REGS)).not.toBe(0n);
  });
});

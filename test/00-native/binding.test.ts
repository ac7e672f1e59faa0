/**
 * The addon on its own: errno-carrying errors with the ioctl's name,
 * argument checking that throws instead of crashing, the ABI offsets,
 * mappings, eventfds, the poller and the kick.
 */
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import {
  bindingPath, kvmUnavailableReason, tryLoadBinding, type NativeBinding, type NativeHandle,
} from '../../src/native/binding.js';
import { nativeSkipSuffix } from '../helpers/backends.js';
import { distBuilt, runChild } from '../helpers/child.js';

const b = tryLoadBinding() as NativeBinding;
const kvmReason = b ? kvmUnavailableReason() : 'native addon not built';
const handles: NativeHandle[] = [];
const track = <H extends NativeHandle>(h: H): H => { handles.push(h); return h; };

afterEach(() => {
  while (handles.length) handles.pop()!.close();
});

/**
 * Waits for `cond` on macrotasks (a poll every few ms), not on a promise the
 * native callback resolves: the poller's thread-safe function calls back
 * with napi_call_function, after which Node need not run microtasks until
 * the next macrotask, so a test awaiting a promise resolved there could sit
 * until its timeout with the callback long done (seen under load).
 */
async function until(cond: () => boolean, ms = 30_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 2));
  }
  return true;
}

function thrown(fn: () => unknown): Record<string, unknown> {
  try {
    fn();
  } catch (e) {
    return e as Record<string, unknown>;
  }
  throw new Error('expected a throw');
}

describe.skipIf(!b)(`native addon without /dev/kvm${nativeSkipSuffix()}`, () => {
  it('reports the N-API version it was built for (8: loads on Node 18+)', () => {
    expect(b.napiVersion).toBe(8);
  });

  it('kvm_run offsets match the kernel ABI', () => {
    const r = b.layout.kvm_run;
    expect(r.request_interrupt_window).toBe(0);
    expect(r.immediate_exit).toBe(1);
    expect(r.exit_reason).toBe(8);
    expect(r.exit_union).toBe(32);
    expect(r.io_direction).toBe(32);
    expect(r.io_size).toBe(33);
    expect(r.io_port).toBe(34);
    expect(r.io_count).toBe(36);
    expect(r.io_data_offset).toBe(40);
    expect(r.mmio_phys_addr).toBe(32);
    expect(r.mmio_data).toBe(40);
    expect(r.mmio_len).toBe(48);
    expect(r.mmio_is_write).toBe(52);
    expect(b.layout.kvm_regs.rip).toBe(128);
    expect(b.layout.kvm_regs.size).toBe(144);
    expect(b.layout.kvm_segment.size).toBe(24);
  });

  it.skipIf(!distBuilt())('the layout and constants the exit path reads have fast properties (frozen copies, not the addon\'s dictionary-mode objects)', () => {
    // %HasFastProperties needs --allow-natives-syntax, so a child asks. The addon's own objects of
    // 31 offsets and 67 constants are in dictionary mode: every load on the exit path a hash lookup.
    const r = runChild(`
      const { tryLoadBinding } = await import(BINDING);
      const b = tryLoadBinding();
      console.log(JSON.stringify([%HasFastProperties(b.layout), %HasFastProperties(b.layout.kvm_run), %HasFastProperties(b.constants),
        Object.isFrozen(b.layout.kvm_run), Object.isFrozen(b.constants)]));`, { nodeArgs: ['--allow-natives-syntax'] });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual([true, true, true, true, true]);
    expect(b.layout.kvm_run.io_port).toBe(34);
  });

  it('a closed handle answers EBADF with errno and the syscall, like a Node system error', () => {
    const e = b.eventfd(0, b.constants.EFD_NONBLOCK);
    e.close();
    e.close();
    expect(e.closed).toBe(true);
    expect(e.fd).toBe(-1);
    const err = thrown(() => b.eventfdWrite(e, 1));
    expect(err).toMatchObject({ code: 'EBADF', errno: 9, syscall: 'write' });
    expect(err).toBeInstanceOf(Error);
  });

  it('a handle of the wrong kind, a forged or a foreign object is refused before any ioctl', () => {
    const e = track(b.eventfd(0, b.constants.EFD_NONBLOCK));
    const HandleClass = (b as unknown as { NativeHandle: new () => unknown; }).NativeHandle;
    expect(thrown(() => b.run(e as never))).toMatchObject({ code: 'ERR_INVALID_ARG' });
    expect(thrown(() => b.getApiVersion(e as never))).toMatchObject({ code: 'ERR_INVALID_ARG' });
    expect(thrown(() => b.run({ kind: 'vcpu', fd: e.fd } as never))).toMatchObject({ code: 'ERR_INVALID_ARG' });
    expect(thrown(() => b.run(Object.create(HandleClass.prototype) as never))).toMatchObject({ code: 'ERR_INVALID_ARG' });
    expect(thrown(() => new HandleClass())).toMatchObject({ code: 'ERR_INVALID_ARG' });
    expect(thrown(() => b.irqfd(e as never, e, 0, 0, null))).toMatchObject({ code: 'ERR_INVALID_ARG' });
  });

  it('handles are disposable (Symbol.dispose closes)', () => {
    const dispose = (Symbol as { dispose?: symbol }).dispose;
    if (!dispose) return;
    const e = b.eventfd(0, 0) as unknown as Record<symbol, () => void> & NativeHandle;
    e[dispose]!();
    expect(e.closed).toBe(true);
  });

  it.each([
    ['a number for a handle', () => b.eventfdRead(3 as never)],
    ['no arguments', () => (b.createVm as unknown as () => number)()],
    ['a negative size', () => b.mmapAnonymous(-1)],
    ['a size larger than an ArrayBuffer can be', () => b.mmapAnonymous(2 ** 53)],
    ['a fractional poller token', () => b.pollerAdd(track(b.pollerCreate(() => {})), track(b.eventfd(0, 0)), 1.5, [])],
    ['unknown eventfd flags', () => b.eventfd(0, 0x4000_0000)],
    ['a non-function poller callback', () => b.pollerCreate(1 as never)],
    ['a buffer not from mmapAnonymous', () => b.munmap(new ArrayBuffer(4096))],
  ])('%s throws ERR_INVALID_ARG and does not crash', (_name, fn) => {
    expect(thrown(fn)).toMatchObject({ code: 'ERR_INVALID_ARG' });
  });

  it('mmapAnonymous gives zeroed memory; munmap detaches and is idempotent', () => {
    const buf = b.mmapAnonymous(8192);
    const u8 = new Uint8Array(buf);
    expect(u8.length).toBe(8192);
    expect(u8.every((x) => x === 0)).toBe(true);
    u8[100] = 7;
    b.munmap(buf);
    expect(buf.byteLength).toBe(0);
    b.munmap(buf);
  });

  it('eventfd: write adds, read returns and resets, an empty read is null', () => {
    const c = b.constants;
    const fd = track(b.eventfd(0, c.EFD_CLOEXEC | c.EFD_NONBLOCK));
    expect(fd.kind).toBe('eventfd');
    expect(fd.fd).toBeGreaterThan(2);
    expect(b.eventfdRead(fd)).toBeNull();
    b.eventfdWrite(fd, 2);
    b.eventfdWrite(fd, 3n);
    expect(b.eventfdRead(fd)).toBe(5n);
    expect(b.eventfdRead(fd)).toBeNull();
  });

  it('the poller calls back on the JS thread with the token after a write', async () => {
    const c = b.constants;
    const fd = track(b.eventfd(0, c.EFD_CLOEXEC | c.EFD_NONBLOCK));
    const tokens: number[] = [];
    const p = b.pollerCreate((t) => { tokens.push(t); });
    try {
      b.pollerAdd(p, fd, 42, []);
      b.eventfdWrite(fd, 1);
      expect(await until(() => tokens.length > 0)).toBe(true);
      expect(tokens).toEqual([42]);
      b.pollerRemove(p, fd);
      expect(thrown(() => b.pollerRemove(p, fd))).toMatchObject({ code: 'ENOENT' });
    } finally {
      p.close();
      p.close();
    }
    expect(thrown(() => b.pollerAdd(p, fd, 1, []))).toMatchObject({ code: 'EBADF' });
  });

  it('a watch that kicks nobody is served by this thread\'s event loop itself: never through pollerTake, microtasks run after each call', async () => {
    const c = b.constants;
    const e1 = track(b.eventfd(0, c.EFD_CLOEXEC | c.EFD_NONBLOCK));
    const e2 = track(b.eventfd(0, c.EFD_CLOEXEC | c.EFD_NONBLOCK));
    const seen: string[] = [];
    const p = b.pollerCreate((t) => {
      seen.push(`call ${t}`);
      void Promise.resolve().then(() => seen.push(`microtask ${t}`));
    });
    try {
      b.pollerAdd(p, e1, 5, []);
      b.pollerAdd(p, e2, 6, []);
      b.eventfdWrite(e1, 1);
      b.eventfdWrite(e2, 1);
      // Synchronously, for a while: nothing is handed over here, and nothing is called yet.
      const end = Date.now() + 50;
      const taken: number[] = [];
      while (Date.now() < end) taken.push(...b.pollerTake(p));
      expect(taken).toEqual([]);
      expect(seen).toEqual([]);
      expect(await until(() => seen.length === 4)).toBe(true);
      expect(seen).toEqual(['call 5', 'microtask 5', 'call 6', 'microtask 6']);
    } finally {
      p.close();
    }
  });

  it('a callback that closes its own poller ends the calls; what was ready is not called after', async () => {
    const c = b.constants;
    const e1 = track(b.eventfd(0, c.EFD_CLOEXEC | c.EFD_NONBLOCK));
    const e2 = track(b.eventfd(0, c.EFD_CLOEXEC | c.EFD_NONBLOCK));
    const called: number[] = [];
    const p = b.pollerCreate((t) => { called.push(t); p.close(); });
    b.pollerAdd(p, e1, 1, []);
    b.pollerAdd(p, e2, 2, []);
    b.eventfdWrite(e1, 1);
    b.eventfdWrite(e2, 1);
    expect(await until(() => called.length > 0)).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    expect(called.length).toBe(1);
    expect(p.closed).toBe(true);
  });

  it('a worker that loaded the addon and ended leaves this thread\'s poller working', async () => {
    // vCPU threads load the addon too; their teardown once closed every poller of the process.
    const c = b.constants;
    const fd = track(b.eventfd(0, c.EFD_CLOEXEC | c.EFD_NONBLOCK));
    const tokens: number[] = [];
    const p = b.pollerCreate((t) => { tokens.push(t); });
    try {
      const w = new Worker(`const a = require(${JSON.stringify(bindingPath())}); a.eventfd(0, 0).close();`, { eval: true });
      await new Promise<void>((res, rej) => { w.on('exit', () => res()); w.on('error', rej); });
      b.pollerAdd(p, fd, 7, []);
      b.eventfdWrite(fd, 1);
      expect(await until(() => tokens.length > 0)).toBe(true);
      expect(tokens).toEqual([7]);
    } finally {
      p.close();
    }
  });
});

describe.skipIf(!b || kvmReason !== null)(`native addon on /dev/kvm${kvmReason ? ` (skipped: ${kvmReason})` : ''}`, () => {
  const PAGE = 0x1000;

  /** A VM with 64 KiB at 0 and vCPU 0 in real mode at 0x1000 running `code`. */
  function realModeGuest(code: number[]) {
    const kvm = track(b.openKvm());
    const vm = track(b.createVm(kvm, 0));
    b.setTssAddr(vm, 0xfffb_d000);
    const mem = b.mmapAnonymous(0x10000);
    b.setUserMemoryRegion(vm, 0, 0, 0, 0x10000, mem, 0);
    new Uint8Array(mem).set(code, PAGE);
    const vcpu = track(b.createVcpu(vm, 0));
    const run = b.vcpuRunBuffer(vcpu);
    expect(run.byteLength).toBe(b.getVcpuMmapSize(kvm));
    const s = b.getSregs(vcpu);
    s.cs = { ...s.cs, base: 0n, selector: 0 };
    b.setSregs(vcpu, s);
    const r = b.getRegs(vcpu);
    r.rip = BigInt(PAGE);
    r.rflags = 2n;
    b.setRegs(vcpu, r);
    return { kvm, vm, vcpu, mem, run, dv: new DataView(run), bytes: new Uint8Array(run) };
  }

  it('API version 12 and the capabilities the VMM needs', () => {
    const kvm = track(b.openKvm());
    expect(b.getApiVersion(kvm)).toBe(12);
    expect(b.checkExtension(kvm, b.constants.KVM_CAP_IRQ_ROUTING)).toBeGreaterThan(0);
    expect(b.checkExtension(kvm, b.constants.KVM_CAP_SPLIT_IRQCHIP)).toBe(1);
    expect(b.getVcpuMmapSize(kvm)).toBeGreaterThanOrEqual(4096);
    expect(b.getSupportedCpuid!(kvm).length).toBeGreaterThan(2);
  });

  it('a real-mode guest: out exits with KVM_EXIT_IO at the data offset, then hlt', () => {
    const g = realModeGuest([
      0xb0, 0x42, // mov al, 0x42
      0xe6, 0x10, // out 0x10, al
      0xf4, //       hlt
    ]);
    const L = b.layout.kvm_run;
    expect(b.run(g.vcpu)).toBe(0);
    expect(g.dv.getUint32(L.exit_reason, true)).toBe(b.constants.KVM_EXIT_IO);
    expect(g.bytes[L.io_direction]).toBe(b.constants.KVM_EXIT_IO_OUT);
    expect(g.dv.getUint16(L.io_port, true)).toBe(0x10);
    expect(g.bytes[Number(g.dv.getBigUint64(L.io_data_offset, true))]).toBe(0x42);
    // The bound runner is run() with the handle checked once.
    const run = b.vcpuRunner(g.vcpu);
    expect(run()).toBe(0);
    expect(g.dv.getUint32(L.exit_reason, true)).toBe(b.constants.KVM_EXIT_HLT);
    // The slot holds the memory: munmap is refused until the slot is deleted.
    expect(thrown(() => b.munmap(g.mem))).toMatchObject({ code: 'ERR_MAPPING_IN_USE' });
    b.setUserMemoryRegion(g.vm, 0, 0, 0, 0, null, 0);
    b.munmap(g.mem);
    g.vcpu.close();
    expect(g.run.byteLength).toBe(0);
    expect(thrown(() => run())).toMatchObject({ code: 'EBADF', syscall: 'KVM_RUN' });
  });

  it('a second vCPU with the same id is EEXIST; an overlapping slot is EEXIST; an unaligned size is EINVAL', () => {
    const g = realModeGuest([0xf4]);
    expect(thrown(() => b.createVcpu(g.vm, 0))).toMatchObject({ code: 'EEXIST', syscall: 'KVM_CREATE_VCPU' });
    const other = b.mmapAnonymous(0x2000);
    expect(thrown(() => b.setUserMemoryRegion(g.vm, 1, 0, 0xf000, 0x2000, other, 0))).toMatchObject({ code: 'EEXIST' });
    expect(thrown(() => b.setUserMemoryRegion(g.vm, 1, 0, 0x20000, 0x1800, other, 0))).toMatchObject({ code: 'EINVAL', syscall: 'KVM_SET_USER_MEMORY_REGION' });
    b.munmap(other);
    expect(thrown(() => b.run(g.vm as never))).toMatchObject({ code: 'ERR_INVALID_ARG' });
  });

  it('sync regs: with KVM_SYNC_X86_REGS valid, kvm_run carries the registers at every exit', () => {
    const g = realModeGuest([0xb8, 0x34, 0x12, 0xe6, 0x10, 0xf4]); // mov ax, 0x1234; out 0x10, al; hlt
    const L = b.layout;
    g.dv.setBigUint64(L.kvm_run.kvm_valid_regs, BigInt(b.constants.KVM_SYNC_X86_REGS), true);
    b.run(g.vcpu);
    const at = L.kvm_run.sync_regs + L.kvm_sync_regs.regs;
    expect(g.dv.getBigUint64(at + L.kvm_regs.rax, true) & 0xffffn).toBe(0x1234n);
    expect(g.dv.getBigUint64(at + L.kvm_regs.rip, true)).toBe(b.getRegs(g.vcpu).rip);
  });

  it('pollerTake hands a kicking watch\'s ready tokens over at once, each once and in order, and they are not called back', async () => {
    const g = realModeGuest([0xf4]);
    const c = b.constants;
    const e1 = track(b.eventfd(0, c.EFD_CLOEXEC | c.EFD_NONBLOCK));
    const e2 = track(b.eventfd(0, c.EFD_CLOEXEC | c.EFD_NONBLOCK));
    const called: number[] = [];
    const p = b.pollerCreate((t) => { called.push(t); });
    const takeSoon = (n: number): number[] => {
      // Synchronously, as a vCPU's thread does after a kick: the callback cannot run meanwhile.
      const got: number[] = [];
      const end = Date.now() + 10_000;
      while (got.length < n && Date.now() < end) got.push(...b.pollerTake(p));
      return got;
    };
    try {
      // Kicking a vCPU puts them in the poller thread's set (the vCPU is not running: a kick only
      // sets immediate_exit).
      b.pollerAdd(p, e1, 5, [g.vcpu]);
      b.pollerAdd(p, e2, 6, [g.vcpu]);
      expect(b.pollerTake(p)).toEqual([]);
      b.eventfdWrite(e1, 1);
      expect(takeSoon(1)).toEqual([5]);
      b.eventfdWrite(e2, 1);
      b.eventfdWrite(e1, 1); // a second edge on e1 while 5 is queued again behind 6
      expect(takeSoon(2)).toEqual([6, 5]);
      await new Promise((r) => setTimeout(r, 50));
      expect(called).toEqual([]); // taken: the queued call finds nothing
      // Not taken: the event loop delivers it as before.
      b.eventfdWrite(e2, 1);
      expect(await until(() => called.length > 0)).toBe(true);
      expect(called).toEqual([6]);
      expect(b.pollerTake(p)).toEqual([]);
    } finally {
      p.close();
    }
    expect(b.pollerTake(p)).toEqual([]);
  });

  it('kick from the poller thread brings a spinning vCPU out of KVM_RUN with EINTR', () => {
    const g = realModeGuest([0xeb, 0xfe]); // jmp $
    const c = b.constants;
    const efd = track(b.eventfd(0, c.EFD_CLOEXEC | c.EFD_NONBLOCK));
    const p = b.pollerCreate(() => {});
    try {
      b.pollerAdd(p, efd, 1, [g.vcpu]);
      b.eventfdWrite(efd, 1);
      // The poller thread kicks (immediate_exit + signal); run returns -EINTR either way.
      expect(b.run(g.vcpu)).toBe(-4);
      expect(g.bytes[b.layout.kvm_run.immediate_exit]).toBe(1);
      g.bytes[b.layout.kvm_run.immediate_exit] = 0;
      // A direct kick works the same from this thread.
      b.kick(g.vcpu);
      expect(b.run(g.vcpu)).toBe(-4);
    } finally {
      p.close();
    }
  });
});

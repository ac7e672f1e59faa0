/**
 * Issue 7's twelve findings: calls a careless or hostile user of the addon
 * (or a bug in our own TypeScript) could make, each reproduced in a child
 * process. Each must now end in a JS error or the correct result: never a
 * signal, an abort or a hang. Those that need a vCPU skip, with the reason in
 * their names, where /dev/kvm is not usable.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { kvmUnavailableReason, tryLoadBinding } from '../../src/native/binding.js';
import { distBuilt, realModeGuestSource, runChild, type ChildResult } from '../helpers/child.js';
import { nativeSkipSuffix } from '../helpers/backends.js';

const b = tryLoadBinding();
const kvmReason = b ? kvmUnavailableReason() : 'native addon not built';
const onKvm = kvmReason === null;
const needKvm = onKvm ? '' : ` (skipped: ${kvmReason})`;
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The hard limit on open files: fd numbers above 65535 exist only where it allows them. */
const HARD_NOFILE = (() => {
  try {
    const hard = /^Max open files\s+\S+\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
    return hard === 'unlimited' ? Infinity : Number(hard ?? 0) || 0;
  } catch {
    return 0;
  }
})();
const HIGH_FDS = HARD_NOFILE >= 70000;

/** The child printed `ok` and ended normally: no signal, no abort, no deadline. */
function expectOk(r: ChildResult, what = 'ok'): void {
  const detail = `status ${r.status}, signal ${r.signal}, timed out ${r.timedOut}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
  expect(r.timedOut, detail).toBe(false);
  expect(r.signal, detail).toBeNull();
  expect(r.status, detail).toBe(0);
  expect(r.stdout, detail).toContain(what);
}

/** A child script that loads the raw addon as `b` and defines `code(fn)` (the thrown error's code, or 'none'). */
const RAW = `
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const b = require(ADDON);
const code = (fn) => { try { fn(); return 'none'; } catch (e) { return e.code ?? String(e); } };
`;

// Real-mode code: cli; hlt -- with the split irqchip the vCPU then sleeps inside KVM_RUN for good.
const HALT_FOREVER = [0xfa, 0xf4, 0xeb, 0xfd];
// mov byte [0x2000], 0xaa ... (fills 0x2000..0x20ff with 0xaa through rep stosb); hlt.
const FILL_2000 = [
  0x31, 0xc0, 0x8e, 0xc0, //       xor ax, ax; mov es, ax
  0xbf, 0x00, 0x20, //             mov di, 0x2000
  0xb9, 0x00, 0x01, //             mov cx, 0x100
  0xb0, 0xaa, //                   mov al, 0xaa
  0xfc, 0xf3, 0xaa, //             cld; rep stosb
  0xf4, //                         hlt
];

describe.skipIf(!b)(`issue 7 findings, each in a child process${nativeSkipSuffix()}`, () => {
  it('1. mmapAnonymous of more than an ArrayBuffer can hold throws a RangeError; no double free', () => {
    expectOk(runChild(`${RAW}
      const c = code(() => b.mmapAnonymous(2 ** 32 + 4096));
      const again = code(() => b.mmapAnonymous(2 ** 40));
      const small = new Uint8Array(b.mmapAnonymous(4096)); small[0] = 1;
      console.log(c === 'ERR_INVALID_ARG' && again === 'ERR_INVALID_ARG' && small[0] === 1 && b.mmapVcpu === undefined ? 'ok' : c);
    `));
  });

  it('2. only a vCPU handle can be mapped or kicked; an fd number, a file or an eventfd cannot', () => {
    expectOk(runChild(`${RAW}
      import { openSync } from 'node:fs';
      const file = openSync(process.execPath, 'r');
      const e = b.eventfd(0, 0);
      const codes = [code(() => b.vcpuRunBuffer(file)), code(() => b.vcpuRunBuffer(e)), code(() => b.kick(file)), code(() => b.kick(e)),
        code(() => b.vcpuRunner(file)), code(() => b.vcpuRunner(e))];
      console.log(codes.every((c) => c === 'ERR_INVALID_ARG') ? 'ok' : codes.join());
    `));
  });

  it.skipIf(!onKvm)(`2. a vCPU's kvm_run buffer has exactly KVM_GET_VCPU_MMAP_SIZE bytes and is detached at close${needKvm}`, () => {
    expectOk(runChild(`${RAW}${realModeGuestSource([0xf4])}
      const run = b.vcpuRunBuffer(vcpu);
      const size = b.getVcpuMmapSize(kvm);
      const same = b.vcpuRunBuffer(vcpu) === run;
      vcpu.close();
      console.log(run.byteLength === 0 && same && size >= 4096 && code(() => b.vcpuRunBuffer(vcpu)) === 'EBADF' ? 'ok' : 'bad');
    `));
  });

  it.skipIf(!onKvm)(`3. kicks after the vCPU's worker ended signal no thread, and the kick is not lost${needKvm}`, () => {
    expectOk(runChild(`${RAW}${realModeGuestSource([0xf4, 0xeb, 0xfd])}
      import { Worker } from 'node:worker_threads';
      const id = b.vcpuShareId(vcpu);
      const w = new Worker('const b = require(process.env.ADDON_PATH); const v = b.attachVcpu(' + id + '); b.run(v); v.close();', { eval: true, execArgv: [], env: { ADDON_PATH: ADDON } });
      await new Promise((r) => w.on('exit', r));
      for (let i = 0; i < 1000; i++) b.kick(vcpu);
      // The kick is remembered in immediate_exit: the next run comes straight back with -EINTR.
      console.log(b.run(vcpu) === -4 ? 'ok' : 'bad');
    `));
  });

  it('4. a poller whose thread cannot be created throws; nothing aborts', () => {
    // The address-space limit leaves room for this process, not for another thread's 8 MiB stack.
    expectOk(runChild(`${RAW}
      import { execFileSync } from 'node:child_process';
      import { readFileSync } from 'node:fs';
      const vm = Number(/VmSize:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
      execFileSync('prlimit', ['--pid', String(process.pid), '--as=' + (vm + 4 * 1024 * 1024)]);
      const codes = [];
      for (let i = 0; i < 3; i++) {
        try { const p = b.pollerCreate(() => {}); codes.push('created'); p.close(); } catch (e) { codes.push(e.code); }
      }
      console.log(codes.includes('EAGAIN') || codes.includes('ENOMEM') ? 'ok' : codes.join());
    `));
  });

  it.skipIf(!onKvm)(`5. kicks racing with the vCPU's close never touch unmapped memory${needKvm}`, () => {
    expectOk(runChild(`${RAW}
      import { Worker } from 'node:worker_threads';
      const kvm = b.openKvm();
      const vm = b.createVm(kvm, 0);
      for (let round = 0; round < 50; round++) {
        const vcpu = b.createVcpu(vm, round);
        const id = b.vcpuShareId(vcpu);
        const w = new Worker('const { parentPort } = require("node:worker_threads"); const b = require(process.env.ADDON_PATH); const v = b.attachVcpu(' + id + '); parentPort.postMessage("attached"); const t = Date.now(); while (Date.now() - t < 20) b.kick(v); v.close();', { eval: true, execArgv: [], env: { ADDON_PATH: ADDON } });
        await new Promise((r) => w.once('message', r));
        await new Promise((r) => setTimeout(r, round % 5));
        vcpu.close();
        await new Promise((r, j) => { w.on('exit', r); w.on('error', j); });
      }
      console.log('ok');
    `, { timeoutMs: 60_000 }));
  });

  it.skipIf(!onKvm)(`6. a memory slot keeps its mapping: munmap is refused, and a collected buffer stays mapped for the guest${needKvm}`, () => {
    expectOk(runChild(`${RAW}${realModeGuestSource(FILL_2000)}
      const refused = code(() => b.munmap(mem));
      mem = null;
      for (let i = 0; i < 5; i++) { globalThis.gc(); await new Promise((r) => setImmediate(r)); }
      const fresh = Array.from({ length: 64 }, () => new Uint8Array(b.mmapAnonymous(0x10000)));
      const r = b.run(vcpu);
      const landed = fresh.some((f) => f.some((x) => x === 0xaa));
      console.log(refused === 'ERR_MAPPING_IN_USE' && r === 0 && !landed ? 'ok' : refused + ' ' + r + ' ' + landed);
    `, { nodeArgs: ['--expose-gc'] }));
  });

  /** Child-script source: the kvm backend's vCPU 0 asleep in KVM_RUN on its own (native) thread, as `vm`, `v`, `running`. */
  const haltedOnThread = (binding: string): string => `
      const { KvmHypervisor } = await import(${binding}.replace('native/binding.js', 'backend/kvm/index.js'));
      const hv = new KvmHypervisor();
      const vm = hv.createVm();
      vm.setTssAddr(0xfffbd000);
      vm.enableCap('KVM_CAP_SPLIT_IRQCHIP', [24]);
      const ram = vm.allocateMemory(0x10000);
      vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x10000, memory: ram });
      ram.bytes.set(${JSON.stringify(HALT_FOREVER)}, 0x1000);
      const v = vm.createVcpu(0);
      const s = v.getSregs(); v.setSregs({ ...s, cs: { ...s.cs, base: 0n, selector: 0 } });
      v.setRegs({ ...v.getRegs(), rip: 0x1000n, rflags: 2n });
      const running = v.runOnThread();
      await new Promise((r) => setTimeout(r, 200));
  `;

  it.skipIf(!onKvm || !distBuilt())(`6. closing the VM while a vCPU sleeps in KVM_RUN on its thread unmaps nothing under it${needKvm}`, () => {
    expectOk(runChild(`${haltedOnThread('BINDING')}
      vm.close();
      const exit = await running;
      hv.close();
      console.log(exit.kind === 'intr' ? 'ok' : JSON.stringify(exit));
    `));
  });

  describe.skipIf(!onKvm || !distBuilt())(`7. a worker halted in KVM_RUN never holds the process${needKvm}`, () => {
    const halted = `
      const { loadBinding } = await import(BINDING);
      const b = loadBinding();
      const { Worker } = await import('node:worker_threads');
      ${realModeGuestSource(HALT_FOREVER, { split: true })}
      globalThis.keep = [kvm, vm, vcpu]; // owner handles: dropped, the collector would close them
      const w = new Worker('const { parentPort } = require("node:worker_threads"); const b = require(process.env.ADDON_PATH); const v = b.attachVcpu(' + b.vcpuShareId(vcpu) + '); parentPort.postMessage("attached"); for (;;) b.run(v);', { eval: true, execArgv: [], env: { ADDON_PATH: ADDON } });
      // Attached, and then given time to enter KVM_RUN and fall asleep there.
      await new Promise((r) => w.once('message', r));
      await new Promise((r) => setTimeout(r, 200));
      console.log('ok: halted');
    `;
    it.each([
      ['process.exit()', 'process.exit(0);', 0],
      ['an uncaught exception', 'setTimeout(() => { throw new Error("boom"); });', 1],
      ['the end of the main script', 'w.unref();', 0],
      ['worker.terminate()', 'await w.terminate(); console.log("terminated"); process.exitCode = 0; w.unref();', 0],
    ])('%s', (_name, ending, status) => {
      const r = runChild(halted + ending, { timeoutMs: 15_000 });
      expect(r.timedOut, r.stderr).toBe(false);
      expect(r.signal).toBeNull();
      expect(r.status).toBe(status);
      expect(r.stdout).toContain('ok: halted');
    });
  });

  it.skipIf(!onKvm || !distBuilt())(`7. process.exit() with a backend vCPU asleep in KVM_RUN on its own thread${needKvm}`, () => {
    const r = runChild(`${haltedOnThread('BINDING')}
      console.log('ok: halted');
      process.exit(0);
    `, { timeoutMs: 15_000 });
    expectOk(r, 'ok: halted');
  });

  it.skipIf(!onKvm || !distBuilt())(`7. a worker running a VMM, terminated by a parent that never loaded the addon, ends: its vCPU threads stop at its teardown${needKvm}`, () => {
    const inner = `(async () => {
      const { parentPort } = require('node:worker_threads');
      ${haltedOnThread(JSON.stringify('BINDING_URL'))}
      parentPort.postMessage('halted');
    })();`;
    const r = runChild(`
      import { Worker } from 'node:worker_threads';
      const src = ${JSON.stringify('__INNER__')}.replace('BINDING_URL', BINDING);
      const w = new Worker(src, { eval: true, execArgv: [], env: { ...process.env } });
      await new Promise((r, j) => { w.once('message', r); w.once('error', j); });
      await w.terminate();
      console.log('ok: terminated');
    `.replace(JSON.stringify('__INNER__'), JSON.stringify(inner)), { timeoutMs: 15_000 });
    expectOk(r, 'ok: terminated');
  });

  it.skipIf(!onKvm || !distBuilt())(`7. a worker that runs a VMM and ends is not held by its own vCPU worker halted in KVM_RUN${needKvm}`, () => {
    // An eval worker is a CommonJS script: an async function instead of top-level await.
    const inner = `(async () => {
      const { loadBinding } = await import(${JSON.stringify('BINDING_URL')});
      const b = loadBinding();
      const { Worker } = await import('node:worker_threads');
      ${realModeGuestSource(HALT_FOREVER, { split: true })}
      globalThis.keep = [kvm, vm, vcpu]; // owner handles: dropped, the collector would close them
      const w = new Worker('const { parentPort } = require("node:worker_threads"); const b = require(process.env.ADDON_PATH); const v = b.attachVcpu(' + b.vcpuShareId(vcpu) + '); parentPort.postMessage("attached"); for (;;) b.run(v);', { eval: true, execArgv: [], env: { ADDON_PATH: process.env.ADDON_PATH } });
      await new Promise((r) => w.once('message', r));
      await new Promise((r) => setTimeout(r, 200));
      w.unref();
    })();`;
    const r = runChild(`
      import { Worker } from 'node:worker_threads';
      const src = ${JSON.stringify('__INNER__')}.replace('BINDING_URL', BINDING);
      // The VMM worker's loader must pick the same addon file as its vCPU worker (TSVMM_NATIVE, as under test:sanitize).
      const vmmWorker = new Worker(src, { eval: true, execArgv: [], env: { ADDON_PATH: ADDON, TSVMM_NATIVE: ADDON } });
      const code = await new Promise((r, j) => { vmmWorker.on('exit', r); vmmWorker.on('error', j); });
      console.log('ok: the VMM worker ended with ' + code);
    `.replace(JSON.stringify('__INNER__'), JSON.stringify(inner)), { timeoutMs: 15_000 });
    expectOk(r, 'ok: the VMM worker ended with 0');
  });

  it.skipIf(!onKvm)(`8. vCPUs are kicked by handle: a reused fd number${HIGH_FDS ? ', or one above 65535,' : ''} changes nothing${needKvm}${HIGH_FDS ? '' : ` (fd numbers above 65535 not tried: the hard RLIMIT_NOFILE here is ${HARD_NOFILE})`}`, () => {
    expectOk(runChild(`${RAW}
      const kvm = b.openKvm();
      const vm = b.createVm(kvm, 0);
      const a = b.createVcpu(vm, 0);
      const fdA = a.fd;
      a.close();
      const c = b.createVcpu(vm, 1);
      const reused = c.fd === fdA;
      b.kick(c);
      const kickedC = b.run(c) === -4;
      const oldA = code(() => b.run(a));
      let kickedHigh = true, highFd = -1;
      if (${HIGH_FDS}) {
        // Push the next vCPU's fd number past 65535.
        const keep = [];
        while (true) { const e = b.eventfd(0, 0); keep.push(e); if (e.fd > 65540) break; }
        const high = b.createVcpu(vm, 2);
        highFd = high.fd;
        b.kick(high);
        kickedHigh = high.fd > 65536 && b.run(high) === -4;
      }
      console.log(kickedC && oldA === 'EBADF' && kickedHigh ? 'ok' : [reused, kickedC, oldA, highFd, kickedHigh].join());
    `, HIGH_FDS ? { wrap: 'prlimit --nofile=70000 --' } : {}));
  });

  it('9. a second pollerAdd of the same eventfd fails with EEXIST and leaves the first watch whole', () => {
    expectOk(runChild(`${RAW}
      const e = b.eventfd(0, b.constants.EFD_NONBLOCK);
      const tokens = [];
      const p = b.pollerCreate((t) => tokens.push(t));
      b.pollerAdd(p, e, 1, []);
      const dup = code(() => b.pollerAdd(p, e, 2, []));
      b.eventfdWrite(e, 1);
      await new Promise((r) => setTimeout(r, 200));
      p.close();
      console.log(dup === 'EEXIST' && tokens.join() === '1' ? 'ok' : dup + ' ' + tokens.join());
    `));
  });

  it.skipIf(!onKvm)(`9. the first watch's kick list survives a refused duplicate${needKvm}`, () => {
    expectOk(runChild(`${RAW}${realModeGuestSource([0xeb, 0xfe])}
      const e = b.eventfd(0, b.constants.EFD_NONBLOCK);
      const p = b.pollerCreate(() => {});
      b.pollerAdd(p, e, 1, [vcpu]);
      const dup = code(() => b.pollerAdd(p, e, 2, []));
      setTimeout(() => {}, 0);
      b.eventfdWrite(e, 1);
      const r = b.run(vcpu); // spins in the guest until the poller thread kicks it
      p.close();
      console.log(dup === 'EEXIST' && r === -4 ? 'ok' : dup + ' ' + r);
    `));
  });

  it('10. out-of-range values are refused, not truncated (poller token)', () => {
    expectOk(runChild(`${RAW}
      const e = b.eventfd(0, 0);
      const p = b.pollerCreate(() => {});
      const codes = [code(() => b.pollerAdd(p, e, 1.5, [])), code(() => b.pollerAdd(p, e, 2 ** 53, [])), code(() => b.eventfdWrite(e, -1))];
      p.close();
      console.log(codes.every((c) => c === 'ERR_INVALID_ARG') ? 'ok' : codes.join());
    `));
  });

  it.skipIf(!onKvm)(`10. out-of-range segment and descriptor-table fields are refused, not truncated${needKvm}`, () => {
    expectOk(runChild(`${RAW}${realModeGuestSource([0xf4])}
      const s = b.getSregs(vcpu);
      const codes = [
        code(() => b.setSregs(vcpu, { ...s, ds: { ...s.ds, selector: 0x10008 } })),
        code(() => b.setSregs(vcpu, { ...s, gdt: { ...s.gdt, limit: 0x10027 } })),
        code(() => b.setSregs(vcpu, { ...s, cs: { ...s.cs, dpl: 4 } })),
        code(() => b.setSregs(vcpu, { ...s, cs: { ...s.cs, type: 16 } })),
      ];
      const after = b.getSregs(vcpu);
      console.log(codes.every((c) => c === 'ERR_INVALID_ARG') && after.ds.selector === s.ds.selector ? 'ok' : codes.join());
    `));
  });

  it('11. dropped pollers whose callback reaches their handle are collected: threads and fds come back, their event-loop sets too', () => {
    expectOk(runChild(`${RAW}
      import { readdirSync } from 'node:fs';
      const count = () => [readdirSync('/proc/self/task').length, readdirSync('/proc/self/fd').length];
      const settle = async () => { for (let i = 0; i < 10; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 10)); } };
      await settle();
      const [threads0, fds0] = count();
      (() => {
        for (let i = 0; i < 50; i++) {
          const owner = { poller: null };
          owner.poller = b.pollerCreate(() => owner.poller); // the cycle a VM and its poller make
          // Half of them watch an eventfd that kicks nobody: a set the event loop polls, closed with them.
          if (i % 2) b.pollerAdd(owner.poller, b.eventfd(0, 0), 1, []);
        }
      })();
      const [threads1] = count();
      await settle();
      const [threads2, fds2] = count();
      console.log(threads1 >= threads0 + 50 && threads2 <= threads0 + 1 && fds2 <= fds0 + 1 ? 'ok' : [threads0, threads1, threads2, fds0, fds2].join());
    `, { nodeArgs: ['--expose-gc'], timeoutMs: 30_000 }));
  });

  it('a poller callback that throws on the event loop is an uncaught exception; the tokens after it still arrive', () => {
    expectOk(runChild(`${RAW}
      const errors = [];
      process.on('uncaughtException', (e) => errors.push(e.message));
      const e1 = b.eventfd(0, 0), e2 = b.eventfd(0, 0);
      const called = [];
      const p = b.pollerCreate((t) => { called.push(t); if (t === 1) throw new Error('boom ' + t); });
      b.pollerAdd(p, e1, 1, []);
      b.pollerAdd(p, e2, 2, []);
      b.eventfdWrite(e1, 1);
      b.eventfdWrite(e2, 1);
      const end = Date.now() + 5000;
      while (called.length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
      p.close();
      console.log(errors.join() === 'boom 1' && called.sort().join() === '1,2' ? 'ok' : errors.join() + ' / ' + called.join());
    `));
  });

  it('a worker that ends (naturally or terminated) with a poller watching on its event loop ends cleanly', () => {
    expectOk(runChild(`
      import { Worker } from 'node:worker_threads';
      const src = \`
        const b = require(process.env.ADDON_PATH);
        const p = b.pollerCreate(() => {});
        b.pollerAdd(p, b.eventfd(0, 0), 1, []);
        globalThis.keep = p;
        if (process.env.MODE === 'terminate') { require('node:worker_threads').parentPort.postMessage('ready'); setInterval(() => {}, 1000); }
      \`;
      const ended = [];
      for (const mode of ['natural', 'terminate']) {
        const w = new Worker(src, { eval: true, execArgv: [], env: { ADDON_PATH: ADDON, MODE: mode } });
        const exited = new Promise((r, j) => { w.on('exit', r); w.on('error', j); });
        if (mode === 'terminate') w.once('message', () => w.terminate());
        const code = await exited;
        ended.push(mode + ' ' + code);
      }
      console.log(ended.join() === 'natural 0,terminate 1' ? 'ok' : ended.join());
    `, { timeoutMs: 15_000 }));
  });

  it.skipIf(!distBuilt())('11. a backend eventfd dropped without close() is closed by the collector, with a warning naming its kind', () => {
    expectOk(runChild(`
      const { KvmEventFd } = await import(BINDING.replace('native/binding.js', 'backend/kvm/index.js'));
      const { loadBinding } = await import(BINDING);
      const { readdirSync } = await import('node:fs');
      const warnings = [];
      process.on('warning', (w) => warnings.push(w));
      const b = loadBinding();
      const fds0 = readdirSync('/proc/self/fd').length;
      (() => { for (let i = 0; i < 20; i++) new KvmEventFd(b); })();
      for (let i = 0; i < 10; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 10)); }
      const fds1 = readdirSync('/proc/self/fd').length;
      const named = warnings.filter((w) => w.code === 'TSVMM_UNCLOSED_HANDLE' && /eventfd/.test(w.message)).length;
      console.log(fds1 <= fds0 + 1 && named >= 19 ? 'ok' : [fds0, fds1, named].join());
    `, { nodeArgs: ['--expose-gc'] }));
  });

  it.skipIf(!onKvm || !distBuilt())(`11. a VM dropped without close() gives its fds and its kernel VM back${needKvm}`, () => {
    expectOk(runChild(`
      const { KvmHypervisor } = await import(BINDING.replace('native/binding.js', 'backend/kvm/index.js'));
      const { readdirSync } = await import('node:fs');
      const hv = new KvmHypervisor();
      const fds0 = readdirSync('/proc/self/fd').length;
      (() => {
        for (let i = 0; i < 10; i++) {
          const vm = hv.createVm();
          const ram = vm.allocateMemory(0x10000);
          vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x10000, memory: ram });
          vm.createVcpu(0);
          vm.watchEventFd(vm.createEventFd(), () => {});
        }
      })();
      for (let i = 0; i < 20; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 10)); }
      const fds1 = readdirSync('/proc/self/fd').length;
      hv.close();
      console.log(fds1 <= fds0 + 1 ? 'ok' : [fds0, fds1].join());
    `, { nodeArgs: ['--expose-gc', '--no-warnings'] }));
  });

  it('12. the header names of flexible-array ioctls and structs do not compile in the addon', () => {
    // A working C++ compiler: one that compiles an empty translation unit.
    let cxx = '';
    try {
      cxx = execFileSync('sh', ['-c', 'c=$(command -v c++ || command -v g++) && echo "int x;" | "$c" -x c++ -fsyntax-only - && echo "$c"'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch { /* none */ }
    if (!cxx) return expect.soft(true, 'no working C++ compiler: the compile-time guard is checked by every addon build instead').toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'tsvmm-layout-'));
    const addonApi = join(ROOT, 'node_modules', 'node-addon-api');
    const nodeInclude = join(dirname(dirname(process.execPath)), 'include', 'node');
    const compile = (body: string): { ok: boolean; output: string } => {
      const file = join(dir, 'probe.cc');
      writeFileSync(file, `#include "common.h"\n${body}\n`);
      try {
        execFileSync(cxx, ['-std=c++17', '-fsyntax-only', '-DNAPI_VERSION=8', '-DNAPI_CPP_EXCEPTIONS', `-I${join(ROOT, 'native')}`, `-I${addonApi}`, `-I${nodeInclude}`, file], { stdio: 'pipe' });
        return { ok: true, output: '' };
      } catch (e) {
        return { ok: false, output: String((e as { stderr?: Buffer }).stderr ?? '') };
      }
    };
    // The guard itself compiles (and its static_asserts hold), so a failure below is the poison, not the setup.
    expect(compile('unsigned long ok = kvmaddon::kGetMsrs;').ok).toBe(true);
    const banned = ['KVM_GET_MSRS', 'KVM_SET_MSRS', 'KVM_GET_MSR_INDEX_LIST', 'KVM_SET_SIGNAL_MASK', 'KVM_GET_REG_LIST', 'KVM_SET_CPUID2',
      'kvm_msrs', 'kvm_msr_list', 'kvm_signal_mask', 'kvm_reg_list'];
    // One translation unit, one use per line: the compiler reports every poisoned name it meets.
    const r = compile(banned.map((n, i) => n.startsWith('KVM_') ? `unsigned long bad${i} = ${n};` : `unsigned long bad${i} = sizeof(struct ${n});`).join('\n'));
    expect(r.ok).toBe(false);
    for (const n of banned) expect(r.output, n).toMatch(new RegExp(`attempt to use poisoned "${n}"`));
  });
});

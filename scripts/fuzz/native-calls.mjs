#!/usr/bin/env node
// Malformed-call fuzzer over every export of the native addon: wrong types
// and counts, huge, negative and fractional numbers, closed, foreign and
// forged handles, detached buffers, calls after close, receivers that are not
// handles, objects whose getters throw or close things mid-call. Each child
// process makes its share of the calls with its own seed; the parent counts
// the children that died of a signal (the only failure: a thrown error is
// the right answer to a bad call).
//
//   node scripts/fuzz/native-calls.mjs --calls 100000 --children 20 --seed 7
//   node scripts/fuzz/native-calls.mjs --child --calls 500 --seed 3   (one child, in this process)
//
// Prints one summary line: `native-calls: N calls in C children, S signal deaths, ...`.
// Exit status 0 when no child died of a signal or hung, 1 otherwise.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '10000' },
    children: { type: 'string', default: '8' },
    seed: { type: 'string', default: '1' },
    child: { type: 'boolean', default: false },
    addon: { type: 'string', default: process.env.TSVMM_NATIVE ?? join(ROOT, 'build', 'Release', 'kvm.node') },
    'timeout-ms': { type: 'string', default: '60000' },
  },
});
const calls = Number(values.calls);
const seed = Number(values.seed) >>> 0;

if (values.child) {
  await child(values.addon, calls, seed);
} else {
  await parent();
}

async function parent() {
  if (!existsSync(values.addon)) {
    console.log(`native-calls: skipped, the addon is not built (${values.addon})`);
    return;
  }
  const n = Math.max(1, Number(values.children));
  const per = Math.ceil(calls / n);
  const results = [];
  // Two at a time: these machines have two cores.
  for (let i = 0; i < n; i += 2) {
    results.push(...await Promise.all([i, i + 1].filter((k) => k < n).map((k) => runChild(per, seed + k))));
  }
  const deaths = results.filter((r) => r.signal !== null);
  const hangs = results.filter((r) => r.timedOut);
  const errors = results.filter((r) => r.signal === null && !r.timedOut && r.code !== 0);
  const made = results.reduce((s, r) => s + (r.summary?.calls ?? 0), 0);
  const thrown = results.reduce((s, r) => s + (r.summary?.thrown ?? 0), 0);
  const codes = new Set(results.flatMap((r) => r.summary?.codes ?? []));
  console.log(`native-calls: ${made} calls in ${n} children (seeds ${seed}..${seed + n - 1}), ${deaths.length} signal deaths, ${hangs.length} hangs, ${errors.length} other failures; ${thrown} calls threw, codes ${[...codes].sort().join(' ')}`);
  for (const r of [...deaths, ...hangs, ...errors]) {
    console.log(`  seed ${r.seed}: code ${r.code} signal ${r.signal} timed out ${r.timedOut}; last call: ${r.last}\n${r.stderr.split('\n').slice(-8).join('\n')}`);
  }
  process.exitCode = deaths.length || hangs.length || errors.length ? 1 : 0;
}

function runChild(n, s) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--child', '--calls', String(n), '--seed', String(s), '--addon', values.addon], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    let timedOut = false;
    const t = setTimeout(() => { timedOut = true; p.kill('SIGKILL'); }, Number(values['timeout-ms']));
    p.on('close', (code, signal) => {
      clearTimeout(t);
      const lines = out.trim().split('\n');
      const last = lines.filter((l) => l.startsWith('call ')).pop() ?? '(none)';
      let summary = null;
      try { summary = JSON.parse(lines.filter((l) => l.startsWith('{')).pop() ?? 'null'); } catch { /* died mid-line */ }
      resolve({ seed: s, code, signal: timedOut ? null : signal, timedOut, stderr: err, last, summary });
    });
  });
}

// ---- the child --------------------------------------------------------------

async function child(addon, n, s) {
  const require = createRequire(import.meta.url);
  const b = require(addon);
  let state = s || 1;
  const rand = () => { state ^= state << 13; state >>>= 0; state ^= state >>> 17; state ^= state << 5; state >>>= 0; return state / 4294967296; };
  const pick = (a) => a[Math.floor(rand() * a.length)];

  const kvmOk = (() => { try { b.openKvm().close(); return true; } catch { return false; } })();
  const live = { kvm: [], vm: [], vcpu: [], eventfd: [], poller: [], buffers: [] };
  const closed = [];
  const fresh = () => {
    try {
      if (kvmOk && live.kvm.length < 2) live.kvm.push(b.openKvm());
      if (kvmOk && live.vm.length < 2 && live.kvm.length) live.vm.push(b.createVm(live.kvm[0], 0));
      if (kvmOk && live.vcpu.length < 2 && live.vm.length) live.vcpu.push(b.createVcpu(pick(live.vm), Math.floor(rand() * 8)));
    } catch { /* EEXIST for a vCPU id, limits: fine */ }
    if (live.eventfd.length < 4) live.eventfd.push(b.eventfd(0, 0));
    if (live.poller.length < 2) live.poller.push(b.pollerCreate(() => {}));
    if (live.buffers.length < 4) live.buffers.push(b.mmapAnonymous(4096 * (1 + Math.floor(rand() * 16))));
  };
  fresh();
  const handles = () => [...live.kvm, ...live.vm, ...live.vcpu, ...live.eventfd, ...live.poller];
  const detached = (() => { const a = b.mmapAnonymous(4096); b.munmap(a); return a; })();
  const plainDetached = (() => { const a = new ArrayBuffer(8); structuredClone(a, { transfer: [a] }); return a; })();
  const Handle = b.NativeHandle;

  const numbers = [0, 1, -1, 2, 3, 7, 24, 255, 256, 0x3f8, 4096, 0x10000, 65535, 65536, 0x10008, 0xffff_ffff, 2 ** 32, 2 ** 32 + 4096,
    2 ** 31, -(2 ** 31), 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1.5, -0.5, 1e-9, 1e300, -0, NaN, Infinity, -Infinity];
  const bigints = [0n, 1n, -1n, 2n ** 32n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 64n, -(2n ** 64n), 2n ** 100n];
  const strings = ['', 'x', 'msi', 'irqchip', '/dev/null', '/nonexistent', '/dev/kvm', '\u0000', 'a'.repeat(1000)];
  const throwing = () => new Proxy({}, { get() { throw new Error('getter throws'); }, has() { throw new Error('has throws'); } });
  const closing = () => {
    // An object whose getters close a live handle in the middle of the call that reads them.
    const o = {};
    for (const k of ['gsi', 'type', 'addressLo', 'addressHi', 'data', 'addr', 'len', 'flags', 'selector', 'base', 'limit', 'function', 'eventfd']) {
      Object.defineProperty(o, k, { get() { const h = pick(handles()); h?.close(); return pick([0, 1, 'msi', live.eventfd[0]]); }, enumerable: true });
    }
    return o;
  };
  const foreign = () => pick([{}, [], { kind: 'vcpu', fd: 3 }, Object.create(Handle.prototype), new Uint8Array(4), new SharedArrayBuffer(8), () => 0, Symbol('s'), new Date(), /re/, Promise.resolve()]);
  const anyValue = (depth = 0) => {
    const r = rand();
    if (r < 0.20) return pick(handles()) ?? null;
    if (r < 0.27) return pick(closed) ?? null;
    if (r < 0.45) return pick(numbers);
    if (r < 0.52) return pick(bigints);
    if (r < 0.58) return pick(strings);
    if (r < 0.62) return pick([null, undefined, true, false]);
    if (r < 0.67) return pick([...live.buffers, detached, plainDetached, new ArrayBuffer(16)]);
    if (r < 0.72) return throwing();
    if (r < 0.75) return closing();
    if (r < 0.82) return foreign();
    if (depth < 2 && r < 0.92) return Array.from({ length: Math.floor(rand() * 6) }, () => anyValue(depth + 1));
    if (depth < 2) {
      const o = {};
      for (const k of pick([['gsi', 'type', 'addressLo', 'addressHi', 'data'], ['addr', 'len', 'eventfd', 'flags', 'datamatch'], ['base', 'limit', 'selector', 'type', 'present', 'dpl', 'db', 's', 'l', 'g', 'avl'], ['rax', 'rip', 'rflags'], ['cs', 'ds', 'gdt', 'idt', 'cr0', 'interruptBitmap']])) {
        o[k] = anyValue(depth + 1);
      }
      return o;
    }
    return pick(numbers);
  };

  const exports = Object.keys(b).filter((k) => typeof b[k] === 'function' && k !== 'NativeHandle');
  const proto = Handle.prototype;
  const methods = [
    ['close', proto.close],
    ['fd', Object.getOwnPropertyDescriptor(proto, 'fd').get],
    ['kind', Object.getOwnPropertyDescriptor(proto, 'kind').get],
    ['closed', Object.getOwnPropertyDescriptor(proto, 'closed').get],
  ];
  let thrown = 0;
  const codes = new Set();
  for (let i = 0; i < n; i++) {
    if (i % 50 === 0) fresh();
    const useMethod = rand() < 0.08;
    const name = useMethod ? pick(methods)[0] : pick(exports);
    const argc = Math.floor(rand() * 8);
    const args = Array.from({ length: argc }, () => anyValue());
    // A vCPU the call may run is kicked first (immediate_exit), so KVM_RUN comes straight back:
    // the fuzzer tests the binding, not guests that never exit.
    for (const a of args) { try { if (a.kind === 'vcpu') b.kick(a); } catch { /* not a live vCPU handle */ } }
    if (name === 'stopAllVcpus' && rand() < 0.9) continue; // harmless, but it would end every later run at once
    console.log(`call ${i} ${name}(${args.map(describe).join(', ')})`);
    try {
      const fn = useMethod ? methods.find((m) => m[0] === name)[1] : b[name];
      const receiver = useMethod ? (rand() < 0.6 ? pick(handles()) : anyValue()) : b;
      const r = fn.apply(receiver, args);
      if (name === 'close' && receiver instanceof Handle) closed.push(receiver);
      if (r instanceof Handle && !r.closed) {
        if (rand() < 0.5) { r.close(); closed.push(r); } else if (live[r.kind]) live[r.kind].push(r);
      }
    } catch (e) {
      thrown++;
      codes.add(String(e?.code ?? e?.name ?? typeof e));
      if (process.env.FUZZ_SHOW_UNCODED && !e?.code) console.error(`uncoded: ${e?.message}`);
    }
    for (const k of Object.keys(live)) {
      if (k === 'buffers') live[k] = live[k].filter((a) => a.byteLength > 0);
      else live[k] = live[k].filter((h) => !h.closed);
    }
    if (i % 500 === 0) globalThis.gc?.();
  }
  for (const h of handles()) h.close();
  globalThis.gc?.();
  await new Promise((r) => setTimeout(r, 10));
  console.log(JSON.stringify({ calls: n, thrown, codes: [...codes] }));
}

function describe(v) {
  try {
    return describeValue(v);
  } catch {
    return 'Proxy';
  }
}

function describeValue(v) {
  if (v === null) return 'null';
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'string') return JSON.stringify(v.length > 20 ? `${v.slice(0, 20)}…` : v);
  if (typeof v === 'symbol' || typeof v === 'function') return typeof v;
  if (typeof v !== 'object') return String(v);
  if (v?.constructor?.name === 'NativeHandle') { try { return `<${v.kind} ${v.fd}>`; } catch { return '<handle?>'; } }
  if (v instanceof ArrayBuffer) return `ArrayBuffer(${v.byteLength})`;
  if (Array.isArray(v)) return `[${v.map(describe).join(', ')}]`;
  return v?.constructor?.name ?? 'object';
}

#!/usr/bin/env node
// npm run test:sanitize: the addon built with AddressSanitizer and
// UndefinedBehaviorSanitizer into a folder of its own (build-sanitize/, the
// normal build untouched), then the native, backend-contract and KVM guest
// tests run against it (TSVMM_NATIVE), every child process and vCPU worker
// included. Any sanitizer report aborts the process that hit it, which fails
// the test that ran it; the script then also scans the output for reports.
//
// Node itself is not instrumented, so libasan is preloaded; leak detection is
// off (Node keeps its heap to the end by design). Extra vitest arguments
// pass through: npm run test:sanitize -- test/00-native
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { nodeGypArgv } from './node-gyp-args.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'build-sanitize');
const SRC = join(OUT, 'src');
const SANITIZE = ['-fsanitize=address,undefined', '-fno-sanitize-recover=undefined', '-fno-omit-frame-pointer', '-g', '-O1'];

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

function compilerLib(name) {
  const r = spawnSync('c++', [`-print-file-name=${name}`], { encoding: 'utf8' });
  const path = (r.stdout ?? '').trim();
  return r.status === 0 && path.startsWith('/') && existsSync(path) ? path : null;
}

const libasan = compilerLib('libasan.so');
if (!libasan) {
  console.log('test:sanitize: skipped: no C++ compiler with AddressSanitizer here (c++ -print-file-name=libasan.so)');
  process.exit(0);
}

// The same sources and settings as binding.gyp, plus the sanitizers, built in a copy of the
// project's build description so that build/ keeps the normal addon.
rmSync(SRC, { recursive: true, force: true });
mkdirSync(SRC, { recursive: true });
cpSync(join(ROOT, 'native'), join(SRC, 'native'), { recursive: true });
const gyp = JSON.parse(readFileSync(join(ROOT, 'binding.gyp'), 'utf8'));
const target = gyp.targets[0];
target.include_dirs = [dirname(createRequire(import.meta.url).resolve('node-addon-api/package.json'))];
target.cflags = [...(target.cflags ?? []), ...SANITIZE];
target.cflags_cc = [...(target.cflags_cc ?? []), ...SANITIZE];
target.ldflags = [...(target.ldflags ?? []), '-fsanitize=address,undefined'];
writeFileSync(join(SRC, 'binding.gyp'), JSON.stringify(gyp, null, 2));
const gypArgv = nodeGypArgv();
if (!gypArgv || run(process.execPath, gypArgv, { cwd: SRC }) !== 0) {
  console.error('test:sanitize: the sanitized build failed');
  process.exit(1);
}
const addon = join(OUT, 'kvm.node');
cpSync(join(SRC, 'build', 'Release', 'kvm.node'), addon);
console.log(`test:sanitize: ${addon} (ASan + UBSan), running the tests against it`);

const files = process.argv.slice(2);
const env = {
  ...process.env,
  TSVMM_NATIVE: addon,
  LD_PRELOAD: [libasan, process.env.LD_PRELOAD].filter(Boolean).join(':'),
  ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1:halt_on_error=1:allow_user_segv_handler=1:handle_segv=1',
  UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
};
const vitest = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
const r = spawnSync(process.execPath, [vitest, 'run', ...(files.length ? files : ['test/00-native', 'test/30-backend-contract', 'test/40-guests'])], {
  cwd: ROOT, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 * 1024 * 1024,
});
process.stdout.write(r.stdout ?? '');
process.stderr.write(r.stderr ?? '');
const reports = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => /ERROR: AddressSanitizer|runtime error:|SUMMARY: (Address|UndefinedBehavior)Sanitizer/.test(l));
if (reports.length) {
  console.error(`test:sanitize: ${reports.length} sanitizer report line(s):\n${reports.slice(0, 20).join('\n')}`);
  process.exit(1);
}
console.log(`test:sanitize: ${r.status === 0 ? 'clean' : 'tests failed'} (no sanitizer reports)`);
process.exit(r.status ?? 1);

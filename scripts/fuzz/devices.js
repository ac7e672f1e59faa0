#!/usr/bin/env node
// Longer runs of the device fuzzer (test/15-fuzz/): one line per device, exit status 1 at the first failure
// of any device (its seed, step, op and the command that reproduces it go to stderr).
//
//   node scripts/fuzz/devices.js [--seed N] [--steps N] [--device NAME[,NAME...]] [--dist DIR]
//
//   --seed    the PRNG seed (0..2^32-1); default: a fresh one, printed so that a failure can be replayed
//   --steps   inputs per device (default 1000000)
//   --device  uart16550, ioapic, lapic, pic8259, fw-cfg, pc-testdev, debug-exit, pci-function, msix (default: all)
//   --dist    the compiled modules to fuzz (default dist/; build with npx tsc -p tsconfig.build.json)
//
// The device code comes from dist/, like every script here. The fuzzer itself is test code in TypeScript that
// imports only types from src/ and receives the device modules as an argument; it is transpiled here, file by
// file, with the project's own typescript package into a temporary directory (no tsx, no build of its own).
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import ts from 'typescript';

const ROOT = join(import.meta.dirname, '..', '..');
const FUZZ = join(ROOT, 'test', '15-fuzz');

const { values: opts } = parseArgs({
  options: {
    seed: { type: 'string' },
    steps: { type: 'string', default: '1000000' },
    device: { type: 'string', default: 'all' },
    dist: { type: 'string', default: join(ROOT, 'dist') },
  },
});
const seed = opts.seed === undefined ? Math.floor(Math.random() * 2 ** 32) : Number(opts.seed);
const steps = Number(opts.steps);
if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) throw new RangeError(`--seed ${opts.seed}: expected an integer in 0..2^32-1`);
if (!Number.isInteger(steps) || steps <= 0) throw new RangeError(`--steps ${opts.steps}: expected a positive integer`);

const tmp = mkdtempSync(join(tmpdir(), 'fuzz-devices-'));
let failed = false;
try {
  writeFileSync(join(tmp, 'package.json'), '{ "type": "module" }\n');
  for (const file of readdirSync(FUZZ, { recursive: true, encoding: 'utf8' })) {
    if (!file.endsWith('.ts') || file.endsWith('.test.ts') || file === 'src-lib.ts') continue;
    const { outputText } = ts.transpileModule(readFileSync(join(FUZZ, file), 'utf8'), {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
    });
    const out = join(tmp, file.replace(/\.ts$/, '.js'));
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, outputText);
  }
  const fuzz = await import(pathToFileURL(join(tmp, 'fuzz-devices.js')).href);
  const lib = Object.fromEntries(await Promise.all(Object.entries(fuzz.LIB_MODULES).map(async ([name, path]) => {
    try {
      return [name, await import(pathToFileURL(join(opts.dist, path)).href)];
    } catch (e) {
      throw new Error(`cannot load ${path} from ${opts.dist}: build first (npx tsc -p tsconfig.build.json)`, { cause: e });
    }
  })));
  const devices = opts.device === 'all' ? fuzz.DEVICE_NAMES : opts.device.split(',');
  for (const device of devices) {
    try {
      console.log(fuzz.formatSummary(fuzz.fuzzDevice(lib, device, seed, steps)));
    } catch (e) {
      failed = true;
      console.log(`${device.padEnd(10)} seed=${seed} FAILED`);
      console.error(e instanceof Error ? `${e.message}${e.cause instanceof Error ? `\n  cause: ${e.cause.stack}` : ''}` : e);
    }
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;

#!/usr/bin/env node
// npm's install step: build the native KVM addon if this machine can, and
// never fail the install when it cannot. The simulated backend is pure
// TypeScript and runs wherever Node does (CI runners without KVM, build
// tools or kernel headers; macOS; Windows): such a machine gets one line
// saying that only the sim is available, and why, and the install goes on.
//
// The reason is also left in build/native-unavailable.txt, where the loader
// (src/native/binding.ts) finds it to say why KVM tests skip. The builder's
// full output goes to build/native-build.log.
//
// TSVMM_BUILD_CMD overrides the builder (a shell command), TSVMM_BUILD_DIR where
// the log and the reason go (tests use both).
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeGypArgv } from './node-gyp-args.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BUILD = process.env.TSVMM_BUILD_DIR ?? join(ROOT, 'build');
const MARKER = join(BUILD, 'native-unavailable.txt');
const LOG = join(BUILD, 'native-build.log');

function unavailable(reason) {
  mkdirSync(BUILD, { recursive: true });
  writeFileSync(MARKER, `${reason}\n`);
  console.log(`tsvmm: native KVM addon not built (${reason}); only the sim backend is available (see build/native-build.log; fix and run npm rebuild for KVM)`);
}

if (process.platform !== 'linux') {
  unavailable(`KVM exists only on Linux, this is ${process.platform}`);
} else {
  // The project's node-gyp (scripts/node-gyp-args.mjs), else the one npm puts on PATH for install scripts.
  const argv = nodeGypArgv();
  const cmd = process.env.TSVMM_BUILD_CMD ?? (argv ? [process.execPath, ...argv].map((a) => `"${a}"`).join(' ') : 'node-gyp rebuild');
  const r = spawnSync(cmd, { cwd: ROOT, shell: true, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  mkdirSync(BUILD, { recursive: true });
  writeFileSync(LOG, `$ ${cmd}\n${output}`);
  if (r.status === 0) {
    rmSync(MARKER, { force: true });
    console.log('tsvmm: native KVM addon built (build/Release/kvm.node)');
  } else {
    // The most telling line of a failed build: a compiler's error, else a tool's own complaint,
    // else node-gyp's summary of what failed, else the last line.
    const lines = output.split('\n').map((l) => l.trim()).filter(Boolean);
    const own = lines.filter((l) => !l.startsWith('gyp '));
    const telling = own.find((l) => /\berror\b/i.test(l))
      ?? own.find((l) => /(not found|no such file|cannot|not installed|no working|permission denied)/i.test(l))
      ?? lines.find((l) => l.startsWith('gyp ERR! stack Error:'))?.replace('gyp ERR! stack ', '')
      ?? lines.at(-1) ?? `exit status ${r.status}`;
    unavailable(`${cmd} failed: ${telling.slice(0, 200)}`);
  }
}

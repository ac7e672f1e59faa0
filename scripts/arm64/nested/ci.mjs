#!/usr/bin/env node
// What `npm run test:arm64` runs inside the nested arm64 guest: the guest
// suite on real KVM (suite.mjs), then Debian's arm64 Linux booted by our VMM
// (linux.mjs). Each prints its own lines; exit 0 only when both pass.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
let status = 0;
for (const script of ['suite.mjs', 'linux.mjs']) {
  const r = spawnSync(process.execPath, [join(here, script)], { stdio: 'inherit' });
  if (r.status !== 0) status = 1;
}
process.exit(status);

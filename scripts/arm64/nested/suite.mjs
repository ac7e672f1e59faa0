// The arm64 guest suite on real KVM: every guests/arm64/<name>.expect.json
// run on our `virt` machine (dist/machine/arm64/virt.js) over KvmHypervisor,
// its serial bytes and exit status compared with the expectation. Plain
// JavaScript for Debian's arm64 node 18 inside the nested guest
// (scripts/arm64/nested/run.sh); the guests are listed and run by
// dist/machine/arm64/expectations.js, as the vitest suite does.
//
//   node scripts/arm64/nested/suite.mjs [--sim] [NAME...]
//
// --sim runs the same on the simulator (any host) for comparison. The addon
// is TSVMM_NATIVE, by default build-arm64/kvm.node (scripts/arm64/build-addon.sh).
// TSVMM_ARM64_GUEST_TIMEOUT (seconds, default 300) bounds each guest.
// One line per guest (PASS/FAIL, then an indented diff on failure), a
// summary; exit 0 only when every guest passed.
import { release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const guestDir = join(root, 'guests', 'arm64');
const args = process.argv.slice(2);
const sim = args.includes('--sim');
const only = args.filter((a) => a !== '--sim');
const timeoutMs = Number(process.env.TSVMM_ARM64_GUEST_TIMEOUT ?? 300) * 1000;
process.env.TSVMM_NATIVE ??= join(root, 'build-arm64', 'kvm.node');

const load = (rel) => import(pathToFileURL(join(root, 'dist', rel)).href);
const makeHypervisor = sim
  ? ((SimHypervisor) => () => new SimHypervisor('arm64'))((await load('backend/sim/index.js')).SimHypervisor)
  : ((KvmHypervisor) => () => new KvmHypervisor())((await load('backend/kvm/index.js')).KvmHypervisor);

const { listArm64Expectations, runArm64Expectation } = await load('machine/arm64/expectations.js');
const listGuests = () => listArm64Expectations(guestDir).filter((g) => only.length === 0 || only.includes(g.name));
const runGuest = (hv, g) => runArm64Expectation(hv, g, { timeoutMs });

/** Lines with control characters made visible. */
const show = (line) => JSON.stringify(line).slice(1, -1);

/** A line diff (LCS) of expected vs actual: "-" expected only, "+" actual only, " " both. */
function diff(expected, actual, limit = 60) {
  const a = expected.split(/(?<=\n)/), b = actual.split(/(?<=\n)/);
  const n = a.length, m = b.length;
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) {
    lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  }
  const lines = [];
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) { lines.push(`      ${show(a[i])}`); i++; j++; }
    else if (j < m && (i === n || lcs[i][j + 1] >= lcs[i + 1][j])) lines.push(`    + ${show(b[j++])}`);
    else lines.push(`    - ${show(a[i++])}`);
  }
  if (lines.length > limit) lines.splice(limit, lines.length - limit, `    ... (${lines.length - limit} more lines)`);
  return lines.join('\n');
}

const hv = makeHypervisor();
if (!sim) {
  const vm = hv.createVm({ arch: 'arm64' });
  let target;
  try {
    const t = vm.armPreferredTarget();
    target = `${t.target} (${['AEM_V8', 'FOUNDATION_V8', 'CORTEX_A57', 'XGENE_POTENZA', 'CORTEX_A53', 'GENERIC_V8'][t.target] ?? 'unknown'})`;
  } finally {
    vm.close();
  }
  console.log(`kvm: KVM_CAP_ARM_USER_IRQ=${hv.checkExtension('KVM_CAP_ARM_USER_IRQ')} preferred target ${target} host ${release()} node ${process.version}`);
} else {
  console.log(`sim: arm64 simulator, node ${process.version}`);
}

const guests = listGuests();
if (guests.length === 0) {
  console.log(`no guests${only.length ? ` named ${only.join(', ')}` : ''} in ${guestDir}`);
  process.exit(1);
}
let passed = 0;
const failed = [];
const t0 = Date.now();
for (const g of guests) {
  const t = Date.now();
  let r;
  try {
    r = await runGuest(hv, g);
  } catch (e) {
    failed.push(g.name);
    console.log(`FAIL ${g.name}: threw ${e?.code ? `${e.code}: ` : ''}${String(e?.message ?? e).split('\n')[0]}`);
    continue;
  }
  const ms = Date.now() - t;
  const reasons = [];
  if (r.timedOut) reasons.push(`timed out after ${timeoutMs / 1000} s`);
  if (r.status !== g.exitStatus) reasons.push(`exit status ${r.status} (${r.reason.kind}${r.reason.event ? ` ${r.reason.event}` : ''}), expected ${g.exitStatus}`);
  if (r.serial !== g.serial) reasons.push('serial differs');
  if (reasons.length === 0) {
    passed++;
    console.log(`PASS ${g.name} (${ms} ms)`);
  } else {
    failed.push(g.name);
    console.log(`FAIL ${g.name}: ${reasons.join('; ')} (${ms} ms, ${r.exits} exits)`);
    console.log(diff(g.serial, r.serial));
  }
}
hv.close();
console.log(`${failed.length === 0 ? 'ok' : 'FAILED'}: ${passed}/${guests.length} arm64 guests passed on ${sim ? 'the sim' : 'KVM'} in ${Date.now() - t0} ms${failed.length ? ` (failed: ${failed.join(', ')})` : ''}`);
process.exitCode = failed.length === 0 ? 0 : 1;

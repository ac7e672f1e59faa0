#!/usr/bin/env node
// Records an arm64 guest's expectation from a run on the sim backend (after
// `npm run build:ts`): node scripts/arm64/expect.mjs NAME [--cpus N] [--input TEXT] [--description TEXT] [--no-qemu WHY] [--events-before-run N]
// Keeps fields of an existing guests/arm64/NAME.expect.json that are not given. Check the transcript
// against QEMU (test/40-guests/arm64.test.ts does) before committing it.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { SimHypervisor } = await import(join(root, 'dist/backend/sim/index.js'));
const { runArm64Expectation } = await import(join(root, 'dist/machine/arm64/expectations.js'));
const { values, positionals } = parseArgs({ allowPositionals: true, options: {
  cpus: { type: 'string' }, 'events-before-run': { type: 'string' }, input: { type: 'string' }, description: { type: 'string' }, 'no-qemu': { type: 'string' }, mem: { type: 'string' },
} });
const name = positionals[0];
const file = join(root, 'guests/arm64', `${name}.expect.json`);
const old = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
const e = { description: '', cpus: 1, memMiB: 128, ...old };
if (values.description) e.description = values.description;
if (values.cpus) e.cpus = Number(values.cpus);
if (values.mem) e.memMiB = Number(values.mem);
if (values.input !== undefined) e.input = values.input.replace(/\\n/g, '\n');
if (values['no-qemu']) e.noQemu = values['no-qemu'];
if (values['events-before-run']) e.eventsBeforeRun = Number(values['events-before-run']);
const r = await runArm64Expectation(new SimHypervisor('arm64'), { ...e, image: join(root, 'guests/arm64', `${name}.img`) });
e.serial = r.serial;
e.exitStatus = r.status;
const ordered = { description: e.description, cpus: e.cpus, memMiB: e.memMiB, ...(e.input !== undefined ? { input: e.input } : {}),
  ...(e.eventsBeforeRun !== undefined ? { eventsBeforeRun: e.eventsBeforeRun } : {}), ...(e.noQemu ? { noQemu: e.noQemu } : {}), serial: e.serial, exitStatus: e.exitStatus };
writeFileSync(file, `${JSON.stringify(ordered, null, 2)}\n`);
process.stdout.write(e.serial);
console.log(`-> ${file} (status ${r.status}, ${r.reason.kind})`);

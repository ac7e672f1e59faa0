#!/usr/bin/env node
// Inside the nested arm64 guest (scripts/arm64/nested/run.sh): our VMM boots
// Debian's arm64 kernel on the real KVM with the generated device tree and the
// tiny initramfs of scripts/arm64/linux/ -- console on our PL011, timer ticks
// through our GIC, 2 vCPUs started by PSCI CPU_ON -- and the console
// transcript is checked line by line. Prints PASS/FAIL and the transcript on
// failure; exit 0 only when every check holds.
//   node scripts/arm64/nested/linux.mjs [--backend kvm|sim] [--timeout S]
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
// The cross-built arm64 addon (scripts/arm64/build-addon.sh), for this process and the VMM it spawns.
process.env.TSVMM_NATIVE ??= join(root, 'build-arm64', 'kvm.node');
const dir = join(root, 'build-arm64', 'linux');
const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const backend = opt('--backend', 'kvm');
const timeoutS = Number(opt('--timeout', '900'));
for (const f of ['Image', 'initramfs.cpio']) {
  if (!existsSync(join(dir, f))) { console.log(`FAIL linux-boot: ${join(dir, f)} is missing (scripts/arm64/linux/build.sh)`); process.exit(1); }
}
const t0 = Date.now();
const r = spawnSync(process.execPath, [join(root, 'bin', 'vmm.js'), 'run', '--backend', backend, '--cpus', '2', '--mem', '512',
  '--initrd', join(dir, 'initramfs.cpio'), '--cmdline', 'console=ttyAMA0 panic=-1 loglevel=7', join(dir, 'Image')],
{ encoding: 'latin1', timeout: timeoutS * 1000, maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
const ms = Date.now() - t0;
const out = r.stdout ?? '';
const checks = [
  ['the kernel boots on our PL011', /Booting Linux on physical CPU 0x0+0 /],
  ['the machine is our generated tree', /Machine model: linux,dummy-virt/],
  ['PSCI found through the device tree', /psci: PSCIv\d+\.\d+ detected in firmware/],
  ['the arch timer runs', /arch_timer: cp15 timer\(s\) running at [0-9.]+MHz \(virt\)/],
  ['the GICv2 is probed', /GIC: Using split EOI\/Deactivate mode|NR_IRQS: \d+, nr_irqs: \d+/],
  ['CPU 1 comes up by PSCI CPU_ON', /CPU1: Booted secondary processor/],
  ['2 CPUs online', /smp: Brought up 1 node, 2 CPUs/],
  ['the PL011 driver takes the console', /ttyAMA0 at MMIO 0x9000000 \(irq = \d+, base_baud = \d+\) is a PL011/],
  ['init runs', /tsvmm-linux: init is running/],
  ['cpus 0-1 online in sysfs', /tsvmm-linux: cpus online 0-1/],
  ['timer interrupts through our GIC on both CPUs', /tsvmm-linux: timer interrupts on all 2 cpus: yes/],
  ['PSCI SYSTEM_OFF powers down', /reboot: Power down/],
];
let ok = r.status === 0;
const lines = [];
for (const [what, re] of checks) {
  const hit = re.test(out);
  ok &&= hit;
  lines.push(`  ${hit ? 'ok  ' : 'MISS'} ${what}`);
}
// KVM before 6.4-ish shows the host's GICv3 in ID_AA64PFR0_EL1.GIC to a guest with no vGIC, and
// Linux's GICv2 driver warns (irq-gic.c gic_check_cpu_features). The host's, not ours: said, not failed.
const notes = /GICv3 system registers enabled, broken firmware!/.test(out)
  ? ['  note: the guest kernel warned "GICv3 system registers enabled, broken firmware!": this host KVM advertises its GICv3 CPU interface (ID_AA64PFR0_EL1.GIC) to a VM without a vGIC']
  : [];
if (ok) {
  console.log(`PASS linux-boot (${ms} ms, 2 vCPUs, status 0)`);
  for (const l of [...lines, ...notes]) console.log(l);
  process.exit(0);
}
console.log(`FAIL linux-boot: status ${r.status}${r.signal ? ` signal ${r.signal}` : ''}${r.error ? ` (${r.error.message})` : ''} after ${ms} ms`);
for (const l of lines) console.log(l);
console.log('  --- console ---');
for (const l of out.split('\n').slice(-80)) console.log(`  | ${l}`);
console.log('  --- stderr ---');
for (const l of (r.stderr ?? '').split('\n').slice(-20)) console.log(`  | ${l}`);
process.exit(1);

// The three JavaScript ways through bench-pio.elf's exits that the exit figures compare with
// scripts/bench/pio-ref.c: in-process (X86Machine.run()), the CLI as users run it, and the bare
// loop that only calls the addon's run() (the floor N-API allows). scripts/bench/run.js uses them
// on real KVM; scripts/bench/exit-child.js runs them under the fake /dev/kvm, where KVM_RUN costs
// nothing and the userspace side of an exit is all that is timed.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const ROOT = join(import.meta.dirname, '..', '..');
export const BENCH_PIO = join(ROOT, 'guests', 'x86', 'bench-pio.elf');

const { openHypervisor } = await import(join(ROOT, 'dist', 'backend', 'index.js'));
const { X86Machine } = await import(join(ROOT, 'dist', 'machine', 'x86-pc.js'));
const { loadBinding } = await import(join(ROOT, 'dist', 'native', 'binding.js'));

/** `X86Machine.run()` on KVM, the machine as the bench has always built it (no irqchip): {exits, seconds}. */
export function inProcess(count) {
  const { hypervisor } = openHypervisor('kvm');
  const m = new X86Machine({ hypervisor, image: readFileSync(BENCH_PIO), memMiB: 64, cmdline: `count=${count}`, serialOut: () => {}, irqchip: 'none' });
  try {
    const t0 = performance.now();
    const r = m.run();
    return { exits: r.exits, seconds: (performance.now() - t0) / 1000 };
  } finally {
    m.close();
    hypervisor.close();
  }
}

/**
 * The machine only sets the VM up; then nothing but run(), the exit's port and -- for the guest's
 * prints -- its reads answered as pio-ref answers them (the UART's LSR ready, else 0): unanswered,
 * the guest's first putc polled LSR for ever. {exits, seconds}.
 */
export function bareLoop(count) {
  const b = loadBinding();
  const K = b.constants;
  const L = b.layout.kvm_run;
  const { hypervisor } = openHypervisor('kvm');
  const m = new X86Machine({ hypervisor, image: readFileSync(BENCH_PIO), memMiB: 64, cmdline: `count=${count}`, serialOut: () => {}, irqchip: 'none' });
  try {
    const run = b.vcpuRunner(m.vcpu.handle);
    const dv = m.vcpu.runView.view;
    let exits = 0;
    const t0 = performance.now();
    for (;;) {
      const r = run();
      exits++;
      if (r === 0 && dv.getUint32(L.exit_reason, true) === K.KVM_EXIT_IO) {
        const port = dv.getUint16(L.io_port, true);
        if (port === 0xf4) break;
        if (dv.getUint8(L.io_direction) === K.KVM_EXIT_IO_IN) dv.setUint8(dv.getUint32(L.io_data_offset, true), port === 0x3fd ? 0x60 : 0);
      }
      if (r < 0) dv.setUint8(L.immediate_exit, 0);
    }
    return { exits, seconds: (performance.now() - t0) / 1000 };
  } finally {
    m.close();
    hypervisor.close();
  }
}

/**
 * One `vmm run bench-pio.elf` process as users run it (default options, stdin a pipe that stays
 * open as under a terminal or a pipeline), its own "guest stopped" log line giving the exits:
 * {exits, ms} of the whole process. `env` is added to this process's.
 */
export function cliProcess(count, env = {}) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'vmm.js'), 'run', BENCH_PIO, '--backend', 'kvm', '--cmdline', `count=${count}`, '--log-level', 'info'],
    { input: '', stdio: ['pipe', 'pipe', 'pipe'], encoding: 'latin1', timeout: 120_000, env: { ...process.env, ...env } });
  const ms = performance.now() - t0;
  const stopped = r.stderr.split('\n').map((l) => { try { return JSON.parse(l); } catch { return null; } }).find((o) => o?.msg === 'guest stopped');
  if (r.status !== 1 || !stopped) throw new Error(`vmm run bench-pio exited ${r.status}: ${r.stderr}`);
  return { ms, exits: stopped.exits };
}

#!/usr/bin/env node
// npm run bench: prints one `name=value` line per figure. Every figure is a
// ratio against a reference measured in the same run (raw C, QEMU) or a
// rate; nothing here runs inside `npm test`.
//
//   cpu               the host CPU the figures come from (vendor, family, model name)
//   exit_ratio_vs_c   exits/s of bench-pio.elf through the VMM on KVM ÷ exits/s
//                     of scripts/bench/pio-ref.c running the same guest bytes
//   exit_ratio_cli_vs_c   the same through `vmm run` as users run it (a whole
//                     process, stdin a pipe), start-up subtracted, ÷ C
//   exit_ratio_bare_vs_c  a bare JavaScript loop that only calls the addon's run()
//                     on the same guest and VM set-up ÷ C: the floor N-API allows
//   exit_userspace_ns_c, _bare, _vmm, _cli   ns per exit spent on our side of KVM_RUN, no KVM
//                     needed: pio-ref.c, the bare loop, X86Machine.run() and `vmm run` against the
//                     fake /dev/kvm (scripts/fake-kvm), whose KVM_RUN returns the next exit at once
//   hello_wall_ms     process start → exit of `vmm run hello.elf --backend kvm`
//   hello_vs_qemu     hello_wall_ms ÷ QEMU's wall time on the same image
//   sim_mips          guest instructions per second of the sim on compute.elf
//   sim_a64_mips      the same for the sim's A64 interpreter on guests/arm64/compute.img
//   vtimer_tick_js_us the arm64 machine's exit server (GIC, bus) per vtimer tick on this CPU, bench-vtimer on the sim
//   route_pushes_per_rte_write         KVM_SET_GSI_ROUTING calls per guest RTE write
//                                      (rte-rewrite.elf: 24 RTEs changed per round, one interrupt per round)
//   route_pushes_per_same_rte_write    the same when every round rewrites the same values
//   ioapic_storm_vs_qemu  wall time of ioapic-storm.elf n=N under QEMU split irqchip on KVM ÷ ours on KVM
//   threaded_exit_ratio   exits/s with the vCPU on its own (native) thread ÷ with KVM_RUN on the device thread
//   invalidate_1_of_2048  per irqfd-cache policy: detaches, route pushes and µs for one IRTE invalidated among 2048 cached
//   doorbell_policies     per policy: the doorbell-storm guest's rings, hits, userspace wake-ups, fills, pushes
//   doorbell_reprogram_8, _64  the steady 16-vector storm with an entry reprogrammed every K interrupts
//   msi_hit_vs_c      ring -> interrupt -> acknowledgement round trips/s of bench-msi.elf with the
//                     route cached (an irqfd) ÷ scripts/bench/msi-ref.c hit (KVM_IRQFD on an MSI route)
//   msi_miss_vs_c     the same with --irq-cache none ÷ msi-ref.c miss (read + KVM_SIGNAL_MSI in C);
//                     both with the machine's default for a doorbell: the vCPU on a thread of its own
//   msi_miss_devthread_vs_c  the miss with the vCPU on the device thread (vcpuThreads: false):
//                     each ring must kick it out of KVM_RUN first
//   eventfd_wake_vs_c the userspace half of that miss path, no KVM needed: msi-ringer's ring
//                     served by the addon's poller and a JS callback (read, acknowledge)
//                     ÷ scripts/bench/wake-ref.c (poll, read, acknowledge)
//
// Throughput figures take the best of several alternated runs: this nested host's
// speed wanders by ±15% from run to run, for the references and for us alike.
//
// Options: --quick (fewer repetitions), --only NAME[,NAME].
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const ROOT = join(import.meta.dirname, '..', '..');
const GUESTS = join(ROOT, 'guests', 'x86');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyArg = args.indexOf('--only');
const only = onlyArg >= 0 ? new Set(args[onlyArg + 1].split(',')) : null;
const want = (name) => !only || only.has(name);

const { openHypervisor } = await import(join(ROOT, 'dist', 'backend', 'index.js'));
const { X86Machine } = await import(join(ROOT, 'dist', 'machine', 'x86-pc.js'));
const { kvmUnavailableReason, tryLoadBinding } = await import(join(ROOT, 'dist', 'native', 'binding.js'));
const exitLoops = await import(join(ROOT, 'scripts', 'bench', 'exit-loops.js'));

const kvmWhy = kvmUnavailableReason();

// cpu ---------------------------------------------------------------------------
// Exit costs, undefined flags and the nested hypervisor's quirks differ between vendors: every run says which.
const cpuinfo = (() => { try { return readFileSync('/proc/cpuinfo', 'utf8'); } catch { return ''; } })();
const cpuField = (k) => new RegExp(`^${k}\\s*:\\s*(.*)$`, 'm').exec(cpuinfo)?.[1]?.trim() ?? '?';
const VENDOR = cpuField('vendor_id') === 'GenuineIntel' ? 'Intel' : cpuField('vendor_id') === 'AuthenticAMD' ? 'AMD' : cpuField('vendor_id');
console.log(`cpu=${VENDOR}  # ${cpuField('vendor_id')} family ${cpuField('cpu family')} model ${cpuField('model')}: ${cpuField('model name')}`);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/**
 * Samples `a` and `b` alternately, `reps` times each: this nested host's speed wanders by ±15%
 * from run to run, for the references and for us alike. The best of each side, and the medians.
 */
async function alternate(reps, a, b) {
  const as = [];
  const bs = [];
  for (let i = 0; i < reps; i++) {
    as.push(await a());
    bs.push(await b());
  }
  return { a: Math.max(...as), b: Math.max(...bs), aMedian: median(as), bMedian: median(bs) };
}
const print = (name, value, note = '') => console.log(`${name}=${value}${note ? `  # ${note}` : ''}`);
/** The round trips/s scripts/bench/msi-ringer.c printed (`RING ... rings_per_sec=R`). */
function ringerRate(out, who) {
  const m = /rings_per_sec=([\d.e+]+)/.exec(out);
  if (!m) throw new Error(`${who}: the ringer printed no figure:\n${out}`);
  return Number(m[1]);
}

/** Wall time of a whole process in ms; it must exit with `status` (a guest's debug-exit status). */
function wallMs(cmd, argv, status, timeout = 60_000) {
  const t0 = performance.now();
  const r = spawnSync(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], timeout });
  const ms = performance.now() - t0;
  if (r.status !== status) throw new Error(`${cmd} exited ${r.status}: ${r.stdout}${r.stderr}`);
  return ms;
}

function runInProcess(backend, elf, cmdline, irqchip = 'none') {
  const { hypervisor } = openHypervisor(backend);
  const m = new X86Machine({ hypervisor, image: readFileSync(elf), memMiB: 64, cmdline, serialOut: () => {}, irqchip });
  try {
    const t0 = performance.now();
    const r = m.run();
    const seconds = (performance.now() - t0) / 1000;
    return { ...r, seconds, routePushes: m.irqchip?.routing.pushes ?? 0 };
  } finally {
    m.close();
    hypervisor.close();
  }
}

// exit_ratio_vs_c, exit_ratio_cli_vs_c, exit_ratio_bare_vs_c ------------------------
// Three ways through the same exits, each against the raw-C reference run alternately with it:
// in-process (X86Machine.run()), the CLI as users run it, and the bare loop (the floor).
const EXIT_FIGURES = ['exit_ratio_vs_c', 'exit_ratio_cli_vs_c', 'exit_ratio_bare_vs_c'];
if (EXIT_FIGURES.some(want)) {
  if (kvmWhy) for (const f of EXIT_FIGURES.filter(want)) print(f, 'skipped', kvmWhy);
  else {
    execFileSync('bash', [join(ROOT, 'scripts', 'bench', 'build-ref.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
    const ref = join(ROOT, 'build', 'bench', 'pio-ref');
    const count = quick ? 100_000 : 300_000;
    const elf = exitLoops.BENCH_PIO;
    const cRate = () => {
      const out = execFileSync(ref, [elf, String(count)], { encoding: 'latin1' });
      const line = out.split('\n').find((l) => l.startsWith('REF '));
      const m = /exits_per_sec=([\d.e+]+)/.exec(line ?? '');
      if (!m) throw new Error(`pio-ref printed no figures:\n${out}`);
      return Number(m[1]);
    };
    // Alternated with C; the best run of each side compared, the medians in the note.
    const compare = async (name, reps, ours, what) => {
      const x = await alternate(reps, cRate, ours);
      print(name, (x.b / x.a).toFixed(3),
        `${VENDOR}; best of ${reps}: ${what} ${Math.round(x.b)} vs C ${Math.round(x.a)} exits/s; medians ${Math.round(x.bMedian)} vs ${Math.round(x.aMedian)} (${(x.bMedian / x.aMedian).toFixed(3)}); count=${count}`);
    };
    if (want('exit_ratio_vs_c')) {
      await compare('exit_ratio_vs_c', quick ? 3 : 11, () => {
        const r = exitLoops.inProcess(count);
        return r.exits / r.seconds;
      }, 'in-process');
    }
    if (want('exit_ratio_cli_vs_c')) {
      // Start-up (Node, the VM, loading) is the wall time of a count=1 run of the same command, subtracted.
      await compare('exit_ratio_cli_vs_c', quick ? 3 : 5, () => {
        const base = exitLoops.cliProcess(1);
        const full = exitLoops.cliProcess(count);
        return (full.exits - base.exits) / ((full.ms - base.ms) / 1000);
      }, 'vmm run');
    }
    if (want('exit_ratio_bare_vs_c')) {
      await compare('exit_ratio_bare_vs_c', quick ? 3 : 11, () => {
        const r = exitLoops.bareLoop(count);
        return r.exits / r.seconds;
      }, 'bare run() loop');
    }
  }
}

// exit_userspace_ns -----------------------------------------------------------------
// What our side of an exit costs on this host's own CPU, with or without /dev/kvm: the same three
// loops and pio-ref run against the fake /dev/kvm (scripts/fake-kvm, preloaded), whose KVM_RUN
// returns bench-pio.elf's next port-0x80 write at once (TSVMM_FAKE_KVM_PIO=N), so no guest and no
// hypervisor time is in the figure -- only the ioctl wrapper, N-API, the exit's decoding and
// dispatch. ns per exit, the best of R alternated runs; the CLI's with start-up subtracted (an N=1
// run). On a real host, exits/s ≈ 1 / (hypervisor's cost per exit + this).
const EXIT_NS = ['exit_userspace_ns_c', 'exit_userspace_ns_bare', 'exit_userspace_ns_vmm', 'exit_userspace_ns_cli'];
if (EXIT_NS.some(want)) {
  let fake = null;
  let why = null;
  try {
    fake = execFileSync('bash', [join(ROOT, 'scripts', 'fake-kvm', 'build.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    execFileSync('bash', [join(ROOT, 'scripts', 'bench', 'build-ref.sh')], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    why = `no C toolchain for the fake /dev/kvm or pio-ref: ${String(e.stderr ?? e.message).trim().split('\n')[0]}`;
  }
  if (!tryLoadBinding()) why ??= 'the native addon is not built';
  if (why) for (const f of EXIT_NS.filter(want)) print(f, 'skipped', why);
  else {
    const count = quick ? 1_000_000 : 3_000_000;
    const reps = quick ? 3 : 7;
    const env = (n) => ({ ...process.env, TSVMM_FAKE_KVM_PIO: String(n), LD_PRELOAD: [process.env.LD_PRELOAD, fake].filter(Boolean).join(':') });
    const ref = join(ROOT, 'build', 'bench', 'pio-ref');
    const nsC = () => {
      const out = execFileSync(ref, [exitLoops.BENCH_PIO, '1'], { encoding: 'latin1', env: env(count) });
      const m = /exits=(\d+) .*seconds=([\d.e+-]+)/.exec(out);
      if (!m) throw new Error(`pio-ref printed no figures:\n${out}`);
      return Number(m[2]) * 1e9 / Number(m[1]);
    };
    const nsChild = (mode) => () => {
      const out = execFileSync(process.execPath, [join(ROOT, 'scripts', 'bench', 'exit-child.js'), mode], { encoding: 'utf8', env: env(count) });
      const r = JSON.parse(out.trim().split('\n').pop());
      return r.seconds * 1e9 / r.exits;
    };
    const nsCli = () => {
      const base = exitLoops.cliProcess(1, env(1));
      // More exits than in-process: the start-up subtracted wanders by tens of ms between processes.
      const full = exitLoops.cliProcess(1, env(4 * count));
      return (full.ms - base.ms) * 1e6 / (full.exits - base.exits);
    };
    const sides = [['exit_userspace_ns_c', nsC, 'pio-ref.c'], ['exit_userspace_ns_bare', nsChild('bare'), 'bare run() loop'],
      ['exit_userspace_ns_vmm', nsChild('in-process'), 'X86Machine.run()'], ['exit_userspace_ns_cli', nsCli, 'vmm run, stdin a pipe']];
    const samples = sides.map(() => []);
    for (let i = 0; i < reps; i++) sides.forEach(([, f], k) => samples[k].push(f()));
    sides.forEach(([name, , what], k) => {
      if (want(name)) {
        print(name, Math.min(...samples[k]).toFixed(1),
          `${VENDOR}; ${what} against the fake /dev/kvm, ${count} exits, best of ${reps} alternated (median ${median(samples[k]).toFixed(1)})`);
      }
    });
  }
}

// hello_wall_ms, hello_vs_qemu -------------------------------------------------
if (want('hello_wall_ms') || want('hello_vs_qemu')) {
  const hello = JSON.parse(readFileSync(join(GUESTS, 'hello.expect.json'), 'utf8'));
  const elf = join(GUESTS, 'hello.elf');
  const reps = quick ? 3 : 7;
  const backend = kvmWhy ? 'sim' : 'kvm';
  const wall = (cmd, argv) => wallMs(cmd, argv, hello.exitStatus);
  const ours = median(Array.from({ length: reps }, () => wall(process.execPath,
    [join(ROOT, 'bin', 'vmm.js'), 'run', elf, '--backend', backend, '--cmdline', hello.cmdline, '--mem', String(hello.memMiB ?? 64)])));
  print('hello_wall_ms', ours.toFixed(1), `median of ${reps}, backend ${backend}`);
  if (want('hello_vs_qemu')) {
    const qemu = spawnSync('which', ['qemu-system-x86_64']).status === 0;
    if (!qemu) print('hello_vs_qemu', 'skipped', 'qemu-system-x86_64 not installed');
    else {
      const accel = existsSync('/dev/kvm') && !kvmWhy ? 'kvm' : 'tcg';
      const q = median(Array.from({ length: reps }, () => wall('qemu-system-x86_64', [
        '-machine', 'pc', '-accel', accel, '-m', String(hello.memMiB ?? 64), '-display', 'none', '-monitor', 'none',
        '-serial', 'null', '-no-reboot', '-device', 'isa-debug-exit,iobase=0xf4,iosize=4',
        '-kernel', elf, '-append', hello.cmdline,
      ])));
      print('hello_vs_qemu', (ours / q).toFixed(3), `qemu -accel ${accel} ${q.toFixed(1)} ms`);
    }
  }
}

// sim_mips ------------------------------------------------------------------
if (want('sim_mips')) {
  const compute = JSON.parse(readFileSync(join(GUESTS, 'compute.expect.json'), 'utf8'));
  const cmdline = process.env.SIM_MIPS_CMDLINE ?? compute.benchCmdline ?? compute.cmdline;
  const reps = quick ? 1 : 5;
  const rates = [];
  let insns = 0;
  for (let i = 0; i < reps; i++) {
    const r = runInProcess('sim', join(GUESTS, 'compute.elf'), cmdline);
    insns = r.instructions;
    rates.push(r.instructions / r.seconds / 1e6);
  }
  // Same rule as the exit figure: the host's CPU time wanders by ±15% between runs, so report the best run.
  print('sim_mips', Math.max(...rates).toFixed(1),
    `best of ${reps} (median ${median(rates).toFixed(1)}); ${insns} instructions per run, cmdline "${cmdline}"`);
}

// sim_a64_mips ----------------------------------------------------------------
if (want('sim_a64_mips')) {
  const { SimHypervisor } = await import(join(ROOT, 'dist', 'backend', 'sim', 'index.js'));
  const { Arm64Machine } = await import(join(ROOT, 'dist', 'machine', 'arm64', 'virt.js'));
  const image = readFileSync(join(ROOT, 'guests', 'arm64', 'compute.img'));
  const reps = quick ? 2 : 6;
  const rates = [];
  let insns = 0;
  for (let i = 0; i < reps; i++) {
    const m = new Arm64Machine({ hypervisor: new SimHypervisor('arm64'), image, serialOut: () => {} });
    try {
      const t0 = performance.now();
      const r = m.run();
      const seconds = (performance.now() - t0) / 1000;
      if (r.status !== 0) throw new Error(`compute.img exited ${r.status}`);
      insns = r.instructions;
      rates.push(r.instructions / seconds / 1e6);
    } finally {
      m.close();
    }
  }
  // The first run includes the JIT's warm-up; the best run is the interpreter's speed.
  print('sim_a64_mips', Math.max(...rates).toFixed(1), `best of ${reps} (median ${median(rates).toFixed(1)}); ${insns} instructions per run`);
}

// vtimer_tick_js_us -----------------------------------------------------------------
// What our arm64 machine's JavaScript costs per vtimer tick on this host's own CPU (the figure behind
// vtimer_round_trip_vs_c, which only nested arm64 KVM under TCG can give here): bench-vtimer.img runs
// on the sim's A64 backend, and the machine's exit server -- afterRun (the timer level into the GIC,
// the CPU interface's line out) and serve (the IAR and EOIR accesses through the bus and the GIC) --
// is timed around each call, less the timing's own cost (the same wrapper around an empty function),
// summed and divided by the 2 000 ticks. The sim's stand-ins for device_irq_level and KVM_IRQ_LINE
// are in it where the server calls them; its interpreter is not. Best of R after W untimed runs.
if (want('vtimer_tick_js_us')) {
  const { SimHypervisor } = await import(join(ROOT, 'dist', 'backend', 'sim', 'index.js'));
  const { Arm64Machine } = await import(join(ROOT, 'dist', 'machine', 'arm64', 'virt.js'));
  const image = readFileSync(join(ROOT, 'guests', 'arm64', 'bench-vtimer.img'));
  const TICKS = 2000;
  const timed = (f, acc) => function (...a) {
    const t0 = performance.now();
    const r = f.apply(this, a);
    acc.ms += performance.now() - t0;
    return r;
  };
  const runOnce = async () => {
    const m = new Arm64Machine({ hypervisor: new SimHypervisor('arm64'), image, serialOut: () => {} });
    try {
      const acc = { ms: 0 };
      const s = m.server; // the machine's ExitServer, handed to the backend's driver at run time
      let calls = 0;
      const count = (f) => function (...a) { calls++; return f.apply(this, a); };
      s.serve = timed(count(s.serve), acc);
      s.afterRun = timed(count(s.afterRun), acc);
      const r = await m.runAsync();
      if (r.status !== 0) throw new Error(`bench-vtimer.img exited ${r.status}`);
      // The wrapper's own cost on an empty function, as many calls; the least of 5 (a JIT pass or a GC can land in one).
      const n = calls;
      let calMs = Infinity;
      for (let k = 0; k < 5; k++) {
        const cal = { ms: 0 };
        const empty = timed(count(() => undefined), cal);
        for (let i = 0; i < n; i++) empty();
        calMs = Math.min(calMs, cal.ms);
      }
      return (acc.ms - calMs) * 1000 / TICKS;
    } finally {
      m.close();
    }
  };
  const warm = quick ? 10 : 40;
  const reps = quick ? 5 : 15;
  for (let i = 0; i < warm; i++) await runOnce();
  const us = [];
  for (let i = 0; i < reps; i++) us.push(await runOnce());
  print('vtimer_tick_js_us', Math.min(...us).toFixed(3), `${VENDOR}; best of ${reps} after ${warm} untimed runs (median ${median(us).toFixed(3)}); sim backend, bench-vtimer.img, ${TICKS} ticks`);
}

// route_pushes_per_rte_write -------------------------------------------------------
if (want('route_pushes_per_rte_write')) {
  const rounds = 50;
  const backend = kvmWhy ? 'sim' : 'kvm';
  const elf = join(GUESTS, 'rte-rewrite.elf');
  const changed = runInProcess(backend, elf, `rounds=${rounds}`, 'split');
  const same = runInProcess(backend, elf, `rounds=${rounds} same=1`, 'split');
  if (changed.status !== 1 || same.status !== 1) throw new Error(`rte-rewrite failed (status ${changed.status}/${same.status})`);
  // One push at machine start; with same=1 the first round still changes every RTE from its reset value.
  print('route_pushes_per_rte_write', ((changed.routePushes - 1) / (rounds * 24)).toFixed(4),
    `${changed.routePushes - 1} pushes for ${rounds * 24} RTE writes (${rounds} interrupts), backend ${backend}`);
  print('route_pushes_per_same_rte_write', ((same.routePushes - 2) / ((rounds - 1) * 24)).toFixed(4),
    `${same.routePushes - 2} pushes for the ${(rounds - 1) * 24} RTE writes after the first round, backend ${backend}`);
}

// ioapic_storm_vs_qemu ---------------------------------------------------------------
// Wall time of `ioapic-storm.elf n=N` (N level interrupts, each raised, delivered through the
// userspace IOAPIC, handled, lowered and EOId) under QEMU -machine pc,kernel-irqchip=split
// -accel kvm, divided by ours (`vmm run --irqchip split --backend kvm`), whole processes,
// alternated, median of R. The note also gives each side's cost per interrupt, from the
// difference to an n=1 run (so boot time, SeaBIOS for QEMU, drops out).
if (want('ioapic_storm_vs_qemu')) {
  const qemu = spawnSync('which', ['qemu-system-x86_64']).status === 0;
  if (kvmWhy) print('ioapic_storm_vs_qemu', 'skipped', kvmWhy);
  else if (!qemu) print('ioapic_storm_vs_qemu', 'skipped', 'qemu-system-x86_64 not installed');
  else {
    const storm = JSON.parse(readFileSync(join(GUESTS, 'ioapic-storm.expect.json'), 'utf8'));
    const elf = join(GUESTS, 'ioapic-storm.elf');
    const n = quick ? 5000 : Number(/n=(\d+)/.exec(storm.benchCmdline ?? '')?.[1] ?? 20000);
    const reps = quick ? 1 : 3;
    const wall = (cmd, argv) => wallMs(cmd, argv, storm.exitStatus, 300_000);
    const ours = (count) => wall(process.execPath,
      [join(ROOT, 'bin', 'vmm.js'), 'run', elf, '--backend', 'kvm', '--irqchip', 'split', '--cmdline', `n=${count}`]);
    const theirs = (count) => wall('qemu-system-x86_64', [
      '-machine', 'pc,kernel-irqchip=split', '-accel', 'kvm', '-m', '64', '-display', 'none', '-monitor', 'none',
      '-serial', 'null', '-no-reboot', '-device', 'isa-debug-exit,iobase=0xf4,iosize=4', '-device', 'pc-testdev',
      '-kernel', elf, '-append', `n=${count}`,
    ]);
    const o = [], q = [], o1 = [], q1 = [];
    for (let i = 0; i < reps; i++) {
      o.push(ours(n)); q.push(theirs(n));
      o1.push(ours(1)); q1.push(theirs(1));
    }
    const [mo, mq, mo1, mq1] = [o, q, o1, q1].map(median);
    const perIrq = (a, b) => ((a - b) * 1000 / (n - 1)).toFixed(1);
    print('ioapic_storm_vs_qemu', (mq / mo).toFixed(2),
      `n=${n}, median of ${reps}: QEMU ${mq.toFixed(0)} ms, ours ${mo.toFixed(0)} ms; per interrupt QEMU ${perIrq(mq, mq1)} us, ours ${perIrq(mo, mo1)} us (n=1 runs: ${mq1.toFixed(0)} / ${mo1.toFixed(0)} ms)`);
  }
}

// threaded_exit_ratio -----------------------------------------------------------------
// exits/s of bench-pio.elf with its vCPU on a thread of its own (what --cpus N > 1 uses:
// KVM_RUN on a native thread, the exit handed to the device thread through a shared
// control block) ÷ exits/s with KVM_RUN on the device thread; alternated, best of R.
if (want('threaded_exit_ratio')) {
  if (kvmWhy) print('threaded_exit_ratio', 'skipped', kvmWhy);
  else {
    const count = quick ? 50_000 : 200_000;
    const reps = quick ? 2 : 5;
    const rate = async (vcpuThreads) => {
      const { hypervisor } = openHypervisor('kvm');
      const m = new X86Machine({
        hypervisor, image: readFileSync(join(GUESTS, 'bench-pio.elf')), memMiB: 64, cmdline: `count=${count}`,
        serialOut: () => {}, vcpuThreads,
      });
      try {
        const t0 = performance.now();
        const r = await m.runAsync();
        return r.exits / ((performance.now() - t0) / 1000);
      } finally {
        m.close();
        hypervisor.close();
      }
    };
    const x = await alternate(reps, () => rate(false), () => rate(true));
    print('threaded_exit_ratio', (x.b / x.a).toFixed(3),
      `best of ${reps}: threaded ${Math.round(x.b)} vs device thread ${Math.round(x.a)} exits/s; count=${count}`);
  }
}

// invalidate_1_of_2048 --------------------------------------------------------------
// 2048 doorbell-style sources, each cached (rung once and served), translated through a
// remapping table (IRTE i → vector); then one IRTE changes and its index alone is
// invalidated, 200 times over different IRTEs. Per policy: irqfd detaches and
// KVM_SET_GSI_ROUTING calls per invalidation, and µs per invalidation call. Goal for lazy:
// 1 detach, <= 1 push (it pushes none: the stale route waits for the next fill). On KVM when
// it opens (real irqfds and routing pushes), else on the sim (the same calls, validated).
if (want('invalidate_1_of_2048')) {
  const { IrqfdCache, IRQ_CACHE_POLICIES } = await import(join(ROOT, 'dist', 'irq', 'irqfd-cache.js'));
  const { GsiRoutingManager } = await import(join(ROOT, 'dist', 'irq', 'gsi-routing.js'));
  const { decodeMsi, encodeCompatMsi, encodeRemappableMsi } = await import(join(ROOT, 'dist', 'irq', 'msi.js'));
  const N = 2048, ROUNDS = quick ? 50 : 200;
  const parts = [];
  for (const policy of IRQ_CACHE_POLICIES) {
    const { hypervisor } = openHypervisor(kvmWhy ? 'sim' : 'kvm');
    const vm = hypervisor.createVm();
    try {
      vm.enableCap('KVM_CAP_SPLIT_IRQCHIP', [24]);
      const routing = new GsiRoutingManager(vm, { reserved: 24, maxRoutes: Math.min(4096, vm.checkExtension('KVM_CAP_IRQ_ROUTING')) });
      const irt = new Array(N).fill(0).map((_, i) => 0x20 + (i % 0xd0));
      const translator = {
        translate: (m) => {
          const d = decodeMsi(m);
          const vector = irt[d.index];
          return { ok: true, irte: d.index, msi: encodeCompatMsi({ destination: 0, redirectionHint: false, destLogical: false, vector, deliveryMode: 0, level: false, assert: false }) };
        },
      };
      const cache = new IrqfdCache({ vm, routing, policy, translator });
      const fds = [];
      const handles = [];
      for (let i = 0; i < N; i++) {
        const fd = vm.createEventFd();
        fds.push(fd);
        const msg = encodeRemappableMsi(i);
        const h = cache.add({ eventfd: fd, sourceId: 0x18, label: `v${i}`, message: () => msg, fire: () => cache.deliver(h, msg) });
        handles.push(h);
      }
      // Fill: ring each once and serve it as the poller would (lazy fills here; eager filled at add).
      const serveAll = async () => { await new Promise((r) => setTimeout(r, 0)); };
      for (const fd of fds) fd.write(1);
      await serveAll();
      for (let k = 0; k < 50 && cache.cachedCount < N && policy !== 'none'; k++) await serveAll();
      let spent = 0, detachSum = 0, pushSum = 0;
      for (let r = 0; r < ROUNDS; r++) {
        const i = (r * 37) % N;
        irt[i] = 0x20 + ((irt[i] - 0x20 + 1) % 0xd0);
        const d0 = cache.stats.detaches, p0 = routing.pushes;
        const t0 = performance.now();
        cache.invalidateIrteRange(i, i);
        spent += performance.now() - t0;
        detachSum += cache.stats.detaches - d0;
        pushSum += routing.pushes - p0;
        // Refill before the next round, as the next ring would.
        fds[i].write(1);
        await serveAll();
      }
      parts.push(`${policy}: ${(detachSum / ROUNDS).toFixed(2)} detaches, ${(pushSum / ROUNDS).toFixed(2)} pushes, ${(spent * 1000 / ROUNDS).toFixed(1)} µs per invalidation (cached ${cache.cachedCount}/${N})`);
      cache.close();
      for (const fd of fds) fd.close();
    } finally {
      vm.close();
      hypervisor.close();
    }
  }
  print('invalidate_1_of_2048', kvmWhy ? 'sim' : 'kvm', parts.join('; '));
}

// doorbell_policies -------------------------------------------------------------------
// The README's policy table: doorbell-storm.elf (16 vectors, 561 rings, entries reprogrammed and
// IRTE ranges invalidated between rounds) under each policy, on KVM when it opens, else the sim.
if (want('doorbell_policies')) {
  const { IRQ_CACHE_POLICIES } = await import(join(ROOT, 'dist', 'irq', 'irqfd-cache.js'));
  const parts = [];
  for (const policy of IRQ_CACHE_POLICIES) {
    const { hypervisor } = openHypervisor(kvmWhy ? 'sim' : 'kvm');
    const m = new X86Machine({
      hypervisor, image: readFileSync(join(GUESTS, 'doorbell-storm.elf')), irqchip: 'split',
      devices: ['doorbell,vectors=16'], iommu: { intremap: true }, irqCache: policy, serialOut: () => {},
    });
    try {
      const t0 = performance.now();
      const r = await m.runAsync();
      const ms = performance.now() - t0;
      if (r.status !== 1) throw new Error(`doorbell-storm exited ${r.status} under ${policy}`);
      const s = m.irqStats();
      parts.push(`${policy}: ${s.rings} rings, ${s.hits} hits, ${(s.misses / s.rings).toFixed(3)} wake-ups/ring, ${s.fills} fills, ${s.routePushes} pushes, ${ms.toFixed(0)} ms`);
    } finally {
      m.close();
      hypervisor.close();
    }
  }
  print('doorbell_policies', kvmWhy ? 'sim' : 'kvm', parts.join('; '));
}

// doorbell_load, doorbell_reprogram_K ---------------------------------------------------------
// Steady storms: doorbell-sink.elf under --doorbell-load (N rings from another thread, as fast as
// they go), the guest halted between interrupts (halt=1: a spinning vCPU takes interrupts late on
// these hosts, whatever the policy), under each policy, on KVM when it opens, else the sim. Each
// line gives per policy the rings and the guest's interrupts per second of wall time (the kernel's
// irqfds and the device coalesce rings into a vector already pending: one interrupt answers many
// rings) and what `describe` says of the cache's counters.
//   doorbell_load_16, doorbell_load_2048: 16 vectors, and 2048 round robin: userspace wake-ups
//     per ring, fills and route pushes.
//   doorbell_reprogram_8, _64: 16 vectors with an invalidation every K interrupts -- the guest
//     reprograms one MSI-X entry every K interrupts (masked, its vector moved, unmasked), as a
//     driver retargeting an interrupt does: also invalidations and irqfd detaches.
const stormCount = quick ? 2000 : (kvmWhy ? 10_000 : 200_000);
async function sinkStorms(vectors, cmdline, describe) {
  const { IRQ_CACHE_POLICIES } = await import(join(ROOT, 'dist', 'irq', 'irqfd-cache.js'));
  const parts = [];
  for (const policy of IRQ_CACHE_POLICIES) {
    const { hypervisor } = openHypervisor(kvmWhy ? 'sim' : 'kvm');
    let serial = '';
    const m = new X86Machine({
      hypervisor, image: readFileSync(join(GUESTS, 'doorbell-sink.elf')), irqchip: 'split', cmdline,
      devices: [`doorbell,vectors=${vectors}`], irqCache: policy, doorbellLoad: { rate: 0, count: stormCount },
      serialOut: (b) => { serial += Buffer.from(b).toString('latin1'); },
    });
    try {
      const t0 = performance.now();
      const r = await m.runAsync();
      const s = m.irqStats();
      const ms = performance.now() - t0;
      if (r.status !== 1) throw new Error(`doorbell-sink ${cmdline} exited ${r.status} under ${policy}: ${serial}`);
      const counts = /interrupts=(\d+) reprogrammed=(\d+)/.exec(serial);
      if (!counts) throw new Error(`doorbell-sink ${cmdline} printed no counts: ${serial}`);
      const irqs = Number(counts[1]);
      parts.push(`${policy}: ${Math.round(s.rings / (ms / 1000))} rings/s, ${Math.round(irqs / (ms / 1000))} interrupts/s, ${describe(s, counts)}`);
    } finally {
      m.close();
      hypervisor.close();
    }
  }
  return `${stormCount} rings: ${parts.join('; ')}`;
}
const wakeUps = (s, irqs) => `${(s.misses / s.rings).toFixed(3)} wake-ups/ring (${(s.misses / Math.max(1, Number(irqs))).toFixed(3)}/interrupt)`;
if (want('doorbell_load')) {
  for (const vectors of [16, 2048]) {
    print(`doorbell_load_${vectors}`, kvmWhy ? 'sim' : 'kvm',
      await sinkStorms(vectors, 'verbose=1 halt=1', (s, counts) => `${counts[1]} interrupts, ${wakeUps(s, counts[1])}, ${s.fills} fills, ${s.routePushes} pushes`));
  }
}
for (const k of [8, 64]) {
  if (!want(`doorbell_reprogram_${k}`)) continue;
  print(`doorbell_reprogram_${k}`, kvmWhy ? 'sim' : 'kvm', await sinkStorms(16, `verbose=1 halt=1 reprogram=${k}`, (s, [, irqs, moves]) =>
    `${irqs} interrupts, ${moves} reprogrammings, ${wakeUps(s, irqs)}, ${s.invalidations} invalidations, ${s.detaches} detaches, ${s.fills} fills, ${s.routePushes} pushes`));
}

// msi_hit_vs_c, msi_miss_vs_c -------------------------------------------------------------
// A ping-pong between guests/x86/bench-msi.elf and scripts/bench/msi-ringer.c (one process,
// the same for both sides): ring the doorbell eventfd, wait for the guest's acknowledgement
// (an ioeventfd port), ring again. Round trips per second through our VMM ÷ through
// scripts/bench/msi-ref.c on the same guest bytes, alternated, best of R:
//   msi_hit_vs_c:  --irq-cache lazy (after its one miss every ring is a cached irqfd: no
//                  userspace code runs) vs C with KVM_IRQFD on an MSI route. Goal >= 0.9.
//   msi_miss_vs_c: --irq-cache none (every ring read and signalled by the VMM) vs a C thread
//                  that polls the eventfd, reads it and calls KVM_SIGNAL_MSI. Goal >= 0.5.
// Both as `vmm run` runs a doorbell machine: the vCPU on a thread of its own, as in the C
// reference; msi_miss_devthread_vs_c is the miss with the vCPU on the device thread.
const MSI_FIGURES = ['msi_hit_vs_c', 'msi_miss_vs_c', 'msi_miss_devthread_vs_c'];
if (MSI_FIGURES.some(want)) {
  if (kvmWhy) for (const f of MSI_FIGURES.filter(want)) print(f, 'skipped', kvmWhy);
  else {
    execFileSync('bash', [join(ROOT, 'scripts', 'bench', 'build-ref.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
    const { openMsiPingPong } = await import(join(ROOT, 'dist', 'machine', 'msi-pingpong.js'));
    const ringer = join(ROOT, 'build', 'bench', 'msi-ringer');
    const elf = join(GUESTS, 'bench-msi.elf');
    const count = quick ? 5_000 : 50_000;
    const cRate = (mode) => {
      const r = spawnSync(join(ROOT, 'build', 'bench', 'msi-ref'), [mode, elf, String(count), ringer], { encoding: 'latin1', timeout: 600_000 });
      if (r.status !== 0) throw new Error(`msi-ref ${mode} exited ${r.status}: ${r.stdout}${r.stderr}`);
      return ringerRate(r.stdout, `msi-ref ${mode}`);
    };
    const ours = async (policy, vcpuThreads) => {
      const { hypervisor } = openHypervisor('kvm');
      let serial = '';
      const p = openMsiPingPong({ hypervisor, image: readFileSync(elf), count, irqCache: policy, ...(vcpuThreads === undefined ? {} : { vcpuThreads }), serialOut: (b) => { serial += Buffer.from(b).toString('latin1'); } });
      try {
        const child = spawn(ringer, [String(count)], { stdio: ['ignore', 'pipe', 'inherit', p.ring.fd, p.ack.fd] });
        let out = '';
        child.stdout.setEncoding('latin1').on('data', (d) => { out += d; });
        // A ringer that gives up on the guest (its message says why) ends the run too.
        const exited = new Promise((resolve) => child.on('close', (code) => { if (code !== 0) p.machine.stop(); resolve(code); }));
        const r = await p.machine.runAsync();
        const code = await exited;
        if (r.status !== 1 || code !== 0 || !serial.includes(': PASS')) throw new Error(`bench-msi under ${policy}: status ${r.status}, ringer ${code}: ${serial}`);
        return ringerRate(out, `ours (${policy})`);
      } finally {
        p.close();
        hypervisor.close();
      }
    };
    const reps = quick ? 3 : 7;
    for (const [name, mode, policy, threads, goal] of [
      ['msi_hit_vs_c', 'hit', 'lazy', undefined, 0.9], ['msi_miss_vs_c', 'miss', 'none', undefined, 0.5], ['msi_miss_devthread_vs_c', 'miss', 'none', false, 0.5],
    ]) {
      if (!want(name)) continue;
      const x = await alternate(reps, () => cRate(mode), () => ours(policy, threads));
      print(name, (x.b / x.a).toFixed(3),
        `${VENDOR}; best of ${reps}: --irq-cache ${policy}${threads === false ? ' (vCPU on the device thread)' : ''} ${Math.round(x.b)} vs C ${Math.round(x.a)} round trips/s; medians ${Math.round(x.bMedian)} vs ${Math.round(x.aMedian)}; count=${count}; goal >= ${goal}`);
    }
  }
}

// eventfd_wake_vs_c ------------------------------------------------------------------------
// The userspace half of msi_miss_vs_c, measurable on any host (no guest, no KVM): msi-ringer
// rings an eventfd and waits for an acknowledgement on another. Ours is the path a ring the
// irqfd cache does not hold takes before KVM_SIGNAL_MSI: the addon's poller, then the JS
// callback, which reads the eventfd and acknowledges. The reference is wake-ref.c: poll, read,
// acknowledge. Round trips/s, alternated, best of R. No goal of its own: it shows how much of
// the miss path's gap is the wake-up alone.
if (want('eventfd_wake_vs_c')) {
  const b = tryLoadBinding();
  if (!b) print('eventfd_wake_vs_c', 'skipped', 'the addon is not built');
  else {
    execFileSync('bash', [join(ROOT, 'scripts', 'bench', 'build-ref.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
    const ringer = join(ROOT, 'build', 'bench', 'msi-ringer');
    const count = quick ? 20_000 : 100_000;
    const exitOf = (child, who) => new Promise((resolve, reject) => child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${who} exited ${code}`)))));
    /** One ping-pong: `serve` answers fd 3's rings on fd 4 (it returns a promise of its end); the ringer's figure. */
    const pingPong = async (serve) => {
      const ring = b.eventfd(0, b.constants.EFD_CLOEXEC);
      const ack = b.eventfd(0, b.constants.EFD_CLOEXEC);
      try {
        const served = serve(ring, ack);
        b.eventfdWrite(ack, 1n); // "ready"
        const child = spawn(ringer, [String(count)], { stdio: ['ignore', 'pipe', 'inherit', ring.fd, ack.fd] });
        let out = '';
        child.stdout.setEncoding('latin1').on('data', (d) => { out += d; });
        await Promise.all([exitOf(child, 'msi-ringer'), served]);
        return ringerRate(out, 'eventfd_wake_vs_c');
      } finally {
        ring.close();
        ack.close();
      }
    };
    const cRate = () => pingPong((ring, ack) => exitOf(
      spawn(join(ROOT, 'build', 'bench', 'wake-ref'), [String(count)], { stdio: ['ignore', 'inherit', 'inherit', ring.fd, ack.fd] }), 'wake-ref'));
    const ours = async () => {
      // Held here while it serves: a poller handle nothing refers to is closed when collected.
      let poller = null;
      try {
        return await pingPong((ring, ack) => new Promise((resolve) => {
          let rings = 0n;
          poller = b.pollerCreate(() => {
            const v = b.eventfdRead(ring);
            if (v === null) return;
            rings += v;
            b.eventfdWrite(ack, 1n);
            if (rings >= BigInt(count)) resolve();
          });
          b.pollerAdd(poller, ring, 1, []);
        }));
      } finally {
        poller?.close();
      }
    };
    const reps = quick ? 3 : 7;
    const x = await alternate(reps, cRate, ours);
    print('eventfd_wake_vs_c', (x.b / x.a).toFixed(3),
      `${VENDOR}; best of ${reps}: poller + JS ${Math.round(x.b)} vs C ${Math.round(x.a)} round trips/s; medians ${Math.round(x.bMedian)} vs ${Math.round(x.aMedian)}; count=${count}`);
  }
}

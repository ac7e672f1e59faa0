// Run by scripts/bench/run.js (exit_userspace_ns) with the fake /dev/kvm preloaded and
// TSVMM_FAKE_KVM_PIO=N, so that every KVM_RUN returns bench-pio.elf's next exit at once:
//   node exit-child.js bare|in-process
// prints {"exits":…,"seconds":…} for one run of that loop.
import { join } from 'node:path';

const { bareLoop, inProcess } = await import(join(import.meta.dirname, 'exit-loops.js'));
const mode = process.argv[2];
const run = { bare: bareLoop, 'in-process': inProcess }[mode];
if (!run) throw new Error(`exit-child: mode must be bare or in-process, not ${mode}`);
console.log(JSON.stringify(run(Number(process.env.TSVMM_FAKE_KVM_PIO))));

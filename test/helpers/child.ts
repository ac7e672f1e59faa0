/**
 * Runs a reproduction in a child Node process, so that a crash (a signal), an
 * abort or a hang is an assertion failure of the test instead of the end of
 * the test run. The script is an ES module; `ADDON` (the addon's path) and
 * `BINDING` (the compiled loader, dist/native/binding.js) are defined for it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bindingPath } from '../../src/native/binding.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DIST_BINDING = join(ROOT, 'dist', 'native', 'binding.js');

export interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The child was still running at the deadline and was killed. */
  timedOut: boolean;
}

export interface ChildOptions {
  timeoutMs?: number;
  /** Extra node flags (e.g. --expose-gc). */
  nodeArgs?: string[];
  /** A shell prefix such as `prlimit --as=N --` (run through /bin/sh). */
  wrap?: string;
}

export function runChild(source: string, opts: ChildOptions = {}): ChildResult {
  const prelude = `const ADDON = ${JSON.stringify(bindingPath() ?? '')};\nconst BINDING = ${JSON.stringify(pathToFileURL(DIST_BINDING).href)};\n`;
  const args = [...(opts.nodeArgs ?? []), '--input-type=module', '-e', prelude + source];
  const timeout = opts.timeoutMs ?? 20_000;
  const r = opts.wrap
    ? spawnSync('/bin/sh', ['-c', `${opts.wrap} "$0" "$@"`, process.execPath, ...args], { encoding: 'utf8', timeout, killSignal: 'SIGKILL' })
    : spawnSync(process.execPath, args, { encoding: 'utf8', timeout, killSignal: 'SIGKILL' });
  const timedOut = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT';
  return { status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '', timedOut };
}

/** True when dist/ holds the compiled loader (npm test builds it first). */
export const distBuilt = (): boolean => existsSync(DIST_BINDING);

/**
 * Child-script source that sets up a one-vCPU real-mode guest on KVM with the
 * raw addon `b`: 64 KiB at 0, `code` at 0x1000, optionally the split
 * irqchip (so that HLT sleeps inside KVM_RUN). Defines kvm, vm, mem, vcpu.
 */
export function realModeGuestSource(code: number[], opts: { split?: boolean } = {}): string {
  return `
const kvm = b.openKvm();
const vm = b.createVm(kvm, 0);
b.setTssAddr(vm, 0xfffbd000);
${opts.split ? 'b.enableCap(vm, b.constants.KVM_CAP_SPLIT_IRQCHIP, 0, [24]);' : ''}
let mem = b.mmapAnonymous(0x10000);
b.setUserMemoryRegion(vm, 0, 0, 0, 0x10000, mem, 0);
new Uint8Array(mem).set(${JSON.stringify(code)}, 0x1000);
const vcpu = b.createVcpu(vm, 0);
{
  const s = b.getSregs(vcpu);
  s.cs = { ...s.cs, base: 0n, selector: 0 };
  b.setSregs(vcpu, s);
  const r = b.getRegs(vcpu);
  r.rip = 0x1000n;
  r.rflags = 2n;
  b.setRegs(vcpu, r);
}
`;
}

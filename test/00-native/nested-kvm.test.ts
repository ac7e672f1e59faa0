/**
 * The nested-KVM harness's own pieces (scripts/nested-kvm): the initramfs
 * writer produces a newc archive that lists exactly what it was given, and
 * PID 1 compiles statically where the toolchain can (the harness itself
 * boots QEMU and is run by `npm run test:nested-kvm`, not here).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const DIR = join(import.meta.dirname, '..', '..', 'scripts', 'nested-kvm');
const tmp = mkdtempSync(join(tmpdir(), 'tsvmm-nested-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The entries of a newc archive: name, mode, data. */
function readNewc(buf: Buffer): { name: string; mode: number; data: Buffer }[] {
  const out: { name: string; mode: number; data: Buffer }[] = [];
  let at = 0;
  const align = (n: number): number => (n + 3) & ~3;
  for (;;) {
    expect(buf.toString('latin1', at, at + 6)).toBe('070701');
    const field = (i: number): number => parseInt(buf.toString('latin1', at + 6 + 8 * i, at + 14 + 8 * i), 16);
    const mode = field(1), size = field(6), nameSize = field(11);
    const name = buf.toString('latin1', at + 110, at + 110 + nameSize - 1);
    const dataAt = align(at + 110 + nameSize);
    if (name === 'TRAILER!!!') return out;
    out.push({ name, mode, data: buf.subarray(dataAt, dataAt + size) });
    at = align(dataAt + size);
  }
}

describe('nested-KVM harness', () => {
  it('mkcpio writes a newc archive with the files and directories asked for', () => {
    const a = join(tmp, 'a.bin');
    writeFileSync(a, Buffer.from('hello, initramfs\n'));
    const out = join(tmp, 'initrd');
    const r = spawnSync(process.execPath, [join(DIR, 'mkcpio.mjs'), out, 'init=' + a, 'modules/', 'modules/x.ko=' + a]);
    expect(r.status).toBe(0);
    const entries = readNewc(readFileSync(out));
    expect(entries.map((e) => [e.name, e.mode.toString(8)])).toEqual([['init', '100755'], ['modules', '40755'], ['modules/x.ko', '100755']]);
    expect(entries[0]!.data.toString()).toBe('hello, initramfs\n');
  });

  const staticCc = spawnSync('gcc', ['-static', '-x', 'c', '-o', join(tmp, 'probe'), '-'], { input: 'int main(void){return 0;}' }).status === 0;
  it.skipIf(!staticCc)(`PID 1 compiles statically with warnings as errors${staticCc ? '' : ' (skipped: no static C toolchain)'}`, () => {
    const r = spawnSync('gcc', ['-static', '-O2', '-Wall', '-Wextra', '-Werror', '-o', join(tmp, 'init'), join(DIR, 'init.c')], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

/**
 * The generated device tree: it round-trips through our reader, Debian's
 * dtc decompiles it without a warning, and every node and property we emit
 * is the one QEMU's own `virt` tree (gic-version=2) has for that device, with
 * the same values where the machines agree.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildFdt, cells, node, parseFdt, strings, type FdtNode } from '../../src/loader/fdt.js';
import { virtDtb } from '../../src/machine/arm64/virt-dt.js';

const hasDtc = spawnSync('dtc', ['--version']).status === 0;
const hasQemu = spawnSync('qemu-system-aarch64', ['--version']).status === 0;
const noDtc = hasDtc ? '' : ' (skipped: dtc is not installed; scripts/arm64/install-tools.sh installs device-tree-compiler)';
const noQemu = hasQemu ? '' : ' (skipped: qemu-system-aarch64 is not installed; scripts/arm64/install-tools.sh installs it)';
const IMG = 'guests/arm64/hello.img';

type Parsed = ReturnType<typeof parseFdt>;
function find(n: Parsed, path: string): Parsed | undefined {
  let cur: Parsed | undefined = n;
  for (const part of path.split('/').filter(Boolean)) cur = cur?.children.find((c) => c.name === part) as Parsed | undefined;
  return cur;
}
function prop(n: Parsed | undefined, name: string): Uint8Array | undefined {
  return n?.props.find(([k]) => k === name)?.[1] as Uint8Array | undefined;
}

describe('FDT writer/reader', () => {
  it('round-trips nodes, string lists, cells and empty properties, deduplicating names', () => {
    const blob = buildFdt(node('', { a: [1, 0xffff_ffff], s: ['x', 'yz'], e: null }, [node('c@1', { a: 'v' })]));
    expect(new DataView(blob.buffer).getUint32(0)).toBe(0xd00dfeed);
    expect(blob.length % 8).toBe(0);
    const t = parseFdt(blob);
    expect(cells(prop(t, 'a')!)).toEqual([1, 0xffff_ffff]);
    expect(strings(prop(t, 's')!)).toEqual(['x', 'yz']);
    expect(prop(t, 'e')!.length).toBe(0);
    expect(strings(prop(find(t, 'c@1'), 'a')!)).toEqual(['v']);
    // "a" appears once in the strings block.
    const dv = new DataView(blob.buffer);
    const size = dv.getUint32(32);
    expect(size).toBe('a\0s\0e\0'.length);
  });

  it('rejects bad input with stable codes', () => {
    expect(() => buildFdt(node('x'))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => buildFdt(node('', { a: [-1] }))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => buildFdt(node('', {}, [node('a/b')]))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => parseFdt(new Uint8Array(64))).toThrow(expect.objectContaining({ code: 'ERR_LOADER_FDT' }));
    const blob = buildFdt(node('', { a: [1] }));
    expect(() => parseFdt(blob.subarray(0, 50))).toThrow(expect.objectContaining({ code: 'ERR_LOADER_FDT' }));
  });
});

describe('virt device tree', () => {
  const ours = virtDtb({ memBytes: 128 << 20, cpus: 2, bootargs: 'console=ttyAMA0' });

  it('describes memory, 2 PSCI cpus, the GICv2, the timer PPIs for 2 CPUs, the PL011 and chosen', () => {
    const t = parseFdt(ours);
    expect(cells(prop(find(t, 'memory@40000000'), 'reg')!)).toEqual([0, 0x4000_0000, 0, 128 << 20]);
    expect(strings(prop(find(t, 'cpus/cpu@1'), 'enable-method')!)).toEqual(['psci']);
    expect(strings(prop(find(t, 'psci'), 'method')!)).toEqual(['hvc']);
    expect(cells(prop(find(t, 'intc@8000000'), 'reg')!)).toEqual([0, 0x0800_0000, 0, 0x1_0000, 0, 0x0801_0000, 0, 0x1_0000]);
    expect(cells(prop(find(t, 'timer'), 'interrupts')!)).toEqual([1, 13, 0x304, 1, 14, 0x304, 1, 11, 0x304, 1, 10, 0x304]);
    expect(cells(prop(find(t, 'pl011@9000000'), 'interrupts')!)).toEqual([0, 1, 4]);
    expect(strings(prop(find(t, 'chosen'), 'stdout-path')!)).toEqual(['/pl011@9000000']);
    expect(strings(prop(find(t, 'chosen'), 'bootargs')!)).toEqual(['console=ttyAMA0']);
  });

  it.skipIf(!hasDtc)(`dtc decompiles it without a warning${noDtc}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvmm-dt-'));
    try {
      writeFileSync(join(dir, 'ours.dtb'), ours);
      const r = spawnSync('dtc', ['-I', 'dtb', '-O', 'dts', join(dir, 'ours.dtb')], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain('compatible = "arm,cortex-a15-gic";');
      expect(r.stdout).toContain('compatible = "arm,armv8-timer\\0arm,armv7-timer";');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!hasQemu)(`every node and property matches QEMU's own virt tree${noQemu}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvmm-dt-'));
    try {
      const q = join(dir, 'qemu.dtb');
      const r = spawnSync('qemu-system-aarch64', ['-M', `virt,gic-version=2,dumpdtb=${q}`, '-cpu', 'cortex-a57', '-smp', '2', '-m', '128',
        '-display', 'none', '-kernel', IMG, '-append', 'console=ttyAMA0'], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const theirs = parseFdt(readFileSync(q));
      const mine = parseFdt(ours);
      // Where the machines differ on purpose: the CPU model (KVM gives the host's), QEMU's seeds.
      const differs = new Set(['cpus/cpu@0:compatible', 'cpus/cpu@1:compatible', 'cpus/cpu@0:phandle', 'cpus/cpu@1:phandle']);
      const phandles = (n: Parsed, v: Uint8Array, name: string): Uint8Array =>
        name === 'interrupt-parent' || name === 'phandle' || name === 'clocks' ? new Uint8Array(0) : v;
      const walk = (m: FdtNode, path: string): void => {
        const t = find(theirs, path);
        expect(t, `QEMU has ${path || '/'}`).toBeDefined();
        for (const [name, value] of (m as Parsed).props) {
          const tv = prop(t, name);
          expect(tv, `QEMU has ${path}:${name}`).toBeDefined();
          if (differs.has(`${path}:${name}`)) continue;
          expect(Array.from(phandles(m as Parsed, value, name)), `${path}:${name}`).toEqual(Array.from(phandles(t!, tv!, name)));
        }
        for (const c of m.children) walk(c, path ? `${path}/${c.name}` : c.name);
      };
      walk(mine, '');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

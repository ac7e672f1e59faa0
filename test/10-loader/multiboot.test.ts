/**
 * The multiboot loader against valid and hostile ELF32 images: every
 * failure has a stable code and leaves guest RAM untouched.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadMultiboot, MULTIBOOT_INFO_ADDRESS } from '../../src/loader/multiboot.js';

interface Seg { paddr: number; data: number[]; memsz?: number; offset?: number; filesz?: number }

/** Assembles an ELF32 EXEC image: header, program headers, a multiboot header, then segment data. */
function elf(opts: { segs?: Seg[]; entry?: number; header?: boolean; mutate?: (dv: DataView, u8: Uint8Array) => void } = {}): Uint8Array {
  const segs = opts.segs ?? [{ paddr: 0x10_0000, data: [0xf4, 0xeb, 0xfd], memsz: 0x2000 }];
  const phoff = 52;
  const mbAt = phoff + 32 * segs.length;
  let dataAt = mbAt + 12;
  const size = dataAt + segs.reduce((n, s) => n + s.data.length, 0);
  const u8 = new Uint8Array(size);
  const dv = new DataView(u8.buffer);
  u8.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
  dv.setUint16(16, 2, true);
  dv.setUint16(18, 3, true);
  dv.setUint32(20, 1, true);
  dv.setUint32(24, opts.entry ?? segs[0]!.paddr, true);
  dv.setUint32(28, phoff, true);
  dv.setUint16(40, 52, true);
  dv.setUint16(42, 32, true);
  dv.setUint16(44, segs.length, true);
  segs.forEach((s, i) => {
    const at = phoff + 32 * i;
    dv.setUint32(at, 1, true);
    dv.setUint32(at + 4, s.offset ?? dataAt, true);
    dv.setUint32(at + 8, s.paddr, true);
    dv.setUint32(at + 12, s.paddr, true);
    dv.setUint32(at + 16, s.filesz ?? s.data.length, true);
    dv.setUint32(at + 20, s.memsz ?? s.data.length, true);
    u8.set(s.data, dataAt);
    dataAt += s.data.length;
  });
  if (opts.header !== false) {
    dv.setUint32(mbAt, 0x1bad_b002, true);
    dv.setUint32(mbAt + 4, 3, true);
    dv.setUint32(mbAt + 8, (-(0x1bad_b002 + 3)) >>> 0, true);
  }
  opts.mutate?.(dv, u8);
  return u8;
}

const RAM = 4 << 20;
const code = (f: () => unknown): string | undefined => {
  try { f(); } catch (e) { return (e as { code?: string }).code; }
  return undefined;
};

describe('multiboot loader', () => {
  it('loads segments at p_paddr, zeroes bss, and builds the info structure', () => {
    const ram = new Uint8Array(RAM);
    ram.fill(0xaa, 0x10_0000, 0x10_3000);
    const boot = loadMultiboot(elf(), ram, { cmdline: 'count=5 x', modules: [{ data: Uint8Array.of(1, 2, 3), cmdline: 'mod0' }] });
    expect(boot).toMatchObject({ entry: 0x10_0000, eax: 0x2bad_b002, ebx: MULTIBOOT_INFO_ADDRESS });
    expect([...ram.subarray(0x10_0000, 0x10_0003)]).toEqual([0xf4, 0xeb, 0xfd]);
    expect(ram.subarray(0x10_0003, 0x10_2000).every((b) => b === 0)).toBe(true);
    const dv = new DataView(ram.buffer);
    const info = MULTIBOOT_INFO_ADDRESS;
    const flags = dv.getUint32(info, true);
    expect(flags & 0b10_0100_1111).toBe(0b10_0100_1111); // mem, boot device, cmdline, mods, mmap, loader name
    expect(dv.getUint32(info + 4, true)).toBe(640);
    expect(dv.getUint32(info + 8, true)).toBe(RAM / 1024 - 1024);
    const str = (at: number): string => { let s = ''; while (ram[at]) s += String.fromCharCode(ram[at++]!); return s; };
    expect(str(dv.getUint32(info + 16, true))).toBe('count=5 x');
    expect(str(dv.getUint32(info + 64, true))).toBe('tsvmm');
    // One module, page-aligned above the kernel, with its command line.
    expect(dv.getUint32(info + 20, true)).toBe(1);
    const mods = dv.getUint32(info + 24, true);
    expect(dv.getUint32(mods, true)).toBe(0x10_2000);
    expect(dv.getUint32(mods + 4, true)).toBe(0x10_2003);
    expect(str(dv.getUint32(mods + 8, true))).toBe('mod0');
    expect([...ram.subarray(0x10_2000, 0x10_2003)]).toEqual([1, 2, 3]);
    // The memory map: 4 entries of size 20, usable RAM from 1 MiB to the end.
    expect(dv.getUint32(info + 44, true)).toBe(4 * 24);
    const mmap = dv.getUint32(info + 48, true);
    expect(dv.getUint32(mmap + 3 * 24, true)).toBe(20);
    expect(dv.getBigUint64(mmap + 3 * 24 + 4, true)).toBe(0x10_0000n);
    expect(dv.getBigUint64(mmap + 3 * 24 + 12, true)).toBe(BigInt(RAM - 0x10_0000));
    expect(dv.getUint32(mmap + 3 * 24 + 20, true)).toBe(1);
  });

  it.each([
    ['truncated header', () => new Uint8Array(20), 'ERR_LOADER_NO_MULTIBOOT_HEADER'],
    ['no multiboot header', () => elf({ header: false }), 'ERR_LOADER_NO_MULTIBOOT_HEADER'],
    ['bad multiboot checksum', () => elf({ mutate: (dv) => dv.setUint32(52 + 32 + 8, 0, true) }), 'ERR_LOADER_BAD_MULTIBOOT_HEADER'],
    ['bad ELF magic', () => elf({ mutate: (_dv, u8) => { u8[1] = 0x46; } }), 'ERR_LOADER_NOT_ELF'],
    ['ELF64', () => elf({ mutate: (_dv, u8) => { u8[4] = 2; } }), 'ERR_LOADER_UNSUPPORTED_ELF'],
    ['big-endian', () => elf({ mutate: (_dv, u8) => { u8[5] = 2; } }), 'ERR_LOADER_UNSUPPORTED_ELF'],
    ['wrong machine', () => elf({ mutate: (dv) => dv.setUint16(18, 62, true) }), 'ERR_LOADER_UNSUPPORTED_ELF'],
    ['program headers beyond the file', () => elf({ mutate: (dv) => dv.setUint32(28, 0xffff_ff00, true) }), 'ERR_LOADER_TRUNCATED'],
    ['huge e_phnum', () => elf({ mutate: (dv) => dv.setUint16(44, 60000, true) }), 'ERR_LOADER_BAD_SEGMENT'],
    ['segment data beyond the file', () => elf({ segs: [{ paddr: 0x10_0000, data: [0xf4], filesz: 0x10000, memsz: 0x10000 }] }), 'ERR_LOADER_TRUNCATED'],
    ['filesz > memsz', () => elf({ segs: [{ paddr: 0x10_0000, data: [0xf4, 0xf4], memsz: 1 }] }), 'ERR_LOADER_BAD_SEGMENT'],
    ['segment beyond RAM', () => elf({ segs: [{ paddr: RAM - 1, data: [0xf4, 0xf4] }] }), 'ERR_LOADER_OUT_OF_RAM'],
    ['segment wrapping 4 GiB', () => elf({ segs: [{ paddr: 0xffff_f000, data: [0xf4], memsz: 0x2000 }] }), 'ERR_LOADER_BAD_SEGMENT'],
    ['segment over the info area', () => elf({ segs: [{ paddr: 0x9000, data: [0xf4] }] }), 'ERR_LOADER_OVERLAP'],
    ['overlapping segments', () => elf({ segs: [{ paddr: 0x10_0000, data: [0xf4], memsz: 0x1000 }, { paddr: 0x10_0800, data: [0xf4] }] }), 'ERR_LOADER_OVERLAP'],
    ['entry outside every segment', () => elf({ entry: 0x50_0000 }), 'ERR_LOADER_BAD_ENTRY'],
  ])('%s → %s, RAM untouched', (_name, make, expected) => {
    const ram = new Uint8Array(RAM);
    expect(code(() => loadMultiboot(make(), ram, { cmdline: 'x' }))).toBe(expected);
    expect(ram.every((b) => b === 0)).toBe(true);
  });

  it('property: mutated images only ever throw LoaderError, and never write outside RAM', () => {
    const base = elf({ segs: [{ paddr: 0x10_0000, data: [0xf4, 0xeb, 0xfd, 1, 2, 3], memsz: 0x100 }] });
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), (muts) => {
      const img = base.slice();
      for (const [at, v] of muts) img[at] = v;
      const ram = new Uint8Array(RAM);
      try {
        loadMultiboot(img, ram, { cmdline: 'p' });
      } catch (e) {
        expect((e as { code?: string }).code).toMatch(/^ERR_LOADER_/);
        expect(ram.every((b) => b === 0)).toBe(true);
      }
      expect(ram.length).toBe(RAM);
    }), { numRuns: 300 });
  });
});

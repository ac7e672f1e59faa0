import { describe, expect, it } from 'vitest';
import { isArm64Image, loadArm64, parseArm64Image, ARM64_IMAGE_MAGIC } from '../../src/loader/arm64-image.js';

function image(textOffset: bigint, imageSize: bigint, flags = 0n, length = 4096): Uint8Array {
  const b = new Uint8Array(length);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, 0x1400_0010, true); // b +0x40
  dv.setBigUint64(8, textOffset, true);
  dv.setBigUint64(16, imageSize, true);
  dv.setBigUint64(24, flags, true);
  dv.setUint32(0x38, ARM64_IMAGE_MAGIC, true);
  return b;
}

const MIB = 1024 * 1024;

describe('arm64 Image loader', () => {
  it('reads text_offset and image_size; image_size 0 means an old kernel at 0x80000', () => {
    expect(parseArm64Image(image(0n, 0x20_0000n))).toEqual({ linux: true, textOffset: 0, imageSize: 0x20_0000 });
    expect(parseArm64Image(image(0x8_0000n, 0n))).toEqual({ linux: true, textOffset: 0x8_0000, imageSize: 4096 });
    expect(isArm64Image(image(0n, 1n))).toBe(true);
    expect(isArm64Image(new Uint8Array(100))).toBe(false);
  });

  it('loads a raw binary at RAM base + 0x80000', () => {
    const ram = new Uint8Array(8 * MIB);
    const raw = Uint8Array.from([1, 2, 3, 4]);
    const b = loadArm64(raw, ram, 0x4000_0000, () => new Uint8Array(64));
    expect(b.linux).toBe(false);
    expect(b.entry).toBe(0x4008_0000);
    expect(Array.from(ram.subarray(0x8_0000, 0x8_0004))).toEqual([1, 2, 3, 4]);
  });

  it('places the DTB in the last 2 MiB and the initrd right below it, page aligned, and tells the DTB builder', () => {
    const ram = new Uint8Array(16 * MIB);
    let seen: { start: number; end: number } | undefined;
    const initrd = new Uint8Array(10_000).fill(7);
    const b = loadArm64(image(0x8_0000n, 0x10_0000n), ram, 0x4000_0000, (i) => { seen = i; return new Uint8Array([0xd0, 0x0d, 0xfe, 0xed]); }, initrd);
    expect(b.dtbAddress).toBe(0x4000_0000 + 14 * MIB);
    expect(ram[14 * MIB]).toBe(0xd0);
    expect(seen).toEqual(b.initrd);
    expect(b.initrd!.end).toBe(b.initrd!.start + 10_000);
    expect(b.initrd!.start % 4096).toBe(0);
    expect(b.initrd!.end).toBeLessThanOrEqual(b.dtbAddress);
    expect(ram[b.initrd!.start - 0x4000_0000]).toBe(7);
  });

  it('refuses what does not fit, a big-endian image and a bad text_offset with ERR_LOADER_* codes', () => {
    const ram = new Uint8Array(4 * MIB);
    expect(() => loadArm64(image(0x8_0000n, 0x40_0000n), ram, 0x4000_0000, () => new Uint8Array(8))).toThrow(expect.objectContaining({ code: 'ERR_LOADER_TOO_BIG' }));
    expect(() => loadArm64(image(0n, 0x1000n, 1n), ram, 0x4000_0000, () => new Uint8Array(8))).toThrow(expect.objectContaining({ code: 'ERR_LOADER_IMAGE' }));
    expect(() => loadArm64(image(0x123n, 0x1000n), ram, 0x4000_0000, () => new Uint8Array(8))).toThrow(expect.objectContaining({ code: 'ERR_LOADER_IMAGE' }));
    expect(() => loadArm64(image(0x8_0000n, 0x1000n), ram, 0x4000_0000, () => new Uint8Array(8), new Uint8Array(3 * MIB))).toThrow(expect.objectContaining({ code: 'ERR_LOADER_TOO_BIG' }));
    expect(() => loadArm64(image(0x8_0000n, 0x1000n), ram, 0x4000_0000, () => new Uint8Array(3 * MIB))).toThrow(expect.objectContaining({ code: 'ERR_LOADER_TOO_BIG' }));
  });
});

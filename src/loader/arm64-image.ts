/**
 * The arm64 Linux boot protocol (Documentation/arch/arm64/booting.rst): an
 * `Image` with its 64-byte header is placed `text_offset` bytes above a 2 MiB
 * aligned base in RAM (image_size 0: an old kernel, text_offset 0x80000) and
 * entered at its first byte with x0 = the device tree's address, the MMU off,
 * EL1h and DAIF masked. A binary without the header is loaded as QEMU loads
 * one: at RAM base + 0x80000. The device tree goes at the top of RAM (8-byte
 * aligned, within the first 2 MiB block the kernel maps early: we put it in
 * the last 2 MiB), an initrd right below it.
 */
import { LoaderError } from '../errors.js';

export const ARM64_IMAGE_MAGIC = 0x644d_5241; // "ARM\x64" little-endian at offset 0x38
const RAW_LOAD_OFFSET = 0x8_0000;
const MIB2 = 2 * 1024 * 1024;

export interface Arm64ImageInfo {
  /** True when the image has the arm64 Image header. */
  linux: boolean;
  textOffset: number;
  /** Bytes the image needs from its load address (header's image_size, or the file size). */
  imageSize: number;
}

/** The header's fields, or `linux: false` for a raw binary. */
export function parseArm64Image(image: Uint8Array): Arm64ImageInfo {
  if (image.length >= 64) {
    const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
    if (dv.getUint32(0x38, true) === ARM64_IMAGE_MAGIC) {
      const textOffset = Number(dv.getBigUint64(8, true));
      const imageSize = Number(dv.getBigUint64(16, true));
      const flags = Number(dv.getBigUint64(24, true));
      if (flags & 1) throw new LoaderError('ERR_LOADER_IMAGE', 'big-endian arm64 Image (flags bit 0) is not supported');
      if (imageSize === 0) return { linux: true, textOffset: RAW_LOAD_OFFSET, imageSize: image.length };
      if (!Number.isSafeInteger(textOffset) || textOffset % 4096 !== 0 || textOffset >= MIB2 * 512) {
        throw new LoaderError('ERR_LOADER_IMAGE', `arm64 Image text_offset 0x${textOffset.toString(16)} is not a page-aligned offset`);
      }
      return { linux: true, textOffset, imageSize: Math.max(imageSize, image.length) };
    }
  }
  return { linux: false, textOffset: RAW_LOAD_OFFSET, imageSize: image.length };
}

/** True when `image` looks like an arm64 kernel (the Image magic); used to pick the architecture. */
export function isArm64Image(image: Uint8Array): boolean {
  return image.length >= 64 && new DataView(image.buffer, image.byteOffset, image.byteLength).getUint32(0x38, true) === ARM64_IMAGE_MAGIC;
}

/** Where the device tree goes (offset in RAM): the last 2 MiB. */
export function dtbOffset(ramSize: number): number { return ramSize - MIB2; }

/** Where an initrd of `length` bytes goes (offset in RAM): page aligned, right below the device tree. */
export function initrdOffset(ramSize: number, length: number): number {
  return Math.floor((dtbOffset(ramSize) - length) / 4096) * 4096;
}

export interface Arm64Boot {
  entry: number;
  dtbAddress: number;
  initrd?: { start: number; end: number };
  linux: boolean;
}

/**
 * Places the image, the device tree (built by `makeDtb` once the initrd's
 * place is known) and the initrd in `ram` (guest physical `ramBase`).
 * Throws ERR_LOADER_* when they do not fit or overlap.
 */
export function loadArm64(image: Uint8Array, ram: Uint8Array, ramBase: number,
  makeDtb: (initrd: { start: number; end: number } | undefined) => Uint8Array, initrd?: Uint8Array): Arm64Boot {
  const info = parseArm64Image(image);
  const loadAt = info.textOffset; // offset in RAM: the base (ramBase) is 2 MiB aligned
  if (loadAt + info.imageSize > ram.length) {
    throw new LoaderError('ERR_LOADER_TOO_BIG', `image needs 0x${(loadAt + info.imageSize).toString(16)} bytes of RAM, the machine has 0x${ram.length.toString(16)}`);
  }
  ram.set(image, loadAt);
  const dtbSlot = dtbOffset(ram.length);
  let initrdPlace: { start: number; end: number } | undefined;
  if (initrd) {
    const start = initrdOffset(ram.length, initrd.length);
    if (start < loadAt + info.imageSize) {
      throw new LoaderError('ERR_LOADER_TOO_BIG', `initrd of ${initrd.length} bytes does not fit between the image and the device tree`);
    }
    ram.set(initrd, start);
    initrdPlace = { start: ramBase + start, end: ramBase + start + initrd.length };
  }
  const dtb = makeDtb(initrdPlace);
  if (dtb.length > MIB2) throw new LoaderError('ERR_LOADER_TOO_BIG', `device tree of ${dtb.length} bytes exceeds 2 MiB`);
  if (dtbSlot < loadAt + info.imageSize) throw new LoaderError('ERR_LOADER_TOO_BIG', 'no room for the device tree above the image');
  ram.set(dtb, dtbSlot);
  return { entry: ramBase + loadAt, dtbAddress: ramBase + dtbSlot, ...(initrdPlace ? { initrd: initrdPlace } : {}), linux: info.linux };
}

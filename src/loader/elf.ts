/**
 * ELF32 parsing for the multiboot loader: validates everything a hostile
 * image could lie about before anything is copied anywhere.
 */
import { LoaderError } from '../errors.js';

export const PT_LOAD = 1;
const EM_386 = 3;
const ET_EXEC = 2;
/** A sane cap: real kernels have a handful of program headers. */
export const MAX_PHDRS = 256;

export interface Elf32Segment {
  /** Index in the program header table. */
  index: number;
  offset: number;
  vaddr: number;
  paddr: number;
  filesz: number;
  memsz: number;
  flags: number;
}

export interface Elf32Image {
  entry: number;
  segments: Elf32Segment[];
}

export function parseElf32(image: Uint8Array): Elf32Image {
  if (image.length < 52) throw new LoaderError('ERR_LOADER_TRUNCATED', `image is ${image.length} bytes, shorter than an ELF32 header (52)`);
  if (image[0] !== 0x7f || image[1] !== 0x45 || image[2] !== 0x4c || image[3] !== 0x46) {
    throw new LoaderError('ERR_LOADER_NOT_ELF', 'image does not start with the ELF magic \\x7fELF');
  }
  if (image[4] !== 1) throw new LoaderError('ERR_LOADER_UNSUPPORTED_ELF', `ELF class ${image[4]} is not ELFCLASS32 (1)`);
  if (image[5] !== 1) throw new LoaderError('ERR_LOADER_UNSUPPORTED_ELF', `ELF data encoding ${image[5]} is not little-endian (1)`);
  if (image[6] !== 1) throw new LoaderError('ERR_LOADER_UNSUPPORTED_ELF', `ELF version ${image[6]} is not 1`);
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const type = dv.getUint16(16, true);
  const machine = dv.getUint16(18, true);
  if (type !== ET_EXEC) throw new LoaderError('ERR_LOADER_UNSUPPORTED_ELF', `e_type ${type} is not ET_EXEC (2)`);
  if (machine !== EM_386) throw new LoaderError('ERR_LOADER_UNSUPPORTED_ELF', `e_machine ${machine} is not EM_386 (3)`);
  const entry = dv.getUint32(24, true);
  const phoff = dv.getUint32(28, true);
  const phentsize = dv.getUint16(42, true);
  const phnum = dv.getUint16(44, true);
  if (phnum === 0) throw new LoaderError('ERR_LOADER_BAD_SEGMENT', 'the image has no program headers');
  if (phnum > MAX_PHDRS) throw new LoaderError('ERR_LOADER_BAD_SEGMENT', `e_phnum ${phnum} exceeds ${MAX_PHDRS}`);
  if (phentsize < 32) throw new LoaderError('ERR_LOADER_BAD_SEGMENT', `e_phentsize ${phentsize} is smaller than an ELF32 program header (32)`);
  if (phoff + phnum * phentsize > image.length) {
    throw new LoaderError('ERR_LOADER_TRUNCATED', `program header table [${phoff}, ${phoff + phnum * phentsize}) extends past the ${image.length}-byte image`);
  }
  const segments: Elf32Segment[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (dv.getUint32(at, true) !== PT_LOAD) continue;
    const s: Elf32Segment = {
      index: i,
      offset: dv.getUint32(at + 4, true),
      vaddr: dv.getUint32(at + 8, true),
      paddr: dv.getUint32(at + 12, true),
      filesz: dv.getUint32(at + 16, true),
      memsz: dv.getUint32(at + 20, true),
      flags: dv.getUint32(at + 24, true),
    };
    if (s.filesz > s.memsz) throw new LoaderError('ERR_LOADER_BAD_SEGMENT', `segment ${i}: p_filesz ${s.filesz} > p_memsz ${s.memsz}`);
    if (s.offset + s.filesz > image.length) {
      throw new LoaderError('ERR_LOADER_TRUNCATED', `segment ${i}: file range [${s.offset}, ${s.offset + s.filesz}) extends past the ${image.length}-byte image`);
    }
    if (s.paddr + s.memsz > 2 ** 32) {
      throw new LoaderError('ERR_LOADER_BAD_SEGMENT', `segment ${i}: [0x${s.paddr.toString(16)}, +0x${s.memsz.toString(16)}) wraps past 4 GiB`);
    }
    segments.push(s);
  }
  if (segments.length === 0) throw new LoaderError('ERR_LOADER_BAD_SEGMENT', 'the image has no PT_LOAD segment');
  return { entry, segments };
}

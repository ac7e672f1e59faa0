/**
 * Multiboot (v1) loader for ELF32 images, as QEMU's `-kernel` does it:
 * PT_LOAD segments at their physical addresses, the multiboot information
 * structure at 0x9000 with the memory sizes, a PC memory map, the command
 * line, the boot loader name and modules. Every range is validated against
 * guest RAM *before* anything is written: a hostile image gets a
 * LoaderError and RAM stays untouched.
 */
import { LoaderError } from '../errors.js';
import { parseElf32, type Elf32Segment } from './elf.js';

export const MULTIBOOT_HEADER_MAGIC = 0x1bad_b002;
export const MULTIBOOT_BOOTLOADER_MAGIC = 0x2bad_b002;
/** Where the information structure and its strings live (QEMU uses the same address). */
export const MULTIBOOT_INFO_ADDRESS = 0x9000;
/** The info area ends below the EBDA. */
const INFO_AREA_END = 0x9_fc00;
const SEARCH_LIMIT = 8192;

/** Info flags. */
export const MBI_MEMORY = 1 << 0;
export const MBI_BOOT_DEVICE = 1 << 1;
export const MBI_CMDLINE = 1 << 2;
export const MBI_MODULES = 1 << 3;
export const MBI_MMAP = 1 << 6;
export const MBI_LOADER_NAME = 1 << 9;

/** Header flags we can honour: page-aligned modules, memory information. Bit 2 (video) is optional to honour. */
const HEADER_REQUIRED_SUPPORTED = (1 << 0) | (1 << 1) | (1 << 2);

export interface MultibootModule { data: Uint8Array; cmdline?: string }

export interface MultibootOptions {
  cmdline?: string;
  bootloaderName?: string;
  modules?: MultibootModule[];
}

export interface MultibootBoot {
  entry: number;
  eax: number;
  ebx: number;
  infoAddress: number;
  segments: Elf32Segment[];
  /** First byte above everything loaded (kernel and modules). */
  highestAddress: number;
  modules: { start: number; end: number }[];
}

interface Header { offset: number; flags: number }

export function findMultibootHeader(image: Uint8Array): Header {
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const limit = Math.min(SEARCH_LIMIT, image.length) - 12;
  for (let off = 0; off <= limit; off += 4) {
    if (dv.getUint32(off, true) !== MULTIBOOT_HEADER_MAGIC) continue;
    const flags = dv.getUint32(off + 4, true);
    const checksum = dv.getUint32(off + 8, true);
    if (((MULTIBOOT_HEADER_MAGIC + flags + checksum) >>> 0) !== 0) {
      throw new LoaderError('ERR_LOADER_BAD_MULTIBOOT_HEADER', `multiboot header at offset ${off}: checksum does not add up to 0`);
    }
    return { offset: off, flags };
  }
  throw new LoaderError('ERR_LOADER_NO_MULTIBOOT_HEADER', `no multiboot header (magic 0x1BADB002) in the first ${SEARCH_LIMIT} bytes`);
}

function cstring(s: string, what: string): Uint8Array {
  const bytes = new TextEncoder().encode(s);
  if (bytes.includes(0)) throw new LoaderError('ERR_LOADER_BAD_STRING', `${what} contains a NUL byte`);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

const alignUp = (v: number, a: number): number => Math.ceil(v / a) * a;

export function loadMultiboot(image: Uint8Array, ram: Uint8Array, options: MultibootOptions = {}): MultibootBoot {
  const header = findMultibootHeader(image);
  if (header.flags & (1 << 16)) {
    throw new LoaderError('ERR_LOADER_UNSUPPORTED_MULTIBOOT', 'multiboot a.out kludge (header flag 16) is not supported; use an ELF image');
  }
  const unknownRequired = header.flags & 0xffff & ~HEADER_REQUIRED_SUPPORTED;
  if (unknownRequired) {
    throw new LoaderError('ERR_LOADER_UNSUPPORTED_MULTIBOOT', `multiboot header requires flags 0x${unknownRequired.toString(16)} this loader cannot provide`);
  }
  const elf = parseElf32(image);
  const ramSize = ram.length;
  const infoStart = MULTIBOOT_INFO_ADDRESS;

  // Validate every destination before writing anything.
  let kernelEnd = 0;
  for (const s of elf.segments) {
    if (s.memsz === 0) continue;
    const end = s.paddr + s.memsz;
    if (end > ramSize) {
      throw new LoaderError('ERR_LOADER_OUT_OF_RAM',
        `segment ${s.index} [0x${s.paddr.toString(16)}, 0x${end.toString(16)}) is outside guest RAM (0x${ramSize.toString(16)} bytes)`);
    }
    if (s.paddr < INFO_AREA_END && infoStart < end) {
      throw new LoaderError('ERR_LOADER_OVERLAP',
        `segment ${s.index} [0x${s.paddr.toString(16)}, 0x${end.toString(16)}) overlaps the multiboot information area [0x${infoStart.toString(16)}, 0x${INFO_AREA_END.toString(16)})`);
    }
    kernelEnd = Math.max(kernelEnd, end);
  }
  const sorted = elf.segments.filter((s) => s.memsz > 0).sort((a, b) => a.paddr - b.paddr);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!;
    const b = sorted[i]!;
    if (b.paddr < a.paddr + a.memsz) throw new LoaderError('ERR_LOADER_OVERLAP', `segments ${a.index} and ${b.index} overlap`);
  }
  if (elf.entry < 0x1000 || !elf.segments.some((s) => elf.entry >= s.paddr && elf.entry < s.paddr + s.memsz)) {
    throw new LoaderError('ERR_LOADER_BAD_ENTRY', `entry point 0x${elf.entry.toString(16)} is not inside a loaded segment`);
  }

  // Modules go page-aligned above the kernel.
  const modules = options.modules ?? [];
  const modulePlaces: { start: number; end: number }[] = [];
  let cursor = alignUp(kernelEnd, 4096);
  for (const [i, m] of modules.entries()) {
    const start = cursor;
    const end = start + m.data.length;
    if (end > ramSize) throw new LoaderError('ERR_LOADER_OUT_OF_RAM', `module ${i} (${m.data.length} bytes) does not fit in guest RAM above the kernel`);
    modulePlaces.push({ start, end });
    cursor = alignUp(end, 4096);
  }

  // The information area: struct, memory map, module list, strings.
  const cmdline = cstring(options.cmdline ?? '', 'command line');
  const loaderName = cstring(options.bootloaderName ?? 'tsvmm', 'boot loader name');
  const moduleCmdlines = modules.map((m, i) => cstring(m.cmdline ?? '', `module ${i} command line`));
  const mmapEntries: [number, number, number][] = [
    [0, 0x9_fc00, 1],
    [0x9_fc00, 0x400, 2],
    [0xf_0000, 0x1_0000, 2],
    [0x10_0000, Math.min(ramSize, 0xc000_0000) - 0x10_0000, 1],
  ];
  const INFO_SIZE = 0x80;
  const mmapAt = infoStart + INFO_SIZE;
  const modsAt = mmapAt + mmapEntries.length * 24;
  let stringsAt = modsAt + modules.length * 16;
  const cmdlineAt = stringsAt; stringsAt += cmdline.length;
  const nameAt = stringsAt; stringsAt += loaderName.length;
  const modCmdAt: number[] = [];
  for (const c of moduleCmdlines) { modCmdAt.push(stringsAt); stringsAt += c.length; }
  if (stringsAt > INFO_AREA_END) {
    throw new LoaderError('ERR_LOADER_INFO_TOO_LARGE', `multiboot information (${stringsAt - infoStart} bytes) does not fit below 0x9fc00`);
  }
  if (INFO_AREA_END > ramSize) throw new LoaderError('ERR_LOADER_OUT_OF_RAM', 'guest RAM is too small for the multiboot information area');

  // Everything fits: write.
  for (const s of elf.segments) {
    ram.set(image.subarray(s.offset, s.offset + s.filesz), s.paddr);
    ram.fill(0, s.paddr + s.filesz, s.paddr + s.memsz);
  }
  for (const [i, m] of modules.entries()) ram.set(m.data, modulePlaces[i]!.start);
  ram.fill(0, infoStart, stringsAt);
  const dv = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  const u32 = (at: number, v: number): void => dv.setUint32(at, v >>> 0, true);
  let flags = MBI_MEMORY | MBI_BOOT_DEVICE | MBI_CMDLINE | MBI_MMAP | MBI_LOADER_NAME;
  // mem_lower/mem_upper as QEMU reports them: 640 KiB, and RAM above 1 MiB in KiB.
  u32(infoStart + 4, 640);
  u32(infoStart + 8, Math.floor(Math.min(ramSize, 2 ** 32) / 1024) - 1024);
  u32(infoStart + 12, 0x8000_ffff);
  u32(infoStart + 16, cmdlineAt);
  if (modules.length > 0) {
    flags |= MBI_MODULES;
    u32(infoStart + 20, modules.length);
    u32(infoStart + 24, modsAt);
    for (const [i, p] of modulePlaces.entries()) {
      u32(modsAt + 16 * i, p.start);
      u32(modsAt + 16 * i + 4, p.end);
      u32(modsAt + 16 * i + 8, modCmdAt[i]!);
    }
  }
  u32(infoStart + 44, mmapEntries.length * 24);
  u32(infoStart + 48, mmapAt);
  for (const [i, [base, length, type]] of mmapEntries.entries()) {
    const at = mmapAt + 24 * i;
    u32(at, 20);
    dv.setBigUint64(at + 4, BigInt(base), true);
    dv.setBigUint64(at + 12, BigInt(length), true);
    u32(at + 20, type);
  }
  u32(infoStart + 64, nameAt);
  u32(infoStart, flags);
  ram.set(cmdline, cmdlineAt);
  ram.set(loaderName, nameAt);
  for (const [i, c] of moduleCmdlines.entries()) ram.set(c, modCmdAt[i]!);

  return {
    entry: elf.entry,
    eax: MULTIBOOT_BOOTLOADER_MAGIC,
    ebx: infoStart,
    infoAddress: infoStart,
    segments: elf.segments,
    highestAddress: Math.max(kernelEnd, modulePlaces.at(-1)?.end ?? 0),
    modules: modulePlaces,
  };
}

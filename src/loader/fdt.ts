/**
 * A flattened device tree (DTB, devicetree specification v0.4 §5) writer and
 * a reader for what we need to check one: the structure block as nested
 * nodes, the strings block deduplicated, version 17, last compatible 16, an
 * empty memory reservation map.
 */
import { InvalidArgumentError, LoaderError } from '../errors.js';

const FDT_MAGIC = 0xd00dfeed;
const FDT_BEGIN_NODE = 1;
const FDT_END_NODE = 2;
const FDT_PROP = 3;
const FDT_NOP = 4;
const FDT_END = 9;
const HEADER_SIZE = 40;

/** A property value: a string, a string list, a u32 cell list, raw bytes, or empty (a boolean property). */
export type FdtValue = string | string[] | number[] | Uint8Array | null;

export interface FdtNode {
  name: string;
  props: [string, FdtValue][];
  children: FdtNode[];
}

export function node(name: string, props: Record<string, FdtValue> | [string, FdtValue][] = [], children: FdtNode[] = []): FdtNode {
  return { name, props: Array.isArray(props) ? props : Object.entries(props), children };
}

/** Cells of a 64-bit value: [high, low]. */
export function u64Cells(v: number | bigint): number[] {
  const b = BigInt(v);
  return [Number(b >> 32n) >>> 0, Number(b & 0xffff_ffffn) >>> 0];
}

function encodeValue(name: string, v: FdtValue): Uint8Array {
  if (v === null) return new Uint8Array(0);
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string') v = [v];
  if (v.length > 0 && typeof v[0] === 'string') {
    const text = (v as string[]).map((s) => {
      if (s.includes('\0')) throw new InvalidArgumentError(`FDT property ${name}: a string holds NUL`);
      return `${s}\0`;
    }).join('');
    return new TextEncoder().encode(text);
  }
  const cells = v as number[];
  const out = new Uint8Array(cells.length * 4);
  const dv = new DataView(out.buffer);
  cells.forEach((c, i) => {
    if (!Number.isInteger(c) || c < 0 || c > 0xffff_ffff) throw new InvalidArgumentError(`FDT property ${name}: cell ${c} is not a u32`);
    dv.setUint32(i * 4, c);
  });
  return out;
}

/** Serialises `root` (its name must be '') into a DTB. */
export function buildFdt(root: FdtNode, opts: { bootCpuid?: number } = {}): Uint8Array {
  if (root.name !== '') throw new InvalidArgumentError('the FDT root node has the empty name');
  const struct: number[] = [];
  const strings: number[] = [];
  const stringOffsets = new Map<string, number>();
  const enc = new TextEncoder();
  const u32 = (v: number): void => { struct.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff); };
  const bytes = (b: Uint8Array): void => {
    for (const x of b) struct.push(x);
    while (struct.length % 4) struct.push(0);
  };
  const stringOffset = (s: string): number => {
    let off = stringOffsets.get(s);
    if (off === undefined) {
      off = strings.length;
      stringOffsets.set(s, off);
      for (const x of enc.encode(`${s}\0`)) strings.push(x);
    }
    return off;
  };
  const walk = (n: FdtNode, depth: number): void => {
    if (depth > 0 && (n.name === '' || n.name.includes('/') || n.name.includes('\0'))) {
      throw new InvalidArgumentError(`FDT node name '${n.name}' is not valid`);
    }
    u32(FDT_BEGIN_NODE);
    bytes(enc.encode(`${n.name}\0`));
    for (const [name, v] of n.props) {
      const data = encodeValue(name, v);
      u32(FDT_PROP);
      u32(data.length);
      u32(stringOffset(name));
      bytes(data);
    }
    for (const c of n.children) walk(c, depth + 1);
    u32(FDT_END_NODE);
  };
  walk(root, 0);
  u32(FDT_END);
  const rsvOff = HEADER_SIZE;
  const rsvSize = 16; // one terminating (0, 0) entry
  const structOff = rsvOff + rsvSize;
  const stringsOff = structOff + struct.length;
  const total = stringsOff + strings.length;
  const out = new Uint8Array((total + 7) & ~7);
  const dv = new DataView(out.buffer);
  [FDT_MAGIC, out.length, structOff, stringsOff, rsvOff, 17, 16, opts.bootCpuid ?? 0, strings.length, struct.length]
    .forEach((v, i) => dv.setUint32(i * 4, v));
  out.set(struct, structOff);
  out.set(strings, stringsOff);
  return out;
}

/** Parses a DTB back into nodes; property values come back as raw bytes. Throws ERR_LOADER_FDT on a malformed blob. */
export function parseFdt(blob: Uint8Array): FdtNode & { props: [string, Uint8Array][] } {
  const bad = (why: string): never => { throw new LoaderError('ERR_LOADER_FDT', `device tree: ${why}`); };
  if (blob.length < HEADER_SIZE) bad('shorter than its header');
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  if (dv.getUint32(0) !== FDT_MAGIC) bad('bad magic');
  const total = dv.getUint32(4), structOff = dv.getUint32(8), stringsOff = dv.getUint32(12);
  const structSize = dv.getUint32(36), stringsSize = dv.getUint32(32);
  if (total > blob.length || structOff + structSize > total || stringsOff + stringsSize > total) bad('blocks outside the blob');
  const dec = new TextDecoder();
  const cstr = (at: number, end: number): [string, number] => {
    let e = at;
    while (e < end && blob[e] !== 0) e++;
    if (e >= end) bad('unterminated string');
    return [dec.decode(blob.subarray(at, e)), e + 1];
  };
  let p = structOff;
  const end = structOff + structSize;
  const stack: (FdtNode & { props: [string, Uint8Array][] })[] = [];
  let root: (FdtNode & { props: [string, Uint8Array][] }) | undefined;
  for (;;) {
    if (p + 4 > end) bad('structure block ends early');
    const tok = dv.getUint32(p);
    p += 4;
    if (tok === FDT_BEGIN_NODE) {
      const [name, next] = cstr(p, end);
      p = (next + 3) & ~3;
      const n = { name, props: [] as [string, Uint8Array][], children: [] as FdtNode[] };
      if (stack.length) stack[stack.length - 1]!.children.push(n); else if (root) bad('two roots'); else root = n;
      stack.push(n);
    } else if (tok === FDT_PROP) {
      if (!stack.length) bad('property outside a node');
      const len = dv.getUint32(p), nameOff = dv.getUint32(p + 4);
      p += 8;
      if (p + len > end || nameOff >= stringsSize) bad('property outside the blocks');
      const [name] = cstr(stringsOff + nameOff, stringsOff + stringsSize);
      stack[stack.length - 1]!.props.push([name, blob.slice(p, p + len)]);
      p = (p + len + 3) & ~3;
    } else if (tok === FDT_END_NODE) {
      if (!stack.pop()) bad('unbalanced END_NODE');
    } else if (tok === FDT_NOP) {
      continue;
    } else if (tok === FDT_END) {
      if (stack.length || !root) bad('FDT_END inside a node');
      return root!;
    } else {
      bad(`unknown token ${tok}`);
    }
  }
}

/** The u32 cells of a property value. */
export function cells(v: Uint8Array): number[] {
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  return Array.from({ length: v.length >> 2 }, (_, i) => dv.getUint32(i * 4));
}

/** The strings of a property value (a string list). */
export function strings(v: Uint8Array): string[] {
  const s = new TextDecoder().decode(v);
  return s.endsWith('\0') ? s.slice(0, -1).split('\0') : [s];
}

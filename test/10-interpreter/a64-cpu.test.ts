/**
 * The sim's A64 interpreter: results and NZCV against BigInt references of
 * the Arm ARM pseudocode, logical-immediate and bitfield decoding against
 * the assembler's encodings, loads/stores, MMIO exits, exceptions, and one
 * compiled C function end to end. Instruction words were produced with
 * aarch64-linux-gnu-as / -gcc (binutils 2.40, gcc 12) and are written out
 * with the disassembly as comments.
 */
import { describe, expect, it } from 'vitest';
import { A64Cpu, logicalImmediate, type A64CpuOptions, type A64Exit } from '../../src/backend/sim/a64/index.js';

const RAM = 0x4000_0000;
const CODE = RAM + 0x1000;
const M64 = (1n << 64n) - 1n;
const M32 = 0xffff_ffffn;
const U = (v: bigint, bits: number): bigint => BigInt.asUintN(bits, v);
const SX = (v: bigint, bits: number): bigint => BigInt.asIntN(bits, v);

/** A CPU with 1 MiB of RAM at 0x40000000 and `words` at `at`. */
function setup(words: number[], at = CODE, opts: A64CpuOptions = {}) {
  const ram = new Uint8Array(1 << 20);
  const dv = new DataView(ram.buffer);
  place(dv, at, words);
  const cpu = new A64Cpu(opts);
  cpu.setMemoryMap([{ gpa: RAM, bytes: ram, readonly: false }]);
  cpu.setPc(BigInt(at));
  return { cpu, ram, dv };
}

function place(dv: DataView, at: number, words: number[]): void {
  words.forEach((w, k) => dv.setUint32(at - RAM + 4 * k, w >>> 0, true));
}

const nzcvOf = (cpu: A64Cpu): number => Number(cpu.getPstate() >> 28n) & 15;
const setNzcv = (cpu: A64Cpu, f: number): void => cpu.setPstate(0x3c5n | (BigInt(f) << 28n));

/** AddWithCarry from the Arm ARM: result and NZCV. */
function awc(a: bigint, b: bigint, c: bigint, bits: number): { r: bigint; nzcv: number } {
  const ua = U(a, bits), ub = U(b, bits);
  const usum = ua + ub + c;
  const ssum = SX(a, bits) + SX(b, bits) + c;
  const r = U(usum, bits);
  const n = Number(r >> BigInt(bits - 1)) & 1;
  const z = r === 0n ? 1 : 0;
  const cf = r === usum ? 0 : 1;
  const v = SX(r, bits) === ssum ? 0 : 1;
  return { r, nzcv: (n << 3) | (z << 2) | (cf << 1) | v };
}

function condHolds(c: number, f: number): boolean {
  const n = (f >> 3) & 1, z = (f >> 2) & 1, cf = (f >> 1) & 1, v = f & 1;
  let r: boolean;
  switch (c >> 1) {
    case 0: r = z === 1; break;
    case 1: r = cf === 1; break;
    case 2: r = n === 1; break;
    case 3: r = v === 1; break;
    case 4: r = cf === 1 && z === 0; break;
    case 5: r = n === v; break;
    case 6: r = n === v && z === 0; break;
    default: return true;
  }
  return (c & 1) === 1 ? !r : r;
}

/** Deterministic 64-bit values: edges, then xorshift. */
const EDGES = [
  0n, 1n, 2n, 0x7fn, 0x80n, 0xffn, 0x7fffn, 0x8000n, 0x7fff_ffffn, 0x8000_0000n, 0xffff_ffffn, 0x1_0000_0000n,
  0x7fff_ffff_ffff_ffffn, 0x8000_0000_0000_0000n, 0x8000_0000_0000_0001n, 0xffff_ffff_ffff_fffen, M64,
];
function values(count: number, seed = 0x9e3779b97f4a7c15n): bigint[] {
  const out = [...EDGES];
  let s = seed;
  while (out.length < count) {
    s ^= U(s << 13n, 64); s ^= s >> 7n; s ^= U(s << 17n, 64);
    const shape = Number(s & 3n);
    out.push(shape === 0 ? s & M32 : shape === 1 ? U(SX(s & M32, 32), 64) : s);
  }
  return out;
}

/** One instruction at CODE on a reused CPU: set registers and flags, run it, return the CPU. */
function makeRunner() {
  const { cpu, dv } = setup([]);
  return (word: number, regs: Record<number, bigint>, nzcv = 0, sp?: bigint): A64Cpu => {
    dv.setUint32(CODE - RAM, word >>> 0, true);
    for (let i = 0; i < 31; i++) cpu.setX(i, regs[i] ?? 0n);
    if (sp !== undefined) cpu.setSp(sp);
    setNzcv(cpu, nzcv);
    cpu.setPc(BigInt(CODE));
    const e = cpu.run(1);
    expect(e.kind).toBe('budget');
    expect(cpu.getPc()).toBe(BigInt(CODE + 4));
    return cpu;
  };
}

describe('A64 add/sub with carry and NZCV', () => {
  const ops: Array<[string, number, number, (a: bigint, b: bigint, c: bigint) => { r: bigint; nzcv: number }]> = [
    ['adds x0, x1, x2', 0xab020020, 64, (a, b) => awc(a, b, 0n, 64)],
    ['subs x0, x1, x2', 0xeb020020, 64, (a, b) => awc(a, ~b, 1n, 64)],
    ['adcs x0, x1, x2', 0xba020020, 64, (a, b, c) => awc(a, b, c, 64)],
    ['sbcs x0, x1, x2', 0xfa020020, 64, (a, b, c) => awc(a, ~b, c, 64)],
    ['adds w0, w1, w2', 0x2b020020, 32, (a, b) => awc(a, b, 0n, 32)],
    ['subs w0, w1, w2', 0x6b020020, 32, (a, b) => awc(a, ~b, 1n, 32)],
    ['adcs w0, w1, w2', 0x3a020020, 32, (a, b, c) => awc(a, b, c, 32)],
    ['sbcs w0, w1, w2', 0x7a020020, 32, (a, b, c) => awc(a, ~b, c, 32)],
  ];
  const vals = values(24);
  for (const [name, word, , ref] of ops) {
    it(`${name}: result and NZCV for edge values (carry in 0 and 1)`, () => {
      const run = makeRunner();
      for (const a of vals) for (const b of vals) for (const c of [0n, 1n]) {
        const cpu = run(word, { 0: 0xdead_beef_dead_beefn, 1: a, 2: b }, c === 1n ? 2 : 0);
        const { r, nzcv } = ref(a, b, c);
        expect([a, b, c, cpu.getX(0)]).toEqual([a, b, c, r]);
        expect([a, b, c, nzcvOf(cpu)]).toEqual([a, b, c, nzcv]);
      }
    });
  }

  it('known corners: 0x7fffffff + 1 (W) sets N and V; 0xffffffff + 1 (W) sets Z and C; 0 - 1 (X) sets N only', () => {
    const run = makeRunner();
    expect(nzcvOf(run(0x2b020020, { 1: 0x7fff_ffffn, 2: 1n }))).toBe(0b1001);
    const c = run(0x2b020020, { 1: 0xffff_ffffn, 2: 1n });
    expect([c.getX(0), nzcvOf(c)]).toEqual([0n, 0b0110]);
    const d = run(0xeb020020, { 1: 0n, 2: 1n });
    expect([d.getX(0), nzcvOf(d)]).toEqual([M64, 0b1000]);
    const e = run(0xeb020020, { 1: 0x8000_0000_0000_0000n, 2: 1n }); // INT64_MIN - 1: V, C (no borrow)
    expect([e.getX(0), nzcvOf(e)]).toEqual([0x7fff_ffff_ffff_ffffn, 0b0011]);
  });

  it('mrs x3, nzcv reads the flags in bits 31:28', () => {
    const run = makeRunner();
    const cpu = run(0xd53b4203, {}, 0b1010); // mrs x3, nzcv
    expect(cpu.getX(3)).toBe(0xa000_0000n);
  });
});

describe('A64 logical immediates (encodings from the assembler)', () => {
  // [word, datasize, value]: `and x0, x1, #value` / `and w0, w1, #value` for values built as
  // rotated runs of ones replicated over 2..64-bit elements.
  const CASES: Array<[number, number, bigint]> = [
    [0x9200f020, 64, 0x5555555555555555n], [0x9201f020, 64, 0xaaaaaaaaaaaaaaaan], [0x9200e420, 64, 0x3333333333333333n],
    [0x9200e020, 64, 0x1111111111111111n], [0x9203e820, 64, 0xeeeeeeeeeeeeeeeen], [0x9203c020, 64, 0x2020202020202020n],
    [0x9202c020, 64, 0x4040404040404040n], [0x9206c820, 64, 0x1c1c1c1c1c1c1c1cn], [0x9201c420, 64, 0x8181818181818181n],
    [0x9204d020, 64, 0xf1f1f1f1f1f1f1f1n], [0x9202d020, 64, 0xc7c7c7c7c7c7c7c7n], [0x92068420, 64, 0xc000c000c000c00n],
    [0x92039420, 64, 0xe007e007e007e007n], [0x9202a020, 64, 0xc07fc07fc07fc07fn], [0x9201a420, 64, 0x81ff81ff81ff81ffn],
    [0x9206a420, 64, 0xfc0ffc0ffc0ffc0fn], [0x920d9c20, 64, 0x7f807f807f807f8n], [0x920ab020, 64, 0xffc7ffc7ffc7ffc7n],
    [0x920e9c20, 64, 0x3fc03fc03fc03fcn], [0x92099420, 64, 0x1f801f801f801f80n], [0x92058c20, 64, 0x7800780078007800n],
    [0x9207ac20, 64, 0xfe1ffe1ffe1ffe1fn], [0x92098420, 64, 0x180018001800180n], [0x920fa020, 64, 0x3fe03fe03fe03fen],
    [0x920ab820, 64, 0xffdfffdfffdfffdfn], [0x921c5c20, 64, 0xffffff00ffffff0n], [0x92042420, 64, 0xf000003ff000003fn],
    [0x921a0c20, 64, 0x3c0000003c0n], [0x92151420, 64, 0x1f8000001f800n], [0x921f1020, 64, 0x3e0000003en],
    [0x92023420, 64, 0xc0000fffc0000fffn], [0x92047820, 64, 0xf7fffffff7ffffffn], [0x92146020, 64, 0xfffff01ffffff01fn],
    [0x92162820, 64, 0x1ffc00001ffc00n], [0x921f4c20, 64, 0x1ffffe001ffffen], [0x921d4820, 64, 0x3ffff8003ffff8n],
    [0x92050820, 64, 0x3800000038000000n], [0x92117820, 64, 0xffffbfffffffbfffn], [0x92043c20, 64, 0xf0000ffff0000fffn],
    [0x92670c20, 64, 0x1e000000n], [0x9279a420, 64, 0x1ffffffffff80n], [0x92714820, 64, 0x3ffff8000n],
    [0x926ce020, 64, 0xfffffffffff01fffn], [0x927b0420, 64, 0x60n], [0x92555820, 64, 0xfffff80000000003n],
    [0x924e9c20, 64, 0xfffc000003ffffffn], [0x92477c20, 64, 0xfe00000001ffffffn], [0x92643420, 64, 0x3fff0000000n],
    [0x925f2020, 64, 0x3fe00000000n], [0x92726420, 64, 0xffffffc000n], [0x927fe820, 64, 0xffffffffffffffen],
    [0x92551420, 64, 0x1f80000000000n], [0x92737020, 64, 0x3ffffffe000n], [0x1200f020, 32, 0x55555555n],
    [0x1201f020, 32, 0xaaaaaaaan], [0x1201e020, 32, 0x88888888n], [0x1203e020, 32, 0x22222222n],
    [0x1201e820, 32, 0xbbbbbbbbn], [0x1202e420, 32, 0xccccccccn], [0x1202c020, 32, 0x40404040n],
    [0x1205cc20, 32, 0x78787878n], [0x1205d020, 32, 0xf8f8f8f8n], [0x1200c420, 32, 0x3030303n],
    [0x1206cc20, 32, 0x3c3c3c3cn], [0x120c9820, 32, 0x7f007f0n], [0x12039820, 32, 0xe00fe00fn],
    [0x120c9c20, 32, 0xff00ff0n], [0x12068020, 32, 0x4000400n], [0x12068420, 32, 0xc000c00n],
    [0x120a3820, 32, 0xffc0001fn], [0x12150c20, 32, 0x7800n], [0x12034c20, 32, 0xe001ffffn],
    [0x12000c20, 32, 0xfn], [0x12094820, 32, 0xff8003ffn],
  ];

  it('decodes every case to the value the assembler encoded (CPU and logicalImmediate)', () => {
    const run = makeRunner();
    for (const [w, bits, value] of CASES) {
      const cpu = run(w, { 0: 0x1234n, 1: M64 });
      expect([w.toString(16), cpu.getX(0)]).toEqual([w.toString(16), value]);
      const n = (w >>> 22) & 1, immr = (w >>> 16) & 63, imms = (w >>> 10) & 63;
      const li = logicalImmediate(n, immr, imms)!;
      expect(bits === 64 ? li : li & M32).toBe(value);
    }
  });

  it('orr/eor/ands immediate; orr (imm) to SP; ands sets N and Z', () => {
    const run = makeRunner();
    // orr x0, xzr, #0xff00ff00ff00ff00
    expect(run(0xb2089fe0, {}).getX(0)).toBe(0xff00ff00ff00ff00n);
    // eor x0, x1, #0xfffffffffffffffe
    expect(run(0xd27ff820, { 1: 0x0123456789abcdefn }).getX(0)).toBe(0x0123456789abcdefn ^ 0xfffffffffffffffen);
    // ands x0, x1, #0x8000000000000000
    const c = run(0xf2410020, { 1: M64 }, 0b0011);
    expect([c.getX(0), nzcvOf(c)]).toEqual([0x8000000000000000n, 0b1000]);
    const z = run(0xf2410020, { 1: 1n }, 0b0011);
    expect(nzcvOf(z)).toBe(0b0100);
    const s = run(0xb270bfff, {}); // orr sp, xzr, #0xffffffffffff0000
    expect(s.getSp()).toBe(0xffffffffffff0000n);
  });

  it('reserved encodings are not immediates and execute as UNDEFINED', () => {
    expect(logicalImmediate(1, 0, 63)).toBeUndefined(); // a 64-bit element of all ones
    expect(logicalImmediate(0, 0, 0x3f)).toBeUndefined();
    expect(logicalImmediate(0, 0, 0x3e)).toBeUndefined(); // 2-bit element, both ones
    const { cpu } = setup([0x9240fc20]); // and x0, x1, #<N=1 imms=111111> (reserved)
    cpu.setSysReg(3, 0, 12, 0, 0, 0x4000_0800n);
    cpu.run(1);
    expect(cpu.getPc()).toBe(0x4000_0a00n);
    expect(cpu.getSysReg(3, 0, 5, 2, 0)).toBe(0x0200_0000n); // ESR_EL1: EC 0, IL
    expect(cpu.getElrEl1()).toBe(BigInt(CODE));
  });
});

describe('A64 bitfield moves, EXTR, move wide, ADR/ADRP', () => {
  const mask = (n: number): bigint => (1n << BigInt(n)) - 1n;
  const ror = (v: bigint, r: number, bits: number): bigint =>
    r === 0 ? v : U((v >> BigInt(r)) | (v << BigInt(bits - r)), bits);
  const CASES: Array<[string, number, (d: bigint, n: bigint, m: bigint) => bigint]> = [
    ['lsl x0, x1, #13', 0xd373c820, (_d, n) => U(n << 13n, 64)],
    ['lsr x0, x1, #13', 0xd34dfc20, (_d, n) => n >> 13n],
    ['asr x0, x1, #13', 0x934dfc20, (_d, n) => U(SX(n, 64) >> 13n, 64)],
    ['ubfx x0, x1, #7, #20', 0xd3476820, (_d, n) => (n >> 7n) & mask(20)],
    ['sbfx x0, x1, #7, #20', 0x93476820, (_d, n) => U(SX((n >> 7n) & mask(20), 20), 64)],
    ['bfi x0, x1, #12, #16', 0xb3743c20, (d, n) => (d & ~(mask(16) << 12n)) | ((n & mask(16)) << 12n)],
    ['bfxil x0, x1, #4, #12', 0xb3443c20, (d, n) => (d & ~mask(12)) | ((n >> 4n) & mask(12))],
    ['sxtw x0, w1', 0x93407c20, (_d, n) => U(SX(n, 32), 64)],
    ['uxtb w0, w1', 0x53001c20, (_d, n) => n & 0xffn],
    ['sxtb x0, w1', 0x93401c20, (_d, n) => U(SX(n, 8), 64)],
    ['sxth w0, w1', 0x13003c20, (_d, n) => U(SX(n, 16), 32)],
    ['uxth w0, w1', 0x53003c20, (_d, n) => n & 0xffffn],
    ['lsl w0, w1, #5', 0x531b6820, (_d, n) => U(n << 5n, 32)],
    ['lsr w0, w1, #5', 0x53057c20, (_d, n) => (n & M32) >> 5n],
    ['asr w0, w1, #5', 0x13057c20, (_d, n) => U(SX(n, 32) >> 5n, 32)],
    ['ubfx w0, w1, #3, #9', 0x53032c20, (_d, n) => (n >> 3n) & mask(9)],
    ['sbfx w0, w1, #3, #9', 0x13032c20, (_d, n) => U(SX((n >> 3n) & mask(9), 9), 32)],
    ['bfi w0, w1, #8, #8', 0x33181c20, (d, n) => U((d & ~0xff00n) | ((n & 0xffn) << 8n), 32)],
    ['ror x0, x1, #17', 0x93c14420, (_d, n) => ror(n, 17, 64)],
    ['extr x0, x1, x2, #40', 0x93c2a020, (_d, n, m) => U(((n << 64n) | m) >> 40n, 64)],
    ['extr w0, w1, w2, #9', 0x13822420, (_d, n, m) => U((((n & M32) << 32n) | (m & M32)) >> 9n, 32)],
  ];
  const vals = values(40, 0x1234_5678_9abc_def1n);
  for (const [name, word, ref] of CASES) {
    it(name, () => {
      const run = makeRunner();
      for (let k = 0; k < vals.length; k++) {
        const d = vals[(k * 7 + 3) % vals.length]!, n = vals[k]!, m = vals[(k * 5 + 1) % vals.length]!;
        const cpu = run(word, { 0: d, 1: n, 2: m });
        expect([name, n, cpu.getX(0)]).toEqual([name, n, ref(d, n, m)]);
      }
    });
  }

  it('MOVZ/MOVN/MOVK, 64 and 32 bits', () => {
    const run = makeRunner();
    expect(run(0xd2c24680, {}).getX(0)).toBe(0x123400000000n); // movz x0, #0x1234, lsl #32
    expect(run(0x92a24680, {}).getX(0)).toBe(0xffffffffedcbffffn); // movn x0, #0x1234, lsl #16
    expect(run(0xf2f7dde0, { 0: 0x1111_2222_3333_4444n }).getX(0)).toBe(0xbeef_2222_3333_4444n); // movk x0, #0xbeef, lsl #48
    expect(run(0x128000a0, { 0: M64 }).getX(0)).toBe(0xfffffffan); // movn w0, #5
    expect(run(0x72b579a0, { 0: 0xffff_ffff_0000_1234n }).getX(0)).toBe(0xabcd1234n); // movk w0, #0xabcd, lsl #16
  });

  it('ADR and ADRP are PC-relative (ADRP to the 4 KiB page)', () => {
    const run = makeRunner();
    expect(run(0x10000800, {}).getX(0)).toBe(BigInt(CODE + 0x100)); // adr x0, .+0x100
    expect(run(0xb0000020, {}).getX(0)).toBe(BigInt(CODE + 0x5000)); // adrp x0, .+0x5000 (immhi 1, immlo 1)
    expect(run(0xf0ffffe0, {}).getX(0)).toBe(BigInt(CODE - 0x1000)); // adrp x0, .-0x1000
  });
});

describe('A64 data processing (register)', () => {
  type Regs = { d: bigint; n: bigint; m: bigint; a: bigint };
  const clz = (v: bigint, bits: number): bigint => {
    let c = 0n;
    for (let i = bits - 1; i >= 0 && ((v >> BigInt(i)) & 1n) === 0n; i--) c++;
    return c;
  };
  const cls = (v: bigint, bits: number): bigint => {
    const s = (v >> BigInt(bits - 1)) & 1n;
    let c = 0n;
    for (let i = bits - 2; i >= 0 && ((v >> BigInt(i)) & 1n) === s; i--) c++;
    return c;
  };
  const rbit = (v: bigint, bits: number): bigint => {
    let r = 0n;
    for (let i = 0; i < bits; i++) if ((v >> BigInt(i)) & 1n) r |= 1n << BigInt(bits - 1 - i);
    return r;
  };
  const bswap = (v: bigint, bytes: number): bigint => {
    let r = 0n;
    for (let i = 0; i < bytes; i++) r |= ((v >> BigInt(8 * i)) & 0xffn) << BigInt(8 * (bytes - 1 - i));
    return r;
  };
  const perChunk = (v: bigint, chunk: number, f: (c: bigint) => bigint): bigint => {
    let r = 0n;
    for (let i = 0; i < 64; i += chunk) r |= f((v >> BigInt(i)) & mask(chunk)) << BigInt(i);
    return r;
  };
  const mask = (n: number): bigint => (1n << BigInt(n)) - 1n;
  const rorN = (v: bigint, r: bigint, bits: number): bigint => {
    const s = Number(r) % bits;
    return s === 0 ? U(v, bits) : U((U(v, bits) >> BigInt(s)) | (v << BigInt(bits - s)), bits);
  };
  const sdiv = (a: bigint, b: bigint, bits: number): bigint => (U(b, bits) === 0n ? 0n : U(SX(a, bits) / SX(b, bits), bits));
  const udiv = (a: bigint, b: bigint, bits: number): bigint => (U(b, bits) === 0n ? 0n : U(a, bits) / U(b, bits));

  const CASES: Array<[string, number, (r: Regs) => bigint]> = [
    ['mul x0, x1, x2', 0x9b027c20, (r) => U(r.n * r.m, 64)],
    ['madd x0, x1, x2, x3', 0x9b020c20, (r) => U(r.a + r.n * r.m, 64)],
    ['msub x0, x1, x2, x3', 0x9b028c20, (r) => U(r.a - r.n * r.m, 64)],
    ['mul w0, w1, w2', 0x1b027c20, (r) => U(r.n * r.m, 32)],
    ['smull x0, w1, w2', 0x9b227c20, (r) => U(SX(r.n, 32) * SX(r.m, 32), 64)],
    ['umull x0, w1, w2', 0x9ba27c20, (r) => U(U(r.n, 32) * U(r.m, 32), 64)],
    ['smsubl x0, w1, w2, x3', 0x9b228c20, (r) => U(r.a - SX(r.n, 32) * SX(r.m, 32), 64)],
    ['umulh x0, x1, x2', 0x9bc27c20, (r) => (r.n * r.m) >> 64n],
    ['smulh x0, x1, x2', 0x9b427c20, (r) => U((SX(r.n, 64) * SX(r.m, 64)) >> 64n, 64)],
    ['udiv x0, x1, x2', 0x9ac20820, (r) => udiv(r.n, r.m, 64)],
    ['sdiv x0, x1, x2', 0x9ac20c20, (r) => sdiv(r.n, r.m, 64)],
    ['udiv w0, w1, w2', 0x1ac20820, (r) => udiv(r.n, r.m, 32)],
    ['sdiv w0, w1, w2', 0x1ac20c20, (r) => sdiv(r.n, r.m, 32)],
    ['lslv x0, x1, x2', 0x9ac22020, (r) => U(r.n << (r.m & 63n), 64)],
    ['lsrv x0, x1, x2', 0x9ac22420, (r) => r.n >> (r.m & 63n)],
    ['asrv x0, x1, x2', 0x9ac22820, (r) => U(SX(r.n, 64) >> (r.m & 63n), 64)],
    ['rorv x0, x1, x2', 0x9ac22c20, (r) => rorN(r.n, r.m & 63n, 64)],
    ['lslv w0, w1, w2', 0x1ac22020, (r) => U(r.n << (r.m & 31n), 32)],
    ['lsrv w0, w1, w2', 0x1ac22420, (r) => U(r.n, 32) >> (r.m & 31n)],
    ['asrv w0, w1, w2', 0x1ac22820, (r) => U(SX(r.n, 32) >> (r.m & 31n), 32)],
    ['rorv w0, w1, w2', 0x1ac22c20, (r) => rorN(r.n, r.m & 31n, 32)],
    ['clz x0, x1', 0xdac01020, (r) => clz(r.n, 64)],
    ['cls x0, x1', 0xdac01420, (r) => cls(r.n, 64)],
    ['clz w0, w1', 0x5ac01020, (r) => clz(U(r.n, 32), 32)],
    ['cls w0, w1', 0x5ac01420, (r) => cls(U(r.n, 32), 32)],
    ['rbit x0, x1', 0xdac00020, (r) => rbit(r.n, 64)],
    ['rbit w0, w1', 0x5ac00020, (r) => rbit(U(r.n, 32), 32)],
    ['rev x0, x1', 0xdac00c20, (r) => bswap(r.n, 8)],
    ['rev32 x0, x1', 0xdac00820, (r) => perChunk(r.n, 32, (c) => bswap(c, 4))],
    ['rev16 x0, x1', 0xdac00420, (r) => perChunk(r.n, 16, (c) => bswap(c, 2))],
    ['rev w0, w1', 0x5ac00820, (r) => bswap(U(r.n, 32), 4)],
    ['rev16 w0, w1', 0x5ac00420, (r) => U(perChunk(r.n, 16, (c) => bswap(c, 2)), 32)],
    ['and x0, x1, x2, lsl #4', 0x8a021020, (r) => r.n & U(r.m << 4n, 64)],
    ['orr x0, x1, x2, lsr #60', 0xaa42f020, (r) => r.n | (r.m >> 60n)],
    ['eor x0, x1, x2, asr #3', 0xca820c20, (r) => r.n ^ U(SX(r.m, 64) >> 3n, 64)],
    ['bic x0, x1, x2, ror #8', 0x8ae22020, (r) => r.n & ~rorN(r.m, 8n, 64) & M64],
    ['orn w0, w1, w2, lsl #1', 0x2a220420, (r) => U(r.n | ~(r.m << 1n), 32)],
    ['eon x0, x1, x2', 0xca220020, (r) => U(r.n ^ ~r.m, 64)],
    ['add x0, x1, w2, sxtw #2', 0x8b22c820, (r) => U(r.n + (SX(r.m, 32) << 2n), 64)],
    ['sub w0, w1, w2, asr #31', 0x4b827c20, (r) => U(r.n - (SX(r.m, 32) >> 31n), 32)],
    ['neg x0, x1', 0xcb0103e0, (r) => U(-r.n, 64)],
  ];
  const vals = values(30, 0xfeed_f00d_1234_5678n);
  for (const [name, word, ref] of CASES) {
    it(name, () => {
      const run = makeRunner();
      for (let k = 0; k < vals.length; k++) for (const j of [0, 5, 11, 17, 23]) {
        const r: Regs = { d: 0x5a5a_5a5a_5a5a_5a5an, n: vals[k]!, m: vals[(k + j) % vals.length]!, a: vals[(k * 3 + j) % vals.length]! };
        const cpu = run(word, { 0: r.d, 1: r.n, 2: r.m, 3: r.a });
        expect([name, r.n, r.m, cpu.getX(0)]).toEqual([name, r.n, r.m, ref(r)]);
      }
    });
  }

  it('division corners: by zero gives 0, INT_MIN / -1 gives INT_MIN (64 and 32)', () => {
    const run = makeRunner();
    expect(run(0x9ac20820, { 1: 1234n, 2: 0n }).getX(0)).toBe(0n);
    expect(run(0x9ac20c20, { 1: 1n << 63n, 2: M64 }).getX(0)).toBe(1n << 63n);
    expect(run(0x1ac20c20, { 1: 0x8000_0000n, 2: M32 }).getX(0)).toBe(0x8000_0000n);
    expect(run(0x1ac20c20, { 1: 0xffff_fff9n, 2: 2n }).getX(0)).toBe(0xffff_fffdn); // -7 / 2 = -3
    expect(run(0x9ac20c20, { 1: U(-7n, 64), 2: 2n }).getX(0)).toBe(U(-3n, 64));
  });

  it('conditional select family over every condition', () => {
    const run = makeRunner();
    const n = 0x1111_2222_3333_4444n, m = 0x8000_0000_0000_0005n;
    for (let f = 0; f < 16; f++) {
      // csel x0, x1, x2, eq / csinc ne / csinv lt / csneg ge
      expect(run(0x9a820020, { 1: n, 2: m }, f).getX(0)).toBe(condHolds(0, f) ? n : m);
      expect(run(0x9a821420, { 1: n, 2: m }, f).getX(0)).toBe(condHolds(1, f) ? n : U(m + 1n, 64));
      expect(run(0xda82b020, { 1: n, 2: m }, f).getX(0)).toBe(condHolds(11, f) ? n : U(~m, 64));
      expect(run(0xda82a420, { 1: n, 2: m }, f).getX(0)).toBe(condHolds(10, f) ? n : U(-m, 64));
      expect(run(0x1a9f97e0, {}, f).getX(0)).toBe(condHolds(8, f) ? 1n : 0n); // cset w0, hi
      expect(run(0xda9f83e0, {}, f).getX(0)).toBe(condHolds(9, f) ? M64 : 0n); // csetm x0, ls
      // ccmp x1, x2, #5, eq ; ccmn x1, #3, #2, ne
      expect(nzcvOf(run(0xfa420025, { 1: n, 2: m }, f))).toBe(condHolds(0, f) ? awc(n, ~m, 1n, 64).nzcv : 5);
      expect(nzcvOf(run(0xba431822, { 1: U(-3n, 64) }, f))).toBe(condHolds(1, f) ? awc(U(-3n, 64), 3n, 0n, 64).nzcv : 2);
    }
  });

  it('ANDS/BICS set N and Z and clear C and V; ADDS shifted; CMP immediate', () => {
    const run = makeRunner();
    const a = run(0xea020020, { 1: 0x8000_0000_0000_00ffn, 2: 0x8000_0000_0000_0f00n }, 0b0011);
    expect([a.getX(0), nzcvOf(a)]).toEqual([0x8000_0000_0000_0000n, 0b1000]);
    const b = run(0x6a220020, { 1: 0xffn, 2: 0xffn }, 0b0011); // bics w0, w1, w2
    expect([b.getX(0), nzcvOf(b)]).toEqual([0n, 0b0100]);
    const c = run(0xab020c20, { 1: 1n << 63n, 2: 1n << 60n }); // adds x0, x1, x2, lsl #3
    expect([c.getX(0), nzcvOf(c)]).toEqual([0n, awc(1n << 63n, 1n << 63n, 0n, 64).nzcv]);
    expect(nzcvOf(run(0xf13ffc3f, { 1: 4095n }))).toBe(0b0110); // cmp x1, #4095
    expect(nzcvOf(run(0xf13ffc3f, { 1: 4094n }))).toBe(0b1000);
  });

  it('ADC/NGC use the carry; SP forms of ADD/SUB', () => {
    const run = makeRunner();
    expect(run(0xda0103e0, { 1: 5n }, 0b0010).getX(0)).toBe(U(-5n, 64)); // ngc with C = 1
    expect(run(0xda0103e0, { 1: 5n }, 0).getX(0)).toBe(U(-6n, 64));
    const sp = 0x4008_0000n;
    expect(run(0x910043ff, {}, 0, sp).getSp()).toBe(sp + 16n); // add sp, sp, #16
    expect(run(0xd14007e0, {}, 0, sp).getX(0)).toBe(sp - 0x1000n); // sub x0, sp, #1, lsl #12
    expect(run(0xcb2203e0, { 2: 0x1ffn }, 0, sp).getX(0)).toBe(sp - 0xffn); // sub x0, sp, w2, uxtb
    expect(run(0x910003e0, {}, 0, sp).getX(0)).toBe(sp); // mov x0, sp
    expect(run(0x9100003f, { 1: 0x4001_0000n }, 0, sp).getSp()).toBe(0x4001_0000n); // mov sp, x1
  });
});

describe('A64 branches', () => {
  const PROG = [
    0xb4000041, // 40001000: cbz x1, 40001008
    0xd2800020, // 40001004: mov x0, #0x1
    0x35000042, // 40001008: cbnz w2, 40001010
    0xd2800040, // 4000100c: mov x0, #0x2
    0xb6400043, // 40001010: tbz x3, #40, 40001018
    0xd2800060, // 40001014: mov x0, #0x3
    0x37000043, // 40001018: tbnz w3, #0, 40001020
    0xd2800080, // 4000101c: mov x0, #0x4
    0xeb02003f, // 40001020: cmp x1, x2
    0x5400004b, // 40001024: b.lt 4000102c
    0xd28000a0, // 40001028: mov x0, #0x5
    0x94000004, // 4000102c: bl 4000103c <func>
    0x100000a9, // 40001030: adr x9, 40001044 <func2>
    0xd63f0120, // 40001034: blr x9
    0x14000005, // 40001038: b 4000104c <end>
    0x910004e7, // 4000103c: func: add x7, x7, #0x1
    0xd65f03c0, // 40001040: ret
    0x91000908, // 40001044: func2: add x8, x8, #0x2
    0xd61f03c0, // 40001048: br x30
    0x5400004e, // 4000104c: end: b.al 40001054
    0xd503201f, // 40001050: nop
    0xd4000022, // 40001054: hvc #0x1
  ];

  function go(regs: Record<number, bigint>): { cpu: A64Cpu; e: A64Exit; trace: number[] } {
    const { cpu } = setup(PROG);
    for (const [k, v] of Object.entries(regs)) cpu.setX(Number(k), v);
    cpu.setX(0, 99n);
    const trace: number[] = [];
    let e: A64Exit;
    for (;;) {
      trace.push(Number(cpu.getPc()) - CODE);
      e = cpu.run(1);
      if (e.kind !== 'budget') break;
    }
    return { cpu, e, trace };
  }

  it('all taken: cbz/cbnz/tbz/tbnz/b.lt, then bl/ret, blr/br, b.al and hvc', () => {
    const { cpu, e, trace } = go({ 1: 0n, 2: 1n, 3: 1n });
    expect(e).toEqual({ kind: 'hvc', imm: 1 });
    expect(cpu.getX(0)).toBe(99n);
    expect(trace).toEqual([0x00, 0x08, 0x10, 0x18, 0x20, 0x24, 0x2c, 0x3c, 0x40, 0x30, 0x34, 0x44, 0x48, 0x38, 0x4c, 0x54]);
    expect([cpu.getX(7), cpu.getX(8)]).toEqual([1n, 2n]);
    expect(cpu.getX(30)).toBe(BigInt(CODE + 0x38)); // BLR's link
    expect(cpu.getPc()).toBe(BigInt(CODE + 0x58)); // past the HVC
  });

  it('none taken: each fall-through runs its mov', () => {
    // cbz x1 (x1 != 0), cbnz w2 (w2 == 0 though x2's high half is set), tbz #40 (bit set), tbnz w3 #0 (clear), b.lt (x1 >= x2)
    const { trace } = go({ 1: 1n << 33n, 2: 1n << 32n, 3: 1n << 40n });
    expect(trace.slice(0, 15)).toEqual([0x00, 0x04, 0x08, 0x0c, 0x10, 0x14, 0x18, 0x1c, 0x20, 0x24, 0x28, 0x2c, 0x3c, 0x40, 0x30]);
  });
});

describe('A64 loads and stores on RAM', () => {
  const BUF = RAM + 0x8000;
  const fill = (dv: DataView): void => {
    for (let i = 0; i < 64; i++) dv.setUint8(BUF - RAM + i, (0x81 + i * 0x13) & 0xff);
  };
  function ls(word: number, regs: Record<number, bigint>) {
    const s = setup([word]);
    fill(s.dv);
    for (const [k, v] of Object.entries(regs)) s.cpu.setX(Number(k), v);
    const e = s.cpu.run(1);
    expect(e.kind).toBe('budget');
    return s;
  }
  const b = BigInt(BUF);
  const u64at = (dv: DataView, off: number): bigint => dv.getBigUint64(BUF - RAM + off, true);

  it('LDR/LDRB/LDRH/LDRSB/LDRSH/LDRSW, unsigned offset, zero- and sign-extended', () => {
    const ref = new DataView(new ArrayBuffer(64));
    for (let i = 0; i < 64; i++) ref.setUint8(i, (0x81 + i * 0x13) & 0xff);
    const cases: Array<[number, bigint]> = [
      [0x39401420, BigInt(ref.getUint8(5))], // ldrb w0, [x1, #5]
      [0x79400c20, BigInt(ref.getUint16(6, true))], // ldrh w0, [x1, #6]
      [0xb9400820, BigInt(ref.getUint32(8, true))], // ldr w0, [x1, #8]
      [0xf9400820, ref.getBigUint64(16, true)], // ldr x0, [x1, #16]
      [0x39801420, U(BigInt(ref.getInt8(5)), 64)], // ldrsb x0, [x1, #5]
      [0x39c01420, U(BigInt(ref.getInt8(5)), 32)], // ldrsb w0, [x1, #5]
      [0x79800c20, U(BigInt(ref.getInt16(6, true)), 64)], // ldrsh x0, [x1, #6]
      [0x79c00c20, U(BigInt(ref.getInt16(6, true)), 32)], // ldrsh w0, [x1, #6]
      [0xb9800820, U(BigInt(ref.getInt32(8, true)), 64)], // ldrsw x0, [x1, #8]
    ];
    expect(ref.getInt8(5)).toBeLessThan(0); // the sign-extending cases extend a set sign bit
    for (const [w, v] of cases) expect([w.toString(16), ls(w, { 0: M64, 1: b }).cpu.getX(0)]).toEqual([w.toString(16), v]);
  });

  it('STRB/STRH/STR W/STR X write exactly their bytes', () => {
    const v = 0x0102_0304_0506_0708n;
    for (const [w, off, n] of [[0x39000422, 1, 1], [0x79000422, 2, 2], [0xb9000422, 4, 4], [0xf9000422, 8, 8]] as const) {
      const { dv } = ls(w, { 1: b, 2: v });
      const before = new DataView(new ArrayBuffer(64));
      for (let i = 0; i < 64; i++) before.setUint8(i, (0x81 + i * 0x13) & 0xff);
      for (let i = 0; i < 24; i++) {
        const got = dv.getUint8(BUF - RAM + i);
        const want = i >= off && i < off + n ? Number((v >> BigInt(8 * (i - off))) & 0xffn) : before.getUint8(i);
        expect([w, i, got]).toEqual([w, i, want]);
      }
    }
    const { dv } = ls(0xf900003f, { 1: b }); // str xzr, [x1]
    expect(u64at(dv, 0)).toBe(0n);
  });

  it('LDUR/STUR with negative offsets', () => {
    const s = ls(0xf85f8020, { 1: b + 16n }); // ldur x0, [x1, #-8]
    expect(s.cpu.getX(0)).toBe(u64at(s.dv, 8));
    const t = ls(0xb81fd022, { 1: b + 16n, 2: 0xaabbccddn }); // stur w2, [x1, #-3]
    expect(t.dv.getUint32(BUF - RAM + 13, true)).toBe(0xaabbccdd);
  });

  it('pre- and post-index write back the base (including SP-relative negative writeback)', () => {
    const a = ls(0xf8408c20, { 1: b }); // ldr x0, [x1, #8]!
    expect([a.cpu.getX(0), a.cpu.getX(1)]).toEqual([u64at(a.dv, 8), b + 8n]);
    const c = ls(0xf85f0420, { 1: b + 16n }); // ldr x0, [x1], #-16
    expect([c.cpu.getX(0), c.cpu.getX(1)]).toEqual([u64at(c.dv, 16), b]);
    const d = ls(0x381ffc22, { 1: b + 8n, 2: 0x1234n }); // strb w2, [x1, #-1]!
    expect([d.dv.getUint8(BUF - RAM + 7), d.cpu.getX(1)]).toEqual([0x34, b + 7n]);
    const e = ls(0xf8018422, { 1: b, 2: 0xfeed_face_cafe_beefn }); // str x2, [x1], #24
    expect([u64at(e.dv, 0), e.cpu.getX(1)]).toEqual([0xfeed_face_cafe_beefn, b + 24n]);
    const f = ls(0xb8804420, { 1: b }); // ldrsw x0, [x1], #4
    expect([f.cpu.getX(0), f.cpu.getX(1)]).toEqual([U(BigInt(f.dv.getInt32(BUF - RAM, true)), 64), b + 4n]);
  });

  it('register offset with LSL/SXTW/UXTW extends', () => {
    const a = ls(0xf8627820, { 1: b, 2: 3n }); // ldr x0, [x1, x2, lsl #3]
    expect(a.cpu.getX(0)).toBe(u64at(a.dv, 24));
    const c = ls(0xb862d820, { 1: b + 16n, 2: 0xffff_fffen }); // ldr w0, [x1, w2, sxtw #2]  (w2 = -2)
    expect(c.cpu.getX(0)).toBe(BigInt(c.dv.getUint32(BUF - RAM + 8, true)));
    const d = ls(0x38624820, { 1: b, 2: 0xdead_0000_0000_0007n }); // ldrb w0, [x1, w2, uxtw]
    expect(d.cpu.getX(0)).toBe(BigInt(d.dv.getUint8(BUF - RAM + 7)));
    const e = ls(0x78227820, { 0: 0xbeefn, 1: b, 2: 5n }); // strh w0, [x1, x2, lsl #1]
    expect(e.dv.getUint16(BUF - RAM + 10, true)).toBe(0xbeef);
    const f = ls(0x78a26820, { 1: b, 2: 6n }); // ldrsh x0, [x1, x2]
    expect(f.cpu.getX(0)).toBe(U(BigInt(f.dv.getInt16(BUF - RAM + 6, true)), 64));
  });

  it('literal loads: LDR X, LDR W, LDRSW', () => {
    const { cpu } = setup([
      0x580000c0, // ldr x0, lit
      0x180000a1, // ldr w1, lit
      0x98000082, // ldrsw x2, lit
      0x580000a3, // ldr x3, lit2
      0x14000000, // b .
      0xd503201f, // nop
      0xfedcba98, 0x80000000, // lit: .quad 0x80000000fedcba98
      0x89abcdef, 0x01234567, // lit2: .quad 0x0123456789abcdef
    ]);
    cpu.run(4);
    expect([cpu.getX(0), cpu.getX(1), cpu.getX(2), cpu.getX(3)])
      .toEqual([0x80000000fedcba98n, 0xfedcba98n, 0xfffffffffedcba98n, 0x0123456789abcdefn]);
  });

  it('LDP/STP: offset, pre-index, post-index, LDPSW, W pairs', () => {
    const a = ls(0xa9410c20, { 1: b }); // ldp x0, x3, [x1, #16]
    expect([a.cpu.getX(0), a.cpu.getX(3), a.cpu.getX(1)]).toEqual([u64at(a.dv, 16), u64at(a.dv, 24), b]);
    const c = ls(0xa9bf1022, { 1: b + 32n, 2: 0x1111n, 4: 0x2222n }); // stp x2, x4, [x1, #-16]!
    expect([u64at(c.dv, 16), u64at(c.dv, 24), c.cpu.getX(1)]).toEqual([0x1111n, 0x2222n, b + 16n]);
    const d = ls(0x28c10c20, { 1: b, 0: M64, 3: M64 }); // ldp w0, w3, [x1], #8
    expect([d.cpu.getX(0), d.cpu.getX(3), d.cpu.getX(1)])
      .toEqual([BigInt(d.dv.getUint32(BUF - RAM, true)), BigInt(d.dv.getUint32(BUF - RAM + 4, true)), b + 8n]);
    const e = ls(0x69400c20, { 1: b }); // ldpsw x0, x3, [x1]
    expect([e.cpu.getX(0), e.cpu.getX(3)])
      .toEqual([U(BigInt(e.dv.getInt32(BUF - RAM, true)), 64), U(BigInt(e.dv.getInt32(BUF - RAM + 4, true)), 64)]);
    const f = ls(0x29009022, { 1: b, 2: 0xaaaa_bbbb_cccc_ddddn, 4: 0x1234_5678n }); // stp w2, w4, [x1, #4]
    expect([f.dv.getUint32(BUF - RAM + 4, true), f.dv.getUint32(BUF - RAM + 8, true)]).toEqual([0xccccdddd, 0x12345678]);
  });

  it('SIMD&FP loads and stores (with CPACR_EL1.FPEN on): LDR Q, STP Q, LDR D, STR S, LDP Q post-index', () => {
    const s = setup([
      0x3dc00020, // ldr q0, [x1]
      0xad010420, // stp q0, q1, [x1, #32]
      0xfd400422, // ldr d2, [x1, #8]
      0xbd000423, // str s3, [x1, #4]
      0xacc10c22, // ldp q2, q3, [x1], #32
    ]);
    fill(s.dv);
    const { cpu, dv } = s;
    cpu.setSysReg(3, 0, 1, 0, 2, 3n << 20n); // CPACR_EL1.FPEN = 0b11
    cpu.setX(1, b);
    cpu.setV(1, 0x0f0e0d0c0b0a09080706050403020100n);
    cpu.setV(3, 0xffffffff_ffffffff_ffffffff_11223344n);
    const q0 = (u64at(dv, 8) << 64n) | u64at(dv, 0);
    cpu.run(1);
    expect(cpu.getV(0)).toBe(q0);
    cpu.run(1);
    expect([(u64at(dv, 40) << 64n) | u64at(dv, 32), (u64at(dv, 56) << 64n) | u64at(dv, 48)])
      .toEqual([q0, 0x0f0e0d0c0b0a09080706050403020100n]);
    cpu.run(1);
    expect(cpu.getV(2)).toBe(u64at(dv, 8)); // upper half zeroed
    cpu.run(1);
    expect(dv.getUint32(BUF - RAM + 4, true)).toBe(0x11223344);
    const lo = (u64at(dv, 8) << 64n) | u64at(dv, 0), hi = (u64at(dv, 24) << 64n) | u64at(dv, 16);
    cpu.run(1);
    expect([cpu.getV(2), cpu.getV(3), cpu.getX(1)]).toEqual([lo, hi, b + 32n]);
  });

  it('SIMD&FP access with CPACR_EL1.FPEN = 0 traps with EC 0x07', () => {
    const { cpu } = setup([0x3dc00020]); // ldr q0, [x1]
    cpu.setX(1, b);
    cpu.run(1);
    expect(cpu.getSysReg(3, 0, 5, 2, 0)! >> 26n).toBe(0x07n);
    expect(cpu.getPc()).toBe(0x200n);
    expect(cpu.getElrEl1()).toBe(BigInt(CODE));
  });

  it('LSE atomics: LDADD, SWP, CAS (hit and miss), LDSMAX, LDUMIN, LDCLR', () => {
    const at = (w: number, mem: bigint, regs: Record<number, bigint>, size = 8) => {
      const s = setup([w]);
      if (size === 8) s.dv.setBigUint64(BUF - RAM, mem, true); else s.dv.setUint32(BUF - RAM, Number(mem), true);
      s.cpu.setX(1, b);
      for (const [k, v] of Object.entries(regs)) s.cpu.setX(Number(k), v);
      s.cpu.run(1);
      return { x0: s.cpu.getX(0), mem: size === 8 ? u64at(s.dv, 0) : BigInt(s.dv.getUint32(BUF - RAM, true)) };
    };
    expect(at(0xf8220020, M64, { 2: 2n })).toEqual({ x0: M64, mem: 1n }); // ldadd x2, x0, [x1]
    expect(at(0xb8228020, 0x11223344n, { 2: 0xaabbccddeeff0011n }, 4)).toEqual({ x0: 0x11223344n, mem: 0xeeff0011n }); // swp w2, w0
    expect(at(0xc8a07c22, 5n, { 0: 5n, 2: 9n })).toEqual({ x0: 5n, mem: 9n }); // cas x0, x2, [x1]: equal, swaps
    expect(at(0xc8a07c22, 6n, { 0: 5n, 2: 9n })).toEqual({ x0: 6n, mem: 6n }); // not equal: x0 = old
    expect(at(0xb8224020, 0xffff_fff0n, { 2: 3n }, 4)).toEqual({ x0: 0xffff_fff0n, mem: 3n }); // ldsmax w: -16 vs 3
    expect(at(0xf8227020, 1n << 63n, { 2: 7n })).toEqual({ x0: 1n << 63n, mem: 7n }); // ldumin x
    expect(at(0xf8221020, 0xffn, { 2: 0x0fn })).toEqual({ x0: 0xffn, mem: 0xf0n }); // ldclr x
  });

  it('CASP (pairs): swaps both words when both match, else loads the old pair', () => {
    const s = setup([0x48207c82, 0x48207c82, 0x0866fc88]); // casp x0, x1, x2, x3, [x4] (twice); caspal w6, w7, w8, w9, [x4]
    const { cpu, dv } = s;
    dv.setBigUint64(BUF - RAM, 10n, true);
    dv.setBigUint64(BUF - RAM + 8, 20n, true);
    cpu.setX(4, b);
    [10n, 20n, 30n, 40n].forEach((v, k) => cpu.setX(k, v));
    cpu.run(1);
    expect([u64at(dv, 0), u64at(dv, 8), cpu.getX(0), cpu.getX(1)]).toEqual([30n, 40n, 10n, 20n]);
    cpu.run(1); // x0, x1 = 10, 20 again: no match with 30, 40
    expect([u64at(dv, 0), u64at(dv, 8), cpu.getX(0), cpu.getX(1)]).toEqual([30n, 40n, 30n, 40n]);
    [30n, 0xffff_0000_0000_0000n, 0x1_0000_0005n, 6n].forEach((v, k) => cpu.setX(6 + k, v)); // 32-bit pair (30, 0): compares low words only
    cpu.run(1);
    expect([dv.getUint32(BUF - RAM, true), dv.getUint32(BUF - RAM + 4, true), cpu.getX(6), cpu.getX(7)]).toEqual([5, 6, 30n, 0n]);
  });

  it('DC ZVA zeroes the aligned 64-byte block', () => {
    const { dv } = ls(0xd50b7421, { 1: b + 0x47n }); // dc zva, x1 -> block at BUF + 0x40
    const s2 = setup([0xd50b7421]);
    for (let i = 0; i < 0x100; i++) s2.dv.setUint8(BUF - RAM + i, 0xaa);
    s2.cpu.setX(1, b + 0x47n);
    s2.cpu.run(1);
    expect(s2.dv.getUint8(BUF - RAM + 0x3f)).toBe(0xaa);
    for (let i = 0x40; i < 0x80; i++) expect(s2.dv.getUint8(BUF - RAM + i)).toBe(0);
    expect(s2.dv.getUint8(BUF - RAM + 0x80)).toBe(0xaa);
    expect(dv).toBeDefined();
  });
});

describe('A64 exclusive monitor', () => {
  const B = BigInt(RAM + 0x8000);
  it('STXR succeeds once after a matching LDXR; fails without one, after CLREX, and at another address', () => {
    const prog = [
      0xc85f7c20, // ldxr x0, [x1]
      0xc8057c22, // stxr w5, x2, [x1]
      0xc8057c22, // stxr w5, x2, [x1]   (monitor consumed: fails)
      0xc85f7c20, // ldxr x0, [x1]
      0xd5033f5f, // clrex
      0xc8057c22, // stxr w5, x2, [x1]   (cleared: fails)
      0x885ffc20, // ldaxr w0, [x1]
      0x8805fc22, // stlxr w5, w2, [x1]  (4 bytes, succeeds)
      0xc87f0c20, // ldxp x0, x3, [x1]
      0xc8251022, // stxp w5, x2, x4, [x1]
    ];
    const { cpu, dv } = setup(prog);
    dv.setBigUint64(0x8000, 0x1111n, true);
    cpu.setX(1, B);
    cpu.setX(2, 0x2222n);
    cpu.run(1);
    expect(cpu.getX(0)).toBe(0x1111n);
    cpu.run(1);
    expect([cpu.getX(5), dv.getBigUint64(0x8000, true)]).toEqual([0n, 0x2222n]);
    cpu.setX(2, 0x3333n);
    cpu.run(1);
    expect([cpu.getX(5), dv.getBigUint64(0x8000, true)]).toEqual([1n, 0x2222n]);
    cpu.run(3);
    expect([cpu.getX(5), dv.getBigUint64(0x8000, true)]).toEqual([1n, 0x2222n]);
    cpu.setX(2, 0xffff_ffff_4444_4444n);
    cpu.run(2);
    expect([cpu.getX(0), cpu.getX(5), dv.getBigUint64(0x8000, true)]).toEqual([0x2222n, 0n, 0x4444_4444n]);
    cpu.setX(2, 0xaaaan);
    cpu.setX(4, 0xbbbbn);
    cpu.run(2);
    expect([cpu.getX(5), dv.getBigUint64(0x8000, true), dv.getBigUint64(0x8008, true)]).toEqual([0n, 0xaaaan, 0xbbbbn]);
  });

  it('an LDXR of another address or size does not let STXR succeed; an exception clears the monitor', () => {
    const { cpu, dv } = setup([
      0xc85f7c20, // ldxr x0, [x1]
      0x91002021, // add x1, x1, #8
      0xc8057c22, // stxr w5, x2, [x1]  (other address: fails)
      0xc85f7c20, // ldxr x0, [x1]
      0xd4000001, // svc #0
    ]);
    cpu.setX(1, B);
    cpu.run(3);
    expect(cpu.getX(5)).toBe(1n);
    cpu.setSysReg(3, 0, 12, 0, 0, BigInt(RAM)); // VBAR_EL1
    place(dv, RAM + 0x200, [0xc8057c22]); // the SVC handler: stxr w5, x2, [x1]
    cpu.setX(5, 7n);
    cpu.run(3);
    expect(cpu.getPc()).toBe(BigInt(RAM + 0x204));
    expect(cpu.getX(5)).toBe(1n);
  });
});

describe('A64 MMIO exits', () => {
  const DEV = 0x0900_0000; // outside RAM (the PL011 on virt)

  it('stores exit with address, size and the little-endian bytes; PC moves on at the next run', () => {
    const { cpu } = setup([
      0xb9000022, // str w2, [x1]
      0x79000422, // strh w2, [x1, #2]
      0xf9000422, // str x2, [x1, #8]
      0x39000422, // strb w2, [x1, #1]
    ]);
    cpu.setX(1, BigInt(DEV));
    cpu.setX(2, 0x1122_3344_5566_7788n);
    const e1 = cpu.run(100);
    expect(e1.kind).toBe('mmio');
    if (e1.kind !== 'mmio') return;
    expect({ w: e1.isWrite, a: e1.address, s: e1.size, d: [...e1.data] }).toEqual({ w: true, a: DEV, s: 4, d: [0x88, 0x77, 0x66, 0x55] });
    expect(cpu.getPc()).toBe(BigInt(CODE));
    expect(cpu.instructions).toBe(0);
    const e2 = cpu.run(100);
    expect(cpu.instructions).toBe(1);
    expect(e2).toMatchObject({ kind: 'mmio', isWrite: true, address: DEV + 2, size: 2 });
    if (e2.kind === 'mmio') expect([...e2.data]).toEqual([0x88, 0x77]);
    const e3 = cpu.run(100);
    expect(e3).toMatchObject({ kind: 'mmio', isWrite: true, address: DEV + 8, size: 8 });
    if (e3.kind === 'mmio') expect([...e3.data]).toEqual([0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]);
    const e4 = cpu.run(100);
    expect(e4).toMatchObject({ kind: 'mmio', isWrite: true, address: DEV + 1, size: 1 });
    if (e4.kind === 'mmio') expect([...e4.data]).toEqual([0x88]);
  });

  it('loads complete with the caller-filled data: LDR W zero-extends, LDRSB sign-extends, LDR X', () => {
    const { cpu } = setup([
      0xb9400820, // ldr w0, [x1, #8]
      0x39801420, // ldrsb x0, [x1, #5]
      0x39c01420, // ldrsb w0, [x1, #5]
      0xf9400820, // ldr x0, [x1, #16]
      0x79c00c20, // ldrsh w0, [x1, #6]
    ]);
    cpu.setX(1, BigInt(DEV));
    cpu.setX(0, M64);
    const fillRun = (bytes: number[]): A64Exit => {
      const e = cpu.run(1);
      expect(e.kind).toBe('mmio');
      if (e.kind === 'mmio') {
        expect(e.isWrite).toBe(false);
        expect(e.size).toBe(bytes.length);
        e.data.set(bytes);
      }
      return e;
    };
    expect(fillRun([0xef, 0xbe, 0xad, 0xde])).toMatchObject({ address: DEV + 8, size: 4 });
    expect(cpu.run(0).kind).toBe('budget'); // completion happens before the budget check
    expect(cpu.getX(0)).toBe(0xdeadbeefn);
    fillRun([0x80]);
    cpu.run(0);
    expect(cpu.getX(0)).toBe(0xffff_ffff_ffff_ff80n);
    fillRun([0xfe]);
    cpu.run(0);
    expect(cpu.getX(0)).toBe(0xffff_fffen);
    fillRun([1, 2, 3, 4, 5, 6, 7, 0x88]);
    cpu.run(0);
    expect(cpu.getX(0)).toBe(0x8807060504030201n);
    fillRun([0x00, 0x80]);
    cpu.run(0);
    expect(cpu.getX(0)).toBe(0xffff_8000n);
    expect(cpu.getPc()).toBe(BigInt(CODE + 20));
    expect(cpu.instructions).toBe(5);
  });

  it('LDP/STP, writeback forms, exclusives and SIMD&FP to MMIO are mmio-nisv, with nothing done', () => {
    for (const [w, write] of [
      [0xa9410c20, false], // ldp x0, x3, [x1, #16]
      [0xa9bf1022, true], // stp x2, x4, [x1, #-16]!
      [0xf8408c20, false], // ldr x0, [x1, #8]!
      [0xf8018422, true], // str x2, [x1], #24
      [0xc85f7c20, false], // ldxr x0, [x1]
      [0xf8220020, true], // ldadd x2, x0, [x1]
      [0x3dc00020, false], // ldr q0, [x1]
    ] as const) {
      const { cpu } = setup([w]);
      cpu.setSysReg(3, 0, 1, 0, 2, 3n << 20n);
      cpu.setX(1, BigInt(DEV + 0x20));
      cpu.setX(0, 5n);
      const e = cpu.run(10);
      expect(e.kind).toBe('mmio-nisv');
      if (e.kind === 'mmio-nisv') expect(e.isWrite).toBe(write);
      expect(cpu.getPc()).toBe(BigInt(CODE));
      expect(cpu.getX(1)).toBe(BigInt(DEV + 0x20)); // no writeback
      expect(cpu.getX(0)).toBe(5n);
    }
  });

  it('a store to a readonly region exits as MMIO; a load from it reads the bytes', () => {
    const rom = new Uint8Array(0x1000);
    rom[0x10] = 0x5a;
    const { cpu } = setup([
      0x39404020, // ldrb w0, [x1, #16]
      0x39004022, // strb w2, [x1, #16]
    ]);
    const ram = new Uint8Array(1 << 20);
    new DataView(ram.buffer).setUint32(0x1000, 0x39404020, true);
    new DataView(ram.buffer).setUint32(0x1004, 0x39004022, true);
    cpu.setMemoryMap([{ gpa: RAM, bytes: ram, readonly: false }, { gpa: 0, bytes: rom, readonly: true }]);
    cpu.setX(1, 0n);
    cpu.setX(2, 0x77n);
    const e = cpu.run(10);
    expect(cpu.getX(0)).toBe(0x5an);
    expect(e).toMatchObject({ kind: 'mmio', isWrite: true, address: 0x10, size: 1 });
    expect(rom[0x10]).toBe(0x5a);
  });
});

describe('A64 exceptions, interrupts, WFI, HVC', () => {
  // Vectors at RAM (VBAR_EL1): each entry is "hvc #<offset>; eret", so a test sees which vector was taken.
  const VECTORS: Array<[number, number[]]> = [
    [0x000, [0xd4000002, 0xd69f03e0]], [0x080, [0xd4001002, 0xd69f03e0]], [0x100, [0xd4002002, 0xd69f03e0]],
    [0x200, [0xd4004002, 0xd69f03e0]], [0x280, [0xd4005002, 0xd69f03e0]], [0x300, [0xd4006002, 0xd69f03e0]],
    [0x400, [0xd4008002, 0xd69f03e0]], [0x480, [0xd4009002, 0xd69f03e0]],
  ];
  const MAIN = RAM + 0x800;
  const PROG = [
    0xd2800000, // 800: mov x0, #0x0
    0xd50342ff, // 804: msr daifclr, #0x2
    0x91000400, // 808: add x0, x0, #0x1
    0x91000400, // 80c: add x0, x0, #0x1
    0xd4000841, // 810: svc #0x42
    0x00000000, // 814: udf #0
    0xd50342df, // 818: msr daifset, #0x2
    0xd503207f, // 81c: wfi
    0xd40000e2, // 820: hvc #0x7
    0xd53b4221, // 824: mrs x1, daif
    0xd5384242, // 828: mrs x2, currentel
    0xd5384203, // 82c: mrs x3, spsel
    0xd50040bf, // 830: msr spsel, #0x0
    0x9100009f, // 834: mov sp, x4
    0xd50041bf, // 838: msr spsel, #0x1
    0x910000bf, // 83c: mov sp, x5
    0xd50040bf, // 840: msr spsel, #0x0
    0xd50343ff, // 844: msr daifclr, #0x3
    0xd503201f, // 848: nop
    0xd503201f, // 84c: nop
    0x14000000, // 850: b .
  ];
  function machine() {
    const s = setup(PROG, MAIN);
    for (const [off, words] of VECTORS) place(s.dv, RAM + off, words);
    s.cpu.setSysReg(3, 0, 12, 0, 0, BigInt(RAM)); // VBAR_EL1
    return s;
  }
  const ESR = (cpu: A64Cpu): bigint => cpu.getSysReg(3, 0, 5, 2, 0)!;

  it('reset state: PSTATE 0x3c5, registers zero, MPIDR with bit 31, MIDR, CurrentEL', () => {
    const cpu = new A64Cpu({ mpidr: 0x0102n });
    expect(cpu.getPstate()).toBe(0x3c5n);
    expect(cpu.getPc()).toBe(0n);
    expect(cpu.getX(30)).toBe(0n);
    expect(cpu.getSysReg(3, 0, 0, 0, 5)).toBe(0x8000_0102n);
    expect(cpu.getSysReg(3, 0, 0, 0, 0)).toBe(0x411f_d070n);
    expect(cpu.getSysReg(3, 0, 4, 2, 2)).toBe(4n); // CurrentEL = EL1
    expect(cpu.getSysReg(3, 3, 14, 0, 0)).toBe(62_500_000n); // CNTFRQ_EL0
    expect(cpu.getSysReg(3, 0, 0, 4, 0)).toBe(0x11n); // ID_AA64PFR0_EL1
    expect(cpu.getSysReg(3, 0, 0, 1, 0)).toBe(0n); // ID_PFR0_EL1: RAZ
    expect(cpu.getSysReg(3, 7, 15, 15, 7)).toBeUndefined();
  });

  it('IRQ entry and ERET round trip with exact ELR, SPSR and PSTATE; SVC and UDF syndromes', () => {
    const { cpu } = machine();
    expect(cpu.run(3)).toEqual({ kind: 'budget' }); // mov, daifclr, add
    cpu.setPstate(0x9000_0345n); // N and V set, I clear, EL1h
    cpu.setIrqLine(true);
    const e = cpu.run(100);
    expect(e).toEqual({ kind: 'hvc', imm: 0x280 });
    expect(cpu.getElrEl1()).toBe(BigInt(MAIN + 0xc)); // the interrupted (next) instruction
    expect(cpu.getSpsrEl1()).toBe(0x9000_0345n);
    expect(cpu.getPstate()).toBe(0x9000_03c5n); // EL1h, DAIF masked; entry keeps NZCV
    expect(cpu.getPc()).toBe(BigInt(RAM + 0x284));
    expect(cpu.getX(0)).toBe(1n);
    cpu.setIrqLine(false);
    // ERET back; the second add runs, then SVC.
    const e2 = cpu.run(100);
    expect(e2).toEqual({ kind: 'hvc', imm: 0x200 });
    expect(cpu.getX(0)).toBe(2n);
    expect(ESR(cpu)).toBe(0x5600_0042n); // EC 0x15, IL, imm16
    expect(cpu.getElrEl1()).toBe(BigInt(MAIN + 0x14)); // SVC: the next instruction
    expect(cpu.getSpsrEl1()).toBe(0x9000_0345n);
    // ERET lands on the UDF.
    const e3 = cpu.run(100);
    expect(e3).toEqual({ kind: 'hvc', imm: 0x200 });
    expect(ESR(cpu)).toBe(0x0200_0000n); // EC 0 (unknown), IL
    expect(cpu.getElrEl1()).toBe(BigInt(MAIN + 0x14)); // UDF: the instruction itself
    cpu.setElrEl1(BigInt(MAIN + 0x18)); // skip it
    // daifset #2, then WFI with the line low: exits with PC past it.
    const e4 = cpu.run(100);
    expect(e4).toEqual({ kind: 'wfi' });
    expect(cpu.getPc()).toBe(BigInt(MAIN + 0x20));
    expect(cpu.getPstate()).toBe(0x9000_03c5n); // ERET restored 0x345 (N, V; I clear), then DAIFSet #2 set I
  });

  it('an IRQ is not taken while PSTATE.I is set, and WFI does not exit while the line is high', () => {
    const { cpu } = machine();
    cpu.setPc(BigInt(MAIN + 0x18)); // msr daifset, #2 ; wfi ; hvc #7
    cpu.setIrqLine(true);
    expect(cpu.run(100)).toEqual({ kind: 'hvc', imm: 7 }); // WFI completed at once, no IRQ taken (masked)
    expect(cpu.getPc()).toBe(BigInt(MAIN + 0x24));
    expect(cpu.instructions).toBe(3);
    // mrs daif / currentel / spsel
    cpu.run(3);
    expect([cpu.getX(1), cpu.getX(2), cpu.getX(3)]).toEqual([0x3c0n, 4n, 1n]);
  });

  it('SPSel banks SP_EL0 and SP_EL1; an IRQ taken on SP_EL0 uses the +0x080 vector and SPSR says EL1t', () => {
    const { cpu } = machine();
    cpu.setPc(BigInt(MAIN + 0x30));
    cpu.setX(4, 0x4000_7000n);
    cpu.setX(5, 0x4000_9000n);
    cpu.run(5); // spsel 0; mov sp, x4; spsel 1; mov sp, x5; spsel 0
    expect(cpu.getSpEl0()).toBe(0x4000_7000n);
    expect(cpu.getSpEl1()).toBe(0x4000_9000n);
    expect(cpu.getSp()).toBe(0x4000_7000n);
    expect(cpu.getPstate() & 0xfn).toBe(4n);
    cpu.run(1); // daifclr #3: I and F clear
    cpu.setIrqLine(true);
    expect(cpu.run(100)).toEqual({ kind: 'hvc', imm: 0x080 });
    expect(cpu.getSpsrEl1()).toBe(0x304n); // D, A set; I, F clear; EL1t
    expect(cpu.getSp()).toBe(0x4000_9000n); // the handler runs on SP_EL1
    cpu.setIrqLine(false);
    cpu.run(1); // eret
    expect(cpu.getPstate()).toBe(0x304n);
    expect(cpu.getSp()).toBe(0x4000_7000n);
    // FIQ: taken before an IRQ, +0x100 from EL1t
    cpu.setFiqLine(true);
    cpu.setIrqLine(true);
    expect(cpu.run(100)).toEqual({ kind: 'hvc', imm: 0x100 });
  });

  it('an exception from EL0 uses the lower-EL vectors (+0x400), ERET returns to EL0', () => {
    const { cpu, dv } = machine();
    place(dv, CODE, [0xd4000001, 0xd503201f]); // svc #0 ; nop
    cpu.setSpsrEl1(0n); // EL0t
    cpu.setElrEl1(BigInt(CODE));
    cpu.setPc(BigInt(RAM + 0x204)); // an eret
    cpu.run(1);
    expect(cpu.getPstate()).toBe(0n);
    expect(cpu.run(100)).toEqual({ kind: 'hvc', imm: 0x400 });
    expect(ESR(cpu) >> 26n).toBe(0x15n);
    expect(cpu.getSpsrEl1()).toBe(0n);
  });

  it('ERET to an unsupported mode is an illegal return: the next instruction takes EC 0x0e', () => {
    const { cpu } = machine();
    cpu.setSpsrEl1(0x3c9n); // EL2h: not implemented
    cpu.setElrEl1(BigInt(MAIN + 0x48));
    cpu.setPc(BigInt(RAM + 0x204)); // eret
    expect(cpu.run(100)).toEqual({ kind: 'hvc', imm: 0x200 });
    expect(ESR(cpu)).toBe(0x3a00_0000n); // EC 0x0e, IL
    expect(cpu.getElrEl1()).toBe(BigInt(MAIN + 0x48));
    expect((cpu.getSpsrEl1() >> 20n) & 1n).toBe(1n); // PSTATE.IL was set
  });

  it('HVC exits with PC advanced; the caller sets x0 and continues; SMC is UNDEFINED; BRK has EC 0x3c', () => {
    const { cpu, dv } = machine();
    place(dv, CODE, [0xd4024682, 0x91000401, 0xd4000003, 0xd4200ee0]); // hvc #0x1234; add x1, x0, #1; smc #0; brk #0x77
    cpu.setPc(BigInt(CODE));
    expect(cpu.run(100)).toEqual({ kind: 'hvc', imm: 0x1234 });
    expect(cpu.getPc()).toBe(BigInt(CODE + 4));
    cpu.setX(0, 41n);
    expect(cpu.run(100)).toEqual({ kind: 'hvc', imm: 0x200 }); // add; then smc -> sync exception
    expect(cpu.getX(1)).toBe(42n);
    expect(ESR(cpu)).toBe(0x0200_0000n);
    expect(cpu.getElrEl1()).toBe(BigInt(CODE + 8));
    cpu.setPc(BigInt(CODE + 12));
    expect(cpu.run(100)).toEqual({ kind: 'hvc', imm: 0x200 });
    expect(ESR(cpu)).toBe(0xf200_0077n);
  });

  it('unknown system registers are UNDEFINED; MSR to read-only ones too', () => {
    const { cpu, dv } = machine();
    place(dv, CODE, [0xd53ffff0, 0xd5180000]); // mrs x16, s3_7_c15_c15_7 ; msr midr_el1, x0 (read-only)
    cpu.setPc(BigInt(CODE));
    expect(cpu.run(100)).toEqual({ kind: 'hvc', imm: 0x200 });
    expect(ESR(cpu)).toBe(0x0200_0000n);
    expect(cpu.getElrEl1()).toBe(BigInt(CODE));
    cpu.setPc(BigInt(CODE + 4));
    expect(cpu.run(100)).toEqual({ kind: 'hvc', imm: 0x200 });
    expect(cpu.getElrEl1()).toBe(BigInt(CODE + 4));
  });

  it('fetching from outside RAM takes a prefetch abort (EC 0x21, FAR = PC); a misaligned BR a PC alignment fault', () => {
    const { cpu, dv } = machine();
    cpu.setPc(0x0900_0000n);
    expect(cpu.run(100)).toEqual({ kind: 'hvc', imm: 0x200 });
    expect(ESR(cpu)).toBe(0x8600_0010n);
    expect(cpu.getSysReg(3, 0, 6, 0, 0)).toBe(0x0900_0000n);
    place(dv, CODE, [0xd61f0020]); // br x1
    cpu.setX(1, BigInt(CODE + 2));
    cpu.setPc(BigInt(CODE));
    expect(cpu.run(100)).toEqual({ kind: 'hvc', imm: 0x200 });
    expect(ESR(cpu)).toBe(0x8a00_0000n);
    expect(cpu.getElrEl1()).toBe(BigInt(CODE + 2));
  });
});

describe('A64 end to end: compiled C', () => {
  // aarch64-linux-gnu-gcc -O2 -ffreestanding -fno-stack-protector, linked at 0x40001000 after this start:
  //   _start: ldr x9, =0x40080000; mov sp, x9; bl work; hvc #0; b .
  // work(u32 *a, long n, const u8 *bytes, long nb):
  //   insertion-sorts a[0..n); h = FNV-1a-64 over bytes; s = fold of rotl(s, 7) ^ (a[i] * (i + 1));
  //   q = (long)h / 1000003 + (long)(s % 977); returns h ^ s ^ q ^ (long)(signed char)bytes[3]
  const IMAGE = [
    0x580000c9, 0x9100013f, 0x94000006, 0xd4000002, 0x14000000, 0x00000000, 0x40080000, 0x00000000,
    0xf100043f, 0x54000a0d, 0x91001009, 0x8b01080b, 0xd280000a, 0xd503201f, 0xb9400128, 0xaa0a03e5,
    0xaa0903e4, 0x14000005, 0xb9000086, 0xd10010e4, 0xb10004bf, 0x540007a0, 0xb85fc086, 0xd10004a5,
    0xaa0403e7, 0x6b06011f, 0x54ffff03, 0x91001129, 0xb90000e8, 0x9100054a, 0xeb0b013f, 0x54fffde1,
    0xf100007f, 0x5400090d, 0xd28464a4, 0x8b020066, 0xf2b08444, 0xd2803667, 0xf2d39c84, 0xaa0203e3,
    0xf2f97e44, 0xf2c02007, 0x38401465, 0xca0400a4, 0x9b077c84, 0xeb06007f, 0x54ffff81, 0xd299c6a7,
    0xf2a9cb47, 0xf2d45447, 0xf2f0c6e7, 0x9b477c87, 0x8b0400e7, 0x9353fce7, 0xcb84fce7, 0xf100003f,
    0x5400056d, 0xd2800003, 0xd2800006, 0xd503201f, 0xb8637805, 0x91000463, 0x9b057c65, 0xcac6e4a6,
    0xeb01007f, 0x54ffff61, 0xd285cc21, 0xd2807a23, 0xf2a723e1, 0xf2d688c1, 0xf2e18a01, 0x9bc17cc1,
    0xcb0100c0, 0x8b400420, 0xd349fc00, 0x9b039800, 0x8b0000e7, 0x39800c40, 0xca0600e7, 0xca040000,
    0xca070000, 0xd65f03c0, 0xaa0003e7, 0x91001129, 0x9100054a, 0xb90000e8, 0xeb0b013f, 0x54fff6e1,
    0x17ffffc8, 0xf100007f, 0x54fff90c, 0xd28464a4, 0x92889b47, 0xf2b08444, 0xf2b6b8a7, 0xf2d39c84,
    0xf2df92c7, 0xf2f97e44, 0x17ffffd5, 0x39800c40, 0xd2800006, 0xca0600e7, 0xca040000, 0xca070000,
    0xd65f03c0, 0xd28464a4, 0x92889b47, 0xf2b08444, 0xf2b6b8a7, 0xf2d39c84, 0xf2df92c7, 0xf2f97e44,
    0x17ffffc9, 0x00000000, 0x00000010, 0x00000000, 0x00527a01, 0x011e7804, 0x001f0c1b, 0x00000010,
    0x00000018, 0xfffffe3c, 0x000001a4, 0x00000000,
  ];

  function reference(a: number[], bytes: Uint8Array): bigint {
    const s0 = [...a].sort((p, q) => p - q);
    let h = 0xcbf29ce484222325n;
    for (const b of bytes) h = U((h ^ BigInt(b)) * 0x100000001b3n, 64);
    let s = 0n;
    s0.forEach((v, i) => { s = U(((s << 7n) | (s >> 57n)) ^ U(BigInt(v) * BigInt(i + 1), 64), 64); });
    const q = U(SX(h, 64) / 1000003n + SX(s % 977n, 64), 64);
    const sc = U(BigInt(bytes[3]! << 24 >> 24), 64);
    return h ^ s ^ q ^ sc;
  }

  for (const [n, nb, seed] of [[50, 200, 1], [1, 5, 2], [200, 1000, 3], [0, 4, 4]] as const) {
    it(`sort + FNV + fold over ${n} words and ${nb} bytes matches the JS computation`, () => {
      const { cpu, dv, ram } = setup(IMAGE);
      let r = seed * 0x2545f491;
      const rnd = (): number => { r ^= r << 13; r ^= r >>> 17; r ^= r << 5; return r >>> 0; };
      const a = Array.from({ length: n }, () => rnd());
      const bytes = Uint8Array.from({ length: nb }, () => rnd() & 0xff);
      bytes[3] = 0x80 | (seed & 0x7f); // a negative signed char
      a.forEach((v, i) => dv.setUint32(0x10000 + 4 * i, v, true));
      ram.set(bytes, 0x20000);
      cpu.setX(0, BigInt(RAM + 0x10000));
      cpu.setX(1, BigInt(n));
      cpu.setX(2, BigInt(RAM + 0x20000));
      cpu.setX(3, BigInt(nb));
      const e = cpu.run(10_000_000);
      expect(e).toEqual({ kind: 'hvc', imm: 0 });
      expect(cpu.getX(0)).toBe(reference(a, bytes));
      const sorted = Array.from({ length: n }, (_, i) => dv.getUint32(0x10000 + 4 * i, true));
      expect(sorted).toEqual([...a].sort((p, q) => p - q));
    });
  }
});

describe('A64 speed', () => {
  it('a tight loop runs at a plausible rate (reports MIPS)', () => {
    const { cpu } = setup([
      0xd2800000, // mov x0, #0
      0xd2800001, // mov x1, #0
      0x8b010000, // loop: add x0, x0, x1
      0xca010c02, // eor x2, x0, x1, lsl #3
      0x91000421, // add x1, x1, #1
      0xeb03003f, // cmp x1, x3
      0x54ffff81, // b.ne loop
      0xd4000002, // hvc #0
    ]);
    const iters = 2_000_000n;
    cpu.setX(3, iters);
    const t0 = performance.now();
    const e = cpu.run(1e9);
    const ms = performance.now() - t0;
    expect(e).toEqual({ kind: 'hvc', imm: 0 });
    expect(cpu.getX(0)).toBe((iters * (iters - 1n)) / 2n);
    const mips = cpu.instructions / ms / 1000;
    console.log(`sim_a64_mips (tight loop): ${mips.toFixed(1)} MIPS (${cpu.instructions} instructions in ${ms.toFixed(0)} ms)`);
    expect(mips).toBeGreaterThan(1);
  });
});

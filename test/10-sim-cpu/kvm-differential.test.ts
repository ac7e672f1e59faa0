/**
 * The interpreter against real KVM: random programs (random-programs.ts)
 * run as guest code on a KVM vCPU and on X86Cpu from the same state; the
 * registers, EFLAGS (all arithmetic flags, undefined ones included), the
 * data area and the exit must match. Skipped, with the reason in its title,
 * when /dev/kvm is not usable.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { KvmHypervisor } from '../../src/backend/kvm/index.js';
import type { GuestMemory, Hypervisor, Vcpu, Vm, X86Regs } from '../../src/backend/types.js';
import { multibootSregs } from '../../src/machine/x86-pc.js';
import { KVM_SKIP_REASON } from '../helpers/backends.js';
import { CODE, DATA, flatMachine, le32, load } from './helpers.js';
import { GENS, initArb, initialData, programArb, programBytes, wrapProgram } from './random-programs.js';

const RAM = 0x100000;
const STACK = 0x80000;

class KvmRig {
  private hv: Hypervisor = new KvmHypervisor();
  private vm: Vm | null = null;
  private ram: GuestMemory | null = null;
  private vcpu: Vcpu | null = null;

  private open(): void {
    const vm = this.hv.createVm();
    vm.setTssAddr(0xfffbd000);
    this.ram = vm.allocateMemory(RAM);
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: RAM, memory: this.ram });
    this.vcpu = vm.createVcpu(0);
    this.vcpu.setCpuid(this.hv.supportedCpuid());
    this.vcpu.setSregs(multibootSregs(this.vcpu.getSregs()));
    this.vm = vm;
  }

  close(): void {
    this.vm?.close();
    this.vm = null;
  }

  run(program: number[], data: number[]): { exit: string; regs: Record<string, number>; data: number[] } {
    if (this.vm === null) this.open();
    const mem = this.ram!.bytes;
    mem.set(data, DATA);
    mem.set(program, CODE);
    const regs = this.vcpu!.getRegs();
    this.vcpu!.setRegs({ ...regs, rip: BigInt(CODE), rsp: BigInt(STACK), rflags: 2n });
    const e = this.vcpu!.run();
    const out = { exit: e.kind, regs: numbers(this.vcpu!.getRegs()), data: [...mem.subarray(DATA, DATA + 0x100)] };
    if (e.kind !== 'hlt') this.close(); // a triple fault leaves the vCPU unusable: start over
    return out;
  }
}

function numbers(r: X86Regs): Record<string, number> {
  const names = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'rip', 'rflags'] as const;
  return Object.fromEntries(names.map((n) => [n, Number(r[n] & 0xffffffffn)]));
}

function runSim(program: number[], data: number[]): { exit: string; regs: Record<string, number>; data: number[] } {
  const m = flatMachine({ fastPath: true });
  load(m, DATA, data);
  load(m, CODE, program);
  const e = m.cpu.run(100_000);
  return { exit: e.kind, regs: { ...m.cpu.getRegs() }, data: [...m.mem.subarray(DATA, DATA + 0x100)] };
}

/**
 * The flags the SDM leaves undefined follow the AMD CPUs of the development
 * hosts (see src/backend/sim/x86/alu.ts). On another vendor's host only the
 * defined flags can be expected to match: compare EFLAGS without the
 * arithmetic flags there, and say so in the title.
 */
function hostIsAmd(): boolean {
  if (KVM_SKIP_REASON) return false;
  const hv = new KvmHypervisor();
  try {
    const leaf0 = hv.supportedCpuid().find((e) => e.function === 0);
    const str = (v: number): string => String.fromCharCode(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);
    return leaf0 !== undefined && str(leaf0.ebx) + str(leaf0.edx) + str(leaf0.ecx) === 'AuthenticAMD';
  } finally {
    hv.close();
  }
}
const AMD = hostIsAmd();
const ARITH_FLAGS = 0x8d5;
/** EFLAGS as the tests compare them: all of them on AMD, without the arithmetic flags elsewhere. */
const comparedFlags = (f: number): number => (AMD ? f : f & ~ARITH_FLAGS);

const isBitScan = (bytes: number[]): boolean => bytes[0] === 0x0f && (bytes[1] === 0xbc || bytes[1] === 0xbd);

/**
 * BSF/BSR leave CF OF SF AF PF undefined, and AMD CPUs disagree among
 * themselves: the EPYC the sim's model was measured on clears them
 * (PF = parity of the index), the family-25 EPYC of other development hosts
 * leaves them unchanged (and the destination of a zero source is undefined
 * too). Probe the host with both instructions over zero and non-zero sources
 * and all-clear/all-set input flags, comparing what the property compares;
 * where it differs from the sim, BSF/BSR are left out of the random programs
 * (and the title says so).
 */
function bitScanMatchesHost(): boolean {
  if (KVM_SKIP_REASON) return true;
  const rig = new KvmRig();
  try {
    for (const op of [0xbc, 0xbd]) {
      for (const src of [0, 0x10, 0x80000001]) {
        for (const fin of [0x2, 0x8d7]) {
          const program = [
            0xb8, ...le32(0x1234), //   mov eax, 0x1234
            0xb9, ...le32(src), //      mov ecx, src
            0x68, ...le32(fin), //      push fin
            0x9d, //                    popf
            0x0f, op, 0xc1, //          bsf/bsr eax, ecx
            0x9c, 0x5b, 0xf4, //        pushfd; pop ebx; hlt
          ];
          const data = new Array<number>(0x100).fill(0);
          const kvm = rig.run(program, data), sim = runSim(program, data);
          if (kvm.regs['rax'] !== sim.regs['rax'] || comparedFlags(kvm.regs['rbx']!) !== comparedFlags(sim.regs['rbx']!)) return false;
        }
      }
    }
    return true;
  } finally {
    rig.close();
  }
}
const BIT_SCAN_OK = bitScanMatchesHost();
const GENS_HERE = BIT_SCAN_OK ? GENS : GENS.filter((g) => !isBitScan(g(0, 0)));

const title = KVM_SKIP_REASON ? `the interpreter matches real KVM on random programs (skipped: ${KVM_SKIP_REASON})` :
  `the interpreter matches real KVM on random programs${AMD ? '' : ' (host CPU is not AMD: arithmetic flags not compared)'}` +
  (BIT_SCAN_OK ? '' : ' (host CPU\'s BSF/BSR differ from the sim\'s model where the SDM leaves them undefined: BSF/BSR not generated)');

describe.skipIf(KVM_SKIP_REASON !== null)(title, () => {
  let rig: KvmRig | null = null;
  afterAll(() => rig?.close());

  it('registers, EFLAGS, memory and the exit', () => {
    rig = new KvmRig();
    const r = rig;
    fc.assert(fc.property(programArb(GENS_HERE), initArb, (prog, init) => {
      const program = wrapProgram(DATA, programBytes(prog, GENS_HERE), init);
      const data = initialData(init);
      const sim = runSim(program, data);
      const kvm = r.run(program, data);
      expect(sim.exit).toBe(kvm.exit);
      if (kvm.exit !== 'hlt') return; // after a triple fault KVM's register state is not architectural
      sim.regs['rflags'] = comparedFlags(sim.regs['rflags']!);
      kvm.regs['rflags'] = comparedFlags(kvm.regs['rflags']!);
      expect(sim.regs).toEqual(kvm.regs);
      expect(sim.data).toEqual(kvm.data);
    }), { numRuns: 200 });
  });
});

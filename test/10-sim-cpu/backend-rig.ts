/**
 * A guest program run through the backend contract: a VM with 1 MiB of
 * RAM and one vCPU given a CPUID table and put in flat 32-bit protected
 * mode (as the machine sets up a multiboot kernel). The same code drives
 * KVM and the sim, so differential tests compare like with like.
 */
import type { CpuidEntry, GuestMemory, Hypervisor, Vcpu, Vm, X86Regs } from '../../src/backend/types.js';
import { multibootSregs } from '../../src/machine/x86-pc.js';
import { CODE, DATA } from './helpers.js';

const RAM = 0x100000;
const STACK = 0x80000;

export interface Outcome { exit: string; regs: Record<string, number>; data: number[] }

export class Rig {
  private vm: Vm | null = null;
  private ram: GuestMemory | null = null;
  private vcpu: Vcpu | null = null;

  /**
   * `reuse`: keep the VM after a HLT exit (KVM, where a run after a HLT exit
   * goes on; a sim vCPU without an irqchip stays halted, so it gets a new
   * VM per run).
   */
  constructor(private readonly hv: Hypervisor, private readonly cpuid: readonly CpuidEntry[], private readonly reuse: boolean) {}

  private open(): void {
    const vm = this.hv.createVm();
    vm.setTssAddr(0xfffbd000);
    this.ram = vm.allocateMemory(RAM);
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: RAM, memory: this.ram });
    this.vcpu = vm.createVcpu(0);
    this.vcpu.setCpuid(this.cpuid);
    this.vcpu.setSregs(multibootSregs(this.vcpu.getSregs()));
    this.vm = vm;
  }

  close(): void {
    this.vm?.close();
    this.vm = null;
  }

  /** Runs `program` at CODE with `data` at DATA, ESP = 0x80000, EFLAGS = 2, until the first exit. */
  run(program: readonly number[], data: readonly number[]): Outcome {
    if (this.vm === null) this.open();
    const mem = this.ram!.bytes;
    mem.set(data, DATA);
    mem.set(program, CODE);
    const regs = this.vcpu!.getRegs();
    this.vcpu!.setRegs({ ...regs, rip: BigInt(CODE), rsp: BigInt(STACK), rflags: 2n });
    const e = this.vcpu!.run();
    const out = { exit: e.kind, regs: numbers(this.vcpu!.getRegs()), data: [...mem.subarray(DATA, DATA + 0x100)] };
    if (e.kind !== 'hlt' || !this.reuse) this.close(); // a triple fault leaves the vCPU unusable: start over
    return out;
  }
}

function numbers(r: X86Regs): Record<string, number> {
  const names = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'rip', 'rflags'] as const;
  return Object.fromEntries(names.map((n) => [n, Number(r[n] & 0xffffffffn)]));
}

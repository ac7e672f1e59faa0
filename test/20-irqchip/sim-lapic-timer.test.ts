/**
 * The sim's in-kernel LAPIC timer as the guest sees it through MMIO: the
 * current count and an expiry are those of the accessing instruction, not
 * of the start of the interpreter slice it runs in (a slice is up to 2^20
 * instructions; before df426c0 two reads within one slice returned the same
 * count). The guest lapic-timer checks the same on KVM, the sim and QEMU.
 */
import { describe, expect, it } from 'vitest';
import { SimHypervisor } from '../../src/backend/sim/index.js';
import { multibootSregs } from '../../src/machine/x86-pc.js';

const CODE = 0x1000;
const mov = (off: number, v: number): number[] => [0xc7, 0x05, off & 0xff, off >> 8, 0xe0, 0xfe, v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24];

/** Runs `code` at 0x1000 in flat 32-bit mode with the split irqchip up to its `out 0x80`; returns eax, ebx. */
function run(code: number[]): { eax: number; ebx: number } {
  const hv = new SimHypervisor();
  const vm = hv.createVm();
  try {
    vm.enableCap('KVM_CAP_SPLIT_IRQCHIP', [24]);
    const ram = vm.allocateMemory(1 << 20);
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 1 << 20, memory: ram });
    ram.bytes.set(code, CODE);
    const vcpu = vm.createVcpu(0);
    vcpu.setSregs(multibootSregs(vcpu.getSregs()));
    const regs = vcpu.getRegs();
    regs.rip = BigInt(CODE);
    regs.rsp = 0x8000n;
    regs.rflags = 2n;
    vcpu.setRegs(regs);
    let e = vcpu.run();
    for (let i = 0; i < 10 && e.kind === 'intr'; i++) e = vcpu.run(); // the sim ends a slice at a timer deadline
    expect(e).toMatchObject({ kind: 'io-out', port: 0x80 });
    const r = vcpu.getRegs();
    return { eax: Number(r.rax), ebx: Number(r.rbx) };
  } finally {
    vm.close();
    hv.close();
  }
}

const SETUP = [
  ...mov(0xf0, 0x1ff), //     SVR: software enable
  ...mov(0x3e0, 0xb), //      divide by 1
  ...mov(0x320, 0x10040), //  LVT timer: one-shot, masked, vector 0x40
];
const DELAY_200 = [
  0xb9, 0x64, 0x00, 0x00, 0x00, // mov ecx, 100
  0x49, //                         1: dec ecx
  0x75, 0xfd, //                   jnz 1b
];
const READ_EBX = [0x8b, 0x1d, 0x90, 0x03, 0xe0, 0xfe]; // mov ebx, [0xfee00390] (current count)
const READ_EAX = [0xa1, 0x90, 0x03, 0xe0, 0xfe]; //       mov eax, [0xfee00390]
const DONE = [0xe6, 0x80, 0xf4]; //                       out 0x80, al; hlt

describe('sim LAPIC timer seen through MMIO within one slice', () => {
  it('the current count runs down between two reads 200 instructions apart', () => {
    const { eax, ebx } = run([...SETUP, ...mov(0x380, 1_000_000), ...READ_EAX, ...DELAY_200, ...READ_EBX, ...DONE]);
    expect(eax).toBeLessThanOrEqual(1_000_000);
    expect(eax).toBeGreaterThan(1_000_000 - 10);
    expect(eax - ebx).toBeGreaterThanOrEqual(200); // 1 instruction = 1 ns = 1 tick at divide 1
    expect(eax - ebx).toBeLessThan(210);
  });

  it('a one-shot timer shorter than the delay has expired at the next read (count 0)', () => {
    const { eax, ebx } = run([...SETUP, ...mov(0x380, 50), ...READ_EAX, ...DELAY_200, ...READ_EBX, ...DONE]);
    expect(eax).toBeGreaterThan(0);
    expect(ebx).toBe(0);
  });
});

/**
 * The KVM backend's vCPU threads end to end, without a machine: two vCPUs,
 * each on a native thread of its own (Vm.runVcpus with threads), make port
 * exits served here, then sleep halted inside KVM_RUN; the run ends when the
 * server says so, every vCPU is kicked out, and closing the VM stops and
 * joins the threads. Real-mode guests of a few instructions, so that the fake
 * /dev/kvm (test/00-native/fake-kvm.test.ts) runs this too.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { KvmHypervisor } from '../../src/backend/kvm/index.js';
import type { ExitServer } from '../../src/backend/driver.js';
import type { Vcpu, VcpuExit } from '../../src/backend/types.js';
import { KVM_SKIP_REASON } from '../helpers/backends.js';

/** vCPU i: mov al, i; out 0x10, al (three times); cli; hlt; jmp back to the hlt. */
const guest = (i: number): number[] => [0xb0, i, 0xe6, 0x10, 0xe6, 0x10, 0xe6, 0x10, 0xfa, 0xf4, 0xeb, 0xfd];

describe.skipIf(KVM_SKIP_REASON !== null)(`KVM vCPU threads${KVM_SKIP_REASON ? ` (skipped: ${KVM_SKIP_REASON})` : ''}`, () => {
  it('two vCPUs on their own threads: every exit served here, a stop kicks the halted one out, close ends the threads', async () => {
    const hv = new KvmHypervisor();
    const vm = hv.createVm();
    try {
      vm.setTssAddr(0xfffb_d000);
      vm.enableCap('KVM_CAP_SPLIT_IRQCHIP', [24]);
      const ram = vm.allocateMemory(0x10000);
      vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x10000, memory: ram });
      const vcpus: Vcpu[] = [];
      for (let i = 0; i < 2; i++) {
        const at = 0x1000 + i * 0x100;
        ram.bytes.set(guest(i + 1), at);
        const v = vm.createVcpu(i);
        v.setCpuid(hv.supportedCpuid());
        const s = v.getSregs();
        v.setSregs({ ...s, cs: { ...s.cs, base: 0n, selector: 0 } });
        v.setRegs({ ...v.getRegs(), rip: BigInt(at), rflags: 2n });
        // With the LAPIC in the kernel an AP waits for INIT/SIPI (KVM_MP_STATE_UNINITIALIZED): start it here.
        if (i > 0) v.setMpState('runnable');
        vcpus.push(v);
      }
      const outs: string[] = [];
      let stop = false;
      const server: ExitServer = {
        serve: (v: Vcpu, e: VcpuExit) => {
          if (e.kind === 'io-out') outs.push(`${v.id}:${e.data[0]}`);
          else if (e.kind !== 'intr') outs.push(`${v.id}:${e.kind}`);
          if (outs.length === 6) stop = true;
        },
        stopping: () => stop,
        stop: () => { stop = true; },
      };
      expect(vm.runsOnThreads(2)).toBe(true);
      const end = await vm.runVcpus(vcpus, server, { threads: true });
      expect(end).toBe('stopped');
      expect(outs.filter((o) => o.startsWith('0:'))).toEqual(['0:1', '0:1', '0:1']);
      expect(outs.filter((o) => o.startsWith('1:'))).toEqual(['1:2', '1:2', '1:2']);
    } finally {
      vm.close();
      hv.close();
    }
  });

  it('input on a watched fd kicks a vCPU asleep in KVM_RUN on this thread (Vm.kickOnReadable, as stdin does)', () => {
    const hv = new KvmHypervisor();
    const vm = hv.createVm();
    const dir = mkdtempSync(join(tmpdir(), 'tsvmm-fifo-'));
    const fifo = join(dir, 'input');
    execFileSync('mkfifo', [fifo]);
    const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
    try {
      vm.setTssAddr(0xfffb_d000);
      const ram = vm.allocateMemory(0x10000);
      vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x10000, memory: ram });
      ram.bytes.set([0xeb, 0xfe], 0x1000); // jmp $: never exits by itself
      const v = vm.createVcpu(0);
      v.setCpuid(hv.supportedCpuid());
      const s = v.getSregs();
      v.setSregs({ ...s, cs: { ...s.cs, base: 0n, selector: 0 } });
      v.setRegs({ ...v.getRegs(), rip: 0x1000n, rflags: 2n });
      const unwatch = vm.kickOnReadable(fd, [v]);
      // Another thread writes while this one sleeps inside KVM_RUN.
      const w = new Worker(`setTimeout(() => require('node:fs').writeSync(${fd}, 'x'), 200)`, { eval: true, execArgv: [] });
      expect(v.run().kind).toBe('intr');
      unwatch();
      void w.terminate();
    } finally {
      closeSync(fd);
      vm.close();
      hv.close();
    }
  });
});

/**
 * The edu-compatible device (QEMU docs/specs/edu.rst): identification,
 * liveness, factorial with its interrupt, interrupt raise/ack, DMA both
 * ways within the buffer and the 28-bit mask; exact lists of outputs.
 */
import { describe, expect, it } from 'vitest';
import { Edu, EDU_DMA_BUFFER, EDU_ID, factorial32, type EduOutputs } from '../../src/devices/edu.js';

function rig() {
  const log: string[] = [];
  const ram = new Uint8Array(0x1_0000);
  let faultAt = -1;
  const out: EduOutputs = {
    interrupt: () => log.push('msi'),
    intx: (l) => log.push(`intx ${l ? 1 : 0}`),
    dma: {
      read: (a, n) => (a === faultAt ? null : ram.slice(a, a + n)),
      write: (a, b) => { if (a === faultAt) return false; ram.set(b, a); return true; },
    },
    onGuestError: (w) => log.push(`error ${w}`),
  };
  return { edu: new Edu(out), out, log, ram, fault: (a: number) => { faultAt = a; } };
}

describe('edu', () => {
  it('identifies itself and inverts what the liveness register got', () => {
    const { edu } = rig();
    expect(edu.read(0x00, 4)).toBe(EDU_ID);
    edu.write(0x04, 4, 0x1234_5678);
    expect(edu.read(0x04, 4)).toBe(0xedcb_a987);
  });

  it.each([[0, 1], [1, 1], [5, 120], [12, 479001600], [13, 1932053504], [34, 0], [0xffff_ffff, 0]])('factorial of %i is %i (mod 2^32)', (n, f) => {
    const { edu } = rig();
    edu.write(0x08, 4, n);
    expect(edu.read(0x20, 4) & 1).toBe(0);
    expect(edu.read(0x08, 4)).toBe(f);
    expect(factorial32(n)).toBe(f);
  });

  it('a finished factorial raises 0x01 when status bit 7 asks; ack lowers INTx', () => {
    const { edu, log } = rig();
    edu.write(0x20, 4, 0x81); //  bit 0 is the device's: only bit 7 sticks
    expect(edu.read(0x20, 4)).toBe(0x80);
    edu.write(0x08, 4, 4);
    expect(edu.read(0x24, 4)).toBe(0x01);
    edu.write(0x64, 4, 0x01);
    expect(edu.read(0x24, 4)).toBe(0);
    expect(log).toEqual(['intx 1', 'msi', 'intx 0']);
  });

  it('raise ORs into the status and signals every time the status is non-zero (as QEMU\'s msi_notify); ack clears bits', () => {
    const { edu, log } = rig();
    edu.write(0x60, 4, 0x10);
    edu.write(0x60, 4, 0x20);
    edu.write(0x60, 4, 0);
    edu.write(0x64, 4, 0x10);
    edu.write(0x64, 4, 0x20);
    expect(log).toEqual(['intx 1', 'msi', 'msi', 'msi', 'intx 0']);
  });

  it('DMA RAM → buffer → RAM, with the completion interrupt 0x100', () => {
    const { edu, log, ram } = rig();
    ram.set([1, 2, 3, 4, 5, 6, 7, 8], 0x2000);
    const dma = (src: number, dst: number, count: number, cmd: number): void => {
      edu.write(0x80, 4, src);
      edu.write(0x88, 4, dst);
      edu.write(0x90, 4, count);
      edu.write(0x98, 4, cmd);
    };
    dma(0x2000, EDU_DMA_BUFFER + 0x10, 8, 0x1 | 0x4); //       RAM → device, interrupt
    expect(edu.read(0x98, 4) & 1).toBe(0); //                  done
    expect([...edu.dmaBuffer.subarray(0x10, 0x18)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    dma(EDU_DMA_BUFFER + 0x12, 0x3000, 4, 0x1 | 0x2); //      device → RAM, no interrupt
    expect([...ram.subarray(0x3000, 0x3004)]).toEqual([3, 4, 5, 6]);
    expect(edu.read(0x24, 4)).toBe(0x100);
    expect(log).toEqual(['intx 1', 'msi']);
  });

  it('a DMA past the buffer moves nothing, a RAM address past 28 bits is clamped, an IOMMU fault moves nothing: all guest errors, the VM goes on', () => {
    const { edu, log, ram, fault } = rig();
    const dma = (src: number, dst: number, count: number, cmd: number): void => {
      edu.write(0x80, 4, src); edu.write(0x88, 4, dst); edu.write(0x90, 4, count); edu.write(0x98, 4, cmd);
    };
    dma(0x2000, EDU_DMA_BUFFER + 0xff8, 16, 1); //              past the buffer's end
    ram.set([7, 7, 7, 7], 0x3000);
    dma(0x1000_3000, EDU_DMA_BUFFER, 4, 1); //                   beyond 28 bits: clamped to 0x3000, as QEMU does
    expect([...edu.dmaBuffer.subarray(0, 4)]).toEqual([7, 7, 7, 7]);
    fault(0x2000);
    dma(0x2000, EDU_DMA_BUFFER, 4, 1);
    dma(EDU_DMA_BUFFER, 0x2000, 4, 3);
    expect(log.filter((l) => l.startsWith('error'))).toHaveLength(4);
    expect(edu.read(0x98, 4) & 1).toBe(0);
    expect(edu.guestErrors).toBe(4);
  });

  it('a command without the start bit is ignored, as QEMU does', () => {
    const { edu } = rig();
    edu.write(0x98, 4, 0x6);
    expect(edu.read(0x98, 4)).toBe(0);
  });

  it('the 64-bit registers: a dword at +0 clears the upper half, +4 is the upper half', () => {
    const { edu } = rig();
    edu.write(0x84, 4, 0x1);
    edu.write(0x80, 4, 0x2000);
    expect([edu.read(0x80, 4), edu.read(0x84, 4)]).toEqual([0x2000, 0]);
    edu.write(0x84, 4, 0x1);
    expect(edu.read(0x84, 4)).toBe(1);
  });

  it('accesses other than aligned dwords are guest errors: all ones, nothing written', () => {
    const { edu, log } = rig();
    expect(edu.read(0x00, 2)).toBe(0xffff);
    expect(edu.read(0x02, 4)).toBe(0xffff_ffff);
    edu.write(0x04, 1, 0x55);
    expect(edu.read(0x04, 4)).toBe(0xffff_ffff);
    expect(log.filter((l) => l.startsWith('error'))).toHaveLength(3);
    expect(edu.read(0x40, 4)).toBe(0xffff_ffff); // unimplemented register: ~0 as QEMU's
  });

  it('snapshot → restore gives the same registers, buffer and interrupt level; malformed states are refused', () => {
    const { edu, out } = rig();
    edu.write(0x04, 4, 7);
    edu.write(0x20, 4, 0x80);
    edu.write(0x60, 4, 0x4);
    edu.dmaBuffer.set([9, 9, 9], 100);
    const s = JSON.parse(JSON.stringify(edu.snapshot()));
    const d = Edu.restore(s, out);
    for (const r of [0x00, 0x04, 0x08, 0x20, 0x24, 0x80, 0x84, 0x88, 0x8c, 0x90, 0x94, 0x98]) expect(d.read(r, 4)).toBe(edu.read(r, 4));
    expect([...d.dmaBuffer.subarray(100, 103)]).toEqual([9, 9, 9]);
    expect(d.intxLevel).toBe(true);
    expect(() => Edu.restore({ ...s, status: 1 }, out)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => Edu.restore({ ...s, buffer: 'AAAA' }, out)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => Edu.restore({ ...s, dmaCmd: 1 }, out)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
  });
});

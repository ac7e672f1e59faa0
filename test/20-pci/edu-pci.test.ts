/**
 * The edu device on the PCI bus: BAR0 follows the guest's decode, the
 * interrupt goes out as an MSI when enabled and as INTA# otherwise (gated by
 * INTx disable), DMA needs bus mastering. Exact lists of outputs.
 */
import { describe, expect, it } from 'vitest';
import { EduPci } from '../../src/machine/edu-pci.js';
import { MmioBus } from '../../src/machine/bus.js';
import { PciHost } from '../../src/pci/host.js';
import { pciIntxPin } from '../../src/machine/x86-pc.js';

function rig() {
  const log: string[] = [];
  const mmio = new MmioBus();
  const ram = new Uint8Array(0x10_0000);
  const edu = new EduPci({
    mmio, ram,
    sendMsi: (m) => log.push(`msi ${m.addressLo.toString(16)}=${m.data.toString(16)}`),
    setIntx: (l) => log.push(`intx ${l ? 1 : 0}`),
    onGuestError: (w) => log.push(`error ${w}`),
  });
  const host = new PciHost();
  host.plug(3, edu.fn);
  const cfg = (reg: number, v?: number): number => {
    host.ports.write(0, 4, (0x8000_0000 | (3 << 11) | reg) >>> 0);
    if (v !== undefined) host.ports.write(4, 4, v);
    return host.ports.read(4, 4);
  };
  return { edu, mmio, ram, log, cfg };
}

describe('edu on the PCI bus', () => {
  it('BAR0 decodes where firmware put it, moves with the guest, and goes away with memory decode off', () => {
    const { edu, mmio, cfg } = rig();
    edu.firmwareSetup(0xfe00_0000, 19);
    expect(mmio.read(0xfe00_0000, 4)).toBe(0x0100_00ed);
    cfg(0x10, 0xfd00_0000);
    expect(mmio.read(0xfd00_0000, 4)).toBe(0x0100_00ed);
    expect(mmio.read(0xfe00_0000, 4)).toBe(0xffff_ffff);
    cfg(0x04, 0);
    expect(mmio.read(0xfd00_0000, 4)).toBe(0xffff_ffff);
    expect(cfg(0x3c) & 0xff).toBe(19);
  });

  it('INTA# while MSI is off, gated by INTx disable; with MSI on, one MSI per raise and no INTx', () => {
    const { edu, mmio, log, cfg } = rig();
    edu.firmwareSetup(0xfe00_0000, 19);
    cfg(0x04, 0x2 | 0x4); //                       memory + bus master
    mmio.write(0xfe00_0060, 4, 1); //              raise
    cfg(0x04, 0x2 | 0x4 | 0x400); //               INTx disable
    cfg(0x04, 0x2 | 0x4);
    mmio.write(0xfe00_0064, 4, 1); //              ack
    expect(log).toEqual(['intx 1', 'intx 0', 'intx 1', 'intx 0']);
    log.length = 0;
    cfg(0x44, 0xfee0_0000); //                     MSI address, 64-bit layout: data at +0xc
    cfg(0x48, 0);
    cfg(0x4c, 0x41);
    cfg(0x40, (1 << 16) | (cfg(0x40) & 0xffff)); //  MSI enable
    mmio.write(0xfe00_0060, 4, 2);
    mmio.write(0xfe00_0060, 4, 4);
    expect(log).toEqual(['msi fee00000=41', 'msi fee00000=41']);
  });

  it('DMA needs bus mastering: without it the transfer faults (a guest error) and moves nothing', () => {
    const { edu, mmio, ram, log, cfg } = rig();
    edu.firmwareSetup(0xfe00_0000, 19);
    ram.set([1, 2, 3, 4], 0x1000);
    const dma = (src: number, dst: number, n: number, cmd: number): void => {
      mmio.write(0xfe00_0080, 4, src); mmio.write(0xfe00_0088, 4, dst); mmio.write(0xfe00_0090, 4, n); mmio.write(0xfe00_0098, 4, cmd);
    };
    dma(0x1000, 0x40000, 4, 1);
    expect(log.some((l) => l.includes('faulted'))).toBe(true);
    expect([...edu.edu.dmaBuffer.subarray(0, 4)]).toEqual([0, 0, 0, 0]);
    cfg(0x04, 0x2 | 0x4);
    dma(0x1000, 0x40000, 4, 1);
    expect([...edu.edu.dmaBuffer.subarray(0, 4)]).toEqual([1, 2, 3, 4]);
  });

  it('INTx pins: PIRQ A..D on IOAPIC 16..19, rotated by slot', () => {
    expect([0, 1, 2, 3, 4].map((slot) => pciIntxPin(slot, 1))).toEqual([16, 17, 18, 19, 16]);
    expect(pciIntxPin(3, 2)).toBe(16);
  });
});

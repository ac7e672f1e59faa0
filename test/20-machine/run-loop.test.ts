/**
 * The run loop as a plain function over decoded exits: a scripted vCPU
 * replays exits, recording devices see exactly the accesses they imply.
 */
import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import type { Vcpu, VcpuExit } from '../../src/backend/types.js';
import { MmioBus, PioBus } from '../../src/machine/bus.js';
import { exitServer, type RunContext, type StopReason } from '../../src/machine/run-loop.js';
import { driveOnThisThread, driveOnThisThreadSync } from '../../src/backend/driver.js';
import { fakeVcpu } from '../helpers/fake-vcpu.js';

/** A context with the one vCPU the KVM backend's single-vCPU drivers run here. */
type Ctx = RunContext & { vcpu: Vcpu };
const runVcpu = (ctx: Ctx): StopReason | null => { driveOnThisThreadSync(ctx.vcpu, exitServer(ctx)); return ctx.stop; };
const runVcpuAsync = async (ctx: Ctx): Promise<StopReason | null> => { await driveOnThisThread(ctx.vcpu, exitServer(ctx)); return ctx.stop; };

function scripted(exits: VcpuExit[]): Vcpu {
  let i = 0;
  return fakeVcpu({
    run: () => exits[i++] ?? { kind: 'shutdown' },
    runOnThread: () => Promise.resolve(exits[i++] ?? { kind: 'shutdown' }),
  });
}

function ctxFor(exits: VcpuExit[]): { ctx: Ctx; log: string[] } {
  const log: string[] = [];
  const pio = new PioBus();
  const mmio = new MmioBus();
  pio.register(0x10, 4, {
    read: (off, size) => { log.push(`pio read ${off}/${size}`); return 0xaabbccdd; },
    write: (off, size, v) => { log.push(`pio write ${off}/${size}=${v.toString(16)}`); },
  }, 'dev');
  mmio.register(0xd000_0000, 0x1000, {
    read: (off, size) => { log.push(`mmio read ${off}/${size}`); return 0x11223344; },
    write: (off, size, v) => { log.push(`mmio write ${off}/${size}=${v.toString(16)}`); },
  }, 'mdev');
  return { ctx: { vcpu: scripted(exits), pio, mmio, stop: null, exits: 0 }, log };
}

describe('run loop', () => {
  it('dispatches port and MMIO exits with offsets and fills in/read data', () => {
    const inData = new Uint8Array(2);
    const readData = new Uint8Array(4);
    const { ctx, log } = ctxFor([
      { kind: 'io-out', port: 0x11, size: 1, count: 1, data: Uint8Array.of(0x42) },
      { kind: 'io-in', port: 0x12, size: 2, count: 1, data: inData },
      { kind: 'mmio-write', address: 0xd000_0004, size: 4, data: Uint8Array.of(1, 2, 3, 4) },
      { kind: 'mmio-read', address: 0xd000_0008, size: 4, data: readData },
      { kind: 'hlt' },
    ]);
    expect(runVcpu(ctx)).toEqual({ kind: 'halted' });
    expect(log).toEqual(['pio write 1/1=42', 'pio read 2/2', 'mmio write 4/4=4030201', 'mmio read 8/4']);
    expect([...inData]).toEqual([0xdd, 0xcc]);
    expect([...readData]).toEqual([0x44, 0x33, 0x22, 0x11]);
    expect(ctx.exits).toBe(5);
  });

  it('string I/O (count > 1) makes one access per element', () => {
    const { ctx, log } = ctxFor([
      { kind: 'io-out', port: 0x10, size: 2, count: 3, data: Uint8Array.of(1, 0, 2, 0, 3, 0) },
      { kind: 'shutdown' },
    ]);
    expect(runVcpu(ctx)).toEqual({ kind: 'shutdown' });
    expect(log).toEqual(['pio write 0/2=1', 'pio write 0/2=2', 'pio write 0/2=3']);
  });

  it('unhandled ports read as all ones and are counted, never thrown', () => {
    const data = new Uint8Array(4);
    const { ctx } = ctxFor([
      { kind: 'io-in', port: 0x3000, size: 4, count: 1, data },
      { kind: 'io-out', port: 0x3000, size: 1, count: 1, data: Uint8Array.of(9) },
      { kind: 'shutdown' },
    ]);
    runVcpu(ctx);
    expect([...data]).toEqual([0xff, 0xff, 0xff, 0xff]);
    expect(ctx.pio.unhandledAccesses).toBe(2);
  });

  it('a device that sets stop ends the loop after that exit', () => {
    const { ctx } = ctxFor([{ kind: 'intr' }, { kind: 'intr' }]);
    ctx.pio.register(0xf4, 1, { read: () => 0, write: (_o, _s, v) => { ctx.stop = { kind: 'debug-exit', status: (v << 1) | 1 }; } }, 'exit');
    ctx.vcpu = scripted([
      { kind: 'intr' },
      { kind: 'io-out', port: 0xf4, size: 1, count: 1, data: Uint8Array.of(3) },
      { kind: 'io-out', port: 0x10, size: 1, count: 1, data: Uint8Array.of(1) },
    ]);
    expect(runVcpu(ctx)).toEqual({ kind: 'debug-exit', status: 7 });
    expect(ctx.exits).toBe(2);
  });

  it('error exits stop the loop with the exit attached', () => {
    const exit: VcpuExit = { kind: 'internal-error', suberror: 1, data: [] };
    const { ctx } = ctxFor([exit]);
    expect(runVcpu(ctx)).toEqual({ kind: 'vcpu-error', exit });
  });

  it('hlt continues when onHalt says something will wake the vCPU', () => {
    const { ctx } = ctxFor([{ kind: 'hlt' }, { kind: 'shutdown' }]);
    let halts = 0;
    ctx.onHalt = () => { halts++; return true; };
    expect(runVcpu(ctx)).toEqual({ kind: 'shutdown' });
    expect(halts).toBe(1);
  });

  it('bus registration refuses overlaps and out-of-range ports with ERR_INVALID_ARG', () => {
    const pio = new PioBus();
    pio.register(0x3f8, 8, { read: () => 0, write: () => {} }, 'uart');
    expect(() => pio.register(0x3fc, 2, { read: () => 0, write: () => {} }, 'x')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => pio.register(0xffff, 2, { read: () => 0, write: () => {} }, 'y')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
  });
});

describe('the single-vCPU driver after a kick', () => {
  // The poller queues its callback (a uv_async, as a MessagePort's message is) and then kicks the vCPU
  // out of KVM_RUN. The loop must serve that callback before the next KVM_RUN, or a halted guest
  // sleeps with its event undelivered. The hard case is a loop running in the event loop's poll phase
  // (resumed by another async callback): one setImmediate hop would re-enter KVM_RUN in the same turn's
  // check phase, and libuv serves an async handle signalled during its pass only in the next poll
  // phase when the handle comes earlier in its list -- so the "poller" channel is made first.
  it('serves a callback queued before the kick before it runs the vCPU again, from the poll phase too', async () => {
    const poller = new MessageChannel();
    const starter = new MessageChannel();
    let served = false;
    poller.port2.on('message', () => { served = true; });
    const seen: boolean[] = [];
    let calls = 0;
    const vcpu = fakeVcpu({
      run: (): VcpuExit => {
        calls++;
        if (calls === 1) {
          poller.port1.postMessage('eventfd readable'); // the poller's queued callback...
          return { kind: 'intr' }; //                       ...and its kick
        }
        seen.push(served);
        return { kind: 'shutdown' };
      },
      runOnThread: () => Promise.reject(new Error('unused')),
    });
    const ctx: Ctx = { vcpu, pio: new PioBus(), mmio: new MmioBus(), stop: null, exits: 0 };
    try {
      const stopped = await new Promise<unknown>((resolve, reject) => {
        starter.port2.once('message', () => { runVcpuAsync(ctx).then(resolve, reject); }); // runs in the poll phase
        starter.port1.postMessage('start');
      });
      expect(stopped).toEqual({ kind: 'shutdown' });
      expect(seen).toEqual([true]);
    } finally {
      poller.port1.close();
      starter.port1.close();
    }
  });
});

describe('driveOnThisThread and intr exits', () => {
  /** Runs `exits` then stops; returns how many event-loop turns (setImmediate callbacks) happened meanwhile. */
  async function turnsDuring(exits: VcpuExit[], levelReport: boolean): Promise<number> {
    let turns = 0;
    let stop = false;
    const tick = (): void => { turns++; if (!stop) setImmediate(tick); };
    setImmediate(tick);
    let i = 0;
    const vcpu = fakeVcpu({
      run: () => exits[i++] ?? { kind: 'hlt' },
      runOnThread: () => Promise.reject(new Error('unused')),
    });
    await driveOnThisThread(vcpu, {
      afterRun: () => levelReport,
      serve: (_v, e) => { if (e.kind === 'hlt') stop = true; },
      stopping: () => stop,
      stop: () => { stop = true; },
    });
    return turns;
  }

  it('an intr that KVM returned on its own and the machine served as a level report does not yield', async () => {
    const intr: VcpuExit = { kind: 'intr', kicked: false };
    expect(await turnsDuring(Array(50).fill(intr), true)).toBe(0);
  });

  it('a kick, or an intr nobody served, still goes through the event loop', async () => {
    expect(await turnsDuring(Array(5).fill({ kind: 'intr', kicked: true }), true)).toBeGreaterThanOrEqual(5);
    expect(await turnsDuring(Array(5).fill({ kind: 'intr', kicked: false }), false)).toBeGreaterThanOrEqual(5);
    expect(await turnsDuring(Array(5).fill({ kind: 'intr' }), true)).toBeGreaterThanOrEqual(5);
  });
});

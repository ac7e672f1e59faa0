/**
 * A PCI function's configuration space (src/pci/function.ts) under fuzz:
 * random config reads and writes at any offset and size (header, BARs,
 * capability bodies, past the end), INTx levels and firmware assignments,
 * against the PCI 3.0 rules: read-only registers never change, BARs read
 * back size-aligned with their type bits, a BAR decodes exactly when its
 * space is enabled and it sits at a real address, and onBar reports every
 * change of a window and nothing else.
 */
import type { BarMapping, PciFunction, PciFunctionSpec, PciFunctionState } from '../../../src/pci/function.js';
import { ensure, same, type Out, type Rng, type Target } from '../harness.js';

interface Inst { f: PciFunction; out: Out[]; spec: PciFunctionSpec; cap: number[] }
type Op =
  | { k: 'r'; off: number; size: number }
  | { k: 'w'; off: number; size: number; v: number }
  | { k: 'intx'; level: boolean }
  | { k: 'assign'; bar: number; base: number }
  | { k: 'command'; v: number };

const BAR_SPECS = [
  [{ kind: 'mem32', size: 0x10_0000 }, { kind: 'io', size: 0x20 }, { kind: 'mem64', size: 0x4000, prefetchable: true }],
  [{ kind: 'io', size: 0x100 }, undefined, { kind: 'mem32', size: 0x1000, prefetchable: true }, { kind: 'mem64', size: 0x10 }],
] as const;

const IMPLEMENTED_CMD = 0x1 | 0x2 | 0x4 | 0x40 | 0x100 | 0x400;

export const pciFunctionTarget: Target<Inst, PciFunctionState, Op> = {
  create: (lib, rng) => make(lib.pci, spec(rng)),
  restore: (lib, state, like) => make(lib.pci, like.spec, { state }),
  snapshot: (inst) => inst.f.snapshot(),

  gen(rng: Rng): Op[] {
    const r = rng.int(100);
    if (r < 5) return [{ k: 'intx', level: rng.bool() }];
    if (r < 8) return [{ k: 'command', v: rng.u32() & 0xffff }];
    if (r < 10) {
      const bar = rng.int(6);
      return [{ k: 'assign', bar, base: rng.pick([0, 0xc000, 0xfe00_0000, 0x8000_0000, 0x1_0000_0000]) }];
    }
    const off = rng.chance(0.6) ? rng.pick([0, 4, 6, 8, 0xc, 0x10, 0x14, 0x18, 0x1c, 0x20, 0x24, 0x30, 0x34, 0x3c, 0x40, 0x44]) + rng.int(4)
      : rng.chance(0.9) ? rng.int(0x100) : rng.pick([-1, 0xff, 0x100, 0x1000]);
    const size = rng.size();
    if (rng.chance(0.5)) return [{ k: 'r', off, size }];
    const v = rng.pick([0xffff_ffff, 0, rng.u32(), rng.u32() & 0xffff_f000, 0xfe00_0000, 0xc001]);
    return [{ k: 'w', off, size, v }];
  },

  apply(inst, op) {
    switch (op.k) {
      case 'r': inst.out.push(['r', op.off, op.size, inst.f.read(op.off, op.size)]); return;
      case 'w': inst.f.write(op.off, op.size, op.v); return;
      case 'intx': inst.f.setIntx(op.level); return;
      case 'command': inst.f.setCommand(op.v); return;
      case 'assign': {
        // Firmware's own mistakes are VMM bugs (thrown): the fuzzer only asks for what is legal.
        const b = inst.spec.bars?.[op.bar];
        if (b && op.base % b.size === 0 && (b.kind !== 'io' || op.base + b.size <= 0x1_0000)) inst.f.assignBar(op.bar, op.base);
      }
    }
  },

  state(_lib, s) {
    ensure((s.command & ~IMPLEMENTED_CMD) === 0, `command 0x${s.command.toString(16)} has bits this model does not implement`);
    ensure(s.bars.every((b) => Number.isInteger(b) && b >= 0 && b <= 0xffff_ffff), 'BAR registers are unsigned dwords');
    ensure([s.cacheLine, s.latency, s.interruptLine].every((b) => b >= 0 && b <= 0xff), 'byte registers stay bytes');
  },

  step({ inst, op, out }) {
    const f = inst.f;
    // Identity never changes.
    ensure(f.read(0, 4) === (((inst.spec.deviceId << 16) | inst.spec.vendorId) >>> 0), 'vendor/device IDs are read-only');
    ensure((f.read(0x3c, 2) >>> 8) === (inst.spec.interruptPin ?? 0), 'the interrupt pin is read-only');
    for (let i = 0; i < 6; i++) {
      const b = inst.spec.bars?.[i];
      const v = f.read(0x10 + 4 * i, 4);
      if (b) {
        const type = b.kind === 'io' ? 1 : (b.kind === 'mem64' ? 4 : 0) | (b.prefetchable ? 8 : 0);
        ensure((v & (b.kind === 'io' ? 3 : 0xf)) === type, `BAR${i} keeps its type bits`);
        ensure(((v & ~(b.kind === 'io' ? 3 : 0xf)) & (b.size - 1)) === 0, `BAR${i} reads back aligned to its size`);
      }
      same(f.barMapping(i), expectedMapping(inst, i), `BAR${i}'s window`);
    }
    // INTx status and the pin.
    const status = f.read(0x06, 2);
    ensure(((status & 0x10) !== 0) === ((inst.spec.capabilities ?? []).length > 0), 'status bit 4 says whether there is a capability list');
    ensure(f.intxOut === (((status & 0x8) !== 0) && (f.commandRegister & 0x400) === 0), 'INTx# = status bit 3 and not INTx disable');
    // onBar: only changes, each matching the window now.
    const seen = new Set<number>();
    for (const o of out) {
      if (o[0] !== 'bar') continue;
      const i = o[1] as number;
      ensure(!seen.has(i), `BAR${i}: one onBar per change`);
      seen.add(i);
      same(o[2] === 'off' ? null : JSON.parse(o[2] as string), f.barMapping(i), `onBar(${i}) reports the window now`);
    }
    if (op.k === 'r') {
      const r = out.find((o) => o[0] === 'r')!;
      const bad = op.off < 0 || op.off + op.size > 0x100 || op.off % op.size !== 0;
      if (bad) ensure(r[3] === (op.size === 4 ? 0xffff_ffff : 2 ** (8 * op.size) - 1), 'a bad access reads all ones');
    }
  },

  inconsistent: () => [],
};

function expectedMapping(inst: Inst, i: number): BarMapping | null {
  const b = inst.spec.bars?.[i];
  if (!b) return null;
  const f = inst.f;
  const on = (f.commandRegister & (b.kind === 'io' ? 1 : 2)) !== 0;
  const raw = f.read(0x10 + 4 * i, 4);
  const lo = (raw & (b.kind === 'io' ? 0xffff_fffc : 0xffff_fff0)) >>> 0;
  const hi = b.kind === 'mem64' ? f.read(0x14 + 4 * i, 4) : 0;
  const base = lo + hi * 2 ** 32;
  const sizing = ((raw | (b.size - 1) | 0xf) >>> 0) === 0xffff_ffff || (b.kind === 'mem64' && hi === 0xffff_ffff);
  const fits = b.kind !== 'io' || base + b.size <= 0x1_0000;
  return on && base !== 0 && !sizing && fits ? { kind: b.kind, base, size: b.size } : null;
}

function spec(rng: Rng): PciFunctionSpec {
  const capBody = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  return {
    vendorId: 0x1234, deviceId: 0x11e8, classCode: 0x00ff_00, revision: rng.byte(), interruptPin: rng.int(5),
    bars: [...BAR_SPECS[rng.int(BAR_SPECS.length)]!] as PciFunctionSpec['bars'],
    capabilities: rng.bool() ? [] : [{ offset: 0x40, id: 0x05, length: 16, read: (o) => capBody[o] ?? 0, write: (o, _s, v) => { capBody[o] = v & 0xff; } }],
  };
}

function make(pci: { PciFunction: typeof PciFunction }, spec: PciFunctionSpec, from?: { state: PciFunctionState }): Inst {
  const out: Out[] = [];
  const onBar = (i: number, m: BarMapping | null): void => { out.push(['bar', i, m ? JSON.stringify(m) : 'off']); };
  const onGuestError = (): void => { out.push(['guest-error']); };
  const f = from ? pci.PciFunction.restore(spec, from.state, { onBar, onGuestError }) : new pci.PciFunction(spec, { onBar, onGuestError });
  // A restore replays the windows it decodes: those are not outputs of a step.
  out.length = 0;
  return { f, out, spec, cap: [] };
}

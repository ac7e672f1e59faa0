/**
 * Property: the fast path and the general decoder are the same CPU. Random
 * programs (random-programs.ts) run on both; registers, EFLAGS, the data
 * area, the exit and the retired-instruction count must match, under every
 * vendor's undefined-flags model.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UNDEFINED_FLAGS_MODELS, type UndefinedFlagsModel } from '../../src/backend/sim/x86/index.js';
import { CODE, DATA, flatMachine, load } from './helpers.js';
import { initArb, initialData, programArb, programBytes, wrapProgram } from './random-programs.js';

function runProgram(fastPath: boolean, body: number[], init: number[], undefinedFlags: UndefinedFlagsModel): unknown {
  const m = flatMachine({ fastPath, undefinedFlags });
  load(m, DATA, initialData(init));
  load(m, CODE, wrapProgram(DATA, body, init));
  const exit = m.cpu.run(10_000);
  return { exit: exit.kind, regs: m.cpu.getRegs(), instructions: m.cpu.instructions, data: [...m.mem.subarray(DATA, DATA + 0x100)] };
}

describe('the fast path and the general decoder agree on random programs', () => {
  it('registers, flags, memory, exit and instruction count', () => {
    fc.assert(fc.property(programArb(), initArb, fc.constantFrom(...UNDEFINED_FLAGS_MODELS), (prog, init, model) => {
      const body = programBytes(prog);
      expect(runProgram(true, body, init, model)).toEqual(runProgram(false, body, init, model));
    }), { numRuns: 400 });
  });
});

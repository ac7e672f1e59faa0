/**
 * Property: the fast path and the general decoder are the same CPU. Random
 * programs (random-programs.ts) run on both; registers, EFLAGS, the data
 * area, the exit and the retired-instruction count must match.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CODE, DATA, flatMachine, load } from './helpers.js';
import { initArb, initialData, programArb, programBytes, wrapProgram } from './random-programs.js';

function runProgram(fastPath: boolean, body: number[], init: number[]): unknown {
  const m = flatMachine({ fastPath });
  load(m, DATA, initialData(init));
  load(m, CODE, wrapProgram(DATA, body, init));
  const exit = m.cpu.run(10_000);
  return { exit: exit.kind, regs: m.cpu.getRegs(), instructions: m.cpu.instructions, data: [...m.mem.subarray(DATA, DATA + 0x100)] };
}

describe('the fast path and the general decoder agree on random programs', () => {
  it('registers, flags, memory, exit and instruction count', () => {
    fc.assert(fc.property(programArb(), initArb, (prog, init) => {
      const body = programBytes(prog);
      expect(runProgram(true, body, init)).toEqual(runProgram(false, body, init));
    }), { numRuns: 400 });
  });
});

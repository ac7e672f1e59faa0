/**
 * The interpreter against real CPUs: native/flags-vectors-<model>.txt holds
 * the result and EFLAGS a CPU of one vendor produced for ~8,600 random and
 * edge-case operands of the arithmetic, logic, shift, rotate, multiply,
 * divide, bit-scan and bit-test instructions, flags included where the SDM
 * calls them undefined (native/flags-vectors.c, with its rebuild recipe).
 * Each file is that vendor's golden truth for the sim's model of it
 * (src/backend/sim/x86/undefined-flags.ts), and runs against that model.
 * Each vector runs as guest code: POPF the input flags, the instruction,
 * PUSHF.
 *
 * Recorded so far: AMD (an AMD EPYC, the CPU KVM ran guests on on that
 * development host; rebuilt on a family-25 EPYC the file differs only in
 * BSF/BSR's undefined flags, see src/backend/sim/x86/alu.ts: the file, not
 * the host, is the sim's model) and Intel (an Intel Xeon reporting family
 * 6, model 167, under the development hosts' nested hypervisor, which runs
 * these instructions on the CPU itself). A vendor without a file is
 * reported as skipped, with the reason in the title; its model is not
 * `recorded`.
 */
import { describe, expect, it } from 'vitest';
import { UNDEFINED_FLAGS_MODELS } from '../../src/backend/sim/x86/index.js';
import { hasVectors, readVectors, runVector, vectorFile } from './flags-vectors.js';
import { PATHS, flagNames, flatMachine } from './helpers.js';

describe('golden vectors per vendor', () => {
  for (const m of UNDEFINED_FLAGS_MODELS) {
    it(`the ${m.id} model is marked recorded exactly when native/flags-vectors-${m.id}.txt exists`, () => {
      expect(m.recorded).toBe(hasVectors(m));
    });
  }
});

for (const model of UNDEFINED_FLAGS_MODELS) {
  const file = vectorFile(model);
  const recorded = hasVectors(model);
  const { vendor, vectors } = recorded ? readVectors(file) : { vendor: '', vectors: [] };
  const names = [...new Set(vectors.map((v) => v.name))];
  const what = `flags and results match real CPUs: ${model.vendor} (${model.id} model`;
  describe.skipIf(!recorded).each(PATHS)(recorded ? `${what}, $name)` :
    `${what}, $name) (skipped: no vectors recorded on a ${model.vendor} CPU yet: run native/flags-vectors.c on one)`, ({ fastPath }) => {
    it(`the vector file was recorded on a CPU reporting ${model.vendor} and covers every instruction form`, () => {
      expect(vendor).toBe(model.vendor);
      expect(vectors.length).toBeGreaterThan(8000);
      expect(names.length).toBeGreaterThan(80);
    });

    it.each(names)('%s', (name) => {
      const m = flatMachine({ fastPath, undefinedFlags: model });
      const failures: string[] = [];
      for (const v of vectors) {
        if (v.name !== name) continue;
        const got = runVector(m, v);
        if (got.res !== v.res || got.res2 !== v.res2 || got.flags !== v.fout) {
          failures.push(`${name} a=${v.a.toString(16)} b=${v.b.toString(16)} in=${flagNames(v.fin)}: ` +
            `got ${got.res.toString(16)}/${got.res2.toString(16)} ${flagNames(got.flags)}, ` +
            `cpu ${v.res.toString(16)}/${v.res2.toString(16)} ${flagNames(v.fout)}`);
        }
      }
      expect(failures.slice(0, 5)).toEqual([]);
    });
  });
}

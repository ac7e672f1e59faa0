/**
 * Every device model takes 100 000 random guest accesses and other inputs
 * (fixed seeds) without throwing, with its invariants holding after every
 * step and snapshot → restore giving an equal state and the same future
 * outputs (fuzz-devices.ts); a smaller fast-check property over the same
 * machinery shrinks any failure to a short input.
 * Longer runs: node scripts/fuzz/devices.js --seed N --steps M [--device NAME].
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEVICE_NAMES, fuzzDevice, runOps } from './fuzz-devices.js';
import { srcLib } from './src-lib.js';

const STEPS = 100_000;
const SEED = 0x7_2024;

describe('device models under 100 000 random inputs', () => {
  it.each(DEVICE_NAMES)('%s: never throws, keeps its invariants, restores to the same future', (name) => {
    const summary = fuzzDevice(srcLib, name, SEED, STEPS);
    expect(summary.steps).toBe(STEPS);
    expect(summary.roundTrips).toBeGreaterThan(10);
    expect(summary.refused).toBeGreaterThan(0);
  });
});

describe('device models, shrinkable property (fast-check)', () => {
  it.each(DEVICE_NAMES)('%s: any input sequence, with a round trip anywhere', (name) => {
    fc.assert(fc.property(fc.array(fc.nat({ max: 0xffff_ffff }), { maxLength: 120 }), fc.nat({ max: 120 }), (seeds, at) => {
      runOps(srcLib, name, seeds, at);
    }), { numRuns: 60, seed: 7 });
  });
});

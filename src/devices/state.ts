/**
 * Checked reading of a device's saved state (the plain, named, versioned
 * objects that `snapshot()` returns). A state comes from outside — a file,
 * a migration stream — so `restore()` validates every field before it
 * builds a device from it: a malformed state is an API error
 * (InvalidArgumentError, code ERR_INVALID_ARG) that names the device and
 * the field, never a device that misbehaves later.
 */
import { InvalidArgumentError } from '../errors.js';

export class StateReader {
  private constructor(private readonly device: string, private readonly path: string, private readonly s: Record<string, unknown>) {}

  /** Opens `state` as version `version` of `device`'s state. */
  static open(device: string, state: unknown, version: number): StateReader {
    if (typeof state !== 'object' || state === null || Array.isArray(state)) {
      throw new InvalidArgumentError(`${device} state must be an object, got ${describe(state)}`);
    }
    const s = state as Record<string, unknown>;
    if (s['version'] !== version) {
      throw new InvalidArgumentError(`unknown ${device} state version ${describe(s['version'])} (this build reads version ${version})`);
    }
    return new StateReader(device, '', s);
  }

  /** A nested object field (e.g. one chip of a pair). */
  object(key: string): StateReader {
    const v = this.s[key];
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(key, 'must be an object', v);
    return new StateReader(this.device, `${this.path}${key}.`, v as Record<string, unknown>);
  }

  /** An integer in min..max. */
  int(key: string, min: number, max: number): number {
    const v = this.s[key];
    if (!isInt(v, min, max)) this.fail(key, `must be an integer in ${min}..${max}`, v);
    return v as number;
  }

  /** An unsigned integer whose set bits all lie in `bits` (bits 31:0; 0xffff_ffff allows any 32-bit value). */
  bits(key: string, bits: number): number {
    const v = this.s[key];
    if (!isInt(v, 0, 0xffff_ffff) || ((v as number) & ~bits) !== 0) {
      this.fail(key, `must be a 32-bit value with only the bits of 0x${(bits >>> 0).toString(16)} set`, v);
    }
    return v as number;
  }

  bool(key: string): boolean {
    const v = this.s[key];
    if (typeof v !== 'boolean') this.fail(key, 'must be a boolean', v);
    return v as boolean;
  }

  /** An array of integers in min..max, of exactly `length` entries (a number) or at most `length.max`. */
  ints(key: string, length: number | { max: number }, min: number, max: number): number[] {
    const v = this.array(key, length);
    // An index loop, not forEach: forEach skips the holes of a sparse array.
    for (let i = 0; i < v.length; i++) if (!isInt(v[i], min, max)) this.fail(`${key}[${i}]`, `must be an integer in ${min}..${max}`, v[i]);
    return v as number[];
  }

  bools(key: string, length: number): boolean[] {
    const v = this.array(key, length);
    for (let i = 0; i < v.length; i++) if (typeof v[i] !== 'boolean') this.fail(`${key}[${i}]`, 'must be a boolean', v[i]);
    return v as boolean[];
  }

  /** Rejects a state whose fields are well formed but contradict each other. */
  check(ok: boolean, what: string): void {
    if (!ok) throw new InvalidArgumentError(`${this.device} state is inconsistent: ${what}`);
  }

  private array(key: string, length: number | { max: number }): unknown[] {
    const v = this.s[key];
    if (!Array.isArray(v)) this.fail(key, 'must be an array', v);
    const a = v as unknown[];
    if (typeof length === 'number' ? a.length !== length : a.length > length.max) {
      this.fail(key, typeof length === 'number' ? `must have ${length} entries` : `must have at most ${length.max} entries`, `${a.length} entries`);
    }
    return a;
  }

  private fail(key: string, what: string, got: unknown): never {
    throw new InvalidArgumentError(`${this.device} state field '${this.path}${key}' ${what}, got ${describe(got)}`);
  }
}

function isInt(v: unknown, min: number, max: number): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'object' && v !== null) return 'an object';
  return String(v);
}

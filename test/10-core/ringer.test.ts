/**
 * The eventfd load generator (src/backend/ringer.ts) on its own: the thread
 * ringer makes exactly `count` writes and releases its fds once, after its
 * worker can no longer write; stop() is prompt even at a slow rate; the
 * timer ringer (the sim's) rings round robin. A regular file stands in for
 * the eventfds (every ring appends 8 bytes).
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { threadRinger, timerRinger, checkRingerOptions } from '../../src/backend/ringer.js';
import { SimEventFd } from '../../src/backend/sim/eventfd.js';

const dir = mkdtempSync(join(tmpdir(), 'tsvmm-ringer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ringer', () => {
  it('the thread ringer writes exactly count times, then releases its fds once', async () => {
    const path = join(dir, 'a');
    const fd = openSync(path, 'a');
    let releases = 0;
    const r = threadRinger([fd], { count: 500, intervalNs: 0 }, () => { releases++; closeSync(fd); });
    expect(await r.finished).toBe(500);
    expect(r.done).toBe(true);
    expect(releases).toBe(1);
    expect(readFileSync(path).length).toBe(500 * 8);
    r.stop();
    expect(releases).toBe(1);
  });

  it('stop() is prompt at a slow rate, and nothing is written after it returns', async () => {
    const path = join(dir, 'b');
    const fd = openSync(path, 'a');
    let released = false;
    const r = threadRinger([fd], { count: 100, intervalNs: 5e9 }, () => { released = true; closeSync(fd); });
    await new Promise((res) => setTimeout(res, 200));
    const t0 = Date.now();
    r.stop();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(released).toBe(true);
    const n = r.rings;
    expect(readFileSync(path).length).toBe(n * 8);
    expect(n).toBeLessThanOrEqual(1);
  });

  it('the timer ringer rings round robin, count times', async () => {
    const fds = [new SimEventFd(), new SimEventFd(), new SimEventFd()];
    const r = timerRinger(fds, { count: 10, intervalNs: 0 });
    expect(await r.finished).toBe(10);
    expect(fds.map((f) => f.read())).toEqual([4n, 3n, 3n]);
  });

  it('bad options are refused with a code', () => {
    expect(() => checkRingerOptions([], { count: 1, intervalNs: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => checkRingerOptions([new SimEventFd()], { count: -1, intervalNs: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => checkRingerOptions([new SimEventFd()], { count: 1, intervalNs: Number.NaN })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
  });
});

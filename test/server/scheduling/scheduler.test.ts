import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  InferenceScheduler,
  ridersFor,
  type BatchEngine,
  type JobKind,
  type TranscribeJob,
} from '../../../server/scheduling/scheduler.js';
import type { WindowResult } from '../../../models/whisper/transcribe.js';
import { parseListenParams } from '../../../server/params.js';
import { AudioRing } from '../../../server/stream/audio-ring.js';
import { DEFAULT_SESSION_CONFIG } from '../../../server/stream/config.js';
import { WindowJobs } from '../../../server/stream/jobs.js';

/** Scheduler behaviour with an engine double that records batches and finishes when told to. */
class ManualEngine implements BatchEngine {
  batches: string[][] = [];
  private release: (() => void)[] = [];
  async decodeWindows(windows: readonly { offset: number }[]): Promise<WindowResult[]> {
    this.batches.push(windows.map((w) => tag(w.offset)));
    await new Promise<void>((r) => this.release.push(r));
    return windows.map(() => ({}) as WindowResult);
  }
  /** Finishes the batch in flight. */
  async step(): Promise<void> {
    while (this.release.length === 0) await new Promise((r) => setImmediate(r));
    this.release.shift()!();
    await new Promise((r) => setImmediate(r));
  }
}

// Jobs are identified through their window offset: session index * 100 + sequence.
const names: string[] = [];
const tag = (offset: number) => names[offset];
function job(session: string, kind: JobKind, label: string): TranscribeJob {
  names.push(label);
  return { session, kind, window: { audio: new Float32Array(1600), offset: names.length - 1 }, options: {} };
}

describe('inference scheduler', () => {
  test('finals go before interims; a newer interim replaces the queued one', async () => {
    const engine = new ManualEngine();
    const s = new InferenceScheduler(engine, { maxBatch: 8, batchWindowMs: 0 });
    const first = s.submit(job('a', 'interim', 'a-i0'));
    await new Promise((r) => setImmediate(r)); // a-i0 is now in flight
    const stale = s.submit(job('a', 'interim', 'a-i1'));
    const fresh = s.submit(job('a', 'interim', 'a-i2'));
    const final = s.submit(job('b', 'final', 'b-f0'));
    assert.equal(await stale, null, 'superseded interims resolve null');
    assert.equal(s.coalesced, 1);
    await engine.step();
    await engine.step();
    await first;
    await Promise.all([fresh, final]);
    assert.deepEqual(engine.batches, [['a-i0'], ['b-f0', 'a-i2']]);
  });

  test('finals first, round-robin: one job per session per round', async () => {
    const engine = new ManualEngine();
    const s = new InferenceScheduler(engine, { maxBatch: 3, batchWindowMs: 0 });
    const blocker = s.submit(job('x', 'final', 'x-f'));
    await new Promise((r) => setImmediate(r));
    const ps = [
      s.submit(job('a', 'final', 'a-f1')),
      s.submit(job('a', 'final', 'a-f2')),
      s.submit(job('a', 'final', 'a-f3')),
      s.submit(job('b', 'final', 'b-f1')),
      s.submit(job('c', 'interim', 'c-i1')),
      s.submit(job('d', 'interim', 'd-i1')),
    ];
    for (let i = 0; i < 3; i++) await engine.step();
    await Promise.all([blocker, ...ps]);
    assert.deepEqual(engine.batches, [['x-f'], ['a-f1', 'b-f1', 'a-f2'], ['a-f3', 'c-i1', 'd-i1']]);
  });

  test('a session with nothing queued costs nothing; finals are never dropped', async () => {
    const engine = new ManualEngine();
    const s = new InferenceScheduler(engine, { maxBatch: 2, batchWindowMs: 0 });
    const finals = Array.from({ length: 7 }, (_, i) => s.submit(job(`s${i % 3}`, 'final', `f${i}`)));
    const interims = Array.from({ length: 5 }, (_, i) => s.submit(job(`s${i % 3}`, 'interim', `i${i}`)));
    s.dropInterims('s0');
    while (s.busy) await engine.step();
    const out = await Promise.all(finals);
    assert.ok(
      out.every((r) => r !== null),
      'every final ran',
    );
    assert.equal(engine.batches.flat().filter((n) => n.startsWith('f')).length, 7);
    const ran = (await Promise.all(interims)).filter((r) => r !== null).length;
    assert.ok(ran <= 2, 'only the newest interim of s1 and s2 ran');
  });

  test('a queue emptied during the batch window is not an error', async () => {
    let wake!: () => void;
    const engine = new ManualEngine();
    const s = new InferenceScheduler(engine, {
      maxBatch: 8,
      batchWindowMs: 10,
      sleep: () => new Promise<void>((r) => (wake = r)),
    });
    const p = s.submit(job('a', 'interim', 'lonely'));
    await new Promise((r) => setImmediate(r));
    s.dropInterims('a'); // the stream closed while the scheduler waited to fill a batch
    wake();
    assert.equal(await p, null);
    await s.idle();
    assert.deepEqual(engine.batches, []);
  });

  test('jobs with other decode options never share a batch', async () => {
    const engine = new ManualEngine();
    const s = new InferenceScheduler(engine, { maxBatch: 8, batchWindowMs: 0 });
    const blocker = s.submit(job('x', 'final', 'x'));
    await new Promise((r) => setImmediate(r));
    const a = job('a', 'final', 'a');
    const b = { ...job('b', 'final', 'b'), options: { wordTimestamps: true } };
    const c = job('c', 'final', 'c');
    const ps = [s.submit(a), s.submit(b), s.submit(c)];
    for (let i = 0; i < 3; i++) await engine.step();
    await Promise.all([blocker, ...ps]);
    assert.deepEqual(engine.batches, [['x'], ['a', 'c'], ['b']]);
  });

  test("one stream's final and another's interim share an engine call (the schedules ride on the windows)", async () => {
    const engine = new ManualEngine();
    const s = new InferenceScheduler(engine, { maxBatch: 8, batchWindowMs: 0 });
    const streamJobs = (id: string) => {
      const ring = new AudioRing(0);
      ring.append(new Float32Array(16000 * 2), 0);
      const params = parseListenParams(new URLSearchParams('interim_results=true'), { endpointingMs: 500 });
      const jobs = new WindowJobs({
        id,
        params,
        config: DEFAULT_SESSION_CONFIG,
        promptTokens: [],
        ring,
        floor: () => 0,
      });
      return (kind: JobKind, label: string) => {
        const j = jobs.job(kind, 0, 1);
        names.push(label);
        return { ...j, window: { ...j.window, offset: names.length - 1 } };
      };
    };
    const a = streamJobs('a');
    const b = streamJobs('b');
    const blocker = s.submit(a('interim', 'a-i0'));
    await new Promise((r) => setImmediate(r));
    const final = a('final', 'a-f1');
    const interim = b('interim', 'b-i1');
    assert.deepEqual(final.window.temperatures, DEFAULT_SESSION_CONFIG.finalTemperatures);
    assert.deepEqual(interim.window.temperatures, [0]);
    const ps = [s.submit(final), s.submit(interim)];
    await engine.step();
    await engine.step();
    await Promise.all([blocker, ...ps]);
    assert.deepEqual(engine.batches, [['a-i0'], ['a-f1', 'b-i1']]);
  });

  test('with no riders (a CPU), a call of finals and early finals carries no interim; interims alone fill a call', async () => {
    const engine = new ManualEngine();
    // A clock that stands still: no interim grows late (see the next test).
    const s = new InferenceScheduler(engine, { maxBatch: 8, riders: 0, batchWindowMs: 0, now: () => 0 });
    const busy = s.submit(job('x', 'interim', 'x-i0'));
    await new Promise((r) => setImmediate(r));
    const done = [
      s.submit(job('a', 'interim', 'a-i0')),
      s.submit(job('b', 'interim', 'b-i0')),
      s.submit(job('c', 'early', 'c-e0')),
      s.submit(job('d', 'final', 'd-f0')),
      s.submit(job('e', 'final', 'e-f0')),
    ];
    await engine.step();
    await engine.step();
    done.push(s.submit(job('f', 'final', 'f-f0')));
    await engine.step();
    await engine.step();
    await Promise.all([busy, ...done]);
    assert.deepEqual(engine.batches, [['x-i0'], ['d-f0', 'e-f0', 'c-e0'], ['a-i0', 'b-i0'], ['f-f0']]);
  });

  test('an interim that has waited long rides beside finals even with no riders', async () => {
    const engine = new ManualEngine();
    let now = 0;
    const s = new InferenceScheduler(engine, {
      maxBatch: 8,
      riders: 0,
      lateInterimMs: 700,
      batchWindowMs: 0,
      now: () => now,
    });
    const busy = s.submit(job('x', 'final', 'x-f0'));
    await new Promise((r) => setImmediate(r));
    const done = [s.submit(job('a', 'interim', 'a-i0'))];
    now = 500;
    done.push(s.submit(job('b', 'interim', 'b-i0')), s.submit(job('c', 'final', 'c-f0')));
    now = 800; // a-i0 has waited 800 ms, b-i0 300 ms
    for (let i = 0; i < 3; i++) await engine.step();
    await Promise.all([busy, ...done]);
    assert.deepEqual(engine.batches, [['x-f0'], ['c-f0', 'a-i0'], ['b-i0']]);
  });

  test('riders: as many lower-priority windows as cost no more than the call itself', async () => {
    const engine = new ManualEngine();
    const s = new InferenceScheduler(engine, { maxBatch: 8, riders: 2, batchWindowMs: 0, now: () => 0 });
    const busy = s.submit(job('x', 'final', 'x-f0'));
    await new Promise((r) => setImmediate(r));
    const done = ['a', 'b', 'c', 'd'].map((id) => s.submit(job(id, 'interim', `${id}-i0`)));
    done.push(s.submit(job('e', 'final', 'e-f0')));
    for (let i = 0; i < 3; i++) await engine.step();
    await Promise.all([busy, ...done]);
    assert.deepEqual(engine.batches, [['x-f0'], ['e-f0', 'a-i0', 'b-i0'], ['c-i0', 'd-i0']]);
    // CPU-like calibration: a 3-s window 230 ms, the call's own part 20 ms; GPU-like: 5 ms vs 40 ms.
    assert.equal(ridersFor({ call: 0.02, window: 0.23 }, 8), 0);
    assert.equal(ridersFor({ call: 0.04, window: 0.005 }, 8), 8);
    assert.equal(ridersFor({ call: 0.04, window: 0.015 }, 8), 2);
    assert.equal(ridersFor({ call: 0, window: 0 }, 8), 8, 'an unmeasured cost keeps batching');
  });

  test('early finals wait behind finals and go before interims; a promoted one is a final in its place', async () => {
    const engine = new ManualEngine();
    const s = new InferenceScheduler(engine, { maxBatch: 1, batchWindowMs: 0 });
    const busy = s.submit(job('x', 'final', 'x-f0'));
    await new Promise((r) => setImmediate(r));
    const jobs = [job('a', 'interim', 'a-i0'), job('b', 'early', 'b-e0'), job('c', 'final', 'c-f0')];
    const done = jobs.map((j) => s.submit(j));
    const promoted = job('d', 'early', 'd-e0');
    const late = job('e', 'final', 'e-f0');
    done.push(s.submit(promoted), s.submit(late));
    s.promote(promoted);
    for (let i = 0; i < 6; i++) await engine.step();
    await Promise.all([busy, ...done]);
    assert.deepEqual(engine.batches.flat(), ['x-f0', 'c-f0', 'd-e0', 'e-f0', 'b-e0', 'a-i0']);
  });

  test('a speculative early final runs only when nothing else is queued, alone; promoted, it batches as a final', async () => {
    const engine = new ManualEngine();
    const s = new InferenceScheduler(engine, { maxBatch: 8, batchWindowMs: 0 });
    const spec = (session: string, label: string) => ({ ...job(session, 'early', label), ifIdle: true });
    const busy = s.submit(job('x', 'final', 'x-f0'));
    await new Promise((r) => setImmediate(r));
    // Queued while the engine is busy: another stream's final, interim and ordinary early final go first, in
    // one call without it; it runs after them, on its own.
    const done = [
      s.submit(spec('a', 'a-s0')),
      s.submit(job('b', 'final', 'b-f0')),
      s.submit(job('c', 'interim', 'c-i0')),
      s.submit(job('d', 'early', 'd-e0')),
    ];
    await engine.step();
    await engine.step();
    // Alone in the queue, it runs; another speculative one queued meanwhile waits for the next call.
    done.push(s.submit(spec('e', 'e-s0')));
    await engine.step();
    await engine.step();
    // Promoted while queued, it is a final: it batches with the others.
    const promoted = spec('f', 'f-s0');
    const held = s.submit(job('y', 'final', 'y-f0'));
    await new Promise((r) => setImmediate(r));
    done.push(held, s.submit(promoted), s.submit(job('g', 'final', 'g-f0')));
    s.promote(promoted);
    await engine.step();
    await engine.step();
    await Promise.all([busy, ...done]);
    assert.deepEqual(engine.batches, [
      ['x-f0'],
      ['b-f0', 'd-e0', 'c-i0'],
      ['a-s0'],
      ['e-s0'],
      ['y-f0'],
      ['f-s0', 'g-f0'],
    ]);
  });

  test('a job aborted while queued leaves unanswered (null) and is never decoded; a running one finishes', async () => {
    const engine = new ManualEngine();
    const s = new InferenceScheduler(engine, { maxBatch: 1, batchWindowMs: 0 });
    const running = new AbortController();
    const queued = new AbortController();
    const first = s.submit({ ...job('a', 'final', 'a-f0'), signal: running.signal });
    await new Promise((r) => setImmediate(r)); // a-f0 is on the engine
    const second = s.submit({ ...job('a', 'final', 'a-f1'), signal: queued.signal });
    const third = s.submit(job('b', 'final', 'b-f0'));
    running.abort();
    queued.abort();
    assert.equal(await second, null);
    assert.equal(s.withdrawn, 1);
    await engine.step();
    assert.notEqual(await first, null, 'the running call is not undone');
    await engine.step();
    await third;
    assert.deepEqual(engine.batches, [['a-f0'], ['b-f0']]);
    const gone = new AbortController();
    gone.abort();
    assert.equal(await s.submit({ ...job('c', 'final', 'c-f0'), signal: gone.signal }), null);
    assert.equal(engine.batches.length, 2, 'an already aborted job is not queued');
  });

  test('an engine failure rejects that batch only', async () => {
    let calls = 0;
    const s = new InferenceScheduler(
      {
        async decodeWindows(w) {
          if (calls++ === 0) throw new Error('boom');
          return w.map(() => ({}) as WindowResult);
        },
      },
      { batchWindowMs: 0, maxBatch: 1 },
    );
    const a = s.submit(job('a', 'final', 'fa'));
    const b = s.submit(job('b', 'final', 'fb'));
    await assert.rejects(a, /boom/);
    assert.notEqual(await b, null);
  });
});

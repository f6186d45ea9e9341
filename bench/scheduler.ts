/**
 * The inference scheduler alone, in virtual time: streams' decode requests (an interim each second of speech, an
 * early final when a pause reaches the pad, a final at the endpoint) go through the real InferenceScheduler, whose
 * engine takes `call + window × b` ms for a call of b windows. No machine noise: a seed gives the same table every
 * time, so scheduling policies compare exactly at loads this machine cannot hold for real (bench:stream measures the
 * whole server, noise and all).
 *   npm run bench:scheduler -- [--call-ms 20 --window-ms 230 (default: calibrated like the server, tiny q8)]
 *                              [--loads 0.5,0.7,0.8,0.9,1] [--interims true|false] [--seconds 600] [--seed 1]
 *                              [--riders 8,auto: the policies compared (interims a call of finals carries)]
 * Speech: utterances of 1.5-6 s with pauses of 0.7-2.5 s; a third of the utterances pause 250-450 ms inside (the
 * early final that pause asks for is withdrawn, or wasted if it ran). Latency: from the endpoint (end of speech +
 * endpointing) to the final's words; an early final done before its endpoint counts 0. The compute bound is the
 * streams whose decodes would fill the engine at full batches, as bench:stream computes it.
 */
import { parseArgs } from 'node:util';
import { resolveModel } from '../models/resolve.js';
import { inlineEngine } from '../models/whisper/engine.js';
import { WhisperModel } from '../models/whisper/runtime.js';
import type { WindowResult } from '../models/whisper/transcribe.js';
import type { CallCost } from '../server/scheduling/admission.js';
import { calibrate } from '../server/scheduling/calibration.js';
import { InferenceScheduler, ridersFor, type TranscribeJob } from '../server/scheduling/scheduler.js';
import { quantile, table, writeReport } from './lib/report.js';

const { values } = parseArgs({
  options: {
    'call-ms': { type: 'string' },
    'window-ms': { type: 'string' },
    loads: { type: 'string', default: '0.5,0.7,0.8,0.9,1' },
    interims: { type: 'string', default: 'true' },
    seconds: { type: 'string', default: '600' },
    seed: { type: 'string', default: '1' },
    'max-batch': { type: 'string', default: '8' },
    endpointing: { type: 'string', default: '500' },
    riders: { type: 'string', default: '8,auto' },
    'late-interim-ms': { type: 'string', default: '700' },
  },
});
const maxBatch = Number(values['max-batch']);
const interims = values.interims !== 'false';
const seconds = Number(values.seconds);
const endpointing = Number(values.endpointing) / 1000;
const PAD = 0.2;
const INTERIM_EVERY = 1;

/** Timers in virtual seconds; each fires after the promises the last one settled have run. */
class VirtualClock {
  t = 0;
  private timers: { at: number; seq: number; fn: () => void }[] = [];
  private seq = 0;
  at(when: number, fn: () => void): void {
    const timer = { at: Math.max(when, this.t), seq: this.seq++, fn };
    let i = this.timers.length;
    while (i > 0 && this.timers[i - 1].at > timer.at) i--;
    this.timers.splice(i, 0, timer);
  }
  async run(): Promise<void> {
    for (let timer = this.timers.shift(); timer; timer = this.timers.shift()) {
      this.t = timer.at;
      timer.fn();
      await new Promise((r) => setImmediate(r));
    }
  }
}

/** Deterministic uniform numbers (mulberry32). */
function random(seed: number): (lo: number, hi: number) => number {
  let a = seed >>> 0;
  return (lo, hi) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  };
}

interface Utterance {
  start: number;
  end: number;
  /** A pause inside that does not reach the endpoint: [from, to]. */
  hesitation?: [number, number];
}

function speech(rand: (lo: number, hi: number) => number, from: number, until: number): Utterance[] {
  const out: Utterance[] = [];
  for (let t = from + rand(0, 1); t < until;) {
    const end = t + rand(1.5, 6);
    const u: Utterance = { start: t, end };
    if (rand(0, 1) < 1 / 3) {
      const at = rand(t + 0.5, end - 0.5);
      u.hesitation = [at, at + rand(0.25, 0.45)];
    }
    out.push(u);
    t = end + rand(0.7, 2.5);
  }
  return out;
}

/** Decodes per second of stream (finals, and interims while speaking), on the workload speech() makes. */
function decodesPerSecond(seed: number): number {
  const rand = random(seed);
  const us = speech(rand, 0, 3600);
  const span = us[us.length - 1].end;
  const spoken = us.reduce((s, u) => s + u.end - u.start, 0);
  return (us.length + (interims ? spoken / INTERIM_EVERY : 0)) / span;
}

interface Outcome {
  latencies: number[];
  cadenceGaps: number[];
  calls: number;
  windows: number;
  wasted: number;
}

async function simulate(streams: number, cost: CallCost, riders: number, seed: number): Promise<Outcome> {
  const clock = new VirtualClock();
  const out: Outcome = { latencies: [], cadenceGaps: [], calls: 0, windows: 0, wasted: 0 };
  const engine = {
    decodeWindows: (windows: readonly unknown[]): Promise<WindowResult[]> => {
      out.calls++;
      out.windows += windows.length;
      return new Promise((resolve) =>
        clock.at(clock.t + cost.call + cost.window * windows.length, () =>
          resolve(windows.map(() => ({}) as WindowResult)),
        ),
      );
    },
  };
  const scheduler = new InferenceScheduler(engine, {
    maxBatch,
    riders,
    lateInterimMs: Number(values['late-interim-ms']),
    batchWindowMs: 5,
    now: () => clock.t * 1000,
    sleep: (ms) => new Promise((r) => clock.at(clock.t + ms / 1000, r)),
  });
  const job = (session: string, kind: TranscribeJob['kind'], signal?: AbortSignal): TranscribeJob => ({
    session,
    kind,
    window: { audio: new Float32Array(0), offset: 0 },
    options: {},
    signal,
    ifIdle: kind === 'early' && !interims,
  });
  for (let s = 0; s < streams; s++) {
    const id = `s${s}`;
    const rand = random(seed * 1000 + s);
    // Streams join 700 ms apart (a burst), then talk until the end.
    let finalsPending = 0;
    let interimBusy = false;
    for (const u of speech(rand, s * 0.7, seconds)) {
      if (interims) {
        let last = u.start;
        for (let t = u.start + INTERIM_EVERY; t < u.end; t += INTERIM_EVERY) {
          clock.at(t, () => {
            if (interimBusy || finalsPending > 0) return;
            interimBusy = true;
            void scheduler.submit(job(id, 'interim')).then((r) => {
              interimBusy = false;
              if (!r) return;
              out.cadenceGaps.push(clock.t - last);
              last = clock.t;
            });
          });
        }
      }
      if (u.hesitation) {
        const [from, to] = u.hesitation;
        const stop = new AbortController();
        clock.at(from + PAD, () => {
          void scheduler.submit(job(id, 'early', stop.signal)).then((r) => {
            if (r) out.wasted++;
          });
        });
        clock.at(to, () => stop.abort());
      }
      const endpoint = u.end + endpointing;
      const early = job(id, 'early');
      clock.at(u.end + PAD, () => {
        finalsPending++;
        void scheduler.submit(early).then(() => {
          finalsPending--;
          out.latencies.push(Math.max(0, clock.t - endpoint));
        });
      });
      clock.at(endpoint, () => scheduler.promote(early));
    }
  }
  await clock.run();
  return out;
}

const cost: CallCost =
  values['call-ms'] && values['window-ms']
    ? { call: Number(values['call-ms']) / 1000, window: Number(values['window-ms']) / 1000 }
    : await calibrate(
        inlineEngine(
          await WhisperModel.load(await resolveModel('synthetic:tiny', { dtype: 'q8' }), { dtype: 'q8' }),
        ),
        maxBatch,
      );
const perDecode = cost.call / maxBatch + cost.window;
const bound = 1 / (decodesPerSecond(Number(values.seed)) * perDecode);
const calibrated = ridersFor(cost, maxBatch);
const policies = values.riders
  .split(',')
  .map((r) =>
    r === 'auto'
      ? { name: `riders as calibrated (${calibrated})`, riders: calibrated }
      : { name: Number(r) >= maxBatch ? `all ride (riders ${r})` : `riders ${r}`, riders: Number(r) },
  );
const rows: Record<string, string | number>[] = [];
const levels = [...new Set(values.loads.split(',').map((l) => Math.max(1, Math.round(Number(l) * bound))))];
for (const streams of levels) {
  for (const p of policies) {
    const o = await simulate(streams, cost, p.riders, Number(values.seed));
    rows.push({
      policy: p.name,
      streams,
      'of bound': +(streams / bound).toFixed(2),
      'final p50 ms': Math.round(quantile(o.latencies, 0.5) * 1000),
      'final p95 ms': Math.round(quantile(o.latencies, 0.95) * 1000),
      'final p99 ms': Math.round(quantile(o.latencies, 0.99) * 1000),
      finals: o.latencies.length,
      'cadence p95 ms': interims ? Math.round(quantile(o.cadenceGaps, 0.95) * 1000) : '-',
      'mean batch': +(o.windows / Math.max(1, o.calls)).toFixed(2),
      'early wasted': o.wasted,
    });
  }
}
console.log(
  `\nengine: call ${(cost.call * 1000).toFixed(0)} ms + ${(cost.window * 1000).toFixed(0)} ms per window; compute bound ${bound.toFixed(1)} streams; interims ${interims}; ${seconds} s of virtual time, seed ${values.seed}\n`,
);
console.log(table(rows));
console.log(writeReport('scheduler', { options: values, cost, bound, rows }));

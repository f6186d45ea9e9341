/**
 * Endpointing on real voices under noise: conversations of LibriSpeech readers held out from every dev-*
 * conversation (bench/lib/real-conversations.ts), clean and under white, pink, mains hum, babble and stationary
 * noise. Per condition and VAD model: the median boundary error (each true utterance start/end to the nearest
 * found one), utterances found per true utterance (reference segments joined across pauses shorter than the
 * endpointing), and the longest utterance (padded audio, what one final decodes).
 *
 * Direct mode (default): Silero + UtteranceSegmenter with the server's SessionConfig defaults, fast.
 * --server: every conversation streamed through the real server (uWS, VAD, scheduler, a scripted micro model),
 * with each --vad model as the server's --vad-model; slow (--speed), so pick --conditions.
 *   node --import tsx bench/boundaries.ts [--vad v4,v6|FILE,...] [--set test|dev] [--conditions clean,stat-25]
 *     [--server] [--endpointing 500] [--threshold 0.5] [--neg-threshold 0.35] [--min-speech 250] [--pad 200]
 *     [--max-utterance 30]
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import WebSocket from 'ws';
import { UtteranceSegmenter } from '../models/vad/segmenter.js';
import { loadSileroVad } from '../models/vad/silero.js';
import { synthesizeWhisper } from '../models/synth/index.js';
import { DEFAULTS } from '../server/options.js';
import { startServer } from '../server/serve.js';
import { DEFAULT_SESSION_CONFIG } from '../server/stream/config.js';
import { boundaryErrors, trueUtterances } from './lib/boundaries.js';
import type { TimeSpan } from '../audio/span.js';
import { mix, noise, type NoiseKind } from './lib/noise.js';
import { realConversations, type Conversation } from './lib/real-conversations.js';
import { quantile, table, writeReport } from './lib/report.js';

const { values } = parseArgs({
  options: {
    vad: { type: 'string', default: 'v4,v6' },
    set: { type: 'string', default: 'test' },
    conditions: { type: 'string' },
    server: { type: 'boolean', default: false },
    speed: { type: 'string', default: '20' },
    endpointing: { type: 'string', default: String(DEFAULTS.endpointingMs) },
    threshold: { type: 'string', default: String(DEFAULT_SESSION_CONFIG.vadThreshold) },
    'neg-threshold': { type: 'string' },
    'min-speech': { type: 'string', default: String(DEFAULT_SESSION_CONFIG.minSpeechMs) },
    pad: { type: 'string', default: String(DEFAULT_SESSION_CONFIG.speechPadMs) },
    'max-utterance': { type: 'string', default: String(DEFAULTS.maxUtteranceSeconds) },
  },
});

interface Condition {
  name: string;
  kind?: NoiseKind;
  snr?: number;
  /** An acceptance point: median <= 150 ms, 0.6-1.6 utterances per true one, none over 30 s. */
  gate: boolean;
}
const CONDITIONS: Condition[] = [
  { name: 'clean', gate: true },
  ...(['white', 'pink', 'hum', 'babble'] as const).flatMap((kind) =>
    [30, 20, 10].map((snr) => ({ name: `${kind}-${snr}`, kind, snr, gate: kind === 'hum' })),
  ),
  ...[25, 15].map((snr) => ({ name: `stat-${snr}`, kind: 'stationary' as const, snr, gate: true })),
];
const wanted = values.conditions?.split(',');
const conditions = wanted ? CONDITIONS.filter((c) => wanted.includes(c.name)) : CONDITIONS;
if (wanted && conditions.length !== wanted.length) {
  console.error(
    `unknown condition in ${wanted.join(',')}; known: ${CONDITIONS.map((c) => c.name).join(', ')}`,
  );
  process.exit(2);
}
const endpointing = Number(values.endpointing);
const segmenterOptions = {
  threshold: Number(values.threshold),
  negThreshold: values['neg-threshold'] === undefined ? undefined : Number(values['neg-threshold']),
  minSpeechMs: Number(values['min-speech']),
  speechPadMs: Number(values.pad),
  endpointingMs: endpointing,
  maxUtteranceSeconds: Number(values['max-utterance']),
};

/** The conversation under the condition's noise, at the SNR measured on its speech. */
function noisy(c: Conversation, cond: Condition, seed: number): Float32Array {
  if (!cond.kind) return c.audio;
  return mix(c.audio, c.segments, noise(cond.kind, c.audio.length, seed, c.babble), cond.snr!);
}

interface Found {
  /** Unpadded speech (what a final reports). */
  speech: TimeSpan;
  /** Padded audio (what a final decodes). */
  audio: TimeSpan;
}

/** `model`: a Silero name (v4, v5, v6) or a file, as --vad-model takes it. */
async function direct(model: string) {
  const vad = await loadSileroVad({ model });
  return {
    async utterances(audio: Float32Array): Promise<Found[]> {
      const probs = await vad.createStream().push(audio);
      const seg = new UtteranceSegmenter({ frameSeconds: vad.frameSamples / 16000, ...segmenterOptions });
      const out: Found[] = [];
      let start = 0;
      let speech = 0;
      for (const e of [...seg.push(probs), ...seg.flush()]) {
        if (e.type === 'speech_start') [start, speech] = [e.time, e.speech];
        else if (e.type === 'speech_end')
          out.push({ speech: { start: speech, end: e.speech }, audio: { start, end: e.time } });
      }
      return out;
    },
    release: () => vad.release(),
  };
}

async function viaServer(vadModel: string) {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-bench-'));
  await synthesizeWhisper(dir, { size: 'micro', script: '<|0.00|> hello world<|1.00|>' });
  const server = await startServer(
    {
      ...DEFAULTS,
      host: '127.0.0.1',
      port: 0,
      model: dir,
      admissionTarget: 0,
      logLevel: 'silent',
      maxUtteranceSeconds: segmenterOptions.maxUtteranceSeconds,
      vadModel,
    },
    pino({ level: 'silent' }),
  );
  return {
    async utterances(audio: Float32Array): Promise<Found[]> {
      const pcm = new Int16Array(audio.length);
      audio.forEach((v, i) => (pcm[i] = Math.round(Math.max(-1, Math.min(1, v)) * 32767)));
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/v1/listen?endpointing=${endpointing}`);
      const out: Found[] = [];
      ws.on('message', (d) => {
        const m = JSON.parse(String(d)) as {
          type: string;
          is_final?: boolean;
          start: number;
          duration: number;
        };
        if (m.type === 'Results' && m.is_final) {
          // The server reports speech spans only; the pads are the segmenter's.
          const speech = { start: m.start, end: m.start + m.duration };
          const pad = segmenterOptions.speechPadMs / 1000;
          out.push({ speech, audio: { start: speech.start - pad, end: speech.end + pad } });
        }
      });
      await new Promise((r) => ws.once('open', r));
      const closed = new Promise((r) => ws.once('close', r));
      const bytes = new Uint8Array(pcm.buffer);
      for (let i = 0; i < bytes.length; i += 3200) {
        ws.send(bytes.subarray(i, i + 3200));
        await new Promise((r) => setTimeout(r, 100 / Number(values.speed)));
      }
      ws.send(JSON.stringify({ type: 'CloseStream' }));
      await closed;
      return out;
    },
    release: () => server.stop(),
  };
}

const set = values.set === 'dev' ? 'dev' : 'test';
const convs = realConversations(set);
const truths = convs.map((c) => trueUtterances(c.segments, endpointing / 1000));
const vads = values.vad.split(',');
const rows: Record<string, string | number>[] = [];
const report: Record<string, Record<string, unknown>> = {};
let failed = 0;
for (const name of vads) {
  const runner = values.server ? await viaServer(name) : await direct(name);
  report[name] = {};
  for (const cond of conditions) {
    const errs: number[] = [];
    let found = 0;
    let truthCount = 0;
    let longest = 0;
    for (const [i, c] of convs.entries()) {
      const utts = await runner.utterances(noisy(c, cond, 7 + i));
      errs.push(
        ...boundaryErrors(
          truths[i],
          utts.map((u) => u.speech),
        ),
      );
      found += utts.length;
      truthCount += truths[i].length;
      for (const u of utts) longest = Math.max(longest, u.audio.end - u.audio.start);
    }
    const median = quantile(errs, 0.5) * 1000;
    const ratio = found / truthCount;
    const ok = median <= 150 && ratio >= 0.6 && ratio <= 1.6 && longest <= 30 + 1e-6;
    if (cond.gate && !ok) failed++;
    report[name][cond.name] = {
      medianMs: median,
      p90Ms: quantile(errs, 0.9) * 1000,
      found,
      truth: truthCount,
      longest,
    };
    rows.push({
      vad: name,
      condition: cond.name,
      'median ms': Number.isFinite(median) ? Math.round(median) : 'inf',
      'p90 ms': Number.isFinite(quantile(errs, 0.9)) ? Math.round(quantile(errs, 0.9) * 1000) : 'inf',
      'found/true': `${found}/${truthCount} = ${ratio.toFixed(2)}x`,
      'longest s': Number(longest.toFixed(1)),
      gate: cond.gate ? (ok ? 'ok' : 'FAIL') : '',
    });
  }
  await runner.release();
}
console.log(
  `${set} set: ${convs.length} conversations, ${truths.flat().length} true utterances (pauses >= ${endpointing} ms), ` +
    `${(convs.reduce((s, c) => s + c.audio.length, 0) / 16000).toFixed(0)} s; segmenter ${JSON.stringify(segmenterOptions)}`,
);
console.log(table(rows));
console.log(
  `\ngate (clean, hum, stationary): median <= 150 ms, 0.6-1.6 utterances per true one, none over 30 s: ` +
    (failed ? `${failed} FAIL` : 'all ok'),
);
console.log(
  writeReport('boundaries', { set, conversations: convs.map((c) => c.name), segmenterOptions, report }),
);

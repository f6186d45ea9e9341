/**
 * Engine benchmark: encoder and decoder-step latency by batch size for the tiny and base architectures (fp32, q8),
 * and the 5-minute corpus monologue transcribed by earshot and by transformers.js on the same model directory, in
 * the same process, alternating runs.
 *   npm run bench:engine [-- --sizes tiny,base --dtypes fp32,q8 --batches 1,2,4,8 --runs 3 --threads 0 --skip-monologue]
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { decodeWav } from '../audio/wav.js';
import { synthesizeWhisper, type SynthSize } from '../models/synth/index.js';
import { transcribe } from '../models/whisper/transcribe.js';
import { WhisperModel } from '../models/whisper/runtime.js';
import { quantile, table, writeReport } from './lib/report.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: 'tiny,base' },
    dtypes: { type: 'string', default: 'fp32,q8' },
    batches: { type: 'string', default: '1,2,4,8' },
    runs: { type: 'string', default: '3' },
    steps: { type: 'string', default: '20' },
    threads: { type: 'string', default: '0' },
    'monologue-runs': { type: 'string', default: '2' },
    'skip-monologue': { type: 'boolean', default: false },
    'skip-latency': { type: 'boolean', default: false },
  },
});
const sizes = (values['skip-latency'] ? [] : values.sizes.split(',')) as SynthSize[];
const dtypes = values.dtypes.split(',') as ('fp32' | 'q8')[];
const batches = values.batches.split(',').map(Number);
const runs = Number(values.runs);
const steps = Number(values.steps);
// Both implementations get the same explicit thread count (0 = one per core).
const threads = Number(values.threads) || availableParallelism();
const CACHE = new URL('../.cache/bench-models/', import.meta.url).pathname;

async function model(name: string, build: (dir: string) => Promise<void>): Promise<string> {
  const dir = CACHE + name;
  if (existsSync(`${dir}/onnx`)) return dir;
  process.stderr.write(`building ${name} (once, into ${CACHE})\n`);
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await build(tmp);
  renameSync(tmp, dir);
  return dir;
}

async function time<T>(f: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const r = await f();
  return [performance.now() - t0, r];
}

function noise(seconds: number, seed: number): Float32Array {
  let a = seed;
  return Float32Array.from({ length: Math.round(seconds * 16000) }, () => {
    a = (a * 1103515245 + 12345) & 0x7fffffff;
    return (a / 0x7fffffff - 0.5) * 0.2;
  });
}

// ---- Part 1: encoder and decoder steps by batch size -------------------------------------------------------------
const latency: Record<string, string | number>[] = [];
for (const size of sizes) {
  const dir = await model(`${size}-random`, (d) =>
    synthesizeWhisper(d, { size, dtypes: ['fp32', 'q8'], seed: 7 }),
  );
  for (const dtype of dtypes) {
    // One encoder call per batch here, to measure what batching the encoder itself gives.
    const m = await WhisperModel.load(dir, { dtype, threads, encoderBatch: Math.max(...batches) });
    const features = Array.from({ length: Math.max(...batches) }, (_, i) => m.features(noise(30, i + 1)));
    const prompt = [
      m.ids.sot,
      m.ids.languages.get('en') ?? m.ids.sot,
      m.ids.transcribe ?? m.ids.sot,
      m.ids.noTimestamps,
    ];
    const text = m.tokenizer.encode(' the')[0] ?? 220;
    // Warm-up: first calls allocate and pick kernels.
    const warm = m.startDecoding(await m.encode([features[0]]));
    await warm.run([prompt]);
    await warm.run([[text]]);
    for (const b of batches) {
      const enc: number[] = [];
      let hidden!: ort.Tensor;
      for (let r = 0; r < runs; r++) {
        const [ms, h] = await time(() => m.encode(features.slice(0, b)));
        enc.push(ms);
        hidden = h;
      }
      const first: number[] = [];
      const step: number[] = [];
      for (let r = 0; r < Math.max(1, Math.ceil(runs / 2)); r++) {
        const batch = m.startDecoding(hidden);
        first.push((await time(() => batch.run(Array.from({ length: b }, () => prompt))))[0]);
        for (let s = 0; s < steps; s++)
          step.push((await time(() => batch.run(Array.from({ length: b }, () => [text]))))[0]);
      }
      const e = quantile(enc, 0.5);
      const st = quantile(step, 0.5);
      latency.push({
        size,
        dtype,
        batch: b,
        'encoder ms': Math.round(e),
        'encoder ms/item': Math.round(e / b),
        'decoder first ms': Math.round(quantile(first, 0.5)),
        'decoder step ms': +st.toFixed(2),
        'step ms/item': +(st / b).toFixed(2),
      });
      process.stderr.write(
        `${size} ${dtype} batch ${b}: encoder ${Math.round(e)} ms, step ${st.toFixed(1)} ms\n`,
      );
    }
    await m.release();
  }
}
if (latency.length) console.log(`\nEncoder and decoder latency (median)\n\n${table(latency)}`);
const q8Speedup: Record<string, number> = {};
for (const size of sizes) {
  const at = (dtype: string) =>
    latency.find((r) => r.size === size && r.dtype === dtype && r.batch === 1)?.['encoder ms'] as number;
  if (at('fp32') && at('q8')) q8Speedup[size] = at('fp32') / at('q8');
}
console.log(
  `\nq8 encoder speed-up over fp32 at batch 1: ${Object.entries(q8Speedup)
    .map(([s, x]) => `${s} ${x.toFixed(2)}x`)
    .join(', ')} (target >= 2x)`,
);

// ---- Part 2: the monologue, earshot vs transformers.js ----------------------------------------------------------
const MONOLOGUE = new URL('../../shared/corpus/long/monologue.wav', import.meta.url).pathname;
let monologue: Record<string, unknown> | undefined;
if (values['skip-monologue']) {
  console.log('\nmonologue skipped (--skip-monologue)');
} else if (!existsSync(MONOLOGUE)) {
  console.log(`\nmonologue skipped: ${MONOLOGUE} not found (the corpus lives in ../shared)`);
} else {
  // ~3 tokens per second of audio: nine 3.2-s segments of ten one-token words each, per 30-s window.
  const words = ['the', 'and', 'of', 'to', 'a', 'in', 'is', 'it', 'that', 'was'];
  const script = Array.from({ length: 9 }, (_, i) => {
    const ts = (t: number) => `<|${t.toFixed(2)}|>`;
    const text = Array.from({ length: 10 }, (_, k) => ` ${words[(i + k) % words.length]}`).join('');
    return `${ts(i * 3.2)}${text}${ts(i * 3.2 + 3.1)}`;
  }).join('');
  const dir = await model('tiny-monologue', (d) =>
    synthesizeWhisper(d, { size: 'tiny', script, dtypes: ['fp32', 'q8'] }),
  );
  const audio = decodeWav(readFileSync(MONOLOGUE));
  const { env, pipeline } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.useFSCache = false;
  const [earshotLoad, m] = await time(() => WhisperModel.load(dir, { threads }));
  const mq8 = await WhisperModel.load(dir, { threads, dtype: 'q8' });
  const [tjsLoad, asr] = await time(() =>
    pipeline('automatic-speech-recognition', dir, {
      dtype: 'fp32',
      device: 'cpu',
      local_files_only: true,
      session_options: { intraOpNumThreads: threads },
    } as never),
  );
  const opts = { language: 'en', temperatures: [0], conditionOnPreviousText: false };
  const times: Record<string, number[]> = {
    'earshot (sequential)': [],
    'earshot (batched 8)': [],
    'earshot q8 (batched 8)': [],
    'transformers.js': [],
  };
  // Batched: the same ten 30-s windows as transformers.js (stride 0), decoded eight at a time.
  const batchedOpts = { ...opts, batchSize: 8 };
  let ours = '';
  let theirs = '';
  for (let r = 0; r < Number(values['monologue-runs']); r++) {
    const [a, t] = await time(() => transcribe(m, audio.samples, opts));
    times['earshot (sequential)'].push(a);
    ours = t.text;
    const [c, tb] = await time(() => transcribe(m, audio.samples, batchedOpts));
    times['earshot (batched 8)'].push(c);
    if (tb.text !== ours) throw new Error('batched and sequential transcripts differ on the scripted model');
    const [b, u] = await time(
      () =>
        asr(audio.samples, {
          language: 'en',
          return_timestamps: true,
          chunk_length_s: 30,
          stride_length_s: 0,
        } as never) as Promise<{
          text: string;
        }>,
    );
    times['transformers.js'].push(b);
    theirs = u.text;
    times['earshot q8 (batched 8)'].push((await time(() => transcribe(mq8, audio.samples, batchedOpts)))[0]);
  }
  const tokens = (s: string) => m.tokenizer.encode(s).length;
  const med = (k: string) => quantile(times[k], 0.5);
  const rows = Object.keys(times).map((k) => ({
    implementation: k,
    'transcribe s (median)': +(med(k) / 1000).toFixed(2),
    'real-time factor': +(med(k) / 1000 / audio.duration).toFixed(4),
    'text tokens': tokens(k === 'transformers.js' ? theirs : ours),
  }));
  console.log(`\nMonologue: ${audio.duration.toFixed(1)} s of audio, scripted tiny model (~3 tokens/s)\n`);
  console.log(table(rows));
  const ratio = med('transformers.js') / med('earshot (batched 8)');
  const sequentialRatio = med('transformers.js') / med('earshot (sequential)');
  console.log(
    `\nload: earshot ${Math.round(earshotLoad)} ms, transformers.js ${Math.round(tjsLoad)} ms` +
      `\nearshot batched is ${ratio.toFixed(2)}x faster than transformers.js (target >= 1.5x); sequential ${sequentialRatio.toFixed(2)}x; q8 batched ${(med('transformers.js') / med('earshot q8 (batched 8)')).toFixed(2)}x`,
  );
  monologue = {
    seconds: audio.duration,
    times,
    ratio,
    loadMs: { earshot: earshotLoad, transformers: tjsLoad },
    tokens: rows,
  };
  await asr.dispose();
  await m.release();
  await mq8.release();
}
console.log(writeReport('engine', { options: values, ort: ort.env.versions, latency, q8Speedup, monologue }));

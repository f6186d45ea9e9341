/**
 * VAD cost: how many real-time streams one core can run, Silero v4 beside the default (v6) in one run.
 *
 *   node --import tsx bench/vad.ts [--seconds 10] [--models v4,v6]
 *
 * Each of S streams pushes the same speech excerpt in 20 ms chunks (what a WebSocket client sends), all streams
 * concurrently and as fast as they are served. CPU time is the whole process (JS thread plus onnxruntime's
 * thread), so "RT streams/core" = audio seconds processed / CPU seconds is what a server core can sustain.
 * "single" runs one frame per inference (maxBatch 1), "batched" stacks the streams' ready frames (maxBatch 64,
 * what the server does). Prints a table and writes bench/out/vad-latest.json.
 */
import { readFileSync } from 'node:fs';
import { loadSileroVad } from '../models/vad/silero.js';
import { DEFAULT_SILERO, isSileroName } from '../models/vad/silero-files.js';
import { table, writeReport } from './lib/report.js';

const args = process.argv.slice(2);
const arg = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const seconds = Number(arg('--seconds') ?? 10);
const models = (arg('--models') ?? `v4,${DEFAULT_SILERO}`).split(',');
for (const m of models) if (!isSileroName(m)) throw new Error(`--models: ${m} is not v4, v5 or v6`);

function readWav16(path: URL): Float32Array {
  const buf = readFileSync(path);
  let off = 12;
  while (off + 8 <= buf.length) {
    const size = buf.readUInt32LE(off + 4);
    if (buf.toString('ascii', off, off + 4) === 'data') {
      const out = new Float32Array(size / 2);
      for (let i = 0; i < out.length; i++) out[i] = buf.readInt16LE(off + 8 + 2 * i) / 32768;
      return out;
    }
    off += 8 + size + (size & 1);
  }
  throw new Error(`${path} has no data chunk`);
}

const excerpt = readWav16(new URL('../test/fixtures/vad/two-speakers-10s.wav', import.meta.url));
const audio = new Float32Array(Math.round(seconds * 16000));
for (let i = 0; i < audio.length; i += excerpt.length) audio.set(excerpt.subarray(0, audio.length - i), i);
const CHUNK = 320;

interface Row {
  model: string;
  mode: 'single' | 'batched';
  streams: number;
  meanBatch: number;
  usCpuPerFrame: number;
  xRealTimeWall: number;
  rtStreamsPerCore: number;
}

async function measure(model: string, maxBatch: number, streams: number): Promise<Row> {
  const vad = await loadSileroVad({ model, maxBatch });
  // Warm-up: first runs allocate and JIT.
  await vad.createStream().push(audio.subarray(0, 16000));
  const runs0 = vad.stats.runs;
  const frames0 = vad.stats.frames;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: streams }, async () => {
      const s = vad.createStream();
      for (let pos = 0; pos < audio.length; pos += CHUNK) await s.push(audio.subarray(pos, pos + CHUNK));
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const runs = vad.stats.runs - runs0;
  const frames = vad.stats.frames - frames0;
  await vad.release();
  const audioSeconds = streams * seconds;
  return {
    model: vad.label,
    mode: maxBatch === 1 ? 'single' : 'batched',
    streams,
    meanBatch: frames / runs,
    usCpuPerFrame: (cpuSeconds / frames) * 1e6,
    xRealTimeWall: audioSeconds / wall,
    rtStreamsPerCore: audioSeconds / cpuSeconds,
  };
}

const CASES: [maxBatch: number, streams: number][] = [
  [1, 1],
  [1, 8],
  [64, 8],
  [64, 32],
  [64, 128],
];
const rows: Row[] = [];
// Models alternate case by case, so a neighbour's load on a shared machine hits both alike.
for (const [maxBatch, streams] of CASES) {
  for (const model of models) rows.push(await measure(model, maxBatch, streams));
}

const base = models[0];
const ratios = models.slice(1).map((m) => {
  const cost = (mode: Row['mode']) => {
    const mine = rows.filter((r) => r.model === `silero ${m}` && r.mode === mode);
    const theirs = rows.filter((r) => r.model === `silero ${base}` && r.mode === mode);
    const sum = (xs: Row[]) => xs.reduce((s, r) => s + r.usCpuPerFrame, 0);
    return sum(mine) / sum(theirs);
  };
  return { model: m, against: base, single: cost('single'), batched: cost('batched') };
});

console.log(
  `Silero VAD (onnxruntime-node, 1 intra-op thread), ${seconds} s of speech per stream, 20 ms chunks`,
);
console.log(
  table(
    rows.map((r) => ({
      model: r.model,
      mode: r.mode,
      streams: r.streams,
      'mean batch': r.meanBatch.toFixed(1),
      'µs CPU/frame': Math.round(r.usCpuPerFrame),
      'x real time (wall)': Math.round(r.xRealTimeWall),
      'RT streams/core': Math.round(r.rtStreamsPerCore),
    })),
  ),
);
for (const r of ratios) {
  console.log(
    `${r.model} costs ${r.single.toFixed(2)}x ${r.against} per frame run singly, ${r.batched.toFixed(2)}x batched`,
  );
}
console.log(`wrote ${writeReport('vad', { seconds, chunkSamples: CHUNK, rows, ratios })}`);

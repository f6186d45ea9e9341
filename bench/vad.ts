/**
 * VAD cost: how many real-time streams one core can run.
 *
 *   node --import tsx bench/vad.ts [--seconds 10]
 *
 * Each of S streams pushes the same speech excerpt in 20 ms chunks (what a WebSocket client sends), all streams
 * concurrently and as fast as they are served. CPU time is the whole process (JS thread plus onnxruntime's
 * thread), so "RT streams/core" = audio seconds processed / CPU seconds is what a server core can sustain.
 */
import { readFileSync } from 'node:fs';
import { loadSileroVad } from '../models/vad/silero.js';

const args = process.argv.slice(2);
const secondsArg = args.indexOf('--seconds');
const seconds = secondsArg >= 0 ? Number(args[secondsArg + 1]) : 10;

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

async function measure(frameSamples: number, maxBatch: number, streams: number) {
  const vad = await loadSileroVad({ frameSamples, maxBatch });
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
    frame: `${frameSamples} (${(frameSamples / 16).toFixed(0)} ms)`,
    maxBatch,
    streams,
    'mean batch': (frames / runs).toFixed(1),
    'µs CPU/frame': ((cpuSeconds / frames) * 1e6).toFixed(0),
    'x real time (wall)': (audioSeconds / wall).toFixed(0),
    'RT streams/core': (audioSeconds / cpuSeconds).toFixed(0),
  };
}

const rows = [];
for (const frameSamples of [512, 1536]) {
  for (const maxBatch of [1, 64]) {
    for (const streams of [1, 8, 32, 128]) {
      if (maxBatch === 1 && streams > 32) continue;
      rows.push(await measure(frameSamples, maxBatch, streams));
    }
  }
}
console.log(
  `Silero VAD (v4, onnxruntime-node, 1 intra-op thread), ${seconds} s of speech per stream, 20 ms chunks`,
);
console.table(rows);

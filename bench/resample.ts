/**
 * Streaming resampler throughput: how many real-time live streams one core can resample to 16 kHz.
 * Run: node --import tsx bench/resample.ts [seconds-of-audio-per-rate]
 * Audio is pushed in 20 ms chunks, as a WebSocket client would send it.
 */
import { StreamingResampler } from '../audio/resample.js';

const seconds = Number(process.argv[2] ?? 20);
const rates = [8000, 11025, 22050, 24000, 32000, 44100, 48000, 44101];

function noise(n: number): Float32Array {
  let seed = 12345;
  return Float32Array.from({ length: n }, () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 31 - 1;
  });
}

const rows: string[][] = [];
for (const rate of rates) {
  const input = noise(rate * seconds);
  const chunk = Math.round(rate / 50);
  const r = new StreamingResampler(rate, 16000);
  // Warm-up pass so the JIT has compiled the inner loop.
  for (let i = 0; i < rate; i += chunk) r.push(input.subarray(i, i + chunk));
  r.flush();
  const start = process.hrtime.bigint();
  let produced = 0;
  for (let i = 0; i < input.length; i += chunk) produced += r.push(input.subarray(i, i + chunk)).length;
  produced += r.flush().length;
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  const streams = seconds / elapsed;
  rows.push([
    String(rate),
    String(2 * r.filterHalfWidth),
    (input.length / elapsed / 1e6).toFixed(1),
    (produced / elapsed / 1e6).toFixed(2),
    streams.toFixed(0),
    ((100 / streams) * 100).toFixed(1),
  ]);
}

const header = [
  'from Hz',
  'taps/output',
  'in Msamples/s',
  'out Msamples/s',
  'real-time streams/core',
  '% core @100 streams',
];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join('  ');
console.log(
  `StreamingResampler → 16000 Hz, ${seconds} s of audio per rate, 20 ms chunks, node ${process.version}`,
);
console.log(line(header));
for (const row of rows) console.log(line(row));

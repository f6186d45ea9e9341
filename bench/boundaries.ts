/**
 * Segment boundaries of live finals against the corpus' exact ground truth: every conversation streamed through the
 * real server (uWS, Silero VAD, scheduler) with a scripted micro model (boundaries come from the VAD, not the words).
 *   node --import tsx bench/boundaries.ts [--endpointing 500] [--speed 20]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { decodeWav } from '../audio/wav.js';
import { synthesizeWhisper } from '../models/synth/index.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import WebSocket from 'ws';
import { DEFAULTS } from '../server/config.js';
import { startServer } from '../server/serve.js';
import { quantile, table, writeReport } from './lib/report.js';

const { values } = parseArgs({
  options: { endpointing: { type: 'string', default: '500' }, speed: { type: 'string', default: '20' } },
});
const CORPUS = new URL('../../shared/corpus/conversations/', import.meta.url).pathname;
let files: string[];
try {
  files = readdirSync(CORPUS).filter((f) => f.endsWith('.wav'));
} catch {
  console.error(`no corpus at ${CORPUS}: this benchmark needs ../shared/corpus`);
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'earshot-bench-'));
await synthesizeWhisper(dir, { size: 'micro', script: '<|0.00|> hello world<|1.00|>' });
const server = await startServer(
  { ...DEFAULTS, host: '127.0.0.1', port: 0, model: dir, admissionTarget: 0, logLevel: 'silent' },
  pino({ level: 'silent' }),
);

interface Final {
  start: number;
  end: number;
}

async function stream(file: string): Promise<Final[]> {
  const audio = decodeWav(readFileSync(CORPUS + file));
  const pcm = new Int16Array(audio.samples.length);
  audio.samples.forEach((v, i) => (pcm[i] = Math.round(Math.max(-1, Math.min(1, v)) * 32767)));
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/v1/listen?endpointing=${values.endpointing}`);
  const finals: Final[] = [];
  ws.on('message', (d) => {
    const m = JSON.parse(String(d)) as {
      type: string;
      is_final?: boolean;
      start: number;
      duration: number;
      channel: { alternatives: { transcript: string }[] };
    };
    if (m.type === 'Results' && m.is_final && m.channel.alternatives[0].transcript) {
      finals.push({ start: m.start, end: m.start + m.duration });
    }
  });
  await new Promise((r) => ws.once('open', r));
  const closed = new Promise((r) => ws.once('close', r));
  const bytes = new Uint8Array(pcm.buffer);
  const frame = 3200; // 100 ms
  for (let i = 0; i < bytes.length; i += frame) {
    ws.send(bytes.subarray(i, i + frame));
    await new Promise((r) => setTimeout(r, 100 / Number(values.speed)));
  }
  ws.send(JSON.stringify({ type: 'CloseStream' }));
  await closed;
  return finals;
}

const rows: Record<string, string | number>[] = [];
const all: number[] = [];
const perFile: Record<string, unknown> = {};
for (const file of files) {
  const truth = (
    JSON.parse(readFileSync(CORPUS + file.replace('.wav', '.json'), 'utf8')) as { segments: Final[] }
  ).segments;
  const finals = await stream(file);
  // Match each true segment to the final overlapping it most.
  const startErr: number[] = [];
  const endErr: number[] = [];
  let missed = 0;
  const used = new Set<Final>();
  for (const t of truth) {
    let best: Final | undefined;
    let overlap = 0;
    for (const f of finals) {
      const o = Math.min(f.end, t.end) - Math.max(f.start, t.start);
      if (o > overlap) [best, overlap] = [f, o];
    }
    if (!best) {
      missed++;
      continue;
    }
    used.add(best);
    startErr.push(Math.abs(best.start - t.start));
    endErr.push(Math.abs(best.end - t.end));
  }
  const errs = [...startErr, ...endErr];
  all.push(...errs);
  perFile[file] = { truth: truth.length, finals: finals.length, missed, startErr, endErr };
  rows.push({
    file,
    segments: truth.length,
    finals: finals.length,
    missed,
    merged: truth.length - missed - used.size,
    'start median ms': Math.round(quantile(startErr, 0.5) * 1000),
    'end median ms': Math.round(quantile(endErr, 0.5) * 1000),
    'p90 ms': Math.round(quantile(errs, 0.9) * 1000),
  });
}
await server.stop();
console.log(table(rows));
console.log(
  `\nall boundaries: median ${Math.round(quantile(all, 0.5) * 1000)} ms, p90 ${Math.round(quantile(all, 0.9) * 1000)} ms (target: median within 150 ms)`,
);
console.log(
  writeReport('boundaries', {
    endpointingMs: Number(values.endpointing),
    perFile,
    medianMs: quantile(all, 0.5) * 1000,
  }),
);

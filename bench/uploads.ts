/**
 * Upload memory benchmark: the server process' RSS growth while it takes large WAV uploads on POST /v1/listen
 * (received, decoded to 16 kHz, handed to transcription). Transcription itself is a stub that returns at once, so
 * the figure is the upload path's own cost; each run is a fresh server process.
 *   node --import tsx bench/uploads.ts [-- --mb 200 --concurrent 1,3 --transport uws --root DIR]
 * --root runs another checkout's server code (e.g. the code before a change) for a before/after table.
 */
import { fork } from 'node:child_process';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { table, writeReport } from './lib/report.js';

const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '200' },
    concurrent: { type: 'string', default: '1,3' },
    transport: { type: 'string', default: 'uws' },
    root: { type: 'string', default: new URL('..', import.meta.url).pathname },
    child: { type: 'boolean', default: false },
  },
});

function rssMb(): { rss: number; peak: number } {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)![1]);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** The server side: the app's HTTP routes over a real transport, with stub engine dependencies. */
async function child(): Promise<void> {
  const root = resolve(values.root);
  const { EarshotApp } = (await import(`${root}/server/app.ts`)) as typeof import('../server/app.js');
  // Older checkouts kept the option table in config.ts.
  const { DEFAULTS } = (await import(`${root}/server/options.ts`).catch(
    () => import(`${root}/server/config.ts`),
  )) as typeof import('../server/options.js');
  const { Metrics } = (await import(`${root}/server/metrics.ts`)) as typeof import('../server/metrics.js');
  const { MemoryStore } = (await import(
    `${root}/server/store.ts`
  )) as typeof import('../server/store/memory.js');
  const { pino } = await import('pino');
  const app = new EarshotApp({
    config: {
      ...DEFAULTS,
      host: '127.0.0.1',
      port: 0,
      transport: values.transport as 'uws',
      maxBodyBytes: 1024 * 1024 * 1024,
    },
    log: pino({ level: 'silent' }),
    scheduler: {} as never,
    vad: {} as never,
    store: new MemoryStore(),
    model: { uuid: 'bench', name: 'bench', version: 'fp32', arch: 'whisper' },
    transcribe: (audio: Float32Array) =>
      Promise.resolve({ text: '', language: 'en', duration: audio.length / 16000, segments: [] }),
    admission: {
      decide: () => ({ ok: true }),
      admit: () => ({ ok: true }),
      interimBackoff: () => 1,
      sample: () => {},
    } as never,
    metrics: new Metrics({ activeStreams: () => 0, coalesced: () => 0, queued: () => 0 }),
    maxFileJobs: 16,
  } as never);
  const { port } = await app.start();
  const base = rssMb();
  process.send!({ port, base: base.rss });
  process.on('message', () => process.send!({ peak: rssMb().peak }));
}

/** A 16 kHz mono 16-bit WAV of `bytes` total, generated as it is sent (the client holds none of it). */
function postWav(port: number, bytes: number): Promise<number> {
  const data = bytes - 44;
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(16000, 24);
  h.writeUInt32LE(32000, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(data, 40);
  const block = Buffer.alloc(1 << 20);
  for (let i = 0; i < block.length; i += 2) block.writeInt16LE(Math.round(8000 * Math.sin(i / 50)), i);
  return new Promise((done, fail) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v1/listen',
        headers: { 'content-type': 'audio/wav', 'content-length': bytes },
      },
      (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode ?? 0));
      },
    );
    req.on('error', fail);
    void (async () => {
      req.write(h);
      for (let sent = 0; sent < data; sent += block.length) {
        if (!req.write(block.subarray(0, Math.min(block.length, data - sent)))) {
          await new Promise((r) => req.once('drain', r));
        }
      }
      req.end();
    })();
  });
}

async function run(concurrent: number, bytes: number) {
  const server = fork(new URL(import.meta.url).pathname, [...process.argv.slice(2), '--child'], {
    execArgv: ['--import', 'tsx'],
  });
  const next = () => new Promise<Record<string, number>>((r) => server.once('message', r));
  const { port, base } = await next();
  const t0 = performance.now();
  const statuses = await Promise.all(Array.from({ length: concurrent }, () => postWav(port, bytes)));
  const seconds = (performance.now() - t0) / 1000;
  server.send('peak');
  const { peak } = await next();
  server.kill();
  return { statuses, base, peak, seconds };
}

async function main() {
  const bytes = Number(values.mb) * 1024 * 1024;
  const rows: Record<string, string | number>[] = [];
  for (const n of values.concurrent.split(',').map(Number)) {
    const r = await run(n, bytes);
    rows.push({
      code: values.root,
      transport: values.transport,
      uploads: `${n} x ${values.mb} MB`,
      status: [...new Set(r.statuses)].join(','),
      'baseline RSS MB': Math.round(r.base),
      'peak RSS MB': Math.round(r.peak),
      'growth MB': Math.round(r.peak - r.base),
      s: r.seconds.toFixed(1),
    });
  }
  console.log(table(rows));
  console.log(`wrote ${writeReport('uploads', rows)}`);
}

await (values.child ? child() : main());

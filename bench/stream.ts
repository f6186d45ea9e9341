/**
 * Streaming benchmark: N real-time WebSocket clients (a separate process) against an earshot server (another
 * process); per-stream endpoint-to-final delay, interim cadence, lag, refusals, server CPU and RSS.
 *   npm run bench:stream -- [--model SPEC] [--dtype q8] [--streams N] [--seconds S] [--endpointing 500]
 *                           [--find-capacity] [--compare-batching | --no-batching | --compare-diarize] [--admission]
 *                           [--diarize]
 *                           [--idle-connections 10000 --transports uws,ws]
 *                           [--join N|90% --join-spread-ms 700 --interims false --admission-target 0.85]
 *                           [--early-finals true|false | --compare-early-finals]
 *                           [--compare-riders: interims riding in finals' calls (all, as before) vs as calibrated]
 *                           [--rounds N: fixed streams or --join; the compared servers alternate N times; paired medians]
 *                           [--baseline DIR: the same runs against another checkout's server (e.g. a worktree of main),
 *                            side by side in one run: before/after figures of a change on a machine whose speed drifts]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';
import { SPEECH } from '../server/scheduling/admission.js';
import { resolveModel } from '../models/resolve.js';
import { decodeWindows, type WindowInput } from '../models/whisper/transcribe.js';
import { loadAudioFile } from '../audio/load.js';
import { SAMPLE_RATE } from '../audio/rate.js';
import { DEFAULT_SESSION_CONFIG } from '../server/stream/config.js';
import { WhisperModel } from '../models/whisper/runtime.js';
import { OUT_DIR, quantile, table, writeReport } from './lib/report.js';
import type { StreamRecord } from './stream/clients.js';
import { plotSvg } from './stream/plot.js';
import { cpuSeconds, rssMiB } from './stream/proc.js';

// A tiny-architecture model that says ~11 tokens per window, like a 2.5-s utterance of real speech: a random
// model would decode 224 tokens and fall back through every temperature, which no real model does.
const DEFAULT_MODEL = `synthetic:tiny:script=${encodeURIComponent('<|0.00|> the and of to a in is it<|2.50|>')}`;
const { values } = parseArgs({
  options: {
    model: { type: 'string', default: DEFAULT_MODEL },
    dtype: { type: 'string', default: 'q8' },
    streams: { type: 'string', default: '1' },
    seconds: { type: 'string', default: '40' },
    endpointing: { type: 'string', default: '500' },
    'max-batch': { type: 'string', default: '8' },
    threads: { type: 'string', default: '0' },
    'find-capacity': { type: 'boolean', default: false },
    'compare-batching': { type: 'boolean', default: false },
    'no-batching': { type: 'boolean', default: false },
    admission: { type: 'boolean', default: false },
    'idle-connections': { type: 'string' },
    transports: { type: 'string', default: 'uws,ws' },
    join: { type: 'string' },
    'join-spread-ms': { type: 'string', default: '700' },
    interims: { type: 'string', default: 'true' },
    'admission-target': { type: 'string', default: '0.95' },
    diarize: { type: 'boolean', default: false },
    'compare-diarize': { type: 'boolean', default: false },
    'early-finals': { type: 'string', default: 'true' },
    'compare-early-finals': { type: 'boolean', default: false },
    'compare-riders': { type: 'boolean', default: false },
    rounds: { type: 'string', default: '1' },
    baseline: { type: 'string' },
  },
});
const CORPUS = new URL('../../shared/corpus/conversations/', import.meta.url).pathname;
const ROOT = new URL('../', import.meta.url).pathname;
const endpointing = Number(values.endpointing);
const seconds = Number(values.seconds);
const interims = values.interims !== 'false';
/** Speaker labels on every final (live diarization); --compare-diarize measures capacity with and without. */
let diarize = values.diarize;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

interface Server {
  proc: ChildProcess;
  port: number;
  stop(): Promise<void>;
}

async function startServer(extra: string[], root = ROOT): Promise<Server> {
  const port = await freePort();
  const args = [
    'bin/earshot.js',
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--log-level',
    'warn',
    ...extra,
  ];
  const proc = spawn(
    'bash',
    ['-c', `ulimit -n 65536 2>/dev/null; exec node ${args.map((a) => `'${a}'`).join(' ')}`],
    {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  for (let i = 0; i < 600; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    proc,
    port,
    stop: () =>
      new Promise((r) => {
        proc.once('exit', () => r());
        proc.kill('SIGTERM');
      }),
  };
}

function runClients(
  args: object,
  onReady?: (line: Record<string, unknown>, child: ChildProcess) => Promise<void>,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'bash',
      [
        '-c',
        `ulimit -n 65536 2>/dev/null; exec node --import tsx bench/stream/clients.ts '${JSON.stringify(args)}'`,
      ],
      { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout!.on('data', async (d: Buffer) => {
      out += d;
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const l of lines) {
        const msg = JSON.parse(l) as Record<string, unknown>;
        if (msg && !Array.isArray(msg) && msg.ready && onReady) {
          await onReady(msg, child);
          child.stdin!.end();
        } else resolve(msg);
      }
    });
    child.on('exit', (code) => (code ? reject(new Error(`clients exited ${code}`)) : resolve(undefined)));
  });
}

interface Level {
  streams: number;
  refused: number;
  /** Why each refused stream was refused (the server's reason), in joining order. */
  refusedBecause: string[];
  finalDelayMs: { p50: number; p95: number; p99: number; n: number };
  cadenceGapMs: { p50: number; p95: number; n: number };
  lagS: { p50: number; p95: number; max: number };
  /**
   * The finals' own lag as the server reports it (audio received after the final's end when it was sent: the
   * endpointing silence, queueing and decoding, in audio time). Beside the client's endpoint-to-final it says how
   * much of that delay the server saw: the rest is audio reaching the server late (a starved client or event loop).
   */
  finalLagP95S: number;
  /** The clients' worst lateness sending audio, ms (over ~100 ms: the bench itself was starved, see StreamRecord). */
  clientLateMs: number;
  missedFinals: number;
  serverCpu: number;
  serverRssMiB: number;
  engine: EngineStats;
  /** diarize=true: the server's time on speaker labels per stream-second (its metric), ms. */
  labelMsPerStreamSecond?: number;
  /**
   * What admission estimated during the level (its /metrics gauges, read each second): the fewest typical streams
   * it would hold and the decode price then, beside the bench's compute bound (which prices a decode in isolation).
   */
  admission?: { minCapacity: number; decodeMs: number };
  /**
   * The server's longest event-loop stall during the level (nodejs_eventloop_lag_max_seconds, read each second), ms:
   * audio waits unread while the loop is held, which the server's own lag cannot see but a client's delay does.
   */
  loopStallMs: number;
  pass: boolean;
}

function analyse(
  records: StreamRecord[],
  streams: number,
  cpu: number,
  rss: number,
  engine: EngineStats,
): Level {
  const delays: number[] = [];
  const finalLags: number[] = [];
  const gaps: number[] = [];
  const lags: number[] = [];
  let missed = 0;
  for (const r of records.filter((x) => !x.refused)) {
    lags.push(...r.results.map((x) => x.lag));
    // Endpoint to final, as the speaker sees it: from the moment speech ended (stream time = wall time since the
    // stream opened, the client paces like a microphone) to the final's arrival. It includes the frame buffering
    // (up to 100 ms) and the endpointing silence the server must wait for. Measured per final, so utterances closer
    // than the endpointing (merged into one final) are not counted twice.
    for (const f of r.results) {
      if (!f.final || !f.speechFinal || !f.text) continue;
      delays.push(f.at - f.end * 1000);
      finalLags.push(f.lag);
    }
    for (const seg of r.truth) {
      const endMs = seg.end * 1000;
      if (!r.results.some((x) => x.final && x.text && x.end > seg.start && x.start < seg.end)) missed++;
      if (seg.end - seg.start >= 2) {
        const times = r.results.filter((x) => x.at >= seg.start * 1000 && x.at <= endMs).map((x) => x.at);
        const marks = [seg.start * 1000, ...times, endMs];
        let worst = 0;
        for (let i = 1; i < marks.length; i++) worst = Math.max(worst, marks[i] - marks[i - 1]);
        gaps.push(worst);
      }
    }
  }
  const refused = records.filter((x) => x.refused || x.closeCode === 1013).length;
  const refusedBecause = records
    .map((x, i) =>
      x.refused ? `#${i + 1}: ${x.refusedBecause ?? '?'}` : x.closeCode === 1013 ? `#${i + 1}: 1013` : '',
    )
    .filter(Boolean);
  const finalDelayMs = {
    p50: quantile(delays, 0.5),
    p95: quantile(delays, 0.95),
    p99: quantile(delays, 0.99),
    n: delays.length,
  };
  const cadenceGapMs = { p50: quantile(gaps, 0.5), p95: quantile(gaps, 0.95), n: gaps.length };
  return {
    streams,
    refused,
    refusedBecause,
    finalDelayMs,
    cadenceGapMs,
    lagS: { p50: quantile(lags, 0.5), p95: quantile(lags, 0.95), max: Math.max(0, ...lags) },
    finalLagP95S: quantile(finalLags, 0.95),
    clientLateMs: Math.max(0, ...records.filter((x) => !x.refused).map((x) => x.sendLateMs)),
    loopStallMs: 0,
    missedFinals: missed,
    serverCpu: cpu,
    serverRssMiB: rss,
    engine,
    pass:
      refused === 0 &&
      missed <= delays.length * 0.02 &&
      finalDelayMs.p95 <= endpointing + 1000 &&
      // The interim cadence is judged only when interims were asked for: without them an utterance has none.
      (!interims || gaps.length === 0 || cadenceGapMs.p95 <= 2000),
  };
}

const files = existsSync(CORPUS)
  ? readdirSync(CORPUS)
      .filter((f) => f.endsWith('.wav'))
      .map((f) => CORPUS + f)
  : [];

/** The server's /metrics text ('' when it cannot be read). */
async function metricsText(server: Server): Promise<string> {
  try {
    return await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
  } catch {
    return '';
  }
}

const metric = (text: string, name: string) =>
  Number(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);

/** The server's earshot_speaker_labelling_seconds_total (0 when it cannot be read). */
async function labellingSeconds(server: Server): Promise<number> {
  return metric(await metricsText(server), 'earshot_speaker_labelling_seconds_total');
}

/** Where inference time went during a level: engine calls, their mean size, service and queueing (server metrics). */
interface EngineStats {
  batches: number;
  meanBatch: number;
  meanServiceMs: number;
  meanQueueMs: number;
  /**
   * Early finals (decoded during the endpointing wait): used by their final, an interim, withdrawn unrun, run in
   * vain.
   */
  early: { used: number; interim: number; withdrawn: number; wasted: number };
  /** Windows decoded (the engine's work) and interims dropped unrun (superseded while queued). */
  windows: number;
  interimsDropped: number;
}

function engineDelta(before: string, after: string): EngineStats {
  const d = (name: string) => metric(after, name) - metric(before, name);
  const batches = d('earshot_batch_size_count');
  const per = (x: number) => (batches > 0 ? x / batches : 0);
  return {
    batches,
    meanBatch: per(d('earshot_batch_size_sum')),
    meanServiceMs: per(d('earshot_inference_seconds_sum{stage="batch"}') * 1000),
    meanQueueMs: per(d('earshot_queue_delay_seconds_sum') * 1000),
    early: {
      used: d('earshot_early_finals_total{outcome="used"}'),
      interim: d('earshot_early_finals_total{outcome="interim"}'),
      withdrawn: d('earshot_early_finals_total{outcome="withdrawn"}'),
      wasted: d('earshot_early_finals_total{outcome="wasted"}'),
    },
    windows: d('earshot_batch_size_sum'),
    interimsDropped: d('earshot_interims_coalesced'),
  };
}

async function level(server: Server, streams: number, spreadMs?: number): Promise<Level> {
  const labels0 = diarize ? await labellingSeconds(server) : 0;
  const metrics0 = await metricsText(server);
  const cpu0 = cpuSeconds(server.proc.pid!);
  const t0 = performance.now();
  let rss = rssMiB(server.proc.pid!);
  let admission: Level['admission'];
  let loopStallMs = 0;
  const sampler = setInterval(() => {
    rss = Math.max(rss, rssMiB(server.proc.pid!));
    void metricsText(server).then((text) => {
      loopStallMs = Math.max(loopStallMs, metric(text, 'nodejs_eventloop_lag_max_seconds') * 1000);
      const capacity = metric(text, 'earshot_admission_capacity_streams');
      if (!text.includes('earshot_admission_capacity_streams') || !Number.isFinite(capacity)) return;
      if (admission && admission.minCapacity <= capacity) return;
      admission = {
        minCapacity: capacity,
        decodeMs: metric(text, 'earshot_admission_decode_seconds') * 1000,
      };
    });
  }, 1000);
  const records = (await runClients({
    url: `ws://127.0.0.1:${server.port}/v1/listen?interim_results=${interims}&endpointing=${endpointing}${diarize ? '&diarize=true' : ''}`,
    streams,
    seconds,
    files,
    spreadMs,
  })) as StreamRecord[];
  clearInterval(sampler);
  const cpu = (cpuSeconds(server.proc.pid!) - cpu0) / ((performance.now() - t0) / 1000);
  const l = analyse(records, streams, cpu, rss, engineDelta(metrics0, await metricsText(server)));
  if (admission) l.admission = admission;
  l.loopStallMs = loopStallMs;
  if (diarize) {
    const admitted = records.filter((r) => !r.refused).length;
    l.labelMsPerStreamSecond =
      (((await labellingSeconds(server)) - labels0) * 1000) / Math.max(1, admitted * seconds);
  }
  process.stderr.write(
    `  ${streams} streams: final p95 ${Math.round(l.finalDelayMs.p95)} ms, cadence p95 ${Math.round(l.cadenceGapMs.p95)} ms, lag p95 ${l.lagS.p95.toFixed(2)} s, refused ${l.refused}, cpu ${(cpu * 100).toFixed(0)}%${admission ? `, admission held >= ${admission.minCapacity} (decode ${admission.decodeMs.toFixed(0)} ms)` : ''} -> ${l.pass ? 'pass' : 'FAIL'}\n`,
  );
  for (const why of l.refusedBecause) process.stderr.write(`    refused ${why}\n`);
  // A client sends each 100-ms frame on a schedule; far behind it, the machine starved the bench, not the server.
  if (l.clientLateMs > 250)
    process.stderr.write(
      `    clients sent audio up to ${Math.round(l.clientLateMs)} ms late: the machine starved the bench's clients, so finals look later than the server made them (see server final lag)\n`,
    );
  return l;
}

/**
 * The compute bound: what the engine sustains in isolation. A stream costs, per second, f/interval interim decodes
 * (f = speech fraction of the corpus, one interim per interval of speech; without interim_results only the long
 * utterances' share, as admission prices it) and u final decodes (u = finals per second: turns that end in a pause as
 * long as the endpointing). Each kind is priced at what the server's decode of it costs per window in batches of B:
 * the corpus's own windows (a final's whole utterance with the VAD pad, an interim's utterance so far) with the
 * session's options (a final's temperature fallback included: a model whose finals fall back pays for it, as a
 * random-weight one's often do). Bound = 1 s / cost per stream-second.
 */
async function computeBound(dir: string, batch: number): Promise<Bound> {
  const m = await WhisperModel.load(dir, { dtype: values.dtype as 'q8', threads: Number(values.threads) });
  const config = DEFAULT_SESSION_CONFIG;
  const { finals, interimWindows, speechFraction, finalsPerSecond } = await corpusWindows();
  const options = { wordTimestamps: true, compressionRatioThreshold: config.compressionRatioThreshold };
  const sample = (ws: WindowInput[], temperatures: readonly number[]) =>
    Array.from({ length: 2 * batch }, (_, i) => ({
      ...ws[Math.floor((i * ws.length) / (2 * batch))],
      temperatures,
    }));
  /** ms per window: two batches of windows spread over the corpus, the first run warming up. */
  const perWindow = async (ws: WindowInput[]) => {
    await decodeWindows(m, ws.slice(0, 1), options);
    const t0 = performance.now();
    for (let i = 0; i < ws.length; i += batch) await decodeWindows(m, ws.slice(i, i + batch), options);
    return (performance.now() - t0) / ws.length;
  };
  const finalMs = await perWindow(sample(finals, config.finalTemperatures));
  const interimMs = await perWindow(sample(interimWindows, [0]));
  await m.release();
  const f = speechFraction;
  const u = finalsPerSecond;
  const interimsPerSecond = ((interims ? f : f * SPEECH.longFraction) * 1000) / config.interimIntervalMs;
  const costPerStreamSecond = (interimsPerSecond * interimMs + u * finalMs) / 1000;
  return { bound: 1 / costPerStreamSecond, finalMs, interimMs, speechFraction: f, utterancesPerSecond: u };
}

interface CorpusWindows {
  finals: WindowInput[];
  interimWindows: WindowInput[];
  speechFraction: number;
  finalsPerSecond: number;
}
let corpusCache: Promise<CorpusWindows> | undefined;

/**
 * The windows the server decodes for the corpus, read once per run (the bound is measured before and after a
 * burst, and per mode): a final per turn that ends in a pause as long as the endpointing (shorter ones join turns
 * into one final), its utterance with the VAD pad; an interim every interim interval, its utterance so far.
 */
function corpusWindows(): Promise<CorpusWindows> {
  corpusCache ??= (async () => {
    const config = DEFAULT_SESSION_CONFIG;
    const pad = config.speechPadMs / 1000;
    const step = config.interimIntervalMs / 1000;
    let speech = 0;
    let total = 0;
    const finals: WindowInput[] = [];
    const interimWindows: WindowInput[] = [];
    for (const f of files) {
      const j = JSON.parse(readFileSync(f.replace(/\.wav$/, '.json'), 'utf8')) as {
        duration: number;
        segments: { start: number; end: number }[];
      };
      const audio = (await loadAudioFile(f)).samples16k;
      const at = (s: number) => Math.max(0, Math.min(audio.length, Math.round(s * SAMPLE_RATE)));
      total += j.duration;
      speech += j.segments.reduce((s, x) => s + x.end - x.start, 0);
      const segs = [...j.segments].sort((a, b) => a.start - b.start);
      let from = segs[0]?.start ?? 0;
      segs.forEach((x, i) => {
        if (i < segs.length - 1 && segs[i + 1].start - x.end < endpointing / 1000) return;
        finals.push({ audio: audio.slice(at(from - pad), at(x.end + pad)), offset: 0 });
        for (let t = from + step; t < x.end; t += step) {
          interimWindows.push({ audio: audio.slice(at(from - pad), at(t)), offset: 0 });
        }
        from = segs[i + 1]?.start ?? 0;
      });
    }
    return { finals, interimWindows, speechFraction: speech / total, finalsPerSecond: finals.length / total };
  })();
  return corpusCache;
}

interface Bound {
  bound: number;
  /** ms per window of the server's decode of a final, and of an interim, in batches of B. */
  finalMs: number;
  interimMs: number;
  speechFraction: number;
  utterancesPerSecond: number;
}

const describeBound = (b: Bound, batch: number) =>
  `compute bound at batch ${batch}: ${b.bound.toFixed(1)} streams (a final ${b.finalMs.toFixed(0)} ms per window, an interim ${b.interimMs.toFixed(0)} ms; speech ${(b.speechFraction * 100).toFixed(0)}%, ${b.utterancesPerSecond.toFixed(2)} finals/s at ${endpointing} ms endpointing)`;

async function capacity(run: Run): Promise<{ levels: Level[]; capacity: number; bound: Bound }> {
  const maxBatch = run.batch;
  const dir = await resolveModel(values.model, { dtype: values.dtype });
  const bound = await computeBound(dir, maxBatch);
  process.stderr.write(`${describeBound(bound, maxBatch)}\n`);
  const server = await startServer(serverArgs(run), run.root);
  const levels: Level[] = [];
  try {
    const steps = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 64];
    for (const n of steps) {
      const l = await level(server, n);
      levels.push(l);
      if (!l.pass) break;
    }
  } finally {
    await server.stop();
  }
  const passing = levels.filter((l) => l.pass);
  return { levels, capacity: passing.length ? passing[passing.length - 1].streams : 0, bound };
}

function serverArgs(run: Pick<Run, 'batch' | 'early' | 'riders'>): string[] {
  return [
    ...(run.riders === undefined ? [] : ['--riders', String(run.riders)]),
    '--early-finals',
    run.early,
    '--model',
    values.model,
    '--dtype',
    values.dtype,
    '--threads',
    values.threads,
    '--max-batch',
    String(run.batch),
    '--max-streams',
    '100000',
    '--admission-target',
    values.admission || values.join ? values['admission-target'] : '0',
  ];
}

function levelRow(l: Level): Record<string, string | number> {
  return {
    streams: l.streams,
    'final p50 ms': Math.round(l.finalDelayMs.p50),
    'final p95 ms': Math.round(l.finalDelayMs.p95),
    'final p99 ms': Math.round(l.finalDelayMs.p99),
    'server final lag p95 ms': Math.round(l.finalLagP95S * 1000),
    'client late ms': Math.round(l.clientLateMs),
    'loop stall ms': Math.round(l.loopStallMs),
    finals: l.finalDelayMs.n,
    missed: l.missedFinals,
    'cadence p95 ms': Math.round(l.cadenceGapMs.p95),
    'lag p95 s': +l.lagS.p95.toFixed(2),
    refused: l.refused,
    'cpu %': Math.round(l.serverCpu * 100),
    'rss MiB': Math.round(l.serverRssMiB),
    'mean batch': +l.engine.meanBatch.toFixed(1),
    'batch ms': Math.round(l.engine.meanServiceMs),
    'queued ms': Math.round(l.engine.meanQueueMs),
    'early used/interim/withdrawn/wasted': Object.values(l.engine.early).join('/'),
    'windows decoded': l.engine.windows,
    'interims dropped': l.engine.interimsDropped,
    ...(l.labelMsPerStreamSecond === undefined
      ? {}
      : { 'labels ms/stream-s': +l.labelMsPerStreamSecond.toFixed(1) }),
    ...(l.admission === undefined ? {} : { 'admission holds (min)': l.admission.minCapacity }),
    SLO: l.pass ? 'pass' : 'FAIL',
  };
}

/** A server configuration a run measures. */
interface Run {
  name: string;
  batch: number;
  diarize: boolean;
  early: string;
  /** --riders (unset: the server's choice from its calibration). */
  riders?: number;
  /** The checkout whose server runs (--baseline); default this one. */
  root?: string;
}

/** What the --compare-* flags set side by side (one server after the other in one run), or the one run asked for. */
function runsToCompare(batch: number): Run[] {
  const one = { batch, diarize, early: values['early-finals'] };
  if (values.baseline)
    return [
      { ...one, name: `baseline ${values.baseline}`, root: values.baseline },
      { ...one, name: 'this checkout' },
    ];
  if (values['compare-early-finals'])
    return [
      { ...one, name: 'early finals off', early: 'false' },
      { ...one, name: 'early finals on', early: 'true' },
    ];
  if (values['compare-riders'])
    return [
      { ...one, name: 'all ride', riders: batch },
      { ...one, name: 'riders as calibrated' },
    ];
  if (values['compare-batching'])
    return [
      { ...one, name: `batch ${batch}` },
      { ...one, name: 'batch 1', batch: 1 },
    ];
  if (values['compare-diarize'])
    return [
      { ...one, name: 'diarize off', diarize: false },
      { ...one, name: 'diarize on', diarize: true },
    ];
  return [{ ...one, name: `batch ${batch}${diarize ? ', diarize' : ''}, early finals ${one.early}` }];
}

const report: Record<string, unknown> = { options: values, endpointingMs: endpointing };

/**
 * Each run's server measured --rounds times, the servers alternating (A B A B ...): on a machine whose speed drifts,
 * each pair is measured close in time, and the median of the pairs' differences says more than two long runs far
 * apart.
 */
async function alternate(
  modes: Run[],
  measure: (server: Server) => Promise<Level>,
  row: (l: Level) => Record<string, string | number>,
): Promise<{ rows: Record<string, string | number>[]; levels: Record<string, Level[]> }> {
  const rounds = Math.max(1, Number(values.rounds));
  const rows: Record<string, string | number>[] = [];
  const levels: Record<string, Level[]> = {};
  for (let round = 1; round <= rounds; round++) {
    for (const m of modes) {
      process.stderr.write(`\n${m.name}${rounds > 1 ? `, round ${round}` : ''}\n`);
      diarize = m.diarize;
      const server = await startServer(serverArgs(m), m.root);
      const l = await measure(server);
      await server.stop();
      rows.push({ run: m.name, ...(rounds > 1 ? { round } : {}), ...row(l) });
      (levels[m.name] ??= []).push(l);
    }
  }
  return { rows, levels };
}

/** Second run minus first, the median over the rounds (only when two servers alternated more than once). */
function printPairedDifferences(levels: Record<string, Level[]>): void {
  const names = Object.keys(levels);
  const [a, b] = names.map((n) => levels[n]);
  if (names.length !== 2 || a.length < 2) return;
  const paired = (f: (l: Level) => number) =>
    quantile(
      a.map((x, i) => f(b[i]) - f(x)),
      0.5,
    );
  const diffs = {
    admitted: paired((l) => -l.refused),
    'final p50 ms': paired((l) => l.finalDelayMs.p50),
    'final p95 ms': paired((l) => l.finalDelayMs.p95),
    'server final lag p95 ms': paired((l) => l.finalLagP95S * 1000),
    'cadence p95 ms': paired((l) => l.cadenceGapMs.p95),
    'engine call ms': paired((l) => l.engine.meanServiceMs),
  };
  console.log(`\n${names[1]} minus ${names[0]}, median over ${a.length} paired rounds\n`);
  console.log(table([Object.fromEntries(Object.entries(diffs).map(([k, v]) => [k, Math.round(v)]))]));
  report.pairedDifferences = diffs;
}

if (values['idle-connections']) {
  const n = Number(values['idle-connections']);
  const rows: Record<string, string | number>[] = [];
  for (const transport of values.transports.split(',')) {
    const server = await startServer([
      ...serverArgs({ batch: 8, early: values['early-finals'] }),
      '--transport',
      transport,
      '--model',
      'synthetic:micro',
    ]);
    const before = rssMiB(server.proc.pid!);
    let row: Record<string, string | number> = {};
    await runClients(
      { url: `ws://127.0.0.1:${server.port}/v1/listen`, streams: n, seconds: 0, files: [], idle: true },
      async (msg) => {
        await new Promise((r) => setTimeout(r, 2000));
        const after = rssMiB(server.proc.pid!);
        row = {
          transport,
          connections: n - Number(msg.failed),
          failed: Number(msg.failed),
          'accept s': +(Number(msg.acceptMs) / 1000).toFixed(2),
          'rss before MiB': Math.round(before),
          'rss after MiB': Math.round(after),
          'KiB per connection': Math.round(((after - before) * 1024) / n),
        };
      },
    );
    await server.stop();
    rows.push(row);
  }
  console.log(`\n${n} idle /v1/listen connections\n`);
  console.log(table(rows));
  report.idle = rows;
} else if (values.join) {
  // A burst: N streams join spread apart, admission on. At 90% of the compute bound all should be admitted and
  // keep their finals within endpointing + 1 s.
  if (!files.length) throw new Error(`no corpus at ${CORPUS}`);
  const maxBatch = Number(values['max-batch']);
  const bound = await computeBound(await resolveModel(values.model, { dtype: values.dtype }), maxBatch);
  process.stderr.write(`${describeBound(bound, maxBatch)}\n`);
  const offered = values.join.endsWith('%')
    ? Math.max(1, Math.floor((bound.bound * Number(values.join.slice(0, -1))) / 100))
    : Number(values.join);
  const spreadMs = Number(values['join-spread-ms']);
  const { rows, levels } = await alternate(
    runsToCompare(maxBatch),
    (server) => level(server, offered, spreadMs),
    (l) => {
      const row: Record<string, string | number> = {
        offered,
        admitted: offered - l.refused,
        'compute bound': +bound.bound.toFixed(1),
        'offered/bound': +(offered / bound.bound).toFixed(2),
        ...levelRow(l),
      };
      delete row.streams;
      return row;
    },
  );
  // This machine's speed drifts: the bound measured again says whether the runs saw the engine the bound did.
  const boundAfter = await computeBound(await resolveModel(values.model, { dtype: values.dtype }), maxBatch);
  console.log(
    `\n${offered} streams joining ${spreadMs} ms apart (interim_results=${interims}, endpointing ${endpointing} ms, admission target ${values['admission-target']}), ${seconds} s; compute bound ${bound.bound.toFixed(1)} before the runs, ${boundAfter.bound.toFixed(1)} after\n`,
  );
  console.log(table(rows));
  printPairedDifferences(levels);
  report.join = { offered, spreadMs, interims, bound, boundAfter, levels };
} else if (values['find-capacity']) {
  if (!files.length) throw new Error(`no corpus at ${CORPUS}`);
  const runs: Record<string, Awaited<ReturnType<typeof capacity>>> = {};
  const batch = values['no-batching'] ? 1 : Number(values['max-batch']);
  const modes = runsToCompare(batch);
  for (const m of modes) {
    process.stderr.write(`\n${m.name}\n`);
    diarize = m.diarize;
    runs[m.name] = await capacity(m);
  }
  for (const [name, r] of Object.entries(runs)) {
    console.log(
      `\n${name}: capacity ${r.capacity} streams, compute bound ${r.bound.bound.toFixed(1)} -> capacity/bound ${(r.capacity / r.bound.bound).toFixed(2)}\n`,
    );
    console.log(table(r.levels.map(levelRow)));
  }
  if (modes.length === 2) {
    const [a, b] = Object.values(runs);
    const what = values.baseline
      ? 'this checkout/baseline'
      : values['compare-diarize']
        ? 'diarize on/off'
        : values['compare-early-finals']
          ? 'early finals on/off'
          : values['compare-riders']
            ? 'riders as calibrated/all ride'
            : 'batched/unbatched';
    const [x, y] = values['compare-batching'] ? [a, b] : [b, a];
    console.log(
      `\n${what} capacity: ${x.capacity}/${y.capacity} = ${(x.capacity / Math.max(1, y.capacity)).toFixed(2)}`,
    );
  }
  report.capacity = runs;
  const first = Object.values(runs)[0];
  writeFileSync(
    `${OUT_DIR}stream-latest.svg`,
    plotSvg(
      `earshot ${values.model.split(':').slice(0, 2).join(':')} ${values.dtype}: latency vs streams`,
      [
        {
          name: 'final delay p50 (s)',
          color: '#1f77b4',
          points: first.levels.map((l) => [l.streams, l.finalDelayMs.p50 / 1000]),
        },
        {
          name: 'final delay p95 (s)',
          color: '#d62728',
          points: first.levels.map((l) => [l.streams, l.finalDelayMs.p95 / 1000]),
        },
        { name: 'lag p95 (s)', color: '#2ca02c', points: first.levels.map((l) => [l.streams, l.lagS.p95]) },
      ],
      'seconds',
    ),
  );
} else {
  if (!files.length) throw new Error(`no corpus at ${CORPUS}`);
  const batch = values['no-batching'] ? 1 : Number(values['max-batch']);
  const { rows, levels } = await alternate(
    runsToCompare(batch),
    (server) => level(server, Number(values.streams)),
    levelRow,
  );
  console.log(`\n${values.streams} stream(s), ${seconds} s, endpointing ${endpointing} ms\n`);
  console.log(table(rows));
  printPairedDifferences(levels);
  report.levels = levels;
}
console.log(writeReport('stream', report));

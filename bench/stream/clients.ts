/**
 * Client side of the streaming benchmark, run in its own process so client CPU does not count as server CPU:
 * N WebSocket clients stream corpus conversations at real time (100 ms frames on a drift-free schedule) and record
 * when each message arrived. Prints one JSON line with every stream's record.
 *   node --import tsx bench/stream/clients.ts '{"url":..., "streams":N, "seconds":S, "files":[...]}'
 */
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { decodeWav } from '../../audio/wav.js';

interface Args {
  url: string;
  streams: number;
  seconds: number;
  files: string[];
  idle?: boolean;
  /** Streams join this far apart (a burst); otherwise starts are staggered over 3 s. */
  spreadMs?: number;
}
const args = JSON.parse(process.argv[2]) as Args;

export interface Segment {
  start: number;
  end: number;
}
export interface StreamRecord {
  refused: boolean;
  /** The server's reason for a refusal (the 503 body), so a bench run says which rule refused. */
  refusedBecause?: string;
  closeCode?: number;
  /** Wall clock (ms since the stream's t0) when the audio at stream time t was sent: t0 + offset + t*1000. */
  offsetMs: number;
  /**
   * How late (ms) this client sent its frames behind the microphone's schedule, at worst: a client process starved
   * of CPU sends audio late, and its finals then look late though the server was prompt.
   */
  sendLateMs: number;
  truth: Segment[];
  results: {
    at: number;
    final: boolean;
    speechFinal: boolean;
    start: number;
    end: number;
    lag: number;
    text: boolean;
  }[];
}

const FRAME = 0.1;
const clips = args.files.map((f) => {
  const a = decodeWav(readFileSync(f));
  const pcm = new Int16Array(a.samples.length);
  a.samples.forEach((v, i) => (pcm[i] = Math.round(Math.max(-1, Math.min(1, v)) * 32767)));
  const truth = (JSON.parse(readFileSync(f.replace(/\.wav$/, '.json'), 'utf8')) as { segments: Segment[] })
    .segments;
  return { pcm, duration: a.duration, truth };
});

async function runStream(i: number, t0: number): Promise<StreamRecord> {
  const clip = clips[i % clips.length];
  // Stagger starts so streams do not speak in lockstep.
  const offsetMs = args.spreadMs !== undefined ? i * args.spreadMs : (i * 997) % 3000;
  await new Promise((r) => setTimeout(r, offsetMs));
  const rec: StreamRecord = { refused: false, offsetMs, sendLateMs: 0, truth: [], results: [] };
  const ws = new WebSocket(args.url);
  const start = await new Promise<number | null>((resolve) => {
    ws.once('open', () => resolve(performance.now()));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d));
      res.on('end', () => {
        rec.refusedBecause = body.slice(0, 300);
        resolve(null);
      });
      res.on('error', () => resolve(null));
    });
    ws.once('error', () => resolve(null));
  });
  if (start === null) {
    rec.refused = true;
    return rec;
  }
  const closed = new Promise<void>((r) =>
    ws.once('close', (code) => {
      rec.closeCode = code;
      r();
    }),
  );
  ws.on('message', (d) => {
    const m = JSON.parse(String(d)) as {
      type: string;
      is_final?: boolean;
      speech_final?: boolean;
      start?: number;
      duration?: number;
      lag?: number;
      channel?: { alternatives: { transcript: string }[] };
    };
    if (m.type !== 'Results') return;
    rec.results.push({
      at: performance.now() - start,
      final: !!m.is_final,
      speechFinal: !!m.speech_final,
      start: m.start!,
      end: m.start! + m.duration!,
      lag: m.lag ?? 0,
      text: !!m.channel?.alternatives[0].transcript,
    });
  });
  rec.offsetMs = start - t0;
  const frameBytes = Math.round(16000 * FRAME) * 2;
  const bytes = new Uint8Array(clip.pcm.buffer);
  const frames = Math.round(args.seconds / FRAME);
  for (let k = 0; k < frames && ws.readyState === WebSocket.OPEN; k++) {
    const loop = Math.floor((k * frameBytes) / bytes.length);
    const at = (k * frameBytes) % bytes.length;
    if (at === 0)
      rec.truth.push(
        ...clip.truth.map((s) => ({
          start: s.start + loop * clip.duration,
          end: s.end + loop * clip.duration,
        })),
      );
    rec.sendLateMs = Math.max(rec.sendLateMs, performance.now() - (start + k * FRAME * 1000));
    ws.send(bytes.subarray(at, Math.min(bytes.length, at + frameBytes)));
    // Drift-free pacing: frame k+1 leaves at start + (k+1) * 100 ms.
    const wait = start + (k + 1) * FRAME * 1000 - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  // Truth segments must have been fully sent (plus their endpoint) to be judged.
  const sent = frames * FRAME;
  rec.truth = rec.truth.filter((s) => s.end + 1 < sent);
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'CloseStream' }));
  await Promise.race([closed, new Promise((r) => setTimeout(r, 30_000))]);
  ws.terminate();
  return rec;
}

async function idle(n: number): Promise<void> {
  const t0 = performance.now();
  const sockets: WebSocket[] = [];
  let failed = 0;
  for (let i = 0; i < n; i += 500) {
    const batch = Array.from({ length: Math.min(500, n - i) }, () => new WebSocket(args.url));
    await Promise.all(
      batch.map(
        (ws) =>
          new Promise<void>((r) => {
            ws.once('open', () => r());
            ws.once('error', () => (failed++, r()));
            ws.once('unexpected-response', () => (failed++, r()));
          }),
      ),
    );
    sockets.push(...batch);
  }
  const acceptMs = performance.now() - t0;
  process.stdout.write(`${JSON.stringify({ ready: true, acceptMs, failed })}\n`);
  const keepAlive = setInterval(() => {
    for (const ws of sockets) if (ws.readyState === WebSocket.OPEN) ws.send('{"type":"KeepAlive"}');
  }, 4000);
  // The parent measures, then tells us to stop by closing stdin.
  await new Promise((r) => process.stdin.once('end', r).resume());
  clearInterval(keepAlive);
  for (const ws of sockets) ws.terminate();
}

if (args.idle) {
  await idle(args.streams);
} else {
  const t0 = performance.now();
  const records = await Promise.all(Array.from({ length: args.streams }, (_, i) => runStream(i, t0)));
  process.stdout.write(`${JSON.stringify(records)}\n`);
}
process.exit(0);

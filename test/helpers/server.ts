import { pino } from 'pino';
import WebSocket from 'ws';
import { DEFAULTS, type ServerConfig } from '../../server/options.js';
import { startServer, type RunningServer, type StartOptions } from '../../server/serve.js';
import type { VadModel } from '../../models/vad/silero.js';
import { EarshotApp } from '../../server/app.js';
import { Metrics } from '../../server/metrics.js';
import type { AdmissionController } from '../../server/scheduling/admission.js';
import { InferenceScheduler } from '../../server/scheduling/scheduler.js';
import { fileTranscriber } from '../../server/scheduling/file-jobs.js';
import type { TranscriptStore } from '../../server/store/types.js';
import type { FakeEngine } from './fake-engine.js';
import type { SpeakerEmbedder } from '../../models/speaker/embedding.js';

export async function startTestServer(
  overrides: Partial<ServerConfig>,
  opts: StartOptions = {},
): Promise<RunningServer & { url: string; ws: string }> {
  // Tests keep transcripts in memory unless they ask for a store (the default file store writes to the home dir).
  const config: ServerConfig = {
    ...DEFAULTS,
    host: '127.0.0.1',
    port: 0,
    logLevel: 'silent',
    store: 'memory',
    ...overrides,
  };
  const s = await startServer(config, pino({ level: process.env.EARSHOT_TEST_LOG ?? 'silent' }), opts);
  return { ...s, url: `http://127.0.0.1:${s.port}`, ws: `ws://127.0.0.1:${s.port}` };
}

export interface Conversation {
  messages: Record<string, unknown>[];
  close: { code: number; reason: string };
}

const received = new WeakMap<WebSocket, Record<string, unknown>[]>();

/**
 * Opens /v1/listen, resolves once open (or rejects with the refusal's status, headers and body). Messages are
 * recorded from the start: the server's opening Metadata can arrive in the same packet as the handshake.
 */
export function connect(
  url: string,
  protocols?: string[],
  headers?: Record<string, string>,
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, headers ? { headers } : undefined);
    const messages: Record<string, unknown>[] = [];
    received.set(ws, messages);
    ws.on('message', (data, isBinary) => {
      if (!isBinary) messages.push(JSON.parse(String(data)) as Record<string, unknown>);
    });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d));
      res.on('end', () =>
        reject(
          Object.assign(new Error(`HTTP ${res.statusCode}`), {
            status: res.statusCode,
            headers: res.headers,
            body,
          }),
        ),
      );
    });
    ws.once('error', reject);
  });
}

/** Every message of the connection until the server closes the socket. */
export function collect(ws: WebSocket): Promise<Conversation> {
  const messages = received.get(ws)!;
  return new Promise((resolve) =>
    ws.once('close', (code, reason) => resolve({ messages, close: { code, reason: String(reason) } })),
  );
}

/** Sends audio like a microphone would, but faster: `speed` times real time. */
export async function sendPaced(
  ws: WebSocket,
  frames: Uint8Array[],
  bytesPerSecond: number,
  speed = 20,
): Promise<void> {
  for (const f of frames) {
    if (ws.readyState !== WebSocket.OPEN) return;
    ws.send(f);
    await new Promise((r) => setTimeout(r, (f.length / bytesPerSecond / speed) * 1000));
  }
}

/**
 * The app over a real uWS transport with an engine double (whose decodes a test holds and releases) and admission
 * that takes everything: streaming, files, store and resume behaviour without a model.
 */
export async function startAppWithEngine(parts: {
  vad: VadModel;
  engine: FakeEngine;
  store: TranscriptStore;
  speakerEmbedder?: SpeakerEmbedder;
}): Promise<{ app: EarshotApp; base: string }> {
  const admission = {
    decide: () => ({ ok: true }),
    admit: () => ({ ok: true }),
    interimBackoff: () => 1,
    ended: () => {},
  } as unknown as AdmissionController;
  const scheduler = new InferenceScheduler(parts.engine, { batchWindowMs: 0 });
  const app: EarshotApp = new EarshotApp({
    config: { ...DEFAULTS, host: '127.0.0.1', port: 0, transport: 'uws' },
    log: pino({ level: process.env.EARSHOT_TEST_LOG ?? 'silent' }),
    scheduler,
    vad: parts.vad,
    store: parts.store,
    speakerEmbedder: parts.speakerEmbedder,
    model: { uuid: 'u', name: 'fake', version: '0', arch: 'whisper' },
    // Files go through the engine too.
    transcribe: fileTranscriber({ vad: parts.vad, scheduler, inFlight: 4 }),
    admission,
    metrics: new Metrics({ activeStreams: () => app.sessions.size, coalesced: () => 0, queued: () => 0 }),
  });
  const { port } = await app.start();
  return { app, base: `ws://127.0.0.1:${port}/v1/listen` };
}

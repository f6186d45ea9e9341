import { InferenceScheduler } from '../../server/scheduling/scheduler.js';
import { inProcessLabels, type LiveLabellers } from '../../models/speaker/live-labels.js';
import type { SpeakerEmbedder } from '../../models/speaker/embedding.js';
import type { VadModel } from '../../models/vad/silero.js';
import { parseListenParams } from '../../server/params.js';
import {
  DEFAULT_SESSION_CONFIG,
  StreamSession,
  type SessionConfig,
  type SessionDeps,
} from '../../server/stream/session.js';
import { MemoryStore } from '../../server/store/memory.js';
import { openStream, type LiveStream } from '../../server/stream/channels.js';
import { FakeEngine } from './fake-engine.js';

/** What a session sent, as the client parses it. */
export interface Msg {
  type: string;
  is_final?: boolean;
  speech_final?: boolean;
  from_finalize?: boolean;
  end_reason?: string;
  start?: number;
  duration?: number;
  seq?: number;
  timestamp?: number;
  request_id?: string;
  metadata?: { request_id: string };
  err_code?: string;
  description?: string;
  session?: string;
  resumed?: boolean;
  last_seq?: number;
  committed_until?: number;
  /** diarize=true: the speaker of most of a final. */
  speaker?: number;
  channel_index?: [number, number];
  /** Metadata: the stream's channel count. */
  channels?: number;
  channel?: {
    alternatives: {
      transcript: string;
      words: { word: string; start: number; end: number; speaker?: number; speaker_confidence?: number }[];
    }[];
  };
}

interface LogLine {
  level: 'info' | 'warn' | 'error';
  o: object;
  msg?: string;
}

interface HarnessOptions {
  config?: Partial<SessionConfig>;
  engine?: FakeEngine;
  store?: MemoryStore;
  send?: SessionDeps['send'];
  buffered?: () => number;
  resume?: { timeOffset: number; seqStart: number; speakers?: unknown };
  embedder?: SpeakerEmbedder;
  /** The speaker labellers (default: in-process, on `embedder`). */
  labels?: LiveLabellers;
  knownSpeakers?: SessionDeps['knownSpeakers'];
  observe?: SessionDeps['observe'];
}

/**
 * A StreamSession on the fake engine (real PCM decoding, resampling and Silero VAD), its store and what it sent,
 * closed with and logged. `send`/`buffered` stand in for the transport.
 */
export function sessionHarness(vad: VadModel, qs: string, opts: HarnessOptions = {}) {
  return harness((d) => new StreamSession(d), vad, qs, opts);
}

/** sessionHarness for the stream the server opens for `qs` (multichannel=true: one session per channel). */
export function streamHarness(vad: VadModel, qs: string, opts: HarnessOptions = {}) {
  const closes: { code: number; reason: string }[] = [];
  const h = harness<LiveStream>(openStream, vad, qs, opts, (c) => closes.push(c));
  return { ...h, closes };
}

function harness<S extends { start(): void }>(
  make: (d: SessionDeps) => S,
  vad: VadModel,
  qs: string,
  opts: HarnessOptions,
  onClose?: (c: { code: number; reason: string }) => void,
) {
  const engine = opts.engine ?? new FakeEngine();
  const scheduler = new InferenceScheduler(engine, { batchWindowMs: 0 });
  const store = opts.store ?? new MemoryStore();
  const messages: Msg[] = [];
  const logs: LogLine[] = [];
  let closed: { code: number; reason: string } | null = null;
  let resolveClosed: () => void;
  const closedP = new Promise<void>((r) => (resolveClosed = r));
  const log = (level: LogLine['level']) => (o: object, msg?: string) => logs.push({ level, o, msg });
  const id = 'sess-1';
  const session = make({
    id,
    params: parseListenParams(new URLSearchParams(qs), { endpointingMs: 500 }),
    config: { ...DEFAULT_SESSION_CONFIG, ...opts.config },
    model: { uuid: 'u', name: 'fake', version: '0', arch: 'whisper' },
    vad,
    store,
    scheduler,
    send: (m) => {
      messages.push(JSON.parse(JSON.stringify(m)) as Msg);
      return opts.send ? opts.send(m) : 'ok';
    },
    bufferedAmount: opts.buffered ?? (() => 0),
    close: (code, reason) => {
      closed = { code, reason };
      onClose?.(closed);
      resolveClosed();
    },
    log: { info: log('info'), warn: log('warn'), error: log('error') },
    timeOffset: opts.resume?.timeOffset,
    seqStart: opts.resume?.seqStart,
    speakers: opts.resume?.speakers,
    labels: opts.labels ?? (opts.embedder && inProcessLabels(opts.embedder)),
    knownSpeakers: opts.knownSpeakers,
    observe: opts.observe,
    resumed: opts.resume !== undefined,
  });
  void store.open({
    id,
    subject: '',
    created: '',
    status: 'live',
    duration: opts.resume?.timeOffset ?? 0,
    committed: opts.resume?.timeOffset ?? 0,
    lastSeq: opts.resume?.seqStart ?? 0,
    params: {},
  });
  session.start();
  return { id, session, engine, store, messages, logs, closedP, closed: () => closed, scheduler };
}

export const finals = (m: readonly Msg[]) => m.filter((x) => x.type === 'Results' && x.is_final);
export const wordsOf = (m: Msg) => m.channel!.alternatives[0].words;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

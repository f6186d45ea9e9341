/**
 * Where a session's live speaker labels are computed: in-process (tests, tools), or on one worker thread shared by
 * every session (the server), so that a final's embedding and clustering never stall the event loop: sockets,
 * VAD and the scheduler keep running while a final is labelled, and only that final waits for its labels.
 */
import type { Worker } from 'node:worker_threads';
import type { TimeSpan } from '../../audio/span.js';
import { BuiltinEmbedder } from './builtin.js';
import type { OnlineClusterState } from './cluster.js';
import type { SpeakerEmbedder } from './embedding.js';
import { type LabeledFinal, LiveDiarizer } from './live.js';
import { loadOnnxEmbedder } from './onnx.js';
import { PendingCalls, startWorker } from '../worker.js';

/**
 * A final whose audio starts on a multiple of this stream sample (20 ms) is labelled from what the embedder made
 * of the session's audio as it was heard (the built-in's frame analysis): only the clip-level work is left.
 */
export const LABEL_GRID = 320;
/** Heard audio goes to the labelling thread in batches of at least this many samples (200 ms). */
const HEAR_BATCH = 3200;

/** One session's labeller. */
export interface LiveLabels {
  /** `at`: the stream sample audio[0] is, in hear()'s numbering; `speech`: its speech regions (stream time). */
  labelFinal(
    audio: Float32Array,
    start: number,
    words: readonly TimeSpan[],
    at?: number,
    speech?: readonly TimeSpan[],
  ): Promise<LabeledFinal>;
  /** The session's audio from stream sample `at` on, as it arrives (LiveDiarizer.hear). */
  hear(samples: Float32Array, at: number): void;
  /** The clustering to store with the session (resume); undefined before the first final of a fresh session. */
  readonly state: OnlineClusterState | undefined;
  /** Milliseconds spent computing this session's labels so far (the work, not the wait for the thread). */
  readonly workMs: number;
  close(): void;
}

export interface LiveLabellers {
  /** `state` must be valid (OnlineClusterer accepts it): a worker could only refuse it later. */
  open(opts: { maxSpeakers?: number }, state?: OnlineClusterState): LiveLabels;
  release(): Promise<void>;
}

/** How to make the embedder, where a live instance cannot be passed (to a worker thread). */
export type EmbedderSource = { kind: 'builtin' } | { kind: 'onnx'; path: string };

export function makeEmbedder(source: EmbedderSource): Promise<SpeakerEmbedder> {
  return source.kind === 'builtin' ? Promise.resolve(new BuiltinEmbedder()) : loadOnnxEmbedder(source.path);
}

/** Labels computed on the calling thread. */
export function inProcessLabels(embedder: SpeakerEmbedder): LiveLabellers {
  return {
    open(opts, state) {
      const live = new LiveDiarizer(embedder, opts, state);
      let workMs = 0;
      return {
        labelFinal: async (audio, start, words, at, speech) => {
          const t0 = performance.now();
          const final = await live.labelFinal(audio, start, words, at, speech);
          workMs += performance.now() - t0;
          return final;
        },
        hear: (samples, at) => {
          const t0 = performance.now();
          live.hear(samples, at);
          workMs += performance.now() - t0;
        },
        get state() {
          return live.state;
        },
        get workMs() {
          return workMs;
        },
        close() {},
      };
    },
    release: () => Promise.resolve(),
  };
}

/** Messages to the worker (live-worker.ts). */
export type ToWorker =
  | { op: 'open'; session: number; maxSpeakers?: number; state?: OnlineClusterState }
  | {
      op: 'label';
      call: number;
      session: number;
      audio: Float32Array;
      start: number;
      words: TimeSpan[];
      at?: number;
      speech?: TimeSpan[];
    }
  | { op: 'hear'; session: number; samples: Float32Array; at: number }
  | { op: 'close'; session: number };

/**
 * Replies: a labelled final with the session's clustering after it and the ms it took (with the session's heard
 * audio since the last reply), or why it failed.
 */
export type FromWorker =
  | { call: number; final: LabeledFinal; state: OnlineClusterState; ms: number }
  | { call: number; error: string };

/**
 * Every session's diarizer on one worker thread. The thread is started on first use and again after it dies: a
 * session re-opens on the new one from the last clustering it was sent, so a crash costs the finals in flight their
 * labels (the caller keeps the words), never the session's speaker numbers.
 */
export class LabelThread implements LiveLabellers {
  private worker: Worker | null = null;
  private generation = 0;
  private nextSession = 0;
  private readonly pending = new PendingCalls<{
    final: LabeledFinal;
    state: OnlineClusterState;
    ms: number;
  }>();

  constructor(private readonly source: EmbedderSource) {}

  open(opts: { maxSpeakers?: number }, initial?: OnlineClusterState): LiveLabels {
    const session = this.nextSession++;
    let state = initial;
    let workMs = 0;
    let openedOn = -1;
    const ensureOpen = () => {
      const worker = this.thread();
      if (openedOn !== this.generation) {
        this.post({ op: 'open', session, maxSpeakers: opts.maxSpeakers, state });
        openedOn = this.generation;
      }
      return worker;
    };
    /** Heard audio not yet posted: small packets go over in batches. */
    let heard: Float32Array[] = [];
    let heardAt = 0;
    let heardLength = 0;
    const postHeard = () => {
      if (heardLength === 0) return;
      const samples = new Float32Array(heardLength);
      let o = 0;
      for (const h of heard) {
        samples.set(h, o);
        o += h.length;
      }
      heard = [];
      heardLength = 0;
      ensureOpen();
      this.post({ op: 'hear', session, samples, at: heardAt });
    };
    return {
      hear: (samples, at) => {
        // Only the built-in embedder analyses audio ahead (EmbeddingContext.hear): an ONNX session's audio would be
        // copied to the thread for nothing.
        if (this.source.kind !== 'builtin') return;
        if (heardLength > 0 && at !== heardAt + heardLength) postHeard();
        if (heardLength === 0) heardAt = at;
        // A copy: the caller's samples may be reused.
        heard.push(samples.slice());
        heardLength += samples.length;
        if (heardLength >= HEAR_BATCH) postHeard();
      },
      labelFinal: async (audio, start, words, at, speech) => {
        // What was heard up to the final goes first: the thread analyses it before the final.
        postHeard();
        ensureOpen();
        // A final awaiting its labels keeps the process alive; an idle thread does not.
        const { call, reply } = this.pending.open(this.worker);
        // A copy: the caller's audio may be a view of the stream's ring buffer.
        this.post({
          op: 'label',
          call,
          session,
          audio: audio.slice(),
          start,
          words: words.map(span),
          at,
          ...(speech ? { speech: speech.map(span) } : {}),
        });
        const r = await reply;
        state = r.state;
        workMs += r.ms;
        return r.final;
      },
      get state() {
        return state;
      },
      get workMs() {
        return workMs;
      },
      close: () => {
        if (this.worker && openedOn === this.generation) this.post({ op: 'close', session });
      },
    };
  }

  async release(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }

  private post(msg: ToWorker): void {
    const transfer =
      msg.op === 'label'
        ? [msg.audio.buffer as ArrayBuffer]
        : msg.op === 'hear'
          ? [msg.samples.buffer as ArrayBuffer]
          : [];
    this.thread().postMessage(msg, transfer);
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const worker = startWorker('./live-worker', import.meta.url, this.source);
    this.generation++;
    worker.on('message', (m: FromWorker) =>
      this.pending.settle(worker, m.call, 'error' in m ? { error: new Error(m.error) } : { value: m }),
    );
    const died = (err: Error) => {
      if (this.worker !== worker) return;
      this.worker = null;
      this.pending.failAll(err);
    };
    worker.on('error', died);
    worker.on('exit', (code) => died(new Error(`the speaker labelling thread exited (${code})`)));
    worker.unref();
    this.worker = worker;
    return worker;
  }
}

const span = (w: TimeSpan): TimeSpan => ({ start: w.start, end: w.end });

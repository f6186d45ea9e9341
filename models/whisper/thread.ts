/**
 * A Whisper model on a worker thread of its own: the server's engine. onnxruntime-node runs each graph
 * synchronously on the thread that calls it, so on the main thread an encoder call (hundreds of ms on a CPU) would
 * hold up every socket read, VAD frame and timer: audio would pile up unread and endpoints be found late. Here the
 * main thread only posts windows and receives results; decodes run one at a time, in order, as the scheduler sends
 * them. A thread that dies fails the decodes it held and is started again by the next one.
 */
import type { Worker } from 'node:worker_threads';
import { ModelLoadError } from '../errors.js';
import type { Device } from '../onnx/session.js';
import { PendingCalls, startWorker } from '../worker.js';
import type { TimingObserver, WhisperEngine } from './engine.js';
import { readModelDir, type ModelDir } from './model-dir.js';
import { loadTokenizer, type WhisperLoadOptions } from './runtime.js';
import type { WhisperTokenizer } from './tokenizer.js';
import type { DecodeOptions, WindowInput, WindowResult } from './transcribe.js';

/** What the thread is started with (thread-worker.ts). */
export interface ThreadData {
  files: ModelDir;
  opts: Omit<WhisperLoadOptions, 'warn'>;
}

export type ToThread =
  { op: 'decode'; call: number; windows: WindowInput[]; opts: DecodeOptions } | { op: 'release' };

/** An error as it crosses threads: a class does not survive structured cloning. */
export interface ErrorInfo {
  name: string;
  message: string;
  path?: string;
}

export type FromThread =
  | { op: 'ready'; device: Device }
  | { op: 'failed'; error: ErrorInfo }
  | { op: 'warn'; message: string }
  | { op: 'timing'; stage: 'encoder' | 'decoder_step'; ms: number; rows: number }
  | { op: 'done'; call: number; results: WindowResult[] }
  | { op: 'error'; call: number; error: ErrorInfo }
  | { op: 'released' };

export function errorInfo(err: unknown): ErrorInfo {
  const e = err instanceof Error ? err : new Error(String(err));
  const path = (e as { path?: unknown }).path;
  return { name: e.name, message: e.message, ...(typeof path === 'string' ? { path } : {}) };
}

function toError(info: ErrorInfo): Error {
  if (info.name === 'ModelLoadError') return new ModelLoadError(info.message, info.path);
  return Object.assign(new Error(info.message), { name: info.name });
}

export class WhisperThread implements WhisperEngine {
  onTiming?: TimingObserver;
  private worker: Worker | null = null;
  private starting: Promise<Worker> | null = null;
  private readonly pending = new PendingCalls<WindowResult[]>();
  private released = false;

  private constructor(
    readonly files: ModelDir,
    readonly tokenizer: WhisperTokenizer,
    private readonly opts: WhisperLoadOptions,
    private loadedOn: Device,
  ) {}

  get device(): Device {
    return this.loadedOn;
  }

  /** Loads the model on a new thread; rejects as WhisperModel.load would (ModelLoadError) when it cannot. */
  static async start(dir: string | ModelDir, opts: WhisperLoadOptions = {}): Promise<WhisperThread> {
    const files = typeof dir === 'string' ? readModelDir(dir, opts.dtype) : dir;
    const thread = new WhisperThread(files, loadTokenizer(files), opts, opts.device ?? 'cpu');
    await thread.thread();
    return thread;
  }

  async decodeWindows(windows: readonly WindowInput[], opts: DecodeOptions): Promise<WindowResult[]> {
    if (this.released) throw new Error('the inference thread was released');
    const worker = await this.thread();
    // Copies: a window is often a view of a longer recording or of a stream's buffer, and a view would carry its
    // whole buffer across; the copies are moved, not cloned again.
    const sent = windows.map((w) => ({ ...w, audio: w.audio.slice() }));
    const { call, reply } = this.pending.open(worker);
    worker.postMessage({ op: 'decode', call, windows: sent, opts } satisfies ToThread, [
      ...sent.map((w) => w.audio.buffer as ArrayBuffer),
    ]);
    return reply;
  }

  async release(): Promise<void> {
    this.released = true;
    const worker = this.worker ?? (await this.starting?.catch(() => null)) ?? null;
    this.worker = null;
    if (!worker) return;
    // The sessions are released on their own thread (their native memory), then the thread ends.
    const done = new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 5000);
      worker.on('message', (m: FromThread) => {
        if (m.op !== 'released') return;
        clearTimeout(t);
        resolve();
      });
    });
    worker.postMessage({ op: 'release' } satisfies ToThread);
    await done;
    await worker.terminate();
  }

  /** The running thread, or a new one once its model has loaded. */
  private thread(): Promise<Worker> {
    if (this.worker) return Promise.resolve(this.worker);
    this.starting ??= this.spawn().finally(() => (this.starting = null));
    return this.starting;
  }

  private spawn(): Promise<Worker> {
    const { warn, ...opts } = this.opts;
    const worker = startWorker('./thread-worker', import.meta.url, {
      files: this.files,
      opts,
    } satisfies ThreadData);
    return new Promise<Worker>((resolve, reject) => {
      let ready = false;
      worker.on('message', (m: FromThread) => {
        switch (m.op) {
          case 'ready':
            ready = true;
            this.loadedOn = m.device;
            this.worker = worker;
            worker.unref();
            resolve(worker);
            return;
          case 'failed':
            reject(toError(m.error));
            void worker.terminate();
            return;
          case 'warn':
            warn?.(m.message);
            return;
          case 'timing':
            this.onTiming?.(m.stage, m.ms, m.rows);
            return;
          case 'done':
          case 'error':
            this.pending.settle(
              worker,
              m.call,
              m.op === 'done' ? { value: m.results } : { error: toError(m.error) },
            );
            return;
        }
      });
      const died = (err: Error) => {
        if (!ready) reject(err);
        if (this.worker !== worker) return;
        this.worker = null;
        this.pending.failAll(err);
        if (!this.released) warn?.(`${err.message}: it starts again with the next decode`);
      };
      worker.on('error', died);
      worker.on('exit', (code) => died(new Error(`the inference thread exited (code ${code})`)));
    });
  }
}

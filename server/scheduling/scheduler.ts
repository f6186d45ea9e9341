import type { DecodeOptions, WindowInput, WindowResult } from '../../models/whisper/transcribe.js';
import { SAMPLE_RATE } from '../../audio/rate.js';
import type { CallCost } from './admission.js';

/** What the scheduler runs: the engine's batched window decode (a test double in pipeline tests). */
export interface BatchEngine {
  decodeWindows(windows: readonly WindowInput[], opts: DecodeOptions): Promise<WindowResult[]>;
}

/**
 * In priority order: a final; an early final (decoded during its endpointing wait, wanted only if the pause goes on
 * to the endpoint, which promotes it); an interim.
 */
export type JobKind = 'final' | 'early' | 'interim';
const PRIORITY: Record<JobKind, number> = { final: 0, early: 1, interim: 2 };

export interface TranscribeJob {
  session: string;
  kind: JobKind;
  window: WindowInput;
  /** Jobs batch together only when these agree (the per-window language and prompt may differ). */
  options: DecodeOptions;
  /** Aborted while still queued, the job leaves the queue and resolves null (a running one runs to the end). */
  signal?: AbortSignal;
  /**
   * Speculative (an early final nothing would use if the speech goes on): it runs only when nothing else is
   * queued, in a call of its own. On a CPU every window lengthens the call it rides in: speculation may only take
   * engine time nobody wanted. Promoted, it is a final like any other.
   */
  ifIdle?: boolean;
}

export interface BatchInfo {
  size: number;
  finals: number;
  interims: number;
  /** Milliseconds the oldest job of the batch waited in the queue. */
  queueDelayMs: number;
  /** Milliseconds the engine took. */
  serviceMs: number;
  /** Seconds of audio decoded. */
  audioSeconds: number;
}

export interface SchedulerOptions {
  /** Most windows per engine call. */
  maxBatch?: number;
  /**
   * Most interims a call carries beside finals and early finals (a call of interims alone is filled). Default
   * maxBatch. See ridersFor: where a window costs about a whole call, riders only delay the finals.
   */
  riders?: number;
  /**
   * An interim queued this long (ms) rides whatever `riders` says. Default 700: asked each second, its stream's
   * captions then still move within about 2 s (bench:scheduler: at 90 % of the bound, final p95 halves against all
   * riding, interim cadence p95 stays under 2 s; with no such limit it passed 2.5 s).
   */
  lateInterimMs?: number;
  /** How long an idle scheduler waits for more jobs before running a partial batch. */
  batchWindowMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  onBatch?: (info: BatchInfo) => void;
}

interface Queued {
  job: TranscribeJob;
  key: string;
  at: number;
  seq: number;
  resolve: (r: WindowResult | null) => void;
  reject: (err: unknown) => void;
}

/**
 * One queue shared by every session. Finals go before interims; a newer interim of a session replaces its queued
 * one (it would be stale anyway); sessions take turns (round-robin by last service); one engine call runs at a
 * time, with up to maxBatch compatible windows, of which only `riders` interims beside finals. A session with
 * nothing queued costs nothing.
 */
export class InferenceScheduler {
  private queue: Queued[] = [];
  private running = false;
  private seq = 0;
  private lastServed = new Map<string, number>();
  private readonly maxBatch: number;
  private readonly riders: number;
  private readonly lateInterimMs: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  /** Engine time only (not the batch-window wait): what admission control measures. */
  private engineSince: number | null = null;
  private engineTotal = 0;
  private idleWaiters: (() => void)[] = [];
  /** Queued interims that left unrun: a newer one of their session came, or its final, or it closed (cumulative). */
  coalesced = 0;
  /** Queued jobs withdrawn by their signal before they ran (cumulative). */
  withdrawn = 0;
  /** Windows the engine has finished (or failed): with doneBusyMs(), the engine seconds a decode costs. */
  windowsDone = 0;
  /** Engine calls finished (or failed): separates a call's fixed cost from its cost per window. */
  callsDone = 0;

  constructor(
    private readonly engine: BatchEngine,
    private readonly opts: SchedulerOptions = {},
  ) {
    this.maxBatch = Math.max(1, opts.maxBatch ?? 8);
    this.riders = Math.max(0, Math.min(this.maxBatch, opts.riders ?? this.maxBatch));
    this.lateInterimMs = opts.lateInterimMs ?? 700;
    this.windowMs = Math.max(0, opts.batchWindowMs ?? 5);
    this.now = opts.now ?? (() => performance.now());
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /**
   * Resolves with the window's result, or null when a newer interim of the same session superseded it or its
   * signal aborted it before it ran.
   */
  submit(job: TranscribeJob): Promise<WindowResult | null> {
    return new Promise((resolve, reject) => {
      if (job.signal?.aborted) return resolve(null);
      if (job.kind === 'interim') {
        const i = this.queue.findIndex((q) => q.job.session === job.session && q.job.kind === 'interim');
        if (i >= 0) {
          this.queue[i].resolve(null);
          this.queue.splice(i, 1);
          this.coalesced++;
        }
      }
      const queued: Queued = {
        job,
        key: optionsKey(job.options),
        at: this.now(),
        seq: this.seq++,
        resolve,
        reject,
      };
      this.queue.push(queued);
      job.signal?.addEventListener('abort', () => this.withdraw(queued), { once: true });
      void this.pump();
    });
  }

  /** An early final whose endpoint came: a final from now on (it keeps its place in the queue). */
  promote(job: TranscribeJob): void {
    job.kind = 'final';
  }

  /** An aborted job still queued leaves the queue unanswered (null); once picked it runs. */
  private withdraw(q: Queued): void {
    const i = this.queue.indexOf(q);
    if (i < 0) return;
    this.queue.splice(i, 1);
    this.withdrawn++;
    q.resolve(null);
  }

  /**
   * Drops a session's queued interims: it closed, or asked for the final of their audio (its finals still run:
   * they are never dropped).
   */
  dropInterims(session: string): void {
    this.queue = this.queue.filter((q) => {
      if (q.job.session !== session || q.job.kind !== 'interim') return true;
      q.resolve(null);
      this.coalesced++;
      return false;
    });
  }

  get queued(): number {
    return this.queue.length;
  }
  get busy(): boolean {
    return this.running;
  }
  /** Milliseconds the engine has been busy since the scheduler started (for utilisation). */
  busyMs(): number {
    return this.engineTotal + (this.engineSince === null ? 0 : this.now() - this.engineSince);
  }
  /**
   * Busy time of the finished engine calls only: the cost of the windows counted by windowsDone (busyMs() also
   * holds the running call, whose windows are not counted yet, which inflates a cost per window measured early).
   */
  doneBusyMs(): number {
    return this.engineTotal;
  }
  /** Age in ms of the oldest queued job of a kind (0 when none). */
  oldestWaitMs(kind?: JobKind): number {
    const q = this.queue.filter((x) => !kind || x.job.kind === kind);
    return q.length ? this.now() - Math.min(...q.map((x) => x.at)) : 0;
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0) {
        if (this.windowMs > 0 && this.queue.length < this.maxBatch) await this.sleep(this.windowMs);
        // The wait may have emptied the queue (a closed stream's interims dropped, a newer interim replacing one).
        const batch = this.pick();
        if (batch.length > 0) await this.runBatch(batch);
      }
    } finally {
      this.running = false;
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /**
   * Finals first (oldest first), then early finals, then interims; round-robin between sessions; one options key per
   * batch.
   */
  pick(): Queued[] {
    const served = (s: string) => this.lastServed.get(s) ?? -1;
    if (this.queue.length === 0) return [];
    // Speculation waits while anything else is queued (see TranscribeJob.ifIdle).
    const wanted = this.queue.filter((q) => !speculative(q.job));
    const ordered = (wanted.length > 0 ? wanted : [...this.queue]).sort((a, b) => {
      if (a.job.kind !== b.job.kind) return PRIORITY[a.job.kind] - PRIORITY[b.job.kind];
      if (a.job.kind === 'interim') {
        const d = served(a.job.session) - served(b.job.session);
        if (d !== 0) return d;
      }
      return a.seq - b.seq;
    });
    const key = ordered[0].key;
    const batch: Queued[] = [];
    if (speculative(ordered[0].job)) {
      this.queue.splice(this.queue.indexOf(ordered[0]), 1);
      return [ordered[0]];
    }
    const taken = new Set<Queued>();
    // Within a kind, rounds of one job per session until the call is full.
    const fill = (kind: JobKind, limit: number, when: (q: Queued) => boolean = () => true) => {
      const pool = ordered.filter((q) => q.key === key && q.job.kind === kind && !taken.has(q) && when(q));
      let picked = 0;
      while (batch.length < limit && picked < pool.length) {
        const round = new Set<string>();
        for (const q of pool) {
          if (batch.length >= limit) break;
          if (taken.has(q) || round.has(q.job.session)) continue;
          round.add(q.job.session);
          taken.add(q);
          batch.push(q);
          picked++;
        }
      }
    };
    // Early finals are finals-to-be (their head start is what makes a final prompt): they batch like finals.
    fill('final', this.maxBatch);
    fill('early', this.maxBatch);
    // An interim that has waited long rides anyway: its stream's captions would stall behind other streams' finals.
    const late = this.now() - this.lateInterimMs;
    fill('interim', this.maxBatch, (q) => q.at <= late);
    // Interims alone fill the call: a final arriving meanwhile waits for it, but interims of several streams
    // in one call keep every stream's captions moving (bench:scheduler: one per call cost cadence, not finals' p95).
    fill('interim', batch.length > 0 ? Math.min(this.maxBatch, batch.length + this.riders) : this.maxBatch);
    this.queue = this.queue.filter((q) => !taken.has(q));
    return batch;
  }

  private async runBatch(batch: Queued[]): Promise<void> {
    const start = this.now();
    const stamp = this.seq;
    for (const q of batch) this.lastServed.set(q.job.session, stamp);
    this.engineSince = start;
    try {
      const results = await this.engine.decodeWindows(
        batch.map((q) => q.job.window),
        batch[0].job.options,
      );
      const end = this.now();
      this.engineTotal += end - start;
      this.engineSince = null;
      this.windowsDone += batch.length;
      this.callsDone++;
      this.opts.onBatch?.({
        size: batch.length,
        finals: batch.filter((q) => q.job.kind === 'final').length,
        interims: batch.filter((q) => q.job.kind === 'interim').length,
        queueDelayMs: start - Math.min(...batch.map((q) => q.at)),
        serviceMs: end - start,
        audioSeconds: batch.reduce((s, q) => s + q.job.window.audio.length / SAMPLE_RATE, 0),
      });
      batch.forEach((q, i) => q.resolve(results[i]));
    } catch (err) {
      if (this.engineSince !== null) this.engineTotal += this.now() - this.engineSince;
      this.engineSince = null;
      this.windowsDone += batch.length;
      this.callsDone++;
      for (const q of batch) q.reject(err);
    }
  }
}

/**
 * How many interims may ride in a call beside finals: as many as together cost no more than the call's fixed part.
 * A GPU's fixed part dwarfs a window's (riders come almost free: all of a batch); on a CPU a window costs about a
 * whole call (an encoder call on 2 cores: 244 ms for one window, 230 ms per window at batch 8), so each rider would
 * delay the finals by a call's length for a few per cent: none ride.
 */
export function ridersFor(cost: CallCost, maxBatch: number): number {
  if (!(cost.window > 0)) return maxBatch;
  return Math.max(0, Math.min(maxBatch, Math.floor(cost.call / cost.window)));
}

/** An early final that runs only on an idle engine (a promoted one is a final: it always runs). */
const speculative = (job: TranscribeJob) => job.kind === 'early' && job.ifIdle === true;

function optionsKey(o: DecodeOptions): string {
  return JSON.stringify([o.task, o.language, o.prompt, o.wordTimestamps, o.temperatures, o.maxNewTokens]);
}

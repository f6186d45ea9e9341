// Per-subject and per-address limits: what is refused before work starts and what stops a live stream. Status
// and close codes are the error table's (errors.ts).

import { refusal, streamStop, type HttpErrorCode, type Refusal, type StreamStop } from '../errors.js';
import { MemoryLimitStore, type BucketSpec, type LimitStore } from './store.js';

export interface LimitsConfig {
  /** Audio seconds a subject may send per rolling hour (streams and files together). */
  audioSecondsPerHour?: number;
  /** Audio seconds a subject may send per rolling day. */
  audioSecondsPerDay?: number;
  /** Live streams per subject. */
  concurrentStreams?: number;
  /** Wall-clock length of one stream. */
  maxSessionSeconds?: number;
  /** Requests per minute per subject on the file routes. */
  requestsPerMinute?: number;
  /** New connections (upgrades and HTTP requests) per second per remote address; the burst is the same number. */
  connectionsPerSecond?: number;
}

const HOUR = 3600;
const DAY = 86_400;
/** A stream is only admitted with at least this much audio left in the budget. */
const MIN_AUDIO_SECONDS = 1;
/** Retry-After for a refused concurrent stream: we cannot know when one ends. */
const STREAM_RETRY_SECONDS = 5;

const tooMany = (code: HttpErrorCode, message: string, retryAfterMs: number) =>
  // Whole milliseconds first, so float dust (20000.0000004 ms) does not add a second.
  refusal(code, message, Math.max(1, Math.ceil(Math.round(retryAfterMs) / 1000)));

/** Keys for the store; the subject is the Principal's ('' when auth is off: then all clients share limits). */
const keys = {
  connections: (address: string) => `conn:${address}`,
  requests: (subject: string) => `req:${subject}`,
  audio: (window: string, subject: string) => `audio:${window}:${subject}`,
  streams: (subject: string) => `streams:${subject}`,
};

export class Limiter {
  private readonly audioBuckets: { window: string; label: string; spec: BucketSpec }[];

  constructor(
    readonly config: LimitsConfig,
    private readonly store: LimitStore = new MemoryLimitStore(),
    /** Milliseconds; a fake clock in tests. */
    private readonly now: () => number = Date.now,
  ) {
    for (const [k, v] of Object.entries(config)) {
      if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v > 0)) {
        throw new RangeError(`limit ${k} must be a positive number, got ${v}`);
      }
    }
    this.audioBuckets = [];
    const { audioSecondsPerHour: h, audioSecondsPerDay: d } = config;
    if (h) this.audioBuckets.push({ window: 'h', label: `${h} audio seconds per hour`, spec: per(h, HOUR) });
    if (d) this.audioBuckets.push({ window: 'd', label: `${d} audio seconds per day`, spec: per(d, DAY) });
  }

  /** Before an upgrade or any HTTP request: new connections per second from this address. */
  async admitConnection(address: string): Promise<Refusal | undefined> {
    const n = this.config.connectionsPerSecond;
    if (!n) return undefined;
    const r = await this.store.take(keys.connections(address), 1, per(n, 1), this.now());
    if (r.ok) return undefined;
    return tooMany(
      'TOO_MANY_CONNECTIONS',
      `more than ${n} new connections per second from ${address}`,
      r.retryAfterMs,
    );
  }

  /** Before a file route (POST /v1/listen, /v1/audio/transcriptions): requests per minute of this subject. */
  async admitRequest(subject: string): Promise<Refusal | undefined> {
    const n = this.config.requestsPerMinute;
    if (!n) return undefined;
    const r = await this.store.take(keys.requests(subject), 1, per(n, 60), this.now());
    if (r.ok) return undefined;
    return tooMany('TOO_MANY_REQUESTS', `more than ${n} requests per minute`, r.retryAfterMs);
  }

  /**
   * A file of `seconds` of audio, once its duration is known and before it is transcribed: charged to the audio
   * budgets, or refused (and nothing charged) when a budget cannot cover it.
   */
  async chargeAudio(subject: string, seconds: number): Promise<Refusal | undefined> {
    const now = this.now();
    const taken: BucketSpec[] = [];
    for (const b of this.audioBuckets) {
      const need = Math.min(seconds, b.spec.capacity);
      const r = await this.store.take(keys.audio(b.window, subject), seconds, b.spec, now, need);
      if (!r.ok) {
        await this.refund(subject, seconds, taken, now);
        return tooMany('AUDIO_QUOTA_EXCEEDED', `over the limit of ${b.label}`, r.retryAfterMs);
      }
      taken.push(b.spec);
    }
    return undefined;
  }

  /**
   * Before a stream's upgrade: a concurrent-stream slot and some audio budget. Release the lease once the stream's
   * decoding is done (not when its socket closes: its audio still uses the subject's compute). `priorSeconds`: how
   * long the session's earlier connections lasted (a resume continues the max session duration, not restarts it).
   */
  async openStream(subject: string, priorSeconds = 0): Promise<StreamLease | Refusal> {
    const now = this.now();
    const maxLength = this.config.maxSessionSeconds;
    if (maxLength && priorSeconds >= maxLength) {
      const message = `the session already lasted ${Math.round(priorSeconds)} s: streams last at most ${maxLength} s`;
      return refusal('SESSION_TOO_LONG', message);
    }
    for (const b of this.audioBuckets) {
      const r = await this.store.take(keys.audio(b.window, subject), 0, b.spec, now, MIN_AUDIO_SECONDS);
      if (!r.ok) return tooMany('AUDIO_QUOTA_EXCEEDED', `over the limit of ${b.label}`, r.retryAfterMs);
    }
    const max = this.config.concurrentStreams;
    if (max && !(await this.store.acquire(keys.streams(subject), max))) {
      return refusal('TOO_MANY_STREAMS', `more than ${max} live streams`, STREAM_RETRY_SECONDS);
    }
    return new StreamLease(
      this,
      subject,
      now - Math.max(0, priorSeconds) * 1000,
      max ? () => this.store.release(keys.streams(subject)) : undefined,
    );
  }

  /** @internal StreamLease's audio charge. */
  async chargeStreamAudio(subject: string, seconds: number): Promise<StreamStop | undefined> {
    const now = this.now();
    for (const b of this.audioBuckets) {
      // Audio already received is charged in full; the stream stops once a budget is overdrawn.
      const r = await this.store.take(keys.audio(b.window, subject), seconds, b.spec, now, 0);
      if (!r.ok || r.level < 0) return streamStop('AUDIO_QUOTA_EXCEEDED', `over the limit of ${b.label}`);
    }
    return undefined;
  }

  /** @internal */
  clock(): number {
    return this.now();
  }

  private async refund(subject: string, seconds: number, specs: BucketSpec[], now: number): Promise<void> {
    for (const [i, spec] of specs.entries()) {
      await this.store.take(keys.audio(this.audioBuckets[i].window, subject), -seconds, spec, now, -Infinity);
    }
  }
}

/** One admitted stream: charges its audio, knows its deadline, frees its slot once. */
export class StreamLease {
  private released: Promise<void> | undefined;
  private stopped: StreamStop | undefined;

  constructor(
    private readonly limiter: Limiter,
    readonly subject: string,
    /** When the session started streaming, its earlier connections' length included (ms, the limiter's clock). */
    private readonly startedAt: number,
    private readonly onRelease: (() => Promise<void>) | undefined,
  ) {}

  /** Call as audio arrives (seconds at the client's sample rate); a StreamStop means close the stream with it. */
  async addAudio(seconds: number): Promise<StreamStop | undefined> {
    this.stopped ??= this.checkDeadline() ?? (await this.limiter.chargeStreamAudio(this.subject, seconds));
    return this.stopped;
  }

  /** Seconds the session has streamed, its earlier connections included: stored so that a resume continues it. */
  elapsedSeconds(): number {
    return Math.max(0, this.limiter.clock() - this.startedAt) / 1000;
  }

  /** Milliseconds until the max session duration is reached (Infinity without one): arm a timer with it. */
  msUntilDeadline(): number {
    const max = this.limiter.config.maxSessionSeconds;
    return max ? Math.max(0, this.startedAt + max * 1000 - this.limiter.clock()) : Infinity;
  }

  /** The stop when the stream has outlived the max session duration. */
  checkDeadline(): StreamStop | undefined {
    if (this.msUntilDeadline() > 0) return undefined;
    const max = this.limiter.config.maxSessionSeconds;
    return streamStop('SESSION_TOO_LONG', `streams last at most ${max} s`);
  }

  /** When the stream's decoding is done, however it ends. Safe to call twice (both wait for the one release). */
  release(): Promise<void> {
    // A store that cannot release (Redis away) lets the slot expire instead; the stream's end must not fail.
    this.released ??= Promise.resolve(this.onRelease?.()).catch(() => undefined);
    return this.released;
  }
}

function per(amount: number, seconds: number): BucketSpec {
  return { capacity: amount, refillPerSecond: amount / seconds };
}

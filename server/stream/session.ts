import { SAMPLE_RATE } from '../../audio/rate.js';
import type { ListenParams } from '../params.js';
import { quoteInput } from '../protocol.js';
import {
  StoreUnavailableError,
  TranscriptFullError,
  type RecordPatch,
  type StoredFinal,
} from '../store/types.js';
import { ControlRate } from './control-rate.js';
import { Ending } from './ending.js';
import { FinalQueue } from './finals.js';
import { AudioInput } from './input.js';
import { Interims } from './interims.js';
import { WindowJobs } from './jobs.js';
import { SpeakerLabeler } from './speakers.js';
import { UtteranceTracker, type FinalRequest, type UtteranceAction } from './utterances.js';
import { StreamWriter } from './writer.js';
import type { SessionDeps } from './deps.js';

export { DEFAULT_SESSION_CONFIG, type SessionConfig } from './config.js';
export type { SessionDeps } from './deps.js';

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/**
 * One live /v1/listen stream: bytes -> PCM -> 16 kHz -> Silero VAD -> utterances -> scheduler jobs -> Deepgram
 * messages. Audio is processed strictly in arrival order on one promise chain; finals are delivered in the order
 * they were requested and written to the store before they are sent.
 *
 * Lifecycle: live, then ending (CloseStream or shutdown: no more input, the flush is decoded, bounded by a
 * deadline; see Ending), then closed (no socket: nothing is sent, but what was received is still decoded into
 * stored finals), then ended (all decoding done, the store's record final).
 */
export class StreamSession {
  readonly id: string;
  /** What the client asked for (admission prices the stream by it). */
  readonly params: ListenParams;
  readonly stats = { finals: 0, interims: 0, droppedInterims: 0, bytes: 0 };
  private readonly input: AudioInput;
  private readonly utterances: UtteranceTracker;
  private readonly jobs: WindowJobs;
  private readonly interims: Interims;
  private readonly writer: StreamWriter;
  private readonly finals: FinalQueue;
  private readonly labeler: SpeakerLabeler | null;
  private readonly ending: Ending;
  private chain: Promise<void> = Promise.resolve();
  private queuedSamples = 0;
  /** See SessionRecord.committed; only grows. */
  private committed: number;
  private recordedCommitted: number;
  private idleTimer: NodeJS.Timeout | null = null;
  /** Finalize requests not answered yet: the client may be waiting for them, so the idle timeout does not run. */
  private awaitingFinalize = 0;
  /** No more input: the flush of what was received is queued. */
  private inputEnded = false;
  /** The input ended because the client went away (not CloseStream, not shutdown). */
  private inputCut = false;
  /** The flush has run: every received sample is in a requested final or was judged non-speech. */
  private flushed = false;
  private ended = false;
  private slotFreed: Promise<void> | undefined;
  private lagging = false;
  private readonly controlRate: ControlRate;
  private readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(private readonly d: SessionDeps) {
    this.id = d.id;
    const p = (this.params = d.params);
    this.input = new AudioInput(p, d.config, d.vad, this.offset);
    this.utterances = new UtteranceTracker({ ...d.config, offset: this.offset }, () => this.receivedSeconds);
    this.writer = new StreamWriter({
      id: d.id,
      model: d.model,
      params: p,
      send: d.send,
      bufferedAmount: d.bufferedAmount,
      maxSendBufferBytes: d.config.maxSendBufferBytes,
      onNotReading: (mib) =>
        this.fail(1008, this.ending.resumeReason(`client is not reading (${mib} MiB unsent)`)),
    });
    this.labeler = this.speakerLabeler();
    this.finals = this.finalQueue();
    this.ending = this.endingPolicy();
    this.jobs = new WindowJobs({
      id: d.id,
      params: p,
      config: d.config,
      promptTokens: p.prompt && d.encodePrompt ? d.encodePrompt(p.prompt) : [],
      ring: this.input.ring,
      floor: () => this.finals.lastFinalEnd,
    });
    this.interims = this.interimPolicy();
    this.committed = this.recordedCommitted = this.offset;
    this.controlRate = new ControlRate(d.config.controlMessagesPerSecond, d.config.controlMessageBurst);
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  private finalQueue(): FinalQueue {
    return new FinalQueue({
      id: this.d.id,
      store: this.d.store,
      writer: this.writer,
      labeler: this.labeler,
      seqStart: this.d.seqStart ?? 0,
      now: () => this.receivedSeconds,
      stored: (seq, appended) => {
        this.advanceCommitted();
        // An empty final (a Finalize with nothing buffered) stores nothing; only a committed time that moved is
        // worth a write. Its seq need not be durable: a resume continues after the client's resume_from.
        if (!appended && this.committed === this.recordedCommitted) return Promise.resolve();
        return this.record({ committed: this.committed, lastSeq: seq, ...this.speakerState() });
      },
      sent: (lag) => {
        this.stats.finals++;
        this.d.observe?.result('final', lag);
        this.checkLag();
      },
      warn: (o, msg) => this.d.log.warn(o, msg),
      onError: (err) => this.internalError(err),
    });
  }

  /** Everything received is decoded: the stream's slots are freed (once; resolves when they are). */
  private decoded(): Promise<void> {
    this.slotFreed ??= Promise.resolve()
      .then(() => this.d.onDecoded?.())
      .catch((err: unknown) => {
        this.d.log.warn({ session: this.id, err: (err as Error).message }, 'stream slot not freed');
      });
    return this.slotFreed;
  }

  private endingPolicy(): Ending {
    return new Ending({
      id: this.d.id,
      log: this.d.log,
      flushTimeoutMs: this.d.config.flushTimeoutMs,
      closed: () => this.writer.closed,
      committed: () => this.committed,
      extent: () => this.extent,
      pendingFinals: () => this.finals.pending.length,
      sentSeq: () => this.finals.sentSeq,
      onBegin: () => {
        this.clearIdle();
        this.endInput();
        void this.settled()
          .then(() => this.decoded())
          .then(() => this.ending.complete());
      },
      close: (code, reason) => this.closeWithSummary(code, reason),
      error: (code, description) => this.writer.error(code, description),
    });
  }

  private interimPolicy(): Interims {
    return new Interims({
      id: this.d.id,
      params: this.params,
      scheduler: this.d.scheduler,
      jobs: this.jobs,
      utterances: this.utterances,
      writer: this.writer,
      stats: this.stats,
      now: () => this.receivedSeconds,
      backoff: () => this.d.interimBackoff?.() ?? 1,
      finalsPending: () => this.finals.pending.length > 0,
      inputOpen: () => !this.writer.closed && !this.inputEnded,
      commit: (f) => this.requestFinal(f),
      observe: (lag) => this.d.observe?.result('interim', lag),
      warn: (o, msg) => this.d.log.warn(o, msg),
    });
  }

  private get offset(): number {
    return this.d.timeOffset ?? 0;
  }
  /** Seconds of audio received, on the session's clock. */
  get receivedSeconds(): number {
    return this.input.ring.end;
  }
  /** The socket is gone or closing, and the session is only finishing its decoding. */
  get flushing(): boolean {
    return this.writer.closed || this.ending.active;
  }
  /** The input's extent: audio processed, queued, and refused while ending. */
  private get extent(): number {
    return this.receivedSeconds + this.queuedSamples / SAMPLE_RATE + this.ending.refusedSeconds;
  }

  start(): void {
    this.sendMetadata(0);
    this.touch();
  }

  /** Resume: re-sends stored finals (after the client's last seen seq) before any new result. */
  replay(finals: readonly StoredFinal[]): void {
    this.writer.replay(finals);
  }

  onAudio(bytes: Uint8Array): void {
    if (this.writer.closed) return;
    if (this.ending.active) {
      this.ending.refuse(this.input.samples16k(bytes.length) / SAMPLE_RATE, this.receivedSeconds);
      return;
    }
    this.touch();
    if (bytes.length === 0) {
      // Deepgram's legacy end-of-stream signal.
      this.ending.closeStream();
      return;
    }
    this.stats.bytes += bytes.length;
    const samples = this.input.samples16k(bytes.length);
    this.queuedSamples += samples;
    if (this.queuedSamples > this.d.config.maxQueuedSeconds * SAMPLE_RATE) {
      this.fail(1013, 'audio arrives faster than it can be processed');
      return;
    }
    this.enqueue(async () => {
      this.queuedSamples -= samples;
      let pcm: Float32Array;
      try {
        pcm = this.input.decode(bytes);
      } catch (err) {
        this.d.log.warn({ session: this.id, err: (err as Error).message }, 'undecodable audio');
        this.fail(1011, 'DATA-0000');
        return;
      }
      await this.ingest(pcm);
    });
    this.checkLag();
  }

  onText(text: string): void {
    if (this.writer.closed) return;
    if (!this.controlRate.take()) {
      const limit = this.controlRate.describe();
      this.writer.error('TOO_MANY_MESSAGES', `too many control messages: at most ${limit}`);
      this.fail(1008, this.ending.resumeReason(`too many control messages (over ${limit})`));
      return;
    }
    let msg: { type?: unknown };
    try {
      msg = JSON.parse(text) as { type?: unknown };
    } catch {
      this.writer.error(
        'INVALID_MESSAGE',
        'text frames must be JSON control messages such as {"type":"KeepAlive"}',
      );
      return;
    }
    switch (msg?.type) {
      case 'KeepAlive':
        this.touch();
        return;
      case 'Finalize':
        // Once ending, the flush answers for everything received: a Finalize would only add an empty final.
        if (this.ending.active) return;
        this.awaitingFinalize++;
        this.clearIdle();
        this.enqueue(async () => {
          this.finalizeNow(true);
          void this.finals.idle.then(() => {
            this.awaitingFinalize--;
            this.touch();
          });
        });
        return;
      case 'CloseStream':
        this.ending.closeStream();
        return;
      default:
        this.writer.error(
          'INVALID_MESSAGE',
          `unknown control message type ${quoteInput(msg?.type)}: use KeepAlive, Finalize or CloseStream`,
        );
    }
  }

  /** The client went away: no more sends, but what it sent is still decoded into stored finals. */
  onClientClose(): void {
    if (this.writer.closed) return;
    this.writer.closed = true;
    // Unless it had asked to close, the client was cut off mid-stream: the speaker may not have stopped.
    this.inputCut = !this.ending.active;
    this.afterSocket();
  }

  /**
   * Server shutdown: finalize, deliver the finals decoded by `deadline` (epoch ms), then Metadata and 1001 (its
   * reason says what was not decoded and how to resume). Resolves once the socket is closed; for a stream whose
   * client already left, once its decoding is done or at the deadline.
   */
  drain(deadline: number): Promise<void> {
    if (this.writer.closed) return settleBy(this.done, deadline);
    return this.ending.shutdown(deadline);
  }

  /** Resolves when the session has finished decoding and its store record is final. */
  whenDone(): Promise<void> {
    return this.done;
  }

  private endInput(): void {
    if (this.inputEnded) return;
    this.inputEnded = true;
    this.enqueue(async () => this.flushAudio());
  }

  /** Resolves once the audio chain and the finals it queued are done, including work queued meanwhile. */
  private async settled(): Promise<void> {
    for (;;) {
      const chain = this.chain;
      const finals = this.finals.idle;
      await chain;
      await finals;
      if (chain === this.chain && finals === this.finals.idle) return;
    }
  }

  private enqueue(work: () => Promise<void>): void {
    this.chain = this.chain.then(work).catch((err: unknown) => this.internalError(err));
  }

  private internalError(err: unknown): void {
    if (err instanceof TranscriptFullError) return this.transcriptFull();
    this.d.log.error(
      { session: this.id, err: (err as Error).message, stack: (err as Error).stack },
      'session failed',
    );
    // A final the store would not take (Redis gone past its outage limit) was not sent: say why and how to resume.
    const unstored = err instanceof StoreUnavailableError;
    this.fail(1011, unstored ? this.ending.resumeReason('transcript store unavailable') : 'internal error');
  }

  private async ingest(samples: Float32Array): Promise<void> {
    if (samples.length === 0) return;
    this.d.observe?.audio(samples.length / SAMPLE_RATE);
    this.act(this.utterances.onEvents(await this.input.push(samples, this.utterances.keepFrom())));
    this.interims.maybe();
    this.maybeUtteranceEnd();
    // Silence advances the committed time too; the store hears of it a second at a time.
    this.advanceCommitted();
    if (this.committed - this.recordedCommitted >= 1) this.record({ committed: this.committed });
  }

  private act(actions: readonly UtteranceAction[]): void {
    for (const a of actions) {
      if (a.type === 'speech_started') this.writer.speechStarted(a.at);
      else this.requestFinal(a.final);
    }
  }

  /** End of input: the resampler's and the segmenter's tails, then what is still open becomes final. */
  private async flushAudio(): Promise<void> {
    this.act(this.utterances.onEvents(await this.input.flush(this.utterances.keepFrom()), this.inputCut));
    this.finalizeNow(false);
    this.flushed = true;
    this.advanceCommitted();
  }

  /** Decode what is buffered now (Finalize, close): the utterance in progress becomes final. */
  private finalizeNow(fromFinalize: boolean): void {
    const f = this.utterances.finalizeNow(fromFinalize, this.input.inSpeech);
    if (f) this.requestFinal(f);
  }

  /** Queues a final: decoded now (unless its words are known), delivered after those before it. */
  private requestFinal(f: FinalRequest): void {
    if (f.words) {
      const words = f.words;
      this.finals.queue(
        f,
        () => Promise.resolve(words),
        this.labeler ? this.input.ring.slice(f.from, f.to) : EMPTY,
      );
      this.checkBacklog();
      return;
    }
    const job = this.jobs.job('final', f.from, f.to);
    const result = this.d.scheduler.submit(job);
    this.finals.queue(
      f,
      async () => {
        try {
          const r = await result;
          return r ? this.jobs.words(r, f.from, f.to) : [];
        } catch (err) {
          this.d.log.error({ session: this.id, err: (err as Error).message }, 'final decode failed');
          return [];
        }
      },
      job.window.audio,
    );
    this.checkBacklog();
  }

  /**
   * Finals waiting for inference are bounded like queued audio: past maxQueuedSeconds of audio behind (or
   * maxPendingFinals of them) the server cannot keep up with this stream. It takes no more audio, delivers the
   * finals of what it received, then closes 1013 with how to resume (nothing received is lost).
   */
  private checkBacklog(): void {
    const pending = this.finals.pending;
    if (pending.length === 0 || this.ending.active || this.writer.closed) return;
    const behind = this.receivedSeconds - pending[0].from;
    const { maxQueuedSeconds, maxPendingFinals } = this.d.config;
    if (behind <= maxQueuedSeconds && pending.length <= maxPendingFinals) return;
    const head = `finals backlog: ${pending.length} finals, ${behind.toFixed(1)} s of audio waiting for inference`;
    this.d.log.warn({ session: this.id, pendingFinals: pending.length, behind: round3(behind) }, head);
    this.ending.stop(1013, head);
  }

  /** See SessionRecord.committed: the earliest of open speech, finals not stored yet, and undecided silence. */
  private advanceCommitted(): void {
    let c = this.flushed ? this.receivedSeconds : this.input.decidedUntil;
    c = Math.min(c, this.utterances.committed);
    if (this.finals.pending.length) c = Math.min(c, this.finals.pending[0].from);
    this.committed = Math.max(this.committed, c);
  }

  /** diarize=true with an embedder; a stored state that does not load starts the labels afresh. */
  private speakerLabeler(): SpeakerLabeler | null {
    const { params, embedder, speakers, observe } = this.d;
    if (!params.diarize || !embedder) return null;
    const onCost = observe?.labelled?.bind(observe);
    try {
      return new SpeakerLabeler(embedder, params.maxSpeakers, speakers, onCost);
    } catch (err) {
      this.d.log.warn({ session: this.id, err: (err as Error).message }, 'speaker state not restored');
      return new SpeakerLabeler(embedder, params.maxSpeakers, undefined, onCost);
    }
  }

  private speakerState(): RecordPatch {
    return this.labeler ? { speakers: this.labeler.state } : {};
  }

  private record(patch: RecordPatch): Promise<void> {
    if (patch.committed !== undefined) this.recordedCommitted = patch.committed;
    return this.d.store.update(this.id, patch).catch((err: unknown) => {
      this.d.log.warn({ session: this.id, err: (err as Error).message }, 'transcript store update failed');
      if (err instanceof TranscriptFullError) this.transcriptFull();
    });
  }

  /** The store's cap on one session's transcript: the stream ends, a new session starts a new transcript. */
  private transcriptFull(): void {
    if (this.writer.closed) return;
    const why = 'transcript size limit reached; start a new session';
    this.writer.error('TRANSCRIPT_FULL', why);
    this.fail(1008, why);
  }

  /** A warning when finals fall behind the audio by more than lagWarnSeconds; once per episode, not per frame. */
  private checkLag(): void {
    this.checkBacklog();
    const pending = this.finals.pending;
    const waiting = pending.length ? this.receivedSeconds - pending[0].to : 0;
    const lag = Math.max(0, waiting) + this.queuedSamples / SAMPLE_RATE;
    const limit = this.d.config.lagWarnSeconds;
    if (!this.lagging && lag > limit) {
      this.lagging = true;
      this.d.log.warn(
        { session: this.id, lag: round3(lag), pendingFinals: pending.length },
        `stream falling behind: finals ${lag.toFixed(1)} s behind the audio`,
      );
    } else if (this.lagging && lag < limit / 2) {
      this.lagging = false;
      this.d.log.info({ session: this.id, lag: round3(lag) }, 'stream caught up');
    }
  }

  /** Deepgram's UtteranceEnd: a word gap of utterance_end_ms after the last final word. */
  private maybeUtteranceEnd(): void {
    const ms = this.d.params.utteranceEndMs;
    const f = this.finals;
    if (!ms || f.utteranceEndSent || f.lastWordEnd === null || f.pending.length > 0) return;
    if (this.input.inSpeech) return;
    if (this.receivedSeconds - f.lastWordEnd >= ms / 1000) {
      f.utteranceEndSent = true;
      this.writer.utteranceEnd(f.lastWordEnd);
    }
  }

  private sendMetadata(duration: number): void {
    this.writer.metadata(duration, {
      resumed: this.d.resumed ?? false,
      lastSeq: this.finals.storedSeq,
      committedUntil: this.committed,
    });
  }

  private touch(): void {
    this.clearIdle();
    if (
      this.d.config.idleTimeoutMs > 0 &&
      !this.writer.closed &&
      !this.ending.active &&
      this.awaitingFinalize === 0
    ) {
      this.idleTimer = setTimeout(() => this.fail(1011, 'NET-0001'), this.d.config.idleTimeoutMs);
    }
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  private fail(code: number, reason: string): void {
    if (this.writer.closed) return;
    this.d.log.info({ session: this.id, code, reason }, 'closing stream');
    this.finish(code, reason);
  }

  private closeWithSummary(code: number, reason: string): void {
    this.sendMetadata(this.receivedSeconds);
    this.finish(code, reason);
  }

  private finish(code: number, reason: string): void {
    if (this.writer.closed) return;
    this.writer.closed = true;
    this.d.close(code, reason);
    this.afterSocket();
  }

  /** No socket any more: no interims, the store says closed, and what was received is decoded into the store. */
  private afterSocket(): void {
    this.clearIdle();
    this.ending.socketClosed();
    this.d.scheduler.dropInterims(this.id);
    void this.record({ status: 'closed' });
    this.endInput();
    void this.settled().then(() => this.end());
  }

  private async end(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.decoded();
    this.advanceCommitted();
    await this.record({ duration: this.extent, committed: this.committed, lastSeq: this.finals.seq });
    if (this.labeler?.cost.finals) {
      const { ms, finals } = this.labeler.cost;
      this.d.log.info(
        { session: this.id, finals, labelMs: Math.round(ms), perFinalMs: round3(ms / finals) },
        'speaker labelling cost',
      );
    }
    this.d.onEnd?.(this);
    this.resolveDone();
  }
}

const EMPTY = new Float32Array(0);

/** Resolves when `p` does or at `deadline` (epoch ms), whichever is first. */
function settleBy(p: Promise<void>, deadline: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((r) => (timer = setTimeout(r, Math.max(0, deadline - Date.now()))));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

import { SAMPLE_RATE } from '../../audio/rate.js';
import { LABEL_GRID } from '../../models/speaker/live-labels.js';
import { closeCode } from '../errors.js';
import type { ListenParams } from '../params.js';
import {
  StoreUnavailableError,
  TranscriptFullError,
  type RecordPatch,
  type StoredFinal,
} from '../store/types.js';
import { StreamRecord } from './record.js';
import { Backlog } from './backlog.js';
import { Controls } from './control.js';
import { EarlyFinals } from './early-finals.js';
import { Ending, settleBy } from './ending.js';
import { FinalQueue, type LabelAudio } from './finals.js';
import { AudioInput } from './input.js';
import { IdleTimeout } from './idle.js';
import { Interims } from './interims.js';
import { WindowJobs } from './jobs.js';
import { speakerLabeler, type SpeakerLabeler } from './speakers.js';
import { StreamState } from './state.js';
import { UtteranceTracker, type FinalRequest, type UtteranceAction } from './utterances.js';
import { StreamWriter } from './writer.js';
import type { SessionDeps } from './deps.js';

export { DEFAULT_SESSION_CONFIG, type SessionConfig } from './config.js';
export type { SessionDeps } from './deps.js';

/**
 * One live /v1/listen stream: bytes -> PCM -> 16 kHz -> Silero VAD -> utterances -> scheduler jobs -> Deepgram
 * messages. Audio is processed strictly in arrival order on one promise chain; finals are delivered in the order
 * they were requested and written to the store before they are sent.
 *
 * Lifecycle (StreamState, which the parts read): live, then closing (CloseStream, a limit, a bound or shutdown: no
 * more input, the flush is decoded, bounded by a deadline; see Ending), then closed (no socket: nothing is sent,
 * but what was received is still decoded into stored finals), then ended (all decoding done, the store's record
 * final). A failure closes at once; the client may leave at any time.
 */
export class StreamSession {
  readonly id: string;
  /** What the client asked for (admission prices the stream by it). */
  readonly params: ListenParams;
  readonly stats = { finals: 0, interims: 0, droppedInterims: 0, bytes: 0 };
  /** The session's name in the scheduler: a multichannel stream's channels take turns like streams do. */
  private readonly jobKey: string;
  private readonly input: AudioInput;
  private readonly utterances: UtteranceTracker;
  private readonly jobs: WindowJobs;
  private readonly interims: Interims;
  private readonly writer: StreamWriter;
  private readonly finals: FinalQueue;
  /** Finals decoded during the endpointing wait (null: --early-finals false). */
  private readonly early: EarlyFinals | null;
  private readonly labeler: SpeakerLabeler | null;
  private readonly state: StreamState;
  private readonly ending: Ending;
  private chain: Promise<void> = Promise.resolve();
  private queuedSamples = 0;
  private readonly store: StreamRecord;
  private readonly idle: IdleTimeout;
  /** No more input: the flush of what was received is queued. */
  private inputEnded = false;
  /** The flush has run: every received sample is in a requested final or was judged non-speech. */
  private flushed = false;
  private ended = false;
  private slotFreed: Promise<void> | undefined;
  private readonly backlog: Backlog;
  private readonly controls: Controls;
  private readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(private readonly d: SessionDeps) {
    this.id = d.id;
    this.jobKey = d.channel ? `${d.id}#${d.channel.index}` : d.id;
    const p = (this.params = d.params);
    // A resumed session continues from its committed time (see SessionDeps.timeOffset).
    const offset = d.timeOffset ?? 0;
    this.state = new StreamState(d.id, d.seqStart ?? 0, d, d.log);
    this.ending = new Ending(this.state, d.config.flushTimeoutMs, d.log);
    this.store = new StreamRecord(d.id, d.store, d.log, offset);
    this.idle = new IdleTimeout(d.config.idleTimeoutMs, this.state);
    this.backlog = new Backlog(d.id, d.config, d.log);
    this.input = new AudioInput(p, d.config, d.vad, offset);
    this.utterances = new UtteranceTracker({ ...d.config, offset }, () => this.receivedSeconds);
    this.writer = new StreamWriter({
      id: d.id,
      model: d.model,
      params: p,
      send: d.send,
      bufferedAmount: d.bufferedAmount,
      maxSendBufferBytes: d.config.maxSendBufferBytes,
      state: this.state,
      channel: d.channel && [d.channel.index, d.channel.count],
    });
    this.controls = new Controls(d.config, this.writer, this.state);
    this.labeler = speakerLabeler(d);
    this.finals = this.finalQueue();
    this.jobs = new WindowJobs({
      id: this.jobKey,
      params: p,
      config: d.config,
      promptTokens: p.prompt && d.encodePrompt ? d.encodePrompt(p.prompt) : [],
      ring: this.input.ring,
      floor: () => this.finals.lastFinalEnd,
    });
    this.interims = this.interimPolicy();
    this.early = d.config.earlyFinals
      ? new EarlyFinals({
          // Without interims, a decode whose speech goes on serves nobody: it may only take idle engine time.
          decode: (from, to, signal) =>
            this.jobs.final(from, to, (job) => d.scheduler.submit(job), d.log, {
              signal,
              ifIdle: !p.interimResults,
            }),
          promote: (decode) => d.scheduler.promote(decode.job),
          hypothesis: (ask, r) => this.interims.answer(ask, r),
          outcome: (o) => d.observe?.earlyFinal?.(o),
        })
      : null;
    this.done = new Promise((r) => (this.resolveDone = r));
    void this.state.whenClosed.then(() => this.afterSocket());
  }

  private finalQueue(): FinalQueue {
    return new FinalQueue({
      id: this.d.id,
      store: this.d.store,
      writer: this.writer,
      labeler: this.labeler,
      seqStart: this.d.seqStart ?? 0,
      nextSeq: this.d.nextSeq,
      now: () => this.receivedSeconds,
      stored: (seq, appended) => {
        this.advanceCommitted();
        // An empty final (a Finalize with nothing buffered) stores nothing; only a committed time that moved is
        // worth a write. Its seq need not be durable: a resume continues after the client's resume_from.
        if (!appended && !this.store.moved) return Promise.resolve();
        const state = this.labeler?.state;
        const speakers = state ? { speakers: state } : {};
        return this.record({ committed: this.store.committed, lastSeq: seq, ...speakers });
      },
      sent: (lag) => {
        this.stats.finals++;
        this.d.observe?.result('final', lag);
        this.checkLag();
      },
      log: this.d.log,
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

  /**
   * The stream started ending (`begun`, from Ending): no more input; it closes with a closing Metadata once every
   * final is out and the slots are free, or at the deadline with what is out by then.
   */
  private closing(begun: boolean): void {
    if (!begun) return;
    this.idle.clear();
    this.endInput();
    const out = this.settled()
      .then(() => this.decoded())
      .then(() => false);
    void Promise.race([out, this.ending.deadlinePassed.then(() => true)]).then((late) => {
      if (this.state.closed) return;
      const pendingFinals = this.finals.pending.length;
      const close = this.ending.close(late, {
        committed: this.store.committed,
        extent: this.extent,
        pendingFinals,
      });
      this.sendMetadata(this.receivedSeconds);
      this.state.close(close.code, close.reason);
    });
  }

  private interimPolicy(): Interims {
    const { d } = this;
    return new Interims({
      id: d.id,
      params: d.params,
      scheduler: d.scheduler,
      jobs: this.jobs,
      utterances: this.utterances,
      writer: this.writer,
      stats: this.stats,
      finals: this.finals,
      state: this.state,
      now: () => this.receivedSeconds,
      backoff: () => d.interimBackoff?.() ?? 1,
      commit: (f) => this.requestFinal(f),
      observe: (lag) => d.observe?.result('interim', lag),
      log: d.log,
    });
  }

  /** Seconds of audio received, on the session's clock. */
  get receivedSeconds(): number {
    return this.input.ring.end;
  }
  /** The socket is gone or closing, and the session is only finishing its decoding. */
  get flushing(): boolean {
    return !this.state.live;
  }
  /** The input's extent: audio processed, queued, and refused while ending. */
  private get extent(): number {
    return this.receivedSeconds + this.queuedSamples / SAMPLE_RATE + this.ending.refusedSeconds;
  }

  start(): void {
    this.sendMetadata(0);
    this.idle.touch();
  }

  /** Resume: re-sends stored finals (after the client's last seen seq) before any new result. */
  replay(finals: readonly StoredFinal[]): void {
    this.writer.replay(finals);
  }

  onAudio(bytes: Uint8Array): void {
    if (this.state.closed) return;
    if (!this.state.live) {
      const seconds = this.input.samples16k(bytes.length) / SAMPLE_RATE;
      const told = this.ending.refuse(seconds, this.receivedSeconds);
      if (told) this.writer.error(told.code, told.description);
      return;
    }
    this.idle.touch();
    if (bytes.length === 0) {
      // Deepgram's legacy end-of-stream signal.
      this.closing(this.ending.closeStream());
      return;
    }
    this.stats.bytes += bytes.length;
    const samples = this.input.samples16k(bytes.length);
    this.queuedSamples += samples;
    if (this.queuedSamples > this.d.config.maxQueuedSeconds * SAMPLE_RATE) {
      this.state.fail(closeCode('OVERLOADED'), 'audio arrives faster than it can be processed');
      return;
    }
    this.enqueue(async () => {
      this.queuedSamples -= samples;
      let pcm: Float32Array;
      try {
        pcm = this.input.decode(bytes);
      } catch (err) {
        this.d.log.warn({ session: this.id, err: (err as Error).message }, 'undecodable audio');
        this.state.fail(closeCode('BAD_AUDIO'), 'DATA-0000');
        return;
      }
      await this.ingest(pcm);
    });
    this.checkLag();
  }

  onText(text: string): void {
    if (this.state.closed) return;
    switch (this.controls.accept(text)) {
      case 'KeepAlive':
        this.idle.touch();
        return;
      case 'Finalize':
        // Once ending, the flush answers for everything received: a Finalize would only add an empty final.
        if (!this.state.live) return;
        this.idle.finalizeAsked();
        this.enqueue(async () => {
          this.finalizeNow(true);
          void this.finals.idle.then(() => this.idle.finalizeAnswered());
        });
        return;
      case 'CloseStream':
        this.closing(this.ending.closeStream());
    }
  }

  /** The client went away: no more sends, but what it sent is still decoded into stored finals. */
  onClientClose(): void {
    this.state.clientLeft();
  }

  /**
   * A bound crossed outside the session (a limit, a revoked credential): no more audio is decoded, the finals of
   * what was received are delivered, then Metadata and `code` with `reason` as it is (also over a CloseStream in
   * progress; a shutdown keeps its own code).
   */
  stop(code: number, reason: string): void {
    this.closing(this.ending.stop(code, reason, false));
  }

  /**
   * Server shutdown: finalize, deliver the finals decoded by `deadline` (epoch ms), then Metadata and 1001 (its
   * reason says what was not decoded and how to resume). Resolves once the socket is closed; for a stream whose
   * client already left, once its decoding is done or at the deadline.
   */
  drain(deadline: number): Promise<void> {
    if (this.state.closed) return settleBy(this.done, deadline);
    this.closing(this.ending.shutdown(deadline));
    return this.state.whenClosed;
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
    this.state.fail(
      closeCode(unstored ? 'STORE_UNAVAILABLE' : 'INTERNAL'),
      unstored ? this.state.resumeReason('transcript store unavailable') : 'internal error',
    );
  }

  private async ingest(samples: Float32Array): Promise<void> {
    if (samples.length === 0) return;
    this.d.observe?.audio(samples.length / SAMPLE_RATE);
    // All of a diarize=true stream's audio: its labeller analyses it ahead of the finals.
    this.labeler?.hear(samples, this.input.ring.count);
    this.act(this.utterances.onEvents(await this.input.push(samples, this.utterances.keepFrom())));
    this.interims.maybe();
    this.maybeUtteranceEnd();
    // Silence advances the committed time too; the store hears of it a second at a time.
    this.advanceCommitted();
    if (this.store.secondAhead) void this.record({ committed: this.store.committed });
  }

  private act(actions: readonly UtteranceAction[]): void {
    for (const a of actions) {
      if (a.type === 'speech_started') this.writer.speechStarted(a.at);
      else if (a.type === 'pause') this.early?.start(a.ask);
      else if (a.type === 'resume') this.early?.drop();
      else this.requestFinal(a.final);
    }
  }

  /** End of input: the resampler's and the segmenter's tails, then what is still open becomes final. */
  private async flushAudio(): Promise<void> {
    this.act(
      this.utterances.onEvents(await this.input.flush(this.utterances.keepFrom()), this.state.clientCut),
    );
    this.finalizeNow(false);
    this.flushed = true;
    this.advanceCommitted();
  }

  /** Decode what is buffered now (Finalize, close): the utterance in progress becomes final. */
  private finalizeNow(fromFinalize: boolean): void {
    const f = this.utterances.finalizeNow(fromFinalize, this.input.inSpeech);
    if (f) this.requestFinal(f);
  }

  /**
   * The audio of a final's speaker labels: from its start moved back onto the labeller's grid (at most 20 ms
   * more), where what the labeller made of the stream as it was heard serves the final.
   */
  private labelAudio(f: FinalRequest): LabelAudio | null {
    if (!this.labeler) return null;
    const ring = this.input.ring;
    const from = ring.index(f.from);
    const at = from - (from % LABEL_GRID);
    const audio = from >= 0 ? ring.samples(at, ring.index(f.to)) : null;
    const speech = this.input.regions?.within(f.from, f.to);
    return audio
      ? { audio, from: f.from - (from - at) / SAMPLE_RATE, at, speech }
      : { audio: ring.slice(f.from, f.to), from: f.from, speech };
  }

  /**
   * Queues a final: decoded now (unless its words are known), delivered after those before it. An interim still
   * queued is of audio this final covers: its answer would be stale, so it leaves the queue unrun.
   */
  private requestFinal(f: FinalRequest): void {
    this.d.scheduler.dropInterims(this.jobKey);
    if (f.words) {
      const words = f.words;
      this.finals.queue(f, () => Promise.resolve(words), this.labelAudio(f));
    } else {
      const decode =
        this.early?.take(f.from, f.to) ??
        this.jobs.final(f.from, f.to, (job) => this.d.scheduler.submit(job), this.d.log);
      this.finals.queue(f, decode.words, this.labelAudio(f));
    }
    this.checkBacklog();
  }

  /**
   * Finals waiting for inference are bounded like queued audio: past the bound the stream takes no more audio,
   * delivers the finals of what it received, then closes 1013 with how to resume (nothing received is lost).
   */
  private checkBacklog(): void {
    if (!this.state.live) return;
    const head = this.backlog.over(this.receivedSeconds, this.finals.pending);
    if (head) this.closing(this.ending.stop(closeCode('OVERLOADED'), head));
  }

  /** See SessionRecord.committed: the earliest of open speech, finals not stored yet, and undecided silence. */
  private advanceCommitted(): void {
    let c = this.flushed ? this.receivedSeconds : this.input.decidedUntil;
    c = Math.min(c, this.utterances.committed);
    if (this.finals.pending.length) c = Math.min(c, this.finals.pending[0].from);
    this.store.advance(c);
  }

  private async record(patch: RecordPatch): Promise<void> {
    if (await this.store.update(patch)) this.transcriptFull();
  }
  /** The store's cap on one session's transcript: the stream ends, a new session starts a new transcript. */
  private transcriptFull(): void {
    if (this.state.closed) return;
    const why = 'transcript size limit reached; start a new session';
    this.writer.error('TRANSCRIPT_FULL', why);
    this.state.fail(closeCode('TRANSCRIPT_FULL'), why);
  }

  private checkLag(): void {
    this.checkBacklog();
    this.backlog.watchLag(this.receivedSeconds, this.finals.pending, this.queuedSamples / SAMPLE_RATE);
  }

  /** Deepgram's UtteranceEnd (utterance_end_ms): looked for in the pauses. */
  private maybeUtteranceEnd(): void {
    const ms = this.d.params.utteranceEndMs;
    if (ms && !this.input.inSpeech) this.finals.maybeUtteranceEnd(this.receivedSeconds, ms / 1000);
  }

  private sendMetadata(duration: number): void {
    this.writer.metadata(duration, {
      resumed: this.d.resumed ?? false,
      lastSeq: this.finals.storedSeq,
      committedUntil: this.store.committed,
    });
  }

  /**
   * No socket any more (whoever closed it; see StreamState.whenClosed): no interims, the store says closed, and
   * what was received is decoded into the store.
   */
  private afterSocket(): void {
    this.idle.clear();
    this.ending.socketClosed();
    this.d.scheduler.dropInterims(this.jobKey);
    void this.record({ status: 'closed' });
    this.endInput();
    void this.settled().then(() => this.end());
  }

  private async end(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.early?.drop();
    await this.decoded();
    this.advanceCommitted();
    await this.record({ duration: this.extent, committed: this.store.committed, lastSeq: this.finals.seq });
    this.labeler?.logCost(this.id, this.d.log);
    this.labeler?.close();
    this.d.onEnd?.(this);
    this.resolveDone();
  }
}

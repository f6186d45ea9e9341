import { bytesPerSample, PcmDecoder } from '../../audio/pcm.js';
import { StreamingResampler } from '../../audio/resample.js';
import { UtteranceSegmenter, type SegmentEvent } from '../../models/vad/segmenter.js';
import type { VadModel, VadStream } from '../../models/vad/silero.js';
import type { JobKind, TranscribeJob } from '../scheduling/scheduler.js';
import type { WindowResult } from '../../models/whisper/transcribe.js';
import type { ListenParams } from '../params.js';
import {
  errorMessage,
  metadataMessage,
  quoteInput,
  resultsMessage,
  speechStartedMessage,
  toDgWords,
  utteranceEndMessage,
  type DgWord,
  type ModelInfo,
} from '../protocol.js';
import {
  StoreUnavailableError,
  type RecordPatch,
  type StoredFinal,
  type TranscriptStore,
} from '../store/types.js';
import { agreedPrefix, clampWords, collapseRepeats } from './words.js';
import { SAMPLE_RATE } from '../../audio/rate.js';

export interface SessionConfig {
  /** How often an utterance in progress is re-decoded for interim results (adapted under load). */
  interimIntervalMs: number;
  /** Utterances longer than this commit their agreed prefix early (LocalAgreement-2). */
  earlyCommitSeconds: number;
  /** Words closer than this to the audio's edge are never committed early (still unstable). */
  commitMarginSeconds: number;
  maxUtteranceSeconds: number;
  speechPadMs: number;
  minSpeechMs: number;
  vadThreshold: number;
  /** No audio or KeepAlive for this long closes with 1011 NET-0001 (not while the server owes an answer). */
  idleTimeoutMs: number;
  /**
   * After CloseStream, the longest wait for the last finals; past it what was decoded is delivered, then Metadata
   * and 1011 naming what was not decoded (the session keeps decoding into the store for a resume).
   */
  flushTimeoutMs: number;
  /** Lag (seconds of received audio a final still waits for) past which a warning is logged, once per episode. */
  lagWarnSeconds: number;
  /** Audio queued for processing beyond this closes the stream (1013): the client outruns the server. */
  maxQueuedSeconds: number;
  /**
   * A socket buffering more than this drops interims; finals are never dropped. The transport's own limit is
   * higher: a final that cannot be queued below it means the client does not read (1008).
   */
  maxSendBufferBytes: number;
  /** Temperature schedules: finals may fall back, interims never do (they are replaced soon anyway). */
  finalTemperatures: readonly number[];
  compressionRatioThreshold: number;
}

export const DEFAULT_SESSION_CONFIG: SessionConfig = {
  interimIntervalMs: 1000,
  earlyCommitSeconds: 8,
  commitMarginSeconds: 1,
  maxUtteranceSeconds: 28,
  speechPadMs: 200,
  minSpeechMs: 250,
  vadThreshold: 0.5,
  idleTimeoutMs: 10_000,
  flushTimeoutMs: 60_000,
  lagWarnSeconds: 5,
  maxQueuedSeconds: 120,
  maxSendBufferBytes: 1024 * 1024,
  finalTemperatures: [0, 0.2, 0.4],
  compressionRatioThreshold: 2.4,
};

export interface SessionDeps {
  id: string;
  params: ListenParams;
  config: SessionConfig;
  model: ModelInfo;
  vad: VadModel;
  store: TranscriptStore;
  scheduler: {
    submit(job: TranscribeJob): Promise<WindowResult | null>;
    dropInterims(session: string): void;
  };
  /** Encodes the session's prompt (keyterms) into decoder tokens once. */
  encodePrompt?: (text: string) => number[];
  /** Extra delay factor for interims under load (1 = nominal cadence, Infinity = none now). */
  interimBackoff?: () => number;
  /** Observes results and received audio (metrics). */
  observe?: { result(kind: 'final' | 'interim', lag: number): void; audio(seconds: number): void };
  send(message: object): 'ok' | 'backpressure' | 'dropped';
  bufferedAmount(): number;
  close(code: number, reason: string): void;
  log: {
    info(o: object, msg?: string): void;
    warn(o: object, msg?: string): void;
    error(o: object, msg?: string): void;
  };
  /** Resume: the session's committed time in an earlier connection; times continue from there. */
  timeOffset?: number;
  seqStart?: number;
  /** This connection continues an earlier one (said in the opening Metadata). */
  resumed?: boolean;
  onEnd?: (s: StreamSession) => void;
}

interface Utterance {
  id: number;
  /** Audio start (with the VAD pad). */
  start: number;
  /** Start to report: the unpadded speech onset, then each early commit's end. */
  reportFrom: number;
  /** Audio before this time is already final. */
  committed: number;
  /** Last hypothesis (after the committed prefix), for LocalAgreement. */
  hypothesis: DgWord[] | null;
  interimInFlight: boolean;
  lastInterimAt: number;
}

/** A final requested and not yet stored: the audio it covers (committed time cannot pass `from` before it is). */
interface PendingFinal {
  from: number;
  to: number;
}

/** The stream is ending: the client's CloseStream (flush limit) and/or the server's shutdown (drain deadline). */
interface Closing {
  byClient: boolean;
  shutdown: boolean;
  deadline: number;
  timer: NodeJS.Timeout | null;
}

/** Close reasons are cut to 123 bytes by the WebSocket protocol. */
const MAX_REASON_BYTES = 123;

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** Words fitted to the span a Results reports, as resultsMessage rounds its start and duration. */
function fitToReport(words: readonly DgWord[], from: number, to: number): DgWord[] {
  const start = round3(from);
  return clampWords(words, start, start + round3(Math.max(0, to - from)));
}

/**
 * One live /v1/listen stream: bytes -> PCM -> 16 kHz -> Silero VAD -> utterances -> scheduler jobs -> Deepgram
 * messages. Audio is processed strictly in arrival order on one promise chain; finals are delivered in the order
 * they were requested and written to the store before they are sent.
 *
 * Lifecycle: live, then ending (CloseStream or shutdown: no more input, the flush is decoded, bounded by a
 * deadline), then closed (no socket: nothing is sent, but what was received is still decoded into stored finals),
 * then ended (all decoding done, the store's record final).
 */
export class StreamSession {
  readonly id: string;
  private readonly decoder: PcmDecoder;
  private readonly resampler: StreamingResampler | null;
  private readonly vad: VadStream;
  private readonly segmenter: UtteranceSegmenter;
  /** How far back a speech_start can still reach from the segmenter's clock (min speech, pad, a frame). */
  private readonly vadLookback: number;
  private chain: Promise<void> = Promise.resolve();
  private finals: Promise<void> = Promise.resolve();
  private queuedSamples = 0;
  /** 16 kHz audio from sample index `bufStart` on; grown on first audio, so idle connections cost little. */
  private buf = new Float32Array(0);
  private bufLen = 0;
  private bufStart = 0;
  private received = 0;
  private utt: Utterance | null = null;
  private uttCounter = 0;
  private seq: number;
  /** Seq of the last final written to the store (or sent empty), and of the last one the client was sent. */
  private storedSeq: number;
  private sentSeq: number;
  private readonly pending: PendingFinal[] = [];
  /** See SessionRecord.committed; only grows. */
  private committed: number;
  private recordedCommitted: number;
  private lastFinalEnd = 0;
  private lastWordEnd: number | null = null;
  private utteranceEndSent = true;
  private idleTimer: NodeJS.Timeout | null = null;
  /** Finalize requests not answered yet: the client may be waiting for them, so the idle timeout does not run. */
  private awaitingFinalize = 0;
  /** No more input: the flush of what was received is queued. */
  private inputEnded = false;
  /** The flush has run: every received sample is in a requested final or was judged non-speech. */
  private flushed = false;
  private closing: Closing | null = null;
  /** The socket is closed (by either side): nothing more is sent. */
  private closed = false;
  private ended = false;
  /** Audio that arrived while the stream was ending: not decoded, but part of the input's extent. */
  private readonly refused = { seconds: 0, told: false };
  private lagging = false;
  private readonly created = new Date();
  private readonly promptTokens: number[];
  private readonly socketClosed: Promise<void>;
  private resolveSocketClosed!: () => void;
  private readonly done: Promise<void>;
  private resolveDone!: () => void;
  readonly stats = { finals: 0, interims: 0, droppedInterims: 0, bytes: 0 };

  constructor(private readonly d: SessionDeps) {
    this.id = d.id;
    const p = d.params;
    this.decoder = new PcmDecoder({ encoding: p.encoding, channels: p.channels });
    this.resampler = p.sampleRate === SAMPLE_RATE ? null : new StreamingResampler(p.sampleRate, SAMPLE_RATE);
    this.vad = d.vad.createStream();
    const frameSeconds = d.vad.frameSamples / SAMPLE_RATE;
    this.segmenter = new UtteranceSegmenter({
      frameSeconds,
      threshold: d.config.vadThreshold,
      minSpeechMs: d.config.minSpeechMs,
      endpointingMs: p.endpointing,
      speechPadMs: d.config.speechPadMs,
      maxUtteranceSeconds: d.config.maxUtteranceSeconds,
    });
    this.vadLookback = (d.config.minSpeechMs + d.config.speechPadMs) / 1000 + frameSeconds;
    this.seq = this.storedSeq = this.sentSeq = d.seqStart ?? 0;
    this.committed = this.recordedCommitted = this.offset;
    this.promptTokens = p.prompt && d.encodePrompt ? d.encodePrompt(p.prompt) : [];
    this.socketClosed = new Promise((r) => (this.resolveSocketClosed = r));
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  private get offset(): number {
    return this.d.timeOffset ?? 0;
  }
  /** Seconds of audio received, on the session's clock. */
  get receivedSeconds(): number {
    return this.offset + this.received / SAMPLE_RATE;
  }
  /** The socket is gone or closing, and the session is only finishing its decoding. */
  get flushing(): boolean {
    return this.closed || this.closing !== null;
  }
  /** The input's extent: audio processed, queued, and refused while ending. */
  private get extent(): number {
    return this.receivedSeconds + this.queuedSamples / SAMPLE_RATE + this.refused.seconds;
  }

  start(): void {
    this.send(this.metadata(0));
    this.touch();
  }

  /** Resume: re-sends stored finals (after the client's last seen seq) before any new result. */
  replay(finals: readonly StoredFinal[]): void {
    for (const f of finals) {
      this.send(
        resultsMessage({
          requestId: this.id,
          model: this.d.model,
          start: f.start,
          end: f.end,
          isFinal: true,
          speechFinal: f.speech_final,
          fromFinalize: f.from_finalize,
          words: f.words,
          punctuated: this.d.params.punctuate || this.d.params.smartFormat,
          seq: f.seq,
          lag: 0,
        }),
      );
    }
  }

  onAudio(bytes: Uint8Array): void {
    if (this.closed) return;
    if (this.closing) {
      this.refuse(bytes.length);
      return;
    }
    this.touch();
    if (bytes.length === 0) {
      // Deepgram's legacy end-of-stream signal.
      this.closeStream();
      return;
    }
    this.stats.bytes += bytes.length;
    const samples = this.toSamples16k(bytes.length);
    this.queuedSamples += samples;
    if (this.queuedSamples > this.d.config.maxQueuedSeconds * SAMPLE_RATE) {
      this.fail(1013, 'audio arrives faster than it can be processed');
      return;
    }
    this.enqueue(async () => {
      this.queuedSamples -= samples;
      let pcm: Float32Array;
      try {
        pcm = this.decoder.push(bytes);
      } catch (err) {
        this.d.log.warn({ session: this.id, err: (err as Error).message }, 'undecodable audio');
        this.fail(1011, 'DATA-0000');
        return;
      }
      await this.ingest(this.resampler ? this.resampler.push(pcm) : pcm);
    });
    this.checkLag();
  }

  onText(text: string): void {
    if (this.closed) return;
    let msg: { type?: unknown };
    try {
      msg = JSON.parse(text) as { type?: unknown };
    } catch {
      this.send(
        errorMessage(
          'INVALID_MESSAGE',
          'text frames must be JSON control messages such as {"type":"KeepAlive"}',
        ),
      );
      return;
    }
    switch (msg?.type) {
      case 'KeepAlive':
        this.touch();
        return;
      case 'Finalize':
        // Once ending, the flush answers for everything received: a Finalize would only add an empty final.
        if (this.closing) return;
        this.awaitingFinalize++;
        this.clearIdle();
        this.enqueue(async () => {
          this.finalizeNow(true);
          void this.finals.then(() => {
            this.awaitingFinalize--;
            this.touch();
          });
        });
        return;
      case 'CloseStream':
        this.closeStream();
        return;
      default:
        this.send(
          errorMessage(
            'INVALID_MESSAGE',
            `unknown control message type ${quoteInput(msg?.type)}: use KeepAlive, Finalize or CloseStream`,
          ),
        );
    }
  }

  /** The client went away: no more sends, but what it sent is still decoded into stored finals. */
  onClientClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.afterSocket();
  }

  /**
   * Server shutdown: finalize, deliver the finals decoded by `deadline` (epoch ms), then Metadata and 1001 (its
   * reason says what was not decoded and how to resume). Resolves once the socket is closed; for a stream whose
   * client already left, once its decoding is done or at the deadline.
   */
  drain(deadline: number): Promise<void> {
    if (this.closed) return settleBy(this.done, deadline);
    this.beginClosing(true, deadline);
    return this.socketClosed;
  }

  /** Resolves when the session has finished decoding and its store record is final. */
  whenDone(): Promise<void> {
    return this.done;
  }

  private closeStream(): void {
    const limit = this.d.config.flushTimeoutMs;
    this.beginClosing(false, limit > 0 ? Date.now() + limit : Infinity);
  }

  /** Ends the input and closes once its finals are out, or at the deadline with what is out by then. */
  private beginClosing(shutdown: boolean, deadline: number): void {
    if (this.closed) return;
    let c = this.closing;
    if (!c) {
      c = this.closing = { byClient: !shutdown, shutdown, deadline: Infinity, timer: null };
      this.clearIdle();
      this.endInput();
      void this.settled().then(() => this.closeComplete());
    }
    c.shutdown ||= shutdown;
    if (deadline >= c.deadline) return;
    c.deadline = deadline;
    if (c.timer) clearTimeout(c.timer);
    c.timer = setTimeout(() => this.closeAtDeadline(), Math.max(0, deadline - Date.now()));
  }

  private closeComplete(): void {
    if (this.closed || !this.closing) return;
    // The client asked to close and has everything: a shutdown meanwhile changes nothing for it.
    if (this.closing.byClient) {
      this.closeWithSummary(1000, '');
      return;
    }
    const head =
      this.refused.seconds > 0
        ? `server shutting down: audio after ${this.committed.toFixed(1)} s not decoded`
        : 'server shutting down';
    this.closeWithSummary(1001, this.resumeReason(head));
  }

  private closeAtDeadline(): void {
    if (this.closed || !this.closing) return;
    const shutdown = this.closing.shutdown;
    this.d.log.warn(
      {
        session: this.id,
        committed: round3(this.committed),
        received: round3(this.extent),
        pendingFinals: this.pending.length,
      },
      shutdown
        ? 'drain deadline: closing a stream whose finals are still decoding'
        : 'flush limit: closing a stream whose finals are still decoding',
    );
    const what = `audio after ${this.committed.toFixed(1)} s not decoded`;
    this.closeWithSummary(
      shutdown ? 1001 : 1011,
      this.resumeReason(shutdown ? `server shutting down: ${what}` : `flush limit: ${what}`),
    );
  }

  /** A close reason with how to resume, shortened to fit the 123 bytes a reason may have. */
  private resumeReason(head: string): string {
    for (const r of [
      `${head}; resume with session=${this.id}&resume_from=${this.sentSeq}`,
      `${head}; resume_from=${this.sentSeq}`,
    ]) {
      if (Buffer.byteLength(r) <= MAX_REASON_BYTES) return r;
    }
    return head.slice(0, MAX_REASON_BYTES);
  }

  /** Audio while ending is not decoded: the client is told once, and it counts in the input's extent. */
  private refuse(bytes: number): void {
    if (bytes === 0) return;
    this.refused.seconds += this.toSamples16k(bytes) / SAMPLE_RATE;
    if (this.refused.told) return;
    this.refused.told = true;
    this.send(
      !this.closing?.byClient
        ? errorMessage(
            'SHUTTING_DOWN',
            `server shutting down: audio after ${this.receivedSeconds.toFixed(1)} s is not decoded; resume with session=${this.id} and re-send audio from committed_until`,
          )
        : errorMessage('STREAM_CLOSING', 'audio after CloseStream is not decoded'),
    );
  }

  private toSamples16k(bytes: number): number {
    const p = this.d.params;
    return ((bytes / (bytesPerSample(p.encoding) * p.channels)) * SAMPLE_RATE) / p.sampleRate;
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
      const finals = this.finals;
      await chain;
      await finals;
      if (chain === this.chain && finals === this.finals) return;
    }
  }

  private enqueue(work: () => Promise<void>): void {
    this.chain = this.chain.then(work).catch((err: unknown) => this.internalError(err));
  }

  private internalError(err: unknown): void {
    this.d.log.error(
      { session: this.id, err: (err as Error).message, stack: (err as Error).stack },
      'session failed',
    );
    // A final the store would not take (Redis gone past its outage limit) was not sent: say why and how to resume.
    const unstored = err instanceof StoreUnavailableError;
    this.fail(1011, unstored ? this.resumeReason('transcript store unavailable') : 'internal error');
  }

  private async ingest(samples: Float32Array): Promise<void> {
    if (samples.length === 0) return;
    this.append(samples);
    this.d.observe?.audio(samples.length / SAMPLE_RATE);
    const probs = await this.vad.push(samples);
    this.handle(this.segmenter.push(probs));
    this.maybeInterim();
    this.maybeUtteranceEnd();
    // Silence advances the committed time too; the store hears of it a second at a time.
    this.advanceCommitted();
    if (this.committed - this.recordedCommitted >= 1) this.record({ committed: this.committed });
  }

  private append(samples: Float32Array): void {
    if (this.bufLen + samples.length > this.buf.length) {
      // Keep only what an utterance can still need: from its start (or 2 s back when silent).
      const keepFrom = this.utt
        ? Math.floor((this.utt.committed - this.offset) * SAMPLE_RATE) - SAMPLE_RATE
        : this.received - 2 * SAMPLE_RATE;
      const drop = Math.max(0, Math.min(this.bufLen, keepFrom - this.bufStart));
      if (drop > 0) {
        this.buf.copyWithin(0, drop, this.bufLen);
        this.bufLen -= drop;
        this.bufStart += drop;
      }
      if (this.bufLen + samples.length > this.buf.length) {
        const grown = new Float32Array(
          Math.max(this.buf.length * 2, this.bufLen + samples.length, SAMPLE_RATE * 4),
        );
        grown.set(this.buf.subarray(0, this.bufLen));
        this.buf = grown;
      }
    }
    this.buf.set(samples, this.bufLen);
    this.bufLen += samples.length;
    this.received += samples.length;
  }

  /** Audio between two session times (clipped to what is buffered). */
  private audio(from: number, to: number): Float32Array {
    const a = Math.max(this.bufStart, Math.round((from - this.offset) * SAMPLE_RATE));
    const b = Math.min(this.bufStart + this.bufLen, Math.round((to - this.offset) * SAMPLE_RATE));
    return this.buf.slice(a - this.bufStart, Math.max(a, b) - this.bufStart);
  }

  private handle(events: SegmentEvent[]): void {
    for (const e of events) {
      const t = this.offset + e.time;
      if (e.type === 'speech_start') {
        this.utt = this.newUtterance(t, this.offset + e.speech);
        if (this.d.params.vadEvents) this.send(speechStartedMessage(this.offset + e.speech));
      } else if (e.type === 'speech_end') {
        const u = this.utt;
        if (u) {
          const end = Math.min(t, this.receivedSeconds);
          this.requestFinal(
            u.committed,
            end,
            u.reportFrom,
            Math.max(u.reportFrom, this.offset + e.speech),
            true,
            false,
          );
        }
        this.utt = null;
      } else if (e.type === 'forced_split') {
        if (this.utt) this.requestFinal(this.utt.committed, t, this.utt.reportFrom, t, false, false);
        this.utt = this.newUtterance(t, t);
      }
    }
  }

  private newUtterance(start: number, reportFrom: number): Utterance {
    return {
      id: ++this.uttCounter,
      start,
      reportFrom,
      committed: start,
      hypothesis: null,
      interimInFlight: false,
      lastInterimAt: -Infinity,
    };
  }

  /** End of input: the resampler's and the segmenter's tails, then what is still open becomes final. */
  private async flushAudio(): Promise<void> {
    const tail = this.resampler?.flush();
    if (tail?.length) {
      this.append(tail);
      this.handle(this.segmenter.push(await this.vad.push(tail)));
    }
    this.handle(this.segmenter.flush());
    this.finalizeNow(false);
    this.flushed = true;
    this.advanceCommitted();
  }

  /** Decode what is buffered now (Finalize, close): the utterance in progress becomes final. */
  private finalizeNow(fromFinalize: boolean): void {
    const now = this.receivedSeconds;
    if (this.utt && now - this.utt.committed > 0.05) {
      this.requestFinal(this.utt.committed, now, this.utt.reportFrom, now, false, fromFinalize);
      this.utt = this.segmenter.inSpeech ? this.newUtterance(now, now) : null;
    } else if (fromFinalize) {
      // Nothing to decode: still answer, so a client waiting for the flush is released.
      const span = { from: now, to: now };
      this.queueFinal(span, () => this.deliverFinal(span, [], now, now, false, true));
    }
  }

  private job(kind: JobKind, from: number, to: number): TranscribeJob {
    return {
      session: this.id,
      kind,
      window: {
        audio: this.audio(from, to),
        offset: from,
        promptTokens: this.promptTokens,
        language: this.d.params.language,
      },
      options: {
        wordTimestamps: true,
        temperatures: kind === 'final' ? this.d.config.finalTemperatures : [0],
        compressionRatioThreshold: this.d.config.compressionRatioThreshold,
      },
    };
  }

  /** Decodes [from, to] as a final; the Results reports [reportFrom, reportTo] (VAD speech, without pads). */
  private requestFinal(
    from: number,
    to: number,
    reportFrom: number,
    reportTo: number,
    speechFinal: boolean,
    fromFinalize: boolean,
  ): void {
    if (to - from < 0.05) return;
    const span = { from, to };
    const result = this.d.scheduler.submit(this.job('final', from, to));
    this.queueFinal(span, async () => {
      let r: WindowResult | null = null;
      try {
        r = await result;
      } catch (err) {
        this.d.log.error({ session: this.id, err: (err as Error).message }, 'final decode failed');
      }
      await this.deliverFinal(
        span,
        r ? this.words(r, from, to) : [],
        reportFrom,
        reportTo,
        speechFinal,
        fromFinalize,
      );
    });
  }

  /** Finals are delivered one after another in the order they were queued. */
  private queueFinal(span: PendingFinal, deliver: () => Promise<void>): void {
    this.pending.push(span);
    this.finals = this.finals.then(deliver).catch((err: unknown) => this.internalError(err));
  }

  private words(r: WindowResult, from: number, to: number): DgWord[] {
    const segs = r.segments.filter((s) => s.compression_ratio <= this.d.config.compressionRatioThreshold);
    const words = toDgWords(
      segs.flatMap((s) => s.words ?? []),
      this.d.params.language ? undefined : r.language,
    );
    return clampWords(collapseRepeats(words), from, to, Math.max(from, this.lastFinalEnd));
  }

  private async deliverFinal(
    span: PendingFinal,
    decoded: DgWord[],
    from: number,
    to: number,
    speechFinal: boolean,
    fromFinalize: boolean,
  ): Promise<void> {
    const seq = ++this.seq;
    const words = fitToReport(decoded, from, to);
    const msg = resultsMessage({
      requestId: this.id,
      model: this.d.model,
      start: from,
      end: to,
      isFinal: true,
      speechFinal,
      fromFinalize,
      words,
      punctuated: this.d.params.punctuate || this.d.params.smartFormat,
      seq,
      lag: this.receivedSeconds - span.to,
    });
    if (words.length > 0) {
      // Written before it is sent: a client that reconnects gets it from the store.
      await this.d.store.append(this.id, {
        seq,
        start: msg.start,
        end: msg.start + msg.duration,
        transcript: msg.channel.alternatives[0].transcript,
        words,
        speech_final: speechFinal,
        from_finalize: fromFinalize,
      });
      this.lastWordEnd = words[words.length - 1].end;
      this.utteranceEndSent = false;
    }
    this.storedSeq = seq;
    this.pending.splice(this.pending.indexOf(span), 1);
    this.lastFinalEnd = Math.max(this.lastFinalEnd, span.to);
    this.advanceCommitted();
    await this.record({ committed: this.committed, lastSeq: seq });
    this.stats.finals++;
    this.d.observe?.result('final', msg.lag);
    if (this.send(msg)) this.sentSeq = seq;
    this.checkLag();
  }

  /** See SessionRecord.committed: the earliest of open speech, finals not stored yet, and undecided silence. */
  private advanceCommitted(): void {
    let c = this.flushed
      ? this.receivedSeconds
      : this.offset + Math.max(0, this.segmenter.time - this.vadLookback);
    if (this.utt) c = Math.min(c, this.utt.committed);
    if (this.pending.length) c = Math.min(c, this.pending[0].from);
    this.committed = Math.max(this.committed, c);
  }

  private record(patch: RecordPatch): Promise<void> {
    if (patch.committed !== undefined) this.recordedCommitted = patch.committed;
    return this.d.store.update(this.id, patch).catch((err: unknown) => {
      this.d.log.warn({ session: this.id, err: (err as Error).message }, 'transcript store update failed');
    });
  }

  /** A warning when finals fall behind the audio by more than lagWarnSeconds; once per episode, not per frame. */
  private checkLag(): void {
    const waiting = this.pending.length ? this.receivedSeconds - this.pending[0].to : 0;
    const lag = Math.max(0, waiting) + this.queuedSamples / SAMPLE_RATE;
    const limit = this.d.config.lagWarnSeconds;
    if (!this.lagging && lag > limit) {
      this.lagging = true;
      this.d.log.warn(
        { session: this.id, lag: round3(lag), pendingFinals: this.pending.length },
        `stream falling behind: finals ${lag.toFixed(1)} s behind the audio`,
      );
    } else if (this.lagging && lag < limit / 2) {
      this.lagging = false;
      this.d.log.info({ session: this.id, lag: round3(lag) }, 'stream caught up');
    }
  }

  private maybeInterim(): void {
    const u = this.utt;
    if (!u || u.interimInFlight || this.pending.length > 0 || this.closed || this.inputEnded) return;
    const now = this.receivedSeconds;
    const long = now - u.start >= this.d.config.earlyCommitSeconds;
    if (!this.d.params.interimResults && !long) return;
    const interval = (this.d.config.interimIntervalMs / 1000) * (this.d.interimBackoff?.() ?? 1);
    if (now - u.lastInterimAt < interval || now - u.committed < 0.3) return;
    u.lastInterimAt = now;
    u.interimInFlight = true;
    const from = u.committed;
    this.d.scheduler
      .submit(this.job('interim', from, now))
      .then((r) => {
        u.interimInFlight = false;
        // A final for this audio went out meanwhile, or the input is over: the hypothesis is stale.
        if (!r || this.utt !== u || u.committed !== from || this.closed || this.inputEnded) {
          this.stats.droppedInterims++;
          return;
        }
        this.onHypothesis(u, this.words(r, from, now), from, now);
      })
      .catch((err: unknown) => {
        u.interimInFlight = false;
        this.d.log.warn({ session: this.id, err: (err as Error).message }, 'interim decode failed');
      });
  }

  /** LocalAgreement-2 on long utterances, then an interim for the rest. */
  private onHypothesis(u: Utterance, words: DgWord[], from: number, to: number): void {
    let rest = words;
    if (u.hypothesis && to - u.start >= this.d.config.earlyCommitSeconds) {
      let n = agreedPrefix(u.hypothesis, words);
      while (n > 0 && words[n - 1].end > to - this.d.config.commitMarginSeconds) n--;
      if (n > 0) {
        const commit = words.slice(0, n);
        const until = commit[n - 1].end;
        const reportFrom = u.reportFrom;
        const span = { from: u.committed, to: until };
        u.committed = u.reportFrom = until;
        this.queueFinal(span, () => this.deliverFinal(span, commit, reportFrom, until, false, false));
        rest = words.slice(n);
      }
    }
    u.hypothesis = rest;
    if (!this.d.params.interimResults || rest.length === 0) return;
    if (this.d.bufferedAmount() > this.d.config.maxSendBufferBytes) {
      this.stats.droppedInterims++;
      return;
    }
    this.stats.interims++;
    this.d.observe?.result('interim', this.receivedSeconds - to);
    this.send(
      resultsMessage({
        requestId: this.id,
        model: this.d.model,
        start: u.committed,
        end: to,
        isFinal: false,
        speechFinal: false,
        fromFinalize: false,
        words: fitToReport(rest, u.committed, to),
        punctuated: this.d.params.punctuate || this.d.params.smartFormat,
        lag: this.receivedSeconds - to,
      }),
    );
  }

  /** Deepgram's UtteranceEnd: a word gap of utterance_end_ms after the last final word. */
  private maybeUtteranceEnd(): void {
    const ms = this.d.params.utteranceEndMs;
    if (!ms || this.utteranceEndSent || this.lastWordEnd === null || this.pending.length > 0) return;
    if (this.segmenter.inSpeech) return;
    if (this.receivedSeconds - this.lastWordEnd >= ms / 1000) {
      this.utteranceEndSent = true;
      this.send(utteranceEndMessage(this.lastWordEnd));
    }
  }

  private metadata(duration: number) {
    return metadataMessage({
      requestId: this.id,
      model: this.d.model,
      created: this.created,
      duration,
      channels: this.d.params.channels,
      resume: {
        session: this.id,
        resumed: this.d.resumed ?? false,
        lastSeq: this.storedSeq,
        committedUntil: this.committed,
      },
    });
  }

  /**
   * Sends unless closed; true when the client was handed the message. A message the transport would not queue
   * (its buffer is far past where interims stop) means the client does not read: everything so far is stored,
   * so it is closed with 1008 and can resume.
   */
  private send(msg: object): boolean {
    if (this.closed) return false;
    const result = this.d.send(msg);
    if (result === 'ok') return true;
    const buffered = this.d.bufferedAmount();
    // 'dropped' with nothing buffered: the socket is gone and its close handler is on its way.
    if (buffered > this.d.config.maxSendBufferBytes) {
      const mib = (buffered / 2 ** 20).toFixed(1);
      this.fail(1008, this.resumeReason(`client is not reading (${mib} MiB unsent)`));
    }
    return result === 'backpressure';
  }

  private touch(): void {
    this.clearIdle();
    if (this.d.config.idleTimeoutMs > 0 && !this.closed && !this.closing && this.awaitingFinalize === 0) {
      this.idleTimer = setTimeout(() => this.fail(1011, 'NET-0001'), this.d.config.idleTimeoutMs);
    }
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  private fail(code: number, reason: string): void {
    if (this.closed) return;
    this.d.log.info({ session: this.id, code, reason }, 'closing stream');
    this.finish(code, reason);
  }

  private closeWithSummary(code: number, reason: string): void {
    this.send(this.metadata(this.receivedSeconds));
    this.finish(code, reason);
  }

  private finish(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.d.close(code, reason);
    this.afterSocket();
  }

  /** No socket any more: no interims, the store says closed, and what was received is decoded into the store. */
  private afterSocket(): void {
    this.clearIdle();
    if (this.closing?.timer) clearTimeout(this.closing.timer);
    this.resolveSocketClosed();
    this.d.scheduler.dropInterims(this.id);
    void this.record({ status: 'closed' });
    this.endInput();
    void this.settled().then(() => this.end());
  }

  private async end(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.advanceCommitted();
    await this.record({ duration: this.extent, committed: this.committed, lastSeq: this.seq });
    this.d.onEnd?.(this);
    this.resolveDone();
  }
}

/** Resolves when `p` does or at `deadline` (epoch ms), whichever is first. */
function settleBy(p: Promise<void>, deadline: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((r) => (timer = setTimeout(r, Math.max(0, deadline - Date.now()))));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

import { bytesPerSample, PcmDecoder } from '../audio/pcm.js';
import { StreamingResampler } from '../audio/resample.js';
import { UtteranceSegmenter, type SegmentEvent } from '../audio/segmenter.js';
import type { VadModel, VadStream } from '../models/vad.js';
import type { JobKind, TranscribeJob } from '../models/scheduler.js';
import type { WindowResult } from '../models/transcribe.js';
import type { ListenParams } from './params.js';
import {
  errorMessage,
  metadataMessage,
  resultsMessage,
  speechStartedMessage,
  toDgWords,
  utteranceEndMessage,
  type DgWord,
  type ModelInfo,
} from './protocol.js';
import type { StoredFinal, TranscriptStore } from './store.js';
import { agreedPrefix, clampWords, collapseRepeats } from './words.js';

const RATE = 16000;

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
  /** No audio or KeepAlive for this long closes with 1011 NET-0001. */
  idleTimeoutMs: number;
  /** Audio queued for processing beyond this closes the stream (1013): the client outruns the server. */
  maxQueuedSeconds: number;
  /** A socket buffering more than this drops interims; finals are never dropped. */
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
  maxQueuedSeconds: 120,
  maxSendBufferBytes: 4 * 1024 * 1024,
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
  /** Seconds already transcribed in an earlier connection of this session (resume): times continue from there. */
  timeOffset?: number;
  seqStart?: number;
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

/**
 * One live /v1/listen stream: bytes -> PCM -> 16 kHz -> Silero VAD -> utterances -> scheduler jobs -> Deepgram
 * messages. Audio is processed strictly in arrival order on one promise chain; finals are delivered in the order
 * they were requested and written to the store before they are sent.
 */
export class StreamSession {
  readonly id: string;
  private readonly decoder: PcmDecoder;
  private readonly resampler: StreamingResampler | null;
  private readonly vad: VadStream;
  private readonly segmenter: UtteranceSegmenter;
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
  private lastFinalEnd = 0;
  private lastWordEnd: number | null = null;
  private utteranceEndSent = true;
  private pendingFinals = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private ending = false;
  private readonly created = new Date();
  private readonly promptTokens: number[];
  readonly stats = { finals: 0, interims: 0, droppedInterims: 0, bytes: 0 };

  constructor(private readonly d: SessionDeps) {
    this.id = d.id;
    const p = d.params;
    this.decoder = new PcmDecoder({ encoding: p.encoding, channels: p.channels });
    this.resampler = p.sampleRate === RATE ? null : new StreamingResampler(p.sampleRate, RATE);
    this.vad = d.vad.createStream();
    this.segmenter = new UtteranceSegmenter({
      frameSeconds: d.vad.frameSamples / RATE,
      threshold: d.config.vadThreshold,
      minSpeechMs: d.config.minSpeechMs,
      endpointingMs: p.endpointing,
      speechPadMs: d.config.speechPadMs,
      maxUtteranceSeconds: d.config.maxUtteranceSeconds,
    });
    this.seq = d.seqStart ?? 0;
    this.promptTokens = p.prompt && d.encodePrompt ? d.encodePrompt(p.prompt) : [];
  }

  private get offset(): number {
    return this.d.timeOffset ?? 0;
  }
  /** Seconds of audio received, on the session's clock. */
  get receivedSeconds(): number {
    return this.offset + this.received / RATE;
  }

  start(): void {
    this.send(
      metadataMessage({
        requestId: this.id,
        model: this.d.model,
        created: this.created,
        duration: 0,
        channels: this.d.params.channels,
      }),
    );
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
    if (this.ending || this.closed) return;
    this.touch();
    if (bytes.length === 0) {
      // Deepgram's legacy end-of-stream signal.
      this.closeStream();
      return;
    }
    this.stats.bytes += bytes.length;
    const samples = bytes.length / (bytesPerSample(this.d.params.encoding) * this.d.params.channels);
    this.queuedSamples += (samples * RATE) / this.d.params.sampleRate;
    if (this.queuedSamples > this.d.config.maxQueuedSeconds * RATE) {
      this.fail(1013, 'audio arrives faster than it can be processed');
      return;
    }
    this.enqueue(async () => {
      this.queuedSamples -= (samples * RATE) / this.d.params.sampleRate;
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
        this.touch();
        this.enqueue(async () => this.finalizeNow(true));
        return;
      case 'CloseStream':
        this.closeStream();
        return;
      default:
        this.send(
          errorMessage(
            'INVALID_MESSAGE',
            `unknown control message type ${JSON.stringify(msg?.type)}: use KeepAlive, Finalize or CloseStream`,
          ),
        );
    }
  }

  /** The client went away: no more sends, but queued finals are still decoded and stored. */
  onClientClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearIdle();
    this.d.scheduler.dropInterims(this.id);
    this.enqueue(async () => {
      await this.flushAudio();
    });
    void this.chain.then(() => this.finals).then(() => this.end());
  }

  /** Server shutdown: finalize, deliver, close 1001. */
  async drain(): Promise<void> {
    if (this.closed || this.ending) return this.whenDone();
    this.ending = true;
    this.enqueue(async () => this.flushAudio());
    await this.chain;
    await this.finals;
    this.finish(1001, 'server shutting down');
  }

  private done?: Promise<void>;
  private resolveDone?: () => void;
  whenDone(): Promise<void> {
    this.done ??= new Promise((r) => (this.resolveDone = r));
    return this.done;
  }

  private closeStream(): void {
    if (this.ending) return;
    this.ending = true;
    this.enqueue(async () => this.flushAudio());
    void this.chain
      .then(() => this.finals)
      .then(() => {
        this.send(
          metadataMessage({
            requestId: this.id,
            model: this.d.model,
            created: this.created,
            duration: this.receivedSeconds,
            channels: this.d.params.channels,
          }),
        );
        this.finish(1000, '');
      });
  }

  private enqueue(work: () => Promise<void>): void {
    this.chain = this.chain.then(work).catch((err: unknown) => {
      this.d.log.error(
        { session: this.id, err: (err as Error).message, stack: (err as Error).stack },
        'session failed',
      );
      this.fail(1011, 'internal error');
    });
  }

  private async ingest(samples: Float32Array): Promise<void> {
    if (samples.length === 0) return;
    this.append(samples);
    this.d.observe?.audio(samples.length / RATE);
    const probs = await this.vad.push(samples);
    this.handle(this.segmenter.push(probs));
    this.maybeInterim();
    this.maybeUtteranceEnd();
  }

  private append(samples: Float32Array): void {
    if (this.bufLen + samples.length > this.buf.length) {
      // Keep only what an utterance can still need: from its start (or 2 s back when silent).
      const keepFrom = this.utt
        ? Math.floor((this.utt.committed - this.offset) * RATE) - RATE
        : this.received - 2 * RATE;
      const drop = Math.max(0, Math.min(this.bufLen, keepFrom - this.bufStart));
      if (drop > 0) {
        this.buf.copyWithin(0, drop, this.bufLen);
        this.bufLen -= drop;
        this.bufStart += drop;
      }
      if (this.bufLen + samples.length > this.buf.length) {
        const grown = new Float32Array(Math.max(this.buf.length * 2, this.bufLen + samples.length, RATE * 4));
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
    const a = Math.max(this.bufStart, Math.round((from - this.offset) * RATE));
    const b = Math.min(this.bufStart + this.bufLen, Math.round((to - this.offset) * RATE));
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
  }

  /** Decode what is buffered now (Finalize, close): the utterance in progress becomes final. */
  private finalizeNow(fromFinalize: boolean): void {
    const now = this.receivedSeconds;
    if (this.utt && now - this.utt.committed > 0.05) {
      this.requestFinal(this.utt.committed, now, this.utt.reportFrom, now, false, fromFinalize);
      this.utt = this.segmenter.inSpeech ? this.newUtterance(now, now) : null;
    } else if (fromFinalize) {
      // Nothing to decode: still answer, so a client waiting for the flush is released.
      this.finals = this.finals.then(() => this.deliverFinal([], now, now, false, true));
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
    this.pendingFinals++;
    const result = this.d.scheduler.submit(this.job('final', from, to));
    this.finals = this.finals.then(async () => {
      let r: WindowResult | null = null;
      try {
        r = await result;
      } catch (err) {
        this.d.log.error({ session: this.id, err: (err as Error).message }, 'final decode failed');
      }
      this.pendingFinals--;
      await this.deliverFinal(
        r ? this.words(r, from, to) : [],
        reportFrom,
        reportTo,
        speechFinal,
        fromFinalize,
        to,
      );
    });
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
    words: DgWord[],
    from: number,
    to: number,
    speechFinal: boolean,
    fromFinalize: boolean,
    decodedUntil = to,
  ): Promise<void> {
    const seq = ++this.seq;
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
      lag: this.receivedSeconds - decodedUntil,
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
    this.lastFinalEnd = Math.max(this.lastFinalEnd, decodedUntil);
    this.stats.finals++;
    this.d.observe?.result('final', msg.lag);
    this.send(msg);
  }

  private maybeInterim(): void {
    const u = this.utt;
    if (!u || u.interimInFlight || this.pendingFinals > 0 || this.closed || this.ending) return;
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
        // A final for this audio went out meanwhile: the hypothesis is stale.
        if (!r || this.utt !== u || u.committed !== from || this.closed) {
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
        u.committed = u.reportFrom = until;
        this.pendingFinals++;
        this.finals = this.finals.then(async () => {
          this.pendingFinals--;
          await this.deliverFinal(commit, reportFrom, until, false, false);
        });
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
        words: rest,
        punctuated: this.d.params.punctuate || this.d.params.smartFormat,
        lag: this.receivedSeconds - to,
      }),
    );
  }

  /** Deepgram's UtteranceEnd: a word gap of utterance_end_ms after the last final word. */
  private maybeUtteranceEnd(): void {
    const ms = this.d.params.utteranceEndMs;
    if (!ms || this.utteranceEndSent || this.lastWordEnd === null || this.pendingFinals > 0) return;
    if (this.segmenter.inSpeech) return;
    if (this.receivedSeconds - this.lastWordEnd >= ms / 1000) {
      this.utteranceEndSent = true;
      this.send(utteranceEndMessage(this.lastWordEnd));
    }
  }

  private send(msg: object): void {
    if (this.closed) return;
    this.d.send(msg);
  }

  private touch(): void {
    this.clearIdle();
    if (this.d.config.idleTimeoutMs > 0 && !this.closed) {
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

  private finish(code: number, reason: string): void {
    if (!this.closed) {
      this.closed = true;
      this.d.close(code, reason);
    }
    this.clearIdle();
    this.d.scheduler.dropInterims(this.id);
    void this.chain.then(() => this.finals).then(() => this.end());
  }

  private ended = false;
  private end(): void {
    if (this.ended) return;
    this.ended = true;
    void this.d.store.update(this.id, { status: 'closed', duration: this.receivedSeconds });
    this.d.onEnd?.(this);
    this.resolveDone?.();
    this.done ??= Promise.resolve();
  }
}

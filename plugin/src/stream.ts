// The plugin's SpeechStream: one earshot /v1/listen session across reconnects (resume, re-sent audio, exactly-once
// finals) mapped onto LiveKit's speech events. Over 400 lines because the reconnect state machine reads best whole.
import { randomUUID } from 'node:crypto';
import {
  APIConnectionError,
  APIError,
  APITimeoutError,
  type APIConnectOptions,
  log,
  stt,
} from '@livekit/agents';
import type { AudioFrame } from '@livekit/rtc-node';
import { Regrouper, ResumeBuffer } from './audio-buffer.js';
import { Connection, HandshakeRefused, type ServerMessage } from './connection.js';
import { toSpeechData, type MetadataMessage, type ResultsMessage } from './events.js';
import { authHeaders, streamUrl, type STTOptions, type StreamFormat } from './options.js';
import { aborted, sleep, timeout } from './waits.js';

const SpeechEventType = stt.SpeechEventType;
/** 409 on resume: the previous connection is still delivering its last finals; ask again this often. */
const SESSION_BUSY_RETRY_MS = 250;
/** Longest Retry-After honoured before handing the retry to the base class. */
const MAX_RETRY_AFTER_MS = 30_000;

type Outcome = 'done' | 'reconnect';

/**
 * One recognition stream over earshot's /v1/listen. Audio is kept by sample position on the session clock, so
 * when a connection drops the next one resumes the same server session (`session=ID&resume_from=SEQ`), re-sends
 * only the audio the server has not committed, and every final is delivered exactly once.
 */
export class SpeechStream extends stt.SpeechStream {
  label = 'earshot.SpeechStream';
  #opts: STTOptions;
  #connOptions: APIConnectOptions;
  #logger = log();

  // The server-side session.
  #sessionId: string = randomUUID();
  /** A connection of this session has opened: the next one resumes it. */
  #sessionOpened = false;
  /** The seq of the last final delivered (replayed finals at or below it are dropped). */
  #lastSeq = 0;
  /** Session seconds = server seconds + clockShift (not 0 only after the server lost a session). */
  #clockShift = 0;
  /** Where the previous connection's sending stopped (for servers that do not report committed_until). */
  #sentCursor = 0;
  #offset = 0;

  // Audio from the input, by sample position; filled by #pumpInput independently of connections.
  #format?: StreamFormat;
  #buffer?: ResumeBuffer;
  #regrouper?: Regrouper;
  /** Positions after which a Finalize is due (flush()). */
  #finalizeAt: number[] = [];
  #inputEnded = false;
  #pump?: Promise<void>;
  #pumpError?: unknown;
  #wake: () => void = () => {};
  #formatKnown: Promise<void>;
  #resolveFormat!: () => void;
  #warnedGap = false;

  // Events.
  #speaking = false;
  #lastFinalEnd = 0;
  /** Highest sample position ever sent, and how much of it usage has covered. */
  #sentHigh = 0;
  #usageReported = 0;
  #requestReconnect?: () => void;
  /** committed_until of the resumed connection: the point where the previous connection dropped. */
  #dropPoint?: number;
  /** END_OF_SPEECH held back because the server ended the utterance only because the connection dropped. */
  #heldEnd?: NodeJS.Timeout;

  constructor(sttInstance: stt.STT, opts: STTOptions, connOptions: APIConnectOptions) {
    super(sttInstance, opts.sampleRate, connOptions);
    this.#opts = { ...opts };
    this.#connOptions = connOptions;
    this.#formatKnown = new Promise((r) => (this.#resolveFormat = r));
  }

  /** The earshot session id (stable across reconnects); also each event's requestId. */
  get sessionId(): string {
    return this.#sessionId;
  }

  // The base retry loop adds wall-clock time to the offset before each attempt, assuming the provider's clock
  // restarts; a resumed earshot session continues its clock, so the offset stays what the caller set.
  override get startTimeOffset(): number {
    return this.#offset;
  }
  override set startTimeOffset(value: number) {
    if (value < 0) throw new Error('startTimeOffset must be non-negative');
    this.#offset = value;
  }

  /** Applies to the next connection; a live one is closed and the session resumed with the new options. */
  updateOptions(opts: Partial<STTOptions>): void {
    this.#opts = { ...this.#opts, ...opts };
    this.#requestReconnect?.();
  }

  protected async run(): Promise<void> {
    this.#pump ??= this.#pumpInput().catch((err: unknown) => {
      this.#pumpError = err;
      this.#resolveFormat();
      this.#wake();
    });
    await Promise.race([this.#formatKnown, aborted(this.abortSignal)]);
    if (this.#pumpError) throw this.#pumpError;
    if (!this.#format || this.abortSignal.aborted) return; // the input ended before any audio
    for (;;) {
      if (this.abortSignal.aborted) return;
      const resuming = this.#sessionOpened;
      const conn = await this.#connect(resuming);
      if ((await this.#serve(conn, resuming)) === 'done') return;
    }
  }

  async #pumpInput(): Promise<void> {
    for await (const item of this.input) {
      if (typeof item === 'symbol') {
        // flush(): what is buffered goes out, then a Finalize.
        this.#appendTail();
        if (this.#buffer) this.#finalizeAt.push(this.#buffer.end);
      } else {
        this.#appendFrame(item);
      }
      this.#wake();
    }
    this.#appendTail();
    this.#inputEnded = true;
    this.#resolveFormat();
    this.#wake();
  }

  #appendFrame(frame: AudioFrame): void {
    if (frame.samplesPerChannel === 0) return;
    if (!this.#format) {
      if (frame.channels < 1 || frame.channels > 2) {
        throw new APIError(`earshot takes 1 or 2 channels, the input has ${frame.channels}`, {
          retryable: false,
        });
      }
      this.#format = { sampleRate: frame.sampleRate, channels: frame.channels };
      const frameBytes = 2 * frame.channels;
      this.#buffer = new ResumeBuffer(
        frameBytes,
        Math.round(this.#opts.resumeBufferSeconds * frame.sampleRate),
      );
      this.#regrouper = new Regrouper(Math.round(frame.sampleRate / 20) * frameBytes); // 50 ms
      this.#resolveFormat();
    } else if (frame.sampleRate !== this.#format.sampleRate || frame.channels !== this.#format.channels) {
      throw new APIError(
        `earshot STT: the input changed from ${this.#format.sampleRate} Hz x${this.#format.channels} to ` +
          `${frame.sampleRate} Hz x${frame.channels} mid-stream; set the sampleRate option to have LiveKit resample`,
        { retryable: false },
      );
    }
    const d = frame.data;
    for (const chunk of this.#regrouper!.push(new Uint8Array(d.buffer, d.byteOffset, d.byteLength))) {
      this.#buffer!.append(chunk);
    }
  }

  #appendTail(): void {
    const tail = this.#regrouper?.flush();
    if (tail) this.#buffer!.append(tail);
  }

  /** Opens a connection, waiting out a 409 (the previous connection still flushing) and the server's Retry-After. */
  async #connect(resuming: boolean): Promise<Connection> {
    const { timeoutMs } = this.#connOptions;
    const busyUntil = Date.now() + timeoutMs;
    for (;;) {
      const url = streamUrl(this.#opts, this.#format!, this.#sessionId, resuming ? this.#lastSeq : undefined);
      try {
        return await Connection.open(url, await authHeaders(this.#opts), timeoutMs, this.abortSignal);
      } catch (err) {
        if (!(err instanceof HandshakeRefused)) throw err;
        if (err.statusCode === 409) {
          if (Date.now() < busyUntil) {
            await sleep(SESSION_BUSY_RETRY_MS, this.abortSignal);
            continue;
          }
          throw new APIConnectionError({
            message: `earshot: session ${this.#sessionId} is still live elsewhere`,
          });
        }
        if (err.statusCode === 404 && resuming) {
          // The server no longer knows the session (restarted without a shared store): start a new one.
          this.#logger.warn(
            { session: this.#sessionId },
            'earshot: session lost on the server, starting a new one',
          );
          this.#sessionId = randomUUID();
          this.#sessionOpened = false;
          resuming = false;
          continue;
        }
        if (err.retryable && err.retryAfterMs)
          await sleep(Math.min(err.retryAfterMs, MAX_RETRY_AFTER_MS), this.abortSignal);
        throw err;
      }
    }
  }

  /** One connection's life: the opening Metadata, then audio out and events in until done, dropped or replaced. */
  async #serve(conn: Connection, resuming: boolean): Promise<Outcome> {
    const attempt = new AbortController();
    let gotMetadata!: (m: MetadataMessage) => void;
    const metadata = new Promise<MetadataMessage>((r) => (gotMetadata = r));
    let seenMetadata = false;
    let resumeAt: number | undefined;
    conn.listen((m) => {
      if (m.type === 'Metadata') {
        // Settled here, synchronously: the replayed finals that follow are judged against this connection's state.
        if (!seenMetadata) {
          const meta = m as unknown as MetadataMessage;
          resumeAt = this.#resumePoint(meta, resuming);
          this.#dropPoint =
            resuming && typeof meta.committed_until === 'number' ? meta.committed_until : undefined;
          gotMetadata(meta);
        }
        seenMetadata = true;
      } else {
        this.#onMessage(m);
      }
    });
    const closed = conn.closed.then((c) => ({ closed: c }));
    const reconnect = new Promise<'reconnect'>((r) => (this.#requestReconnect = () => r('reconnect')));
    const stop = aborted(this.abortSignal).then(() => 'aborted' as const);
    try {
      const first = await Promise.race([metadata, closed, stop, timeout(this.#connOptions.timeoutMs)]);
      if (first === 'aborted') return 'done';
      if (first === 'timeout') {
        throw new APITimeoutError({ message: `earshot: no Metadata in ${this.#connOptions.timeoutMs} ms` });
      }
      if ('closed' in first) throw closeError(first.closed);
      const cursor = resumeAt!;
      this.#sessionOpened = true;
      const sending = this.#send(conn, cursor, attempt.signal).then(() => 'closing' as const);
      const next = await Promise.race([sending, closed, reconnect, stop]);
      if (next === 'aborted') return 'done';
      if (next === 'reconnect') {
        conn.close(1000);
        await Promise.race([conn.closed, timeout(this.#connOptions.timeoutMs)]);
        return 'reconnect';
      }
      if (next === 'closing') {
        // CloseStream sent: the server delivers the last finals, a Metadata, then closes 1000.
        const end = await Promise.race([closed, stop, timeout(this.#opts.closeTimeoutMs)]);
        if (end === 'aborted') return 'done';
        if (end === 'timeout') throw new APITimeoutError({ message: 'earshot: no close after CloseStream' });
        if (end.closed.code !== 1000) throw closeError(end.closed);
        this.#endOfInput();
        return 'done';
      }
      throw closeError(next.closed);
    } finally {
      attempt.abort();
      this.#requestReconnect = undefined;
      if (conn.open) conn.terminate();
    }
  }

  /** Where to continue sending, from the opening Metadata of a connection. */
  #resumePoint(m: MetadataMessage, resuming: boolean): number {
    const buffer = this.#buffer!;
    const rate = this.#format!.sampleRate;
    if (m.session && m.session !== this.#sessionId) this.#sessionId = m.session;
    if (resuming && m.resumed !== false) {
      if (typeof m.committed_until !== 'number') {
        // A server without the committed_until extension kept what it received: continue after it.
        return this.#sentCursor;
      }
      const cursor = Math.round((m.committed_until + this.#clockShift) * rate);
      if (cursor < buffer.start && !this.#warnedGap) {
        this.#warnedGap = true;
        this.#logger.warn(
          { session: this.#sessionId, lostSeconds: (buffer.start - cursor) / rate },
          'earshot: audio older than resumeBufferSeconds was dropped during the outage',
        );
      }
      return cursor;
    }
    // A new server session: its clock starts at the oldest audio we still have, its seq at 0.
    this.#clockShift = buffer.start / rate;
    this.#lastSeq = 0;
    return buffer.start;
  }

  /** Sends buffered audio from `cursor` as it arrives, Finalize where flush() was called, CloseStream at the end. */
  async #send(conn: Connection, cursor: number, signal: AbortSignal): Promise<void> {
    const buffer = this.#buffer!;
    let lastSent = Date.now();
    const keepAlive = setInterval(
      () => {
        if (Date.now() - lastSent >= this.#opts.keepAliveMs) {
          conn.sendControl('KeepAlive');
          lastSent = Date.now();
        }
      },
      Math.min(1000, this.#opts.keepAliveMs),
    );
    // Finalize points the server has already passed (before the resume point) are moot.
    this.#finalizeAt = this.#finalizeAt.filter((p) => p > cursor);
    const stopped = aborted(signal);
    try {
      while (!signal.aborted) {
        if (this.#pumpError) throw this.#pumpError;
        const woken = new Promise<void>((r) => (this.#wake = r));
        const piece = buffer.readFrom(cursor);
        if (piece) {
          conn.sendAudio(piece.data);
          cursor = piece.pos + piece.data.length / buffer.frameBytes;
          this.#sentCursor = cursor;
          this.#sentHigh = Math.max(this.#sentHigh, cursor);
          lastSent = Date.now();
        }
        while (this.#finalizeAt.length && this.#finalizeAt[0] <= cursor) {
          this.#finalizeAt.shift();
          conn.sendControl('Finalize');
        }
        if (piece) continue;
        if (this.#inputEnded) {
          conn.sendControl('CloseStream');
          return;
        }
        await Promise.race([woken, stopped]);
      }
    } finally {
      clearInterval(keepAlive);
    }
  }

  #onMessage(m: ServerMessage): void {
    switch (m.type) {
      case 'Results':
        this.#onResults(m as unknown as ResultsMessage);
        return;
      case 'SpeechStarted':
        this.#startSpeech();
        return;
      case 'UtteranceEnd':
        this.#endSpeech();
        return;
      case 'Error':
        this.#logger.warn({ session: this.#sessionId, message: m }, 'earshot: server error message');
        return;
      default:
        return;
    }
  }

  #onResults(r: ResultsMessage): void {
    const alt = r.channel?.alternatives?.[0];
    if (!alt) return;
    const span = { start: r.start + this.#clockShift, end: r.start + r.duration + this.#clockShift };
    const data = () =>
      toSpeechData(
        alt,
        r,
        this.#offset + this.#clockShift,
        this.#opts.language,
        this.#opts.task === 'translate',
      );
    const text = alt.transcript.trim();
    if (!r.is_final) {
      // An interim for audio a final already covers is stale (it would be appended to the user's turn).
      if (!text || span.end <= this.#lastFinalEnd) return;
      this.#startSpeech();
      this.#emit({ type: SpeechEventType.INTERIM_TRANSCRIPT, alternatives: [data()] });
      return;
    }
    if (r.seq !== undefined) {
      if (r.seq <= this.#lastSeq) return; // replayed after a resume, delivered already
      this.#lastSeq = r.seq;
    }
    this.#lastFinalEnd = Math.max(this.#lastFinalEnd, span.end);
    this.#buffer?.trimBefore(Math.round(span.end * this.#format!.sampleRate));
    if (text) {
      this.#startSpeech();
      this.#emit({ type: SpeechEventType.FINAL_TRANSCRIPT, alternatives: [data()] });
      this.#reportUsage();
    }
    if (r.speech_final) {
      const end = r.start + r.duration;
      if (this.#dropPoint !== undefined && Math.abs(end - this.#dropPoint) <= 0.1) {
        // The server closed the utterance where the connection dropped, not where the speaker stopped: if the
        // re-sent audio carries on with speech, the utterance continues; otherwise it ends shortly.
        this.#holdEnd();
      } else {
        this.#endSpeech();
      }
    }
  }

  #holdEnd(): void {
    clearTimeout(this.#heldEnd);
    const ms = (this.#opts.endpointingMs === false ? 0 : this.#opts.endpointingMs) + 1000;
    this.#heldEnd = setTimeout(() => this.#endSpeech(), ms).unref();
  }

  #startSpeech(): void {
    clearTimeout(this.#heldEnd);
    this.#heldEnd = undefined;
    if (this.#speaking) return;
    this.#speaking = true;
    this.#emit({ type: SpeechEventType.START_OF_SPEECH });
  }

  #endSpeech(): void {
    clearTimeout(this.#heldEnd);
    this.#heldEnd = undefined;
    if (!this.#speaking) return;
    this.#speaking = false;
    this.#emit({ type: SpeechEventType.END_OF_SPEECH });
  }

  #reportUsage(): void {
    const samples = this.#sentHigh - this.#usageReported;
    if (samples <= 0) return;
    this.#usageReported = this.#sentHigh;
    this.#emit({
      type: SpeechEventType.RECOGNITION_USAGE,
      recognitionUsage: { audioDuration: samples / this.#format!.sampleRate },
    });
  }

  #endOfInput(): void {
    this.#reportUsage();
    this.#endSpeech();
  }

  #emit(ev: stt.SpeechEvent): void {
    if (!this.queue.closed) this.queue.put({ ...ev, requestId: this.#sessionId });
  }
}

/** A close the plugin did not ask for, as the error the base class's retry loop understands. */
function closeError(c: { code: number; reason: string }): APIError {
  const what = `earshot closed the stream: ${c.code}${c.reason ? ` ${c.reason}` : ''}`;
  // Undecodable audio would fail again on every retry.
  if (c.code === 1011 && c.reason === 'DATA-0000') return new APIError(what, { retryable: false });
  return new APIConnectionError({ message: what });
}

import type { TimeSpan } from '../../audio/span.js';
import type { LabeledFinal } from '../../models/speaker/live.js';
import type { DgWord } from '../protocol.js';
import type { TranscriptStore } from '../store/types.js';
import type { SpeakerLabeler } from './speakers.js';
import type { FinalRequest } from './utterances.js';
import { fitToReport, type StreamWriter } from './writer.js';

/** The audio a final's speaker labels take: from session time `from`, stream sample `at` (SpeakerLabeler.hear). */
export interface LabelAudio {
  audio: Float32Array;
  from: number;
  at?: number;
  /** The audio's speech regions (session time: SpeechRegions). */
  speech?: TimeSpan[];
}

/** A final requested and not yet stored: the audio it covers (committed time cannot pass `from` before it is). */
interface Span {
  from: number;
  to: number;
}

export interface FinalsDeps {
  id: string;
  store: TranscriptStore;
  writer: StreamWriter;
  /** Speaker labels (diarize=true). */
  labeler: SpeakerLabeler | null;
  seqStart: number;
  /** The stream's seq counter when channels share it (default: this queue's own). */
  nextSeq?: () => number;
  /** Session time of the audio received so far. */
  now(): number;
  /**
   * Final `seq` was delivered to the store (before it is sent; `appended` false: it was empty and nothing was
   * written): the session advances and records its committed time.
   */
  stored(seq: number, appended: boolean): Promise<void>;
  /** A final was handed to the client (or could not be): metrics, lag. */
  sent(lag: number): void;
  log: { warn(o: object, msg?: string): void };
  onError(err: unknown): void;
}

/**
 * The finals of one stream, delivered one after another in the order they were requested: decoded words fitted
 * to the reported span, labelled with speakers, written to the store, then sent.
 */
export class FinalQueue {
  seq: number;
  /** Seq of the last final written to the store (or sent empty). */
  storedSeq: number;
  /** End of the audio the finals so far covered: later words must not reach back before it. */
  lastFinalEnd = 0;
  /** End of the last final word, and whether an UtteranceEnd has been sent for it. */
  private lastWordEnd: number | null = null;
  private utteranceEndSent = true;
  readonly pending: Span[] = [];
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly d: FinalsDeps) {
    this.seq = this.storedSeq = d.seqStart;
  }

  /** Resolves when the finals queued so far are delivered. */
  get idle(): Promise<void> {
    return this.chain;
  }

  /** Deepgram's UtteranceEnd, once: a word gap of `gapSeconds` after the last final word, no final pending. */
  maybeUtteranceEnd(now: number, gapSeconds: number): void {
    if (this.utteranceEndSent || this.lastWordEnd === null || this.pending.length > 0) return;
    if (now - this.lastWordEnd < gapSeconds) return;
    this.utteranceEndSent = true;
    this.d.writer.utteranceEnd(this.lastWordEnd);
  }

  /**
   * Queues a final: `words` are its decoded words (awaited in turn, so decoding runs ahead while earlier finals
   * are delivered), `labelled` the audio for speaker labels (from about req.from on).
   */
  queue(req: FinalRequest, words: () => Promise<DgWord[]>, labelled: LabelAudio | null): void {
    const span = { from: req.from, to: req.to };
    this.pending.push(span);
    // Speaker labels need only the audio: they are computed while the words are decoded.
    const labels = this.d.labeler && labelled && labelled.audio.length > 0 ? this.labels(labelled) : null;
    this.chain = this.chain
      .then(async () => this.deliver(req, span, await words(), labels))
      .catch((err: unknown) => this.d.onError(err));
  }

  private async deliver(
    req: FinalRequest,
    span: Span,
    decoded: DgWord[],
    labels: Promise<LabeledFinal | null> | null,
  ): Promise<void> {
    const seq = (this.seq = this.d.nextSeq?.() ?? this.seq + 1);
    const fitted = fitToReport(decoded, req.reportFrom, req.reportTo);
    const labelled = labels && fitted.length > 0 ? await labels : null;
    const words = labelled ? this.d.labeler!.label(labelled, fitted) : fitted;
    const msg = this.d.writer.results({
      start: req.reportFrom,
      end: req.reportTo,
      isFinal: true,
      speechFinal: req.speechFinal,
      fromFinalize: req.fromFinalize,
      endReason: req.endReason,
      words,
      seq,
      lag: this.d.now() - span.to,
    });
    if (words.length > 0) {
      // Written before it is sent: a client that reconnects gets it from the store.
      await this.d.store.append(this.d.id, {
        seq,
        start: msg.start,
        end: msg.start + msg.duration,
        transcript: msg.channel.alternatives[0].transcript,
        words,
        speech_final: req.speechFinal,
        from_finalize: req.fromFinalize,
        ...(req.endReason ? { end_reason: req.endReason } : {}),
      });
      this.lastWordEnd = words[words.length - 1].end;
      this.utteranceEndSent = false;
    }
    this.storedSeq = seq;
    this.pending.splice(this.pending.indexOf(span), 1);
    this.lastFinalEnd = Math.max(this.lastFinalEnd, span.to);
    await this.d.stored(seq, words.length > 0);
    this.d.writer.final(msg, seq);
    this.d.sent(msg.lag);
  }

  /** Speaker labels when asked for; a labelling failure costs the labels (null), never the final. */
  private labels({ audio, from, at, speech }: LabelAudio): Promise<LabeledFinal | null> {
    return this.d.labeler!.begin(audio, from, at, speech).catch((err: unknown) => {
      this.d.log.warn({ session: this.d.id, err: (err as Error).message }, 'speaker labelling failed');
      return null;
    });
  }
}

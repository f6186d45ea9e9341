/**
 * The one interface every speaker embedding implements: audio clips in, fixed-size vectors out, compared by cosine
 * similarity (same speaker → close to 1).
 */
import type { TimeSpan } from '../../audio/span.js';

export const EMBEDDING_SAMPLE_RATE = 16000;

export interface SpeakerEmbedder {
  /** e.g. "builtin" or the model file's name; reported in logs and benchmarks. */
  readonly name: string;
  readonly dim: number;
  /** Cosine similarity above which two embeddings are taken as the same speaker (the embedder's own calibration). */
  readonly sameSpeakerThreshold: number;
  /** How its pieces of speech spread within one voice and between voices: the clustering's model of a speaker. */
  readonly spread: SpeakerSpread;
  /** Shortest clip that gives a usable embedding, seconds. */
  readonly minSeconds: number;
  /**
   * One L2-normalised embedding per clip (16 kHz mono, [-1, 1]); clips may differ in length. With a context, the
   * clips are embedded as pieces of that recording are (e.g. reference clips of known speakers).
   */
  embed(clips: readonly Float32Array[], context?: EmbeddingContext): Promise<Float32Array[]>;
  /**
   * Optional: analyse a recording once so that many of its spans (overlapping windows, candidate pieces) embed
   * cheaply. Without it, spansOf() cuts clips and calls embed(). With a context, what the analysis learns of the
   * voices goes into it, and the spans embed by it. `at`: the stream sample audio[0] is (a live session's final),
   * where the context may have analysed what it heard (EmbeddingContext.hear).
   */
  analyze?(audio: Float32Array, context?: EmbeddingContext, at?: number): SpanEmbedder;
  /**
   * Optional: a context for one recording or live session, shared by all its pieces (clips of one file, finals of
   * one stream), so that they embed alike and are judged on what the embedder learns of the whole. `saved` is a
   * context's toJSON() (a resumed session); anything else starts afresh.
   */
  context?(saved?: unknown): EmbeddingContext;
  release(): Promise<void>;
}

/**
 * Spread of an embedder's vectors, in 1 - cosine between two 2.5 s pieces: `within` one speaker, and `between`
 * (how much further apart two speakers' pieces lie than one speaker's). Speaker clustering (cluster.ts) weighs the
 * evidence of many pieces with it, so the number of speakers follows from the recording, not from one threshold.
 */
export interface SpeakerSpread {
  within: number;
  between: number;
}

/** What an embedder learns of one recording or session: how its pieces spread, when they are one voice. */
export interface EmbeddingContext {
  readonly spread: SpeakerSpread;
  readonly sameSpeakerThreshold: number;
  /** Plain JSON to store with a live session and give back to context() on resume. */
  toJSON?(): unknown;
  /**
   * Optional: a live session's audio from stream sample `at` on (16 kHz), as it arrives, so that what can be
   * analysed before a final is labelled (frame by frame) is ready at its endpoint. Labels are the same without it.
   */
  hear?(samples: Float32Array, at: number): void;
  /**
   * Optional: a whole recording, pauses included, in blocks in order, before any of it is analysed: the embedder
   * may measure the room from it (its steady noise, how loud its speech is), which one speech region shows badly.
   */
  measure?(samples: Float32Array): void;
}

/** Embeddings of spans of one recording. */
export interface SpanEmbedder {
  embedSpans(spans: readonly TimeSpan[]): Promise<Float32Array[]>;
  /**
   * Optional, with a context: the spans embedded again later, as the context then judges (a live session's
   * context grows with every final, and pieces of its first finals must compare with its last). Each function
   * keeps only what its span needs, not the recording's analysis.
   */
  keepSpans?(spans: readonly TimeSpan[]): (() => Float32Array)[];
}

/**
 * The recording's spans through the embedder's own analysis when it has one, else as clips; each span embedded
 * once (embeddedOnce).
 */
export function spansOf(
  embedder: SpeakerEmbedder,
  audio: Float32Array,
  context?: EmbeddingContext,
  /** The stream sample audio[0] is, for a live session's final. */
  at?: number,
): SpanEmbedder {
  if (embedder.analyze) return embeddedOnce(embedder.analyze(audio, context, at));
  return embeddedOnce({
    embedSpans: (spans) =>
      embedder.embed(
        spans.map((s) => {
          const a = Math.max(0, Math.round(s.start * EMBEDDING_SAMPLE_RATE));
          return audio.subarray(
            a,
            Math.max(a, Math.min(audio.length, Math.round(s.end * EMBEDDING_SAMPLE_RATE))),
          );
        }),
        context,
      ),
  });
}

/**
 * Spans embedded once each: every re-segmentation of a piece of speech (a live final's re-cut rounds, a speaker
 * dropped and the rest re-segmented) scores the same sliding windows against other speakers. One vector per distinct
 * span, for as long as the recording's SpanEmbedder lives.
 */
export function embeddedOnce(spans: SpanEmbedder): SpanEmbedder {
  const seen = new Map<string, Float32Array>();
  const key = (s: TimeSpan): string => `${s.start}:${s.end}`;
  return {
    embedSpans: async (list) => {
      const missing = [...new Map(list.filter((s) => !seen.has(key(s))).map((s) => [key(s), s])).values()];
      if (missing.length > 0) {
        const got = await spans.embedSpans(missing);
        missing.forEach((s, i) => seen.set(key(s), got[i]));
      }
      return list.map((s) => seen.get(key(s))!);
    },
    ...(spans.keepSpans ? { keepSpans: (list) => spans.keepSpans!(list) } : {}),
  };
}

/** The spread and threshold to judge a recording's pieces by: its context's, else the embedder's own. */
export function judgedBy(embedder: SpeakerEmbedder, context?: EmbeddingContext): EmbeddingContext {
  return context ?? { spread: embedder.spread, sameSpeakerThreshold: embedder.sameSpeakerThreshold };
}

/** Bad clip or model input: the message says what and why. */
export class SpeakerEmbeddingError extends Error {
  override name = 'SpeakerEmbeddingError';
}

export function l2normalize(v: Float32Array): Float32Array {
  let s = 0;
  for (const x of v) s += x * x;
  const n = Math.sqrt(s);
  if (n > 0) for (let i = 0; i < v.length; i++) v[i] /= n;
  return v;
}

export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
}

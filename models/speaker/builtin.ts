/**
 * The built-in speaker embedding: no model file, no download. Two parts:
 * - learnt: the voice statistics (voice-stats.ts: cepstral means and spreads, delta spreads, pitch quartiles)
 *   standardised and projected by parameters learnt from real readers (builtin-params.ts), keeping the directions
 *   in which voices differ from each other more than one voice differs from itself, as a unit vector (LDA with
 *   cosine scoring);
 * - fixed: the kernel earshot shipped first (voice-kernel.ts), which tells apart voices unlike any reader
 *   (synthetic ones, tones), where the learnt projection places them all alike.
 * How much of the cosine the learnt part carries follows from how much the recording's voices are like the
 * readers' (readerLikeness): LEARNT_SHARE for real speech, nothing for synthetic voices. It is decided per
 * recording or live session (VoiceContext: all its speech pooled), not per piece: a short piece's odd statistics
 * would otherwise move it to the other part, where it resembles nothing. The calibration (same-speaker
 * probability) and spread (within one voice, between two) of real speech are measured on the readers by
 * `npm run train:speaker`; those of voices unlike every reader on the synthetic conversations.
 */
import type { TimeSpan } from '../../audio/span.js';
import { type BuiltinParams, loadBuiltinParams } from './builtin-params.js';
import {
  type EmbeddingContext,
  type SpanEmbedder,
  type SpeakerEmbedder,
  SpeakerEmbeddingError,
  type SpeakerSpread,
  l2normalize,
} from './embedding.js';
import { FrameCache } from './frame-cache.js';
import { type RoomLevels, RoomMeter } from './room.js';
import { STATS_DIM, VoiceAnalyzer, type VoiceFrames } from './voice-stats.js';
import { KERNEL_DIM, kernelFeatures } from './voice-kernel.js';

/**
 * The learnt part's share of the cosine for real speech. Real voices are told apart by it; the rest keeps a
 * little of the kernel, which helps where a reader's statistics wander (noise, a short piece).
 */
export const LEARNT_SHARE = 0.9;

/** Two pieces of real speech are taken for one voice (naming, live matching) at this calibrated probability. */
const SAME_SPEAKER_PROBABILITY = 0.75;

/**
 * Voices unlike every reader (the fixed kernel alone): its same-speaker cosine, and the spread of its 2.5 s pieces
 * on the synthetic corpus' two- and three-speaker conversations: within as measured there, widened by 1.4 for
 * pieces that straddle a change of speaker; between 0.4 where 0.72 was measured, which merged the two closest
 * voices of the three-speaker one (voices unlike any reader differ less than readers do, and tones even less).
 */
const UNLIKE = { sameSpeakerThreshold: 0.75, spread: { within: 0.22, between: 0.4 } };

/**
 * Distance of a recording's pooled statistics from the readers' average, in standardised units (75 statistics:
 * sqrt(75) ≈ 8.7 expected of one reader's piece): the dev and held-out conversations pool at 2.8-7.5, the
 * synthetic corpus at 14.8-19.2 (its noisy four-speaker conversation at 9.8: noise makes it reader-like).
 */
const READER_DISTANCE = { like: 10.5, unlike: 11.5 };

/** Fewest speech frames (10 ms) worth a voice estimate; fewer gives the zero vector (no speaker). */
const MIN_SPEECH_FRAMES = 8;

/** Statistics standardised as the readers' were. */
function standardise(p: BuiltinParams, x: Float64Array): Float64Array {
  const z = new Float64Array(STATS_DIM);
  for (let i = 0; i < STATS_DIM; i++) {
    // No voiced frame (whisper, noise): pitch at the readers' average, so it neither pulls nor pushes.
    z[i] = Number.isFinite(x[i]) ? (x[i] - p.mean[i]) / p.scale[i] : 0;
  }
  return z;
}

/** How much standardised statistics are like the readers': 1 (like them) to 0 (unlike every one). */
function readerLikeness(z: Float64Array): number {
  const norm = Math.hypot(...z);
  return Math.min(
    1,
    Math.max(0, (READER_DISTANCE.unlike - norm) / (READER_DISTANCE.unlike - READER_DISTANCE.like)),
  );
}

/**
 * A recording's or live session's speech pooled: the speech-weighted mean of its clips' standardised statistics,
 * and from it how much the voices are like the readers', which sets how pieces embed and are judged.
 */
class VoiceContext implements EmbeddingContext {
  private readonly sum = new Float64Array(STATS_DIM);
  private frames = 0;
  /** A live session's frame-local analysis, made as its audio is heard (not part of the state). */
  heard?: FrameCache;
  /** A recording's room, when it was measured whole (not part of the state). */
  private meter?: RoomMeter;

  /** `saved`: a toJSON() of this class; anything else starts afresh (it only refines how pieces embed). */
  constructor(
    private readonly params: BuiltinParams,
    saved?: unknown,
  ) {
    const s = saved as { sum?: unknown; frames?: unknown } | undefined;
    if (
      Array.isArray(s?.sum) &&
      s.sum.length === STATS_DIM &&
      s.sum.every((v) => Number.isFinite(v)) &&
      typeof s.frames === 'number' &&
      s.frames > 0
    ) {
      this.sum.set(s.sum as number[]);
      this.frames = s.frames;
    }
  }

  toJSON(): { sum: number[]; frames: number } {
    return { sum: [...this.sum], frames: this.frames };
  }

  hear(samples: Float32Array, at: number): void {
    (this.heard ??= new FrameCache()).hear(samples, at);
  }

  measure(samples: Float32Array): void {
    (this.meter ??= new RoomMeter()).add(samples);
  }

  get room(): RoomLevels | undefined {
    return this.meter?.levels;
  }

  add(frames: VoiceFrames): void {
    const n = frames.speechFrames();
    if (n < MIN_SPEECH_FRAMES) return;
    const z = standardise(this.params, frames.stats());
    for (let i = 0; i < STATS_DIM; i++) this.sum[i] += n * z[i];
    this.frames += n;
  }

  /** Undefined until some speech was added. */
  get likeness(): number | undefined {
    return this.frames > 0 ? readerLikeness(this.sum.map((v) => v / this.frames)) : undefined;
  }

  get spread(): SpeakerSpread {
    const w = this.likeness ?? 1;
    const own = this.params.spread;
    return {
      within: w * own.within + (1 - w) * UNLIKE.spread.within,
      between: w * own.between + (1 - w) * UNLIKE.spread.between,
    };
  }

  get sameSpeakerThreshold(): number {
    const w = this.likeness ?? 1;
    return w * thresholdFor(this.params, SAME_SPEAKER_PROBABILITY) + (1 - w) * UNLIKE.sameSpeakerThreshold;
  }
}

/** The learnt part of one statistics vector: its projection, unit length. */
export function learntVector(p: BuiltinParams, x: Float64Array): Float32Array {
  const z = standardise(p, x);
  const y = new Float32Array(p.dim);
  for (let i = 0; i < STATS_DIM; i++) {
    if (z[i] === 0) continue;
    const row = i * p.dim;
    for (let j = 0; j < p.dim; j++) y[j] += z[i] * p.projection[row + j];
  }
  return l2normalize(y);
}

/**
 * The embedding of a piece from its statistics (VoiceFrames.stats) and the fixed kernel's (fixedStats): the two
 * parts, weighted by their shares of the cosine for a recording `likeness` like the readers'.
 */
export function embedStats(
  p: BuiltinParams,
  stats: Float64Array,
  fixed: Float64Array,
  likeness = 1,
): Float32Array {
  const out = new Float32Array(p.dim + KERNEL_DIM);
  const share = LEARNT_SHARE * likeness;
  if (share > 0) {
    const learnt = learntVector(p, stats);
    const a = Math.sqrt(share);
    for (let i = 0; i < p.dim; i++) out[i] = a * learnt[i];
  }
  kernelFeatures(fixed, out, p.dim, Math.sqrt(1 - share));
  return l2normalize(out);
}

/** The cosine at which the calibrated same-speaker probability is `probability`. */
export function thresholdFor(p: BuiltinParams, probability = 0.5): number {
  return (Math.log(probability / (1 - probability)) - p.calibration.offset) / p.calibration.slope;
}

/**
 * A piece's embedding as the context will judge it when asked (its pooled likeness; without speech pooled, the
 * clip's own `likeness`). Made outside analyze() so that it holds the piece's statistics, not the clip's frames.
 */
function embedLater(
  p: BuiltinParams,
  stats: readonly [Float64Array, Float64Array] | undefined,
  context: EmbeddingContext | undefined,
  likeness: number,
): () => Float32Array {
  if (!stats) return () => new Float32Array(p.dim + KERNEL_DIM);
  const pooled = context instanceof VoiceContext ? context : undefined;
  return () => embedStats(p, stats[0], stats[1], pooled?.likeness ?? likeness);
}

export class BuiltinEmbedder implements SpeakerEmbedder {
  readonly name = 'builtin';
  readonly dim: number;
  readonly sameSpeakerThreshold: number;
  readonly spread: SpeakerSpread;
  readonly minSeconds = 0.3;
  private readonly analyzer = new VoiceAnalyzer();

  constructor(
    private readonly params: BuiltinParams = loadBuiltinParams(),
    threshold?: number,
  ) {
    this.dim = params.dim + KERNEL_DIM;
    this.sameSpeakerThreshold = threshold ?? thresholdFor(params, SAME_SPEAKER_PROBABILITY);
    this.spread = params.spread;
  }

  context(saved?: unknown): EmbeddingContext {
    return new VoiceContext(this.params, saved);
  }

  /** With a context, clips embed as its recording's pieces do; without, each by its own likeness. */
  embed(clips: readonly Float32Array[], context?: EmbeddingContext): Promise<Float32Array[]> {
    return Promise.resolve(
      clips.map((clip, i) => {
        if (!(clip instanceof Float32Array)) {
          throw new SpeakerEmbeddingError(`clip ${i} is not a Float32Array of 16 kHz samples`);
        }
        const frames = this.analyzer.frames(clip);
        return this.fromFrames(frames, this.likenessOf(frames, context), 0, Infinity);
      }),
    );
  }

  /**
   * The recording's speech joins the context; spans embed by the context's likeness when they are asked for (a
   * file's regions are all analysed before any is embedded, so every piece of a file embeds alike).
   */
  analyze(audio: Float32Array, context?: EmbeddingContext, at?: number): SpanEmbedder {
    const pooled = context instanceof VoiceContext ? context : undefined;
    const heard = at !== undefined ? pooled?.heard : undefined;
    const frames = this.analyzer.frames(audio, heard, at, pooled?.room);
    // Finals come in order: nothing before this one will be asked for again.
    if (at !== undefined) heard?.forget(at);
    if (context instanceof VoiceContext) context.add(frames);
    return {
      embedSpans: (spans: readonly TimeSpan[]) => {
        const w = this.likenessOf(frames, context);
        return Promise.resolve(spans.map((s) => this.fromFrames(frames, w, s.start, s.end)));
      },
      keepSpans: (spans: readonly TimeSpan[]) => {
        const own = this.likenessOf(frames);
        const kept: (() => Float32Array)[] = [];
        for (const s of spans) {
          const voiced = frames.voiceFrames(s.start, s.end) >= MIN_SPEECH_FRAMES;
          const stats = voiced
            ? ([frames.stats(s.start, s.end), frames.fixedStats(s.start, s.end)] as const)
            : undefined;
          kept.push(embedLater(this.params, stats, context, own));
        }
        return kept;
      },
    };
  }

  private likenessOf(frames: VoiceFrames, context?: EmbeddingContext): number {
    const pooled = context instanceof VoiceContext ? context.likeness : undefined;
    if (pooled !== undefined) return pooled;
    // No speech by the readers' measure (a steady buzz, a tone): the fixed kernel alone.
    if (frames.speechFrames() < MIN_SPEECH_FRAMES) return 0;
    return readerLikeness(standardise(this.params, frames.stats()));
  }

  /** Too little speech (digital silence, a click): the zero vector, similar to no speaker (see diarize.ts). */
  private fromFrames(frames: VoiceFrames, likeness: number, start: number, end: number): Float32Array {
    if (frames.voiceFrames(start, end) < MIN_SPEECH_FRAMES) return new Float32Array(this.dim);
    return embedStats(this.params, frames.stats(start, end), frames.fixedStats(start, end), likeness);
  }

  release(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * The built-in speaker embedding: no model file, no download. Two halves, weighted per clip (a file, a live
 * final) by how much its voices are like real readers (readerLikeness):
 * - learnt: the voice statistics (voice-stats.ts: cepstral means and spreads, delta spreads, pitch quartiles)
 *   standardised and projected by parameters learnt from real readers (builtin-params.ts), keeping the directions
 *   in which voices differ from each other more than one voice differs from itself; same speaker at a calibrated
 *   probability (SAME_SPEAKER_PROBABILITY);
 * - fixed: the kernel earshot shipped first (voice-kernel.ts), which the learnt projection cannot replace on voices
 *   unlike any reader (synthetic ones, tones): it places them all alike.
 * Real recordings are judged by the learnt half, synthetic ones by the fixed half exactly as before it existed.
 */
import type { TimeSpan } from '../../audio/span.js';
import { type BuiltinParams, loadBuiltinParams } from './builtin-params.js';
import { type SpanEmbedder, type SpeakerEmbedder, SpeakerEmbeddingError, l2normalize } from './embedding.js';
import { STATS_DIM, VoiceAnalyzer, type VoiceFrames } from './voice-stats.js';
import { gaussians, KERNEL_DIM, kernelFeatures } from './voice-kernel.js';

/**
 * Pieces are taken as one speaker when their average calibrated probability of sharing a voice reaches this. Above
 * 1/2 because clustering compares many pairs and wrongly merging two voices loses a whole speaker, while a split is
 * mostly repaired by folding small clusters (chosen on the 12 dev conversations of ../shared/corpus/real: 0.5 found
 * too few speakers in 4 files and 1 stream, 0.75 in 3 files and none).
 */
const SAME_SPEAKER_PROBABILITY = 0.75;

/** The fixed voice kernel's same-speaker cosine (voice-kernel.ts), as it served synthetic voices. */
const FIXED_THRESHOLD = 0.75;

/**
 * Distances from the readers' average in standardised statistics (75 of them: sqrt(75) ≈ 8.7 expected of a
 * reader). Whole dev conversations lie at 4.4-7.5 and their 5 s pieces (live finals) at 4.1-9.9; the synthetic
 * corpus' recordings at 11.3-27.6 and their 5 s pieces at 11.0 and beyond.
 */
const READER_DISTANCE = { like: 9.5, unlike: 11 };

/** Fewest speech frames (10 ms) worth a voice estimate; fewer gives the zero vector (no speaker). */
const MIN_SPEECH_FRAMES = 8;

/** Random features of the kernel (the embedding's size). */
const FEATURES = 512;

/**
 * Random Fourier features of the projected statistics y, z(y) = sqrt(2/D)·cos(Wy + b), W ~ N(0, 1/bandwidth²),
 * so cos(z(y1), z(y2)) ≈ exp(-|y1 - y2|² / (2·bandwidth²)): a Gaussian kernel of the distance between voices in
 * the projected space. A distance, not the angle of y: a voice unlike every reader (a synthetic one) sits far
 * from the readers' centre, and seen from there every such voice points the same way (cosine ~0.7 between tones
 * an octave apart), while their distance still tells them apart. The projection whitens the variation inside one
 * voice, so two pieces of one reader lie about sqrt(2·dim) apart: that is the bandwidth.
 */
function kernelOf(dim: number): { w: Float64Array; b: Float64Array; bandwidth: number } {
  const bandwidth = Math.sqrt(2 * dim);
  return {
    w: gaussians(dim * FEATURES, 20240601).map((g) => g / bandwidth),
    // Phases spread evenly over [0, 2π) (golden-ratio sequence).
    b: Float64Array.from({ length: FEATURES }, (_, j) => 2 * Math.PI * ((j * 0.6180339887498949) % 1)),
    bandwidth,
  };
}
const kernels = new Map<number, ReturnType<typeof kernelOf>>();

/** Statistics standardised as the readers' were. */
function standardise(p: BuiltinParams, x: Float64Array): Float64Array {
  const z = new Float64Array(STATS_DIM);
  for (let i = 0; i < STATS_DIM; i++) {
    // No voiced frame (whisper, noise): pitch at the readers' average, so it neither pulls nor pushes.
    z[i] = Number.isFinite(x[i]) ? (x[i] - p.mean[i]) / p.scale[i] : 0;
  }
  return z;
}

/**
 * How much a clip is like the readers, 1 (like them) to 0 (unlike every one): its distance from their average in
 * standardised statistics (READER_DISTANCE). Beyond `unlike` the learnt projection has no say and the fixed
 * kernel alone decides, as before the projection existed.
 */
function readerLikeness(z: Float64Array): number {
  const norm = Math.hypot(...z);
  return Math.min(
    1,
    Math.max(0, (READER_DISTANCE.unlike - norm) / (READER_DISTANCE.unlike - READER_DISTANCE.like)),
  );
}

/** The embedding of one statistics vector (unit length). */
export function embedStats(p: BuiltinParams, x: Float64Array): Float32Array {
  const z = standardise(p, x);
  const y = new Float64Array(p.dim);
  for (let i = 0; i < STATS_DIM; i++) {
    if (z[i] === 0) continue;
    const row = i * p.dim;
    for (let j = 0; j < p.dim; j++) y[j] += z[i] * p.projection[row + j];
  }
  let k = kernels.get(p.dim);
  if (!k) kernels.set(p.dim, (k = kernelOf(p.dim)));
  const out = new Float32Array(FEATURES);
  for (let f = 0; f < FEATURES; f++) {
    let v = k.b[f];
    for (let j = 0; j < p.dim; j++) v += k.w[f * p.dim + j] * y[j];
    out[f] = Math.cos(v);
  }
  return l2normalize(out);
}

/** The cosine at which the calibrated same-speaker probability is `probability`. */
export function thresholdFor(p: BuiltinParams, probability = 0.5): number {
  return (Math.log(probability / (1 - probability)) - p.calibration.offset) / p.calibration.slope;
}

export class BuiltinEmbedder implements SpeakerEmbedder {
  readonly name = 'builtin';
  readonly dim: number;
  readonly sameSpeakerThreshold: number;
  readonly minSeconds = 0.3;
  private readonly analyzer = new VoiceAnalyzer();

  /** Weight of the constant coordinate beside the learnt features (see the constructor). */
  private readonly lift: number;

  constructor(
    private readonly params: BuiltinParams = loadBuiltinParams(),
    threshold?: number,
  ) {
    this.dim = FEATURES + 1 + KERNEL_DIM;
    this.sameSpeakerThreshold = threshold ?? FIXED_THRESHOLD;
    // The learnt features decide at their calibrated cosine t, the fixed kernel at FIXED_THRESHOLD (T): a constant
    // coordinate of weight b beside the learnt unit vector maps its cosine c to (c + b) / (1 + b), which puts t
    // at T, so one threshold serves both halves.
    const t = thresholdFor(params, SAME_SPEAKER_PROBABILITY);
    this.lift = Math.max(0, (FIXED_THRESHOLD - t) / (1 - FIXED_THRESHOLD));
  }

  embed(clips: readonly Float32Array[]): Promise<Float32Array[]> {
    return Promise.resolve(
      clips.map((clip, i) => {
        if (!(clip instanceof Float32Array)) {
          throw new SpeakerEmbeddingError(`clip ${i} is not a Float32Array of 16 kHz samples`);
        }
        const frames = this.analyzer.frames(clip);
        return this.fromFrames(frames, this.likeness(frames), 0, Infinity);
      }),
    );
  }

  analyze(audio: Float32Array): SpanEmbedder {
    const frames = this.analyzer.frames(audio);
    const w = this.likeness(frames);
    return {
      embedSpans: (spans: readonly TimeSpan[]) =>
        Promise.resolve(spans.map((s) => this.fromFrames(frames, w, s.start, s.end))),
    };
  }

  /**
   * The learnt half's weight for a whole clip (a file, a live final), the same for every piece of it: decided per
   * piece, a short piece's odd statistics would move it to the other half, where it resembles nothing.
   */
  private likeness(frames: VoiceFrames): number {
    if (frames.speechFrames() < MIN_SPEECH_FRAMES) return 0;
    return readerLikeness(standardise(this.params, frames.stats()));
  }

  /** Too little speech (digital silence, a click): the zero vector, similar to no speaker (see diarize.ts). */
  private fromFrames(frames: VoiceFrames, w: number, start: number, end: number): Float32Array {
    if (frames.voiceFrames(start, end) < MIN_SPEECH_FRAMES) return new Float32Array(this.dim);
    // Two unit halves scaled by the square roots of the clip's likeness to the readers (w) and its complement:
    // between two real pieces the learnt half decides, between two synthetic ones the fixed kernel, exactly.
    const out = new Float32Array(this.dim);
    if (w > 0) {
      const learnt = embedStats(this.params, frames.stats(start, end));
      const a = Math.sqrt(w / (1 + this.lift));
      for (let i = 0; i < FEATURES; i++) out[i] = a * learnt[i];
      out[FEATURES] = a * Math.sqrt(this.lift);
    }
    if (w < 1) kernelFeatures(frames.fixedStats(start, end), out, FEATURES + 1, Math.sqrt(1 - w));
    return l2normalize(out);
  }

  release(): Promise<void> {
    return Promise.resolve();
  }
}

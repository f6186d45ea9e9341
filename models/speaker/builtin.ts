/**
 * The built-in speaker embedding: no model file, no download. A clip's voice statistics (voice-stats.ts:
 * cepstral means and spreads, delta spreads, pitch quartiles) are standardised and projected by parameters learnt
 * from real readers (builtin-params.ts): the projection keeps the directions in which voices differ from each
 * other more than one voice differs from itself (what is said, how it is said), so cosine similarity compares
 * speakers. Its same-speaker threshold is a calibrated same-speaker probability (SAME_SPEAKER_PROBABILITY), so the
 * number of speakers comes from how likely two pieces are to share a voice, not from a similarity tuned to a corpus.
 */
import { type BuiltinParams, loadBuiltinParams } from './builtin-params.js';
import {
  type Span,
  type SpanEmbedder,
  type SpeakerEmbedder,
  SpeakerEmbeddingError,
  l2normalize,
} from './embedding.js';
import { STATS_DIM, VoiceAnalyzer } from './voice-stats.js';
import { KERNEL_DIM, kernelFeatures } from './voice-kernel.js';

/**
 * Pieces are taken as one speaker when their average calibrated probability of sharing a voice reaches this. Above
 * 1/2 because clustering compares many pairs and wrongly merging two voices loses a whole speaker, while a split is
 * mostly repaired by folding small clusters (chosen on the 12 dev conversations of ../shared/corpus/real: 0.5 found
 * too few speakers in 4 files and 1 stream, 0.75 in 3 files and none).
 */
const SAME_SPEAKER_PROBABILITY = 0.75;

/**
 * Share of the learnt half in the similarity. The other half is the fixed voice kernel (voice-kernel.ts): the
 * learnt projection knows real readers but places voices unlike them (synthetic ones) oddly, the fixed kernel
 * the reverse; half each keeps both kinds of voice apart.
 */
const LEARNT_WEIGHT = 0.5;

/** Fewest speech frames (10 ms) worth a voice estimate; fewer gives the zero vector (no speaker). */
const MIN_SPEECH_FRAMES = 8;

/** Random features of the kernel (the embedding's size). */
const FEATURES = 512;

/** Deterministic Gaussian samples (mulberry32 + Box-Muller). */
function gaussians(n: number, seed: number): Float64Array {
  const out = new Float64Array(n);
  let a = seed | 0;
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  for (let i = 0; i < n; i++)
    out[i] = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  return out;
}

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

/** The embedding of one statistics vector (unit length). */
export function embedStats(p: BuiltinParams, x: Float64Array): Float32Array {
  const z = new Float64Array(STATS_DIM);
  for (let i = 0; i < STATS_DIM; i++) {
    // No voiced frame (whisper, noise): pitch at the readers' average, so it neither pulls nor pushes.
    z[i] = Number.isFinite(x[i]) ? (x[i] - p.mean[i]) / p.scale[i] : 0;
  }
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

  constructor(
    private readonly params: BuiltinParams = loadBuiltinParams(),
    threshold?: number,
  ) {
    this.dim = FEATURES + KERNEL_DIM;
    // The halves' own thresholds, weighted as their cosines are: the learnt one calibrated on readers, the fixed
    // one's 0.75 as it served synthetic voices.
    this.sameSpeakerThreshold =
      threshold ??
      LEARNT_WEIGHT * thresholdFor(params, SAME_SPEAKER_PROBABILITY) + (1 - LEARNT_WEIGHT) * 0.75;
  }

  embed(clips: readonly Float32Array[]): Promise<Float32Array[]> {
    return Promise.resolve(
      clips.map((clip, i) => {
        if (!(clip instanceof Float32Array)) {
          throw new SpeakerEmbeddingError(`clip ${i} is not a Float32Array of 16 kHz samples`);
        }
        const frames = this.analyzer.frames(clip);
        return this.fromStats(frames.speechFrames(), frames.stats());
      }),
    );
  }

  analyze(audio: Float32Array): SpanEmbedder {
    const frames = this.analyzer.frames(audio);
    return {
      embedSpans: (spans: readonly Span[]) =>
        Promise.resolve(
          spans.map((s) => this.fromStats(frames.speechFrames(s.start, s.end), frames.stats(s.start, s.end))),
        ),
    };
  }

  /** Too little speech (digital silence, a click): the zero vector, similar to no speaker (see diarize.ts). */
  private fromStats(speechFrames: number, stats: Float64Array): Float32Array {
    if (speechFrames < MIN_SPEECH_FRAMES) return new Float32Array(this.dim);
    // Two unit halves scaled by the square roots of their weights: the cosine of the whole is the weighted sum of
    // the halves' cosines, so clustering's averages stay averages of both.
    const out = new Float32Array(this.dim);
    const learnt = embedStats(this.params, stats);
    const a = Math.sqrt(LEARNT_WEIGHT);
    for (let i = 0; i < FEATURES; i++) out[i] = a * learnt[i];
    kernelFeatures(stats, out, FEATURES, Math.sqrt(1 - LEARNT_WEIGHT));
    return l2normalize(out);
  }

  release(): Promise<void> {
    return Promise.resolve();
  }
}

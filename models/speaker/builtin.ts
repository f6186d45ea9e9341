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

/**
 * Pieces are taken as one speaker when their average calibrated probability of sharing a voice reaches this. Above
 * 1/2 because clustering compares many pairs and wrongly merging two voices loses a whole speaker, while a split is
 * mostly repaired by folding small clusters (chosen on the 12 dev conversations of ../shared/corpus/real: 0.5 found
 * too few speakers in 4 files and 1 stream, 0.75 in 3 files and none).
 */
const SAME_SPEAKER_PROBABILITY = 0.75;

/** Fewest speech frames (10 ms) worth a voice estimate; fewer gives the zero vector (no speaker). */
const MIN_SPEECH_FRAMES = 8;

/** The embedding of one statistics vector (unit length). */
export function embedStats(p: BuiltinParams, x: Float64Array): Float32Array {
  const z = new Float64Array(STATS_DIM);
  for (let i = 0; i < STATS_DIM; i++) {
    // No voiced frame (whisper, noise): pitch at the readers' average, so it neither pulls nor pushes.
    z[i] = Number.isFinite(x[i]) ? (x[i] - p.mean[i]) / p.scale[i] : 0;
  }
  const y = new Float32Array(p.dim);
  for (let i = 0; i < STATS_DIM; i++) {
    if (z[i] === 0) continue;
    const row = i * p.dim;
    for (let j = 0; j < p.dim; j++) y[j] += z[i] * p.projection[row + j];
  }
  return l2normalize(y);
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
    this.dim = params.dim;
    this.sameSpeakerThreshold = threshold ?? thresholdFor(params, SAME_SPEAKER_PROBABILITY);
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
    return embedStats(this.params, stats);
  }

  release(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * The built-in speaker embedding: no model file, no download. Voice statistics of the clip's speech frames:
 * - the cepstrum (DCT of the Kaldi log-mel fbank, c1..c19): its mean is the vocal tract's average spectral envelope
 *   (formants, brightness), its spread how the voice moves; c0 (loudness) is left out so distance to the microphone
 *   does not matter;
 * - pitch (normalised autocorrelation, 60-400 Hz): median log f0 over voiced frames.
 * Each statistic is centred and scaled by fixed constants (typical values and spreads of speech) and weighted, so
 * cosine similarity compares voices, not the shared shape of all speech.
 *
 * A recording is analysed once (VoiceFrames: per-frame cepstra and pitch as running sums), so the diarizer's many
 * overlapping windows and candidate pieces cost a few vector operations each, not another pass over the audio.
 */
import { KaldiFbank, LOG_FLOOR } from '../../audio/fbank.js';
import {
  type Span,
  type SpanEmbedder,
  type SpeakerEmbedder,
  SpeakerEmbeddingError,
  l2normalize,
} from './embedding.js';

const N_CEPS = 20;
const MIN_F0 = 60;
const MAX_F0 = 400;
const SR = 16000;

export interface VoiceStats {
  /** c1..c19 means over speech frames. */
  cepMean: Float64Array;
  /** c1..c19 standard deviations. */
  cepStd: Float64Array;
  /** Median log2 f0 of voiced frames (NaN when none). */
  logF0: number;
  speechFrames: number;
}

function dctMatrix(nIn: number, nOut: number): Float64Array[] {
  return Array.from({ length: nOut }, (_, k) =>
    Float64Array.from(
      { length: nIn },
      (_, n) => Math.cos((Math.PI * k * (n + 0.5)) / nIn) * Math.sqrt(2 / nIn),
    ),
  );
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i);
  return sorted[lo] + (sorted[Math.min(lo + 1, sorted.length - 1)] - sorted[lo]) * (i - lo);
}

/** f0 of one frame by normalised autocorrelation, or 0 when unvoiced. */
function frameF0(x: Float32Array, off: number, len: number): number {
  const minLag = Math.floor(SR / MAX_F0);
  const maxLag = Math.ceil(SR / MIN_F0);
  const n = len - maxLag;
  let e0 = 0;
  for (let i = 0; i < n; i++) e0 += x[off + i] * x[off + i];
  if (e0 <= 1e-8) return 0;
  let best = 0;
  let bestLag = 0;
  const r = new Float64Array(maxLag + 2);
  for (let lag = minLag - 1; lag <= maxLag + 1; lag++) {
    let dot = 0;
    let e1 = 0;
    for (let i = 0; i < n; i++) {
      const b = x[off + i + lag];
      dot += x[off + i] * b;
      e1 += b * b;
    }
    r[lag] = e1 > 0 ? dot / Math.sqrt(e0 * e1) : 0;
  }
  for (let lag = minLag; lag <= maxLag; lag++) {
    if (r[lag] > best && r[lag] >= r[lag - 1] && r[lag] >= r[lag + 1]) {
      best = r[lag];
      bestLag = lag;
    }
  }
  if (best < 0.6) return 0;
  // Parabolic interpolation of the peak.
  const a = r[bestLag - 1];
  const c = r[bestLag + 1];
  const denom = a - 2 * best + c;
  const shift = denom < 0 ? (0.5 * (a - c)) / denom : 0;
  return SR / (bestLag + shift);
}

const NC = N_CEPS - 1;
const PITCH_LEN = 640;

/**
 * A clip's voice features frame by frame (10 ms), kept as running sums so that the statistics of any span of it
 * cost O(1): change detection slides windows over a final and embeds the pieces between changes without
 * analysing the audio again.
 */
export class VoiceFrames {
  /** Prefix sums (index f = frames before f) of speech frames. */
  private readonly speech: Float64Array;
  /** (frames + 1) × NC. */
  private readonly cepSum: Float64Array;
  private readonly cepSq: Float64Array;

  constructor(
    readonly frames: number,
    readonly frameSeconds: number,
    speech: Uint8Array,
    /** frames × NC cepstra (zeros where not speech). */
    cep: Float64Array,
    /** log2 f0 per frame; not finite when unvoiced or not analysed. */
    private readonly logF0: Float64Array,
  ) {
    this.speech = new Float64Array(frames + 1);
    this.cepSum = new Float64Array((frames + 1) * NC);
    this.cepSq = new Float64Array((frames + 1) * NC);
    for (let f = 0; f < frames; f++) {
      this.speech[f + 1] = this.speech[f] + speech[f];
      for (let k = 0; k < NC; k++) {
        const c = speech[f] ? cep[f * NC + k] : 0;
        this.cepSum[(f + 1) * NC + k] = this.cepSum[f * NC + k] + c;
        this.cepSq[(f + 1) * NC + k] = this.cepSq[f * NC + k] + c * c;
      }
    }
  }

  /** Frame range [a, b) of a span in seconds from the clip's start. */
  range(start: number, end: number): [number, number] {
    const a = Math.max(0, Math.min(this.frames, Math.round(start / this.frameSeconds)));
    const b = Math.max(a, Math.min(this.frames, Math.round(end / this.frameSeconds)));
    return [a, b];
  }

  /** Statistics of the frames between start and end seconds (from the clip's start). */
  stats(start = 0, end = Infinity): VoiceStats {
    const [a, b] = this.range(start, end);
    const n = this.speech[b] - this.speech[a];
    const cepMean = new Float64Array(NC);
    const cepStd = new Float64Array(NC);
    for (let k = 0; k < NC; k++) {
      const m = n > 0 ? (this.cepSum[b * NC + k] - this.cepSum[a * NC + k]) / n : 0;
      const sq = n > 0 ? (this.cepSq[b * NC + k] - this.cepSq[a * NC + k]) / n : 0;
      cepMean[k] = m;
      cepStd[k] = Math.sqrt(Math.max(0, sq - m * m));
    }
    // Medians, not means: a few octave errors must not move a voice's pitch.
    const f0s: number[] = [];
    for (let f = a; f < b; f++) if (Number.isFinite(this.logF0[f])) f0s.push(this.logF0[f]);
    f0s.sort((x, y) => x - y);
    return { cepMean, cepStd, logF0: quantile(f0s, 0.5), speechFrames: n };
  }
}

export class VoiceAnalyzer {
  private readonly fbank = new KaldiFbank();
  private readonly dct = dctMatrix(80, N_CEPS);

  /** Per-frame features of a whole clip. */
  frames(clip: Float32Array): VoiceFrames {
    const feats = this.fbank.compute(clip);
    const { frames, bins, data } = feats;
    // Speech frames: within 30 dB (in power) of the clip's loud frames.
    const energy = new Float64Array(frames);
    for (let f = 0; f < frames; f++) {
      let e = 0;
      for (let b = 0; b < bins; b++) e += Math.exp(data[f * bins + b]);
      energy[f] = Math.log(e + 1e-10);
    }
    const sortedE = [...energy].sort((a, b) => a - b);
    const floor = quantile(sortedE, 0.95) - Math.log(1000);
    const silentEnergy = Math.log(bins * Math.exp(LOG_FLOOR) + 1e-10) + 1e-6;
    const speech = new Uint8Array(frames);
    const cep = new Float64Array(frames * NC);
    const logF0 = new Float64Array(frames).fill(NaN);
    for (let f = 0; f < frames; f++) {
      // Digital silence (a muted or padded stream: every bin at the log floor) is never speech.
      if (energy[f] < floor || energy[f] <= silentEnergy) continue;
      speech[f] = 1;
      for (let k = 1; k < N_CEPS; k++) {
        const row = this.dct[k];
        let c = 0;
        for (let b = 0; b < bins; b++) c += row[b] * data[f * bins + b];
        cep[f * NC + k - 1] = c;
      }
      // Pitch on every other frame (20 ms hop) is plenty for statistics.
      const off = f * this.fbank.frameShift;
      if (f % 2 === 0 && off + PITCH_LEN <= clip.length) {
        const f0 = frameF0(clip, off, PITCH_LEN);
        logF0[f] = f0 > 0 ? Math.log2(f0) : -Infinity;
      }
    }
    return new VoiceFrames(frames, this.fbank.frameShift / SR, speech, cep, logF0);
  }
}

/**
 * How the statistics become a vector. Each is divided by its typical spread between clips of one speaker
 * (measured on the corpus' espeak-ng voices: ~2 s turns) and weighted; the weighted vector x is then lifted by
 * random Fourier features, z(x) = sqrt(2/D)·cos(Wx + b) with W ~ N(0, 1/bandwidth²), so that
 * cos(z(x), z(y)) ≈ exp(-|x - y|² / (2·bandwidth²)): cosine similarity becomes a Gaussian kernel of the distance
 * between voices, which is what the clustering's thresholds and centroids assume, with no "typical speech" centre
 * to subtract. The bandwidth (2 spreads) keeps the kernel informative over the whole range of same-speaker
 * distances: at 1 two turns of one voice already scored ~0.2, no better than two different voices, so the
 * clustering split single speakers.
 */
export interface BuiltinCalibration {
  cepMeanSpread: readonly number[];
  cepStdSpread: readonly number[];
  /** Octaves. */
  logF0Spread: number;
  weights: { cepMean: number; cepStd: number; pitch: number };
  bandwidth: number;
  /** Random features (the embedding's dimension). */
  features: number;
}

export const DEFAULT_CALIBRATION: BuiltinCalibration = {
  cepMeanSpread: [
    1.943, 1.362, 1.889, 1.164, 1.182, 1.342, 0.805, 0.83, 0.623, 0.534, 0.513, 0.48, 0.471, 0.53, 0.445,
    0.485, 0.464, 0.418, 0.374,
  ],
  cepStdSpread: [
    1.495, 0.683, 1.289, 0.845, 0.645, 0.86, 0.55, 0.52, 0.393, 0.335, 0.38, 0.321, 0.309, 0.331, 0.304,
    0.266, 0.294, 0.284, 0.261,
  ],
  logF0Spread: 0.1,
  weights: { cepMean: 0.5, cepStd: 0.5, pitch: 1 },
  bandwidth: 2,
  features: 512,
};

/** The weighted, scaled statistics (before the random-feature lift). */
export function statsToPoint(s: VoiceStats, cal: BuiltinCalibration = DEFAULT_CALIBRATION): Float64Array {
  const nc = N_CEPS - 1;
  const x = new Float64Array(2 * nc + 1);
  const w = cal.weights;
  // Blocks are scaled so each carries its weight whatever its length.
  const cm = w.cepMean / Math.sqrt(nc);
  const cs = w.cepStd / Math.sqrt(nc);
  for (let k = 0; k < nc; k++) {
    x[k] = (cm * s.cepMean[k]) / cal.cepMeanSpread[k];
    x[nc + k] = (cs * s.cepStd[k]) / cal.cepStdSpread[k];
  }
  // An unvoiced clip (whisper, noise) sits at a pitch no voice has, far from every voiced speaker.
  const f0 = Number.isNaN(s.logF0) ? Math.log2(30) : s.logF0;
  x[2 * nc] = (w.pitch * f0) / cal.logF0Spread;
  return x;
}

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

export class RandomFourierFeatures {
  private readonly w: Float64Array;
  private readonly b: Float64Array;

  constructor(
    readonly inputDim: number,
    readonly dim: number,
    bandwidth: number,
    seed = 20240601,
  ) {
    this.w = gaussians(inputDim * dim, seed).map((g) => g / bandwidth);
    // Phases spread evenly over [0, 2π) (golden-ratio sequence).
    this.b = Float64Array.from({ length: dim }, (_, j) => 2 * Math.PI * ((j * 0.6180339887498949) % 1));
  }

  lift(x: Float64Array): Float32Array {
    const z = new Float32Array(this.dim);
    const scale = Math.sqrt(2 / this.dim);
    for (let j = 0; j < this.dim; j++) {
      let s = this.b[j];
      for (let i = 0; i < this.inputDim; i++) s += this.w[j * this.inputDim + i] * x[i];
      z[j] = scale * Math.cos(s);
    }
    return z;
  }
}

/** Fewest speech frames (10 ms) worth a voice estimate; fewer gives the zero vector (no speaker). */
const MIN_SPEECH_FRAMES = 8;

export class BuiltinEmbedder implements SpeakerEmbedder {
  readonly name = 'builtin';
  readonly dim: number;
  readonly sameSpeakerThreshold: number;
  readonly minSeconds = 0.3;
  private readonly analyzer = new VoiceAnalyzer();
  private readonly rff: RandomFourierFeatures;

  constructor(
    private readonly calibration: BuiltinCalibration = DEFAULT_CALIBRATION,
    threshold = 0.75,
  ) {
    this.sameSpeakerThreshold = threshold;
    this.dim = calibration.features;
    this.rff = new RandomFourierFeatures(2 * (N_CEPS - 1) + 1, calibration.features, calibration.bandwidth);
  }

  embed(clips: readonly Float32Array[]): Promise<Float32Array[]> {
    return Promise.resolve(
      clips.map((clip, i) => {
        if (!(clip instanceof Float32Array)) {
          throw new SpeakerEmbeddingError(`clip ${i} is not a Float32Array of 16 kHz samples`);
        }
        return this.fromStats(this.analyzer.frames(clip).stats());
      }),
    );
  }

  analyze(audio: Float32Array): SpanEmbedder {
    const frames = this.analyzer.frames(audio);
    return {
      embedSpans: (spans: readonly Span[]) =>
        Promise.resolve(spans.map((s) => this.fromStats(frames.stats(s.start, s.end)))),
    };
  }

  /** Too little speech (digital silence, a click): the zero vector, similar to no speaker (see diarize.ts). */
  private fromStats(stats: VoiceStats): Float32Array {
    if (stats.speechFrames < MIN_SPEECH_FRAMES) return new Float32Array(this.dim);
    return l2normalize(this.rff.lift(statsToPoint(stats, this.calibration)));
  }

  release(): Promise<void> {
    return Promise.resolve();
  }
}

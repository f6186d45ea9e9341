/**
 * The built-in speaker embedding: no model file, no download. Voice statistics of the clip's speech frames:
 * - the cepstrum (DCT of the Kaldi log-mel fbank, c1..c19): its mean is the vocal tract's average spectral envelope
 *   (formants, brightness), its spread how the voice moves; c0 (loudness) is left out so distance to the microphone
 *   does not matter;
 * - pitch (normalised autocorrelation, 60-400 Hz): median log f0 and its spread over voiced frames, and the
 *   fraction of voiced frames.
 * Each statistic is centred and scaled by fixed constants (typical values and spreads of speech) and weighted, so
 * cosine similarity compares voices, not the shared shape of all speech.
 */
import { KaldiFbank } from '../../audio/fbank.js';
import { type SpeakerEmbedder, SpeakerEmbeddingError, l2normalize } from './embedding.js';

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
  /** Interquartile range of log2 f0. */
  logF0Spread: number;
  voicedFraction: number;
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

export class VoiceAnalyzer {
  private readonly fbank = new KaldiFbank();
  private readonly dct = dctMatrix(80, N_CEPS);

  stats(clip: Float32Array): VoiceStats {
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
    const cepSum = new Float64Array(N_CEPS);
    const cepSq = new Float64Array(N_CEPS);
    const f0s: number[] = [];
    let speech = 0;
    const pitchLen = 640;
    for (let f = 0; f < frames; f++) {
      if (energy[f] < floor) continue;
      speech++;
      for (let k = 1; k < N_CEPS; k++) {
        const row = this.dct[k];
        let c = 0;
        for (let b = 0; b < bins; b++) c += row[b] * data[f * bins + b];
        cepSum[k] += c;
        cepSq[k] += c * c;
      }
      // Pitch on every other frame (20 ms hop) is plenty for statistics.
      const off = f * this.fbank.frameShift;
      if (f % 2 === 0 && off + pitchLen <= clip.length) {
        const f0 = frameF0(clip, off, pitchLen);
        if (f0 > 0) f0s.push(Math.log2(f0));
      }
    }
    const cepMean = new Float64Array(N_CEPS - 1);
    const cepStd = new Float64Array(N_CEPS - 1);
    for (let k = 1; k < N_CEPS; k++) {
      const m = speech > 0 ? cepSum[k] / speech : 0;
      cepMean[k - 1] = m;
      cepStd[k - 1] = speech > 0 ? Math.sqrt(Math.max(0, cepSq[k] / speech - m * m)) : 0;
    }
    f0s.sort((a, b) => a - b);
    const pitched = Math.ceil(speech / 2);
    return {
      cepMean,
      cepStd,
      logF0: quantile(f0s, 0.5),
      logF0Spread: f0s.length > 1 ? quantile(f0s, 0.75) - quantile(f0s, 0.25) : 0,
      voicedFraction: pitched > 0 ? Math.min(1, f0s.length / pitched) : 0,
      speechFrames: speech,
    };
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

/** Runs of exact zeros at least this long are digital silence (a muted or padded stream), not a quiet voice. */
const MIN_ZERO_RUN = 160;

/**
 * The clip without its digital silence: exact-zero runs carry no voice but would count as frames (or shift the
 * loudness floor) and pull the statistics apart.
 */
function withoutDigitalSilence(clip: Float32Array): Float32Array {
  const keep: [number, number][] = [];
  let runStart = -1;
  let from = 0;
  for (let i = 0; i <= clip.length; i++) {
    if (i < clip.length && clip[i] === 0) {
      if (runStart < 0) runStart = i;
      continue;
    }
    if (runStart >= 0 && i - runStart >= MIN_ZERO_RUN) {
      if (runStart > from) keep.push([from, runStart]);
      from = i;
    }
    runStart = -1;
  }
  if (from < clip.length) keep.push([from, clip.length]);
  if (keep.length === 1 && keep[0][0] === 0 && keep[0][1] === clip.length) return clip;
  const out = new Float32Array(keep.reduce((n, [a, b]) => n + b - a, 0));
  let o = 0;
  for (const [a, b] of keep) {
    out.set(clip.subarray(a, b), o);
    o += b - a;
  }
  return out;
}

/** Shortest voiced remainder worth analysing (one fbank frame and a bit), samples. */
const MIN_VOICED_SAMPLES = 800;

export class BuiltinEmbedder implements SpeakerEmbedder {
  readonly name = 'builtin';
  readonly dim: number;
  readonly sameSpeakerThreshold: number;
  readonly minSeconds = 0.3;
  private readonly analyzer = new VoiceAnalyzer();
  private readonly rff: RandomFourierFeatures;

  constructor(
    private readonly calibration: BuiltinCalibration = DEFAULT_CALIBRATION,
    threshold = 0.6,
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
        const voiced = withoutDigitalSilence(clip);
        // Nothing but digital silence: the zero vector, similar to no speaker (see diarize.ts).
        if (voiced.length < MIN_VOICED_SAMPLES) return new Float32Array(this.dim);
        return l2normalize(this.rff.lift(statsToPoint(this.analyzer.stats(voiced), this.calibration)));
      }),
    );
  }

  release(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Kaldi-style log-mel filterbank (`compute-fbank-feats`, torchaudio.compliance.kaldi.fbank, kaldi-native-fbank), the
 * front end of the published speaker-embedding exports (WeSpeaker, 3D-Speaker, NeMo, as run by sherpa-onnx).
 *
 * Per frame, in Kaldi's order: take frame_length samples, remove the DC offset, pre-emphasise (x[i] -= 0.97·x[i-1],
 * x[0] -= 0.97·x[0]), multiply by the window (Povey by default), zero-pad to the next power of two, power spectrum,
 * triangular mel filters, natural log floored at float32 epsilon. Dither is fixed at 0 so features are
 * deterministic.
 *
 * Defaults are Kaldi's (snip edges, 20 Hz to Nyquist, Kaldi mel scale 1127·ln(1 + f/700)). sherpa-onnx runs
 * kaldi-native-fbank with other settings (no snipped edges, a 7600 Hz top); models/speaker/front-end.ts names them.
 */
import { RealFFT } from './fft.js';

export interface FbankOptions {
  /** Default 16000. */
  sampleRate?: number;
  /** Default 80. */
  numBins?: number;
  /** Default 25. */
  frameLengthMs?: number;
  /** Default 10. */
  frameShiftMs?: number;
  /** Default 0.97. */
  preemphasis?: number;
  /** Default 20 Hz. */
  lowFreq?: number;
  /** Default 0 = Nyquist; negative = Nyquist minus this (Kaldi's convention). */
  highFreq?: number;
  /**
   * Default true: only frames that fit whole, the first at sample 0. false: round(samples / shift) frames centred
   * on k·shift + shift/2, the signal reflected past both ends (Kaldi's --snip-edges=false, flushed input).
   */
  snipEdges?: boolean;
  /** Default povey. hann is the periodic one (torch.hann_window), as kaldi-native-fbank makes it. */
  window?: WindowType;
  /** Default true. */
  removeDcOffset?: boolean;
  /**
   * Default kaldi: triangles on Kaldi's mel scale over FFT bins 0..n/2-1. librosa: triangles on Slaney's mel scale
   * in Hz, area-normalised (norm="slaney"), over bins 0..n/2 (librosa.filters.mel as kaldi-native-fbank builds it).
   */
  melBanks?: 'kaldi' | 'librosa';
}

export const WINDOW_TYPES = [
  'povey',
  'hann',
  'hanning',
  'hamming',
  'rectangular',
  'sine',
  'blackman',
] as const;
export type WindowType = (typeof WINDOW_TYPES)[number];

/** Row-major [frames, bins]. */
export interface Features {
  frames: number;
  bins: number;
  data: Float32Array;
}

/** Kaldi's log floor: std::numeric_limits<float>::epsilon(). */
export const LOG_FLOOR = Math.log(1.1920928955078125e-7);

export function melScale(hz: number): number {
  return 1127 * Math.log(1 + hz / 700);
}

/** Kaldi's Povey window: a Hann window raised to 0.85 (non-zero at no sample but the ends). */
export function poveyWindow(length: number): Float64Array {
  return frameWindow('povey', length);
}

/** Kaldi's window functions (feature-window.cc); only hann is periodic. */
export function frameWindow(type: WindowType, length: number): Float64Array {
  const w = new Float64Array(length);
  const a = (2 * Math.PI) / (type === 'hann' ? length : length - 1);
  for (let i = 0; i < length; i++) {
    const c = Math.cos(a * i);
    w[i] =
      type === 'povey'
        ? Math.pow(0.5 - 0.5 * c, 0.85)
        : type === 'hann' || type === 'hanning'
          ? 0.5 - 0.5 * c
          : type === 'hamming'
            ? 0.54 - 0.46 * c
            : type === 'sine'
              ? Math.sin(0.5 * a * i)
              : type === 'blackman'
                ? 0.42 - 0.5 * c + 0.08 * Math.cos(2 * a * i)
                : 1;
  }
  return w;
}

/** With snip edges only frames that fit whole; without, samples / shift rounded to the nearest integer. */
export function frameCount(
  samples: number,
  frameLength: number,
  frameShift: number,
  snipEdges = true,
): number {
  if (!snipEdges) return Math.floor((samples + Math.floor(frameShift / 2)) / frameShift);
  return samples < frameLength ? 0 : 1 + Math.floor((samples - frameLength) / frameShift);
}

/** First sample of frame f (negative near the start without snip edges: those samples are reflected). */
export function frameStart(f: number, frameLength: number, frameShift: number, snipEdges = true): number {
  return snipEdges
    ? f * frameShift
    : f * frameShift + Math.floor(frameShift / 2) - Math.floor(frameLength / 2);
}

/** Kaldi's reflection at the signal's ends: -1 → 0, -2 → 1, n → n-1, n+1 → n-2. */
function reflect(i: number, n: number): number {
  while (i < 0 || i >= n) i = i < 0 ? -i - 1 : 2 * n - 1 - i;
  return i;
}

interface MelFilter {
  first: number;
  weights: Float64Array;
}

/** The top of the mel banks: highFreq, or Nyquist plus a negative highFreq (Kaldi's convention), checked. */
function melTop(sampleRate: number, lowFreq: number, highFreq: number): number {
  const nyquist = sampleRate / 2;
  const high = highFreq > 0 ? highFreq : nyquist + highFreq;
  if (!(lowFreq >= 0 && high > lowFreq && high <= nyquist)) {
    throw new RangeError(`fbank needs 0 <= lowFreq < highFreq <= ${nyquist} Hz, got ${lowFreq}..${high}`);
  }
  return high;
}

/** Kaldi MelBanks: triangles in the mel domain over FFT bins 0..n/2-1 (the Nyquist bin is never used). */
export function kaldiMelBanks(
  numBins: number,
  paddedLength: number,
  sampleRate: number,
  lowFreq: number,
  highFreq: number,
): MelFilter[] {
  const high = melTop(sampleRate, lowFreq, highFreq);
  const fftBins = paddedLength / 2;
  const binWidth = sampleRate / paddedLength;
  const melLow = melScale(lowFreq);
  const delta = (melScale(high) - melLow) / (numBins + 1);
  const banks: MelFilter[] = [];
  for (let b = 0; b < numBins; b++) {
    const left = melLow + b * delta;
    const center = left + delta;
    const right = center + delta;
    const w = new Float64Array(fftBins);
    let first = -1;
    let last = -1;
    for (let i = 0; i < fftBins; i++) {
      const mel = melScale(binWidth * i);
      if (mel > left && mel < right) {
        w[i] = mel <= center ? (mel - left) / (center - left) : (right - mel) / (right - center);
        if (first < 0) first = i;
        last = i;
      }
    }
    banks.push(
      first < 0 ? { first: 0, weights: new Float64Array(0) } : { first, weights: w.slice(first, last + 1) },
    );
  }
  return banks;
}

/** Slaney's mel scale (librosa's default, htk=False): linear to 1 kHz, logarithmic above. */
export function slaneyMel(hz: number): number {
  return hz <= 1000 ? (hz * 3) / 200 : 15 + (27 / Math.log(6.4)) * Math.log(hz / 1000);
}

function slaneyHz(mel: number): number {
  return mel <= 15 ? (200 / 3) * mel : 1000 * Math.exp(((mel - 15) * Math.log(6.4)) / 27);
}

/** librosa.filters.mel(norm="slaney") as kaldi-native-fbank builds it: in Hz, over FFT bins 0..n/2 inclusive. */
export function librosaMelBanks(
  numBins: number,
  paddedLength: number,
  sampleRate: number,
  lowFreq: number,
  highFreq: number,
): MelFilter[] {
  const high = melTop(sampleRate, lowFreq, highFreq);
  const binWidth = sampleRate / paddedLength;
  const melLow = slaneyMel(lowFreq);
  const delta = (slaneyMel(high) - melLow) / (numBins + 1);
  const banks: MelFilter[] = [];
  for (let b = 0; b < numBins; b++) {
    const left = slaneyHz(melLow + b * delta);
    const center = slaneyHz(melLow + (b + 1) * delta);
    const right = slaneyHz(melLow + (b + 2) * delta);
    const w = new Float64Array(paddedLength / 2 + 1);
    let first = -1;
    let last = -1;
    for (let i = 0; i <= paddedLength / 2; i++) {
      const hz = binWidth * i;
      if (hz > left && hz < right) {
        const tri = hz <= center ? (hz - left) / (center - left) : (right - hz) / (right - center);
        w[i] = (tri * 2) / (right - left);
        if (first < 0) first = i;
        last = i;
      }
    }
    banks.push(
      first < 0 ? { first: 0, weights: new Float64Array(0) } : { first, weights: w.slice(first, last + 1) },
    );
  }
  return banks;
}

export class KaldiFbank {
  readonly sampleRate: number;
  readonly numBins: number;
  readonly frameLength: number;
  readonly frameShift: number;
  readonly snipEdges: boolean;
  private readonly removeDc: boolean;
  private readonly preemph: number;
  private readonly window: Float64Array;
  private readonly fft: RealFFT;
  private readonly banks: MelFilter[];
  private readonly frame: Float64Array;
  private readonly re: Float64Array;
  private readonly im: Float64Array;
  private readonly power: Float64Array;

  constructor(opts: FbankOptions = {}) {
    this.sampleRate = opts.sampleRate ?? 16000;
    this.numBins = opts.numBins ?? 80;
    this.frameLength = Math.round((this.sampleRate * (opts.frameLengthMs ?? 25)) / 1000);
    this.frameShift = Math.round((this.sampleRate * (opts.frameShiftMs ?? 10)) / 1000);
    if (!(this.frameLength >= 2 && this.frameShift >= 1 && this.numBins >= 1)) {
      throw new RangeError('fbank needs a frame of at least 2 samples, a shift of 1 and one mel bin');
    }
    this.snipEdges = opts.snipEdges ?? true;
    this.removeDc = opts.removeDcOffset ?? true;
    this.preemph = opts.preemphasis ?? 0.97;
    this.window = frameWindow(opts.window ?? 'povey', this.frameLength);
    let padded = 1;
    while (padded < this.frameLength) padded *= 2;
    this.fft = new RealFFT(padded);
    const banks = opts.melBanks === 'librosa' ? librosaMelBanks : kaldiMelBanks;
    this.banks = banks(this.numBins, padded, this.sampleRate, opts.lowFreq ?? 20, opts.highFreq ?? 0);
    this.frame = new Float64Array(padded);
    this.re = new Float64Array(this.fft.bins);
    this.im = new Float64Array(this.fft.bins);
    this.power = new Float64Array(this.fft.bins);
  }

  frames(samples: number): number {
    return frameCount(samples, this.frameLength, this.frameShift, this.snipEdges);
  }

  /**
   * Features of `samples` at this.sampleRate. `scale` multiplies the samples first: the WeSpeaker exports expect
   * int16-scaled input (32768), the 3D-Speaker ones [-1, 1] (1).
   */
  compute(samples: Float32Array, scale = 1): Features {
    const total = samples.length;
    // Kaldi reflects at the ends; a signal too short for that (below half a frame) has no frames.
    const n = total === 0 ? 0 : this.frames(total);
    const out = new Float32Array(n * this.numBins);
    const { frame, window, frameLength: len, re, im, power, preemph } = this;
    for (let f = 0; f < n; f++) {
      const off = frameStart(f, len, this.frameShift, this.snipEdges);
      const inside = off >= 0 && off + len <= total;
      for (let i = 0; i < len; i++) frame[i] = samples[inside ? off + i : reflect(off + i, total)] * scale;
      if (this.removeDc) {
        let mean = 0;
        for (let i = 0; i < len; i++) mean += frame[i];
        mean /= len;
        for (let i = 0; i < len; i++) frame[i] -= mean;
      }
      for (let i = len - 1; i > 0; i--) frame[i] -= preemph * frame[i - 1];
      frame[0] -= preemph * frame[0];
      for (let i = 0; i < len; i++) frame[i] *= window[i];
      frame.fill(0, len);
      this.fft.forward(frame, re, im);
      for (let k = 0; k < power.length; k++) power[k] = re[k] * re[k] + im[k] * im[k];
      const row = f * this.numBins;
      for (let b = 0; b < this.numBins; b++) {
        const { first, weights } = this.banks[b];
        let e = 0;
        for (let k = 0; k < weights.length; k++) e += weights[k] * power[first + k];
        out[row + b] = Math.max(Math.log(e), LOG_FLOOR);
      }
    }
    return { frames: n, bins: this.numBins, data: out };
  }
}

export type FeatureNormalization = 'none' | 'global-mean' | 'per-feature';

/**
 * Per-utterance normalisation of each bin, in place: global-mean subtracts its mean (cepstral mean normalisation,
 * 3D-Speaker's "global-mean"); per-feature also divides by its standard deviation (NeMo's "per_feature", with
 * sherpa-onnx's floors: (x - mean) / (sqrt(max(var, 1e-5)) + 1e-5)).
 */
export function normalizeFeatures(feats: Features, how: FeatureNormalization): Features {
  const { frames, bins, data } = feats;
  if (how === 'none' || frames === 0) return feats;
  const mean = new Float64Array(bins);
  const sq = new Float64Array(bins);
  for (let f = 0; f < frames; f++) {
    for (let b = 0; b < bins; b++) {
      const v = data[f * bins + b];
      mean[b] += v;
      sq[b] += v * v;
    }
  }
  const scale = new Float64Array(bins).fill(1);
  for (let b = 0; b < bins; b++) {
    mean[b] /= frames;
    if (how === 'per-feature')
      scale[b] = 1 / (Math.sqrt(Math.max(sq[b] / frames - mean[b] * mean[b], 1e-5)) + 1e-5);
  }
  for (let f = 0; f < frames; f++) {
    for (let b = 0; b < bins; b++) data[f * bins + b] = (data[f * bins + b] - mean[b]) * scale[b];
  }
  return feats;
}

let shared: KaldiFbank | undefined;

/** 80-bin 16 kHz fbank with the defaults above. */
export function fbank(samples: Float32Array, scale = 1): Features {
  shared ??= new KaldiFbank();
  return shared.compute(samples, scale);
}

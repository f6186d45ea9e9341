/**
 * Kaldi-style log-mel filterbank (`compute-fbank-feats` / torchaudio.compliance.kaldi.fbank), the front end of the
 * published speaker-embedding exports (WeSpeaker, 3D-Speaker, as run by sherpa-onnx).
 *
 * Per frame, in Kaldi's order: take frame_length samples (snip edges: only whole frames), remove the DC offset,
 * pre-emphasise (x[i] -= 0.97·x[i-1], x[0] -= 0.97·x[0]), multiply by the Povey window, zero-pad to the next power
 * of two, power spectrum, triangular mel filters on Kaldi's mel scale (1127·ln(1 + f/700)) from 20 Hz to Nyquist,
 * natural log floored at float32 epsilon. Dither is fixed at 0 so features are deterministic.
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
}

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
  const w = new Float64Array(length);
  const a = (2 * Math.PI) / (length - 1);
  for (let i = 0; i < length; i++) w[i] = Math.pow(0.5 - 0.5 * Math.cos(a * i), 0.85);
  return w;
}

/** With snip edges: only frames that fit whole. */
export function frameCount(samples: number, frameLength: number, frameShift: number): number {
  return samples < frameLength ? 0 : 1 + Math.floor((samples - frameLength) / frameShift);
}

interface MelFilter {
  first: number;
  weights: Float64Array;
}

/** Kaldi MelBanks: triangles in the mel domain over FFT bins 0..n/2-1 (the Nyquist bin is never used). */
export function kaldiMelBanks(
  numBins: number,
  paddedLength: number,
  sampleRate: number,
  lowFreq: number,
  highFreq: number,
): MelFilter[] {
  const nyquist = sampleRate / 2;
  const high = highFreq > 0 ? highFreq : nyquist + highFreq;
  if (!(lowFreq >= 0 && high > lowFreq && high <= nyquist)) {
    throw new RangeError(`fbank needs 0 <= lowFreq < highFreq <= ${nyquist} Hz, got ${lowFreq}..${high}`);
  }
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

export class KaldiFbank {
  readonly sampleRate: number;
  readonly numBins: number;
  readonly frameLength: number;
  readonly frameShift: number;
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
    this.preemph = opts.preemphasis ?? 0.97;
    this.window = poveyWindow(this.frameLength);
    let padded = 1;
    while (padded < this.frameLength) padded *= 2;
    this.fft = new RealFFT(padded);
    this.banks = kaldiMelBanks(this.numBins, padded, this.sampleRate, opts.lowFreq ?? 20, opts.highFreq ?? 0);
    this.frame = new Float64Array(padded);
    this.re = new Float64Array(this.fft.bins);
    this.im = new Float64Array(this.fft.bins);
    this.power = new Float64Array(this.fft.bins);
  }

  frames(samples: number): number {
    return frameCount(samples, this.frameLength, this.frameShift);
  }

  /**
   * Features of `samples` at this.sampleRate. `scale` multiplies the samples first: the WeSpeaker exports expect
   * int16-scaled input (32768), the 3D-Speaker ones [-1, 1] (1).
   */
  compute(samples: Float32Array, scale = 1): Features {
    const n = this.frames(samples.length);
    const out = new Float32Array(n * this.numBins);
    const { frame, window, frameLength: len, re, im, power, preemph } = this;
    for (let f = 0; f < n; f++) {
      const off = f * this.frameShift;
      let mean = 0;
      for (let i = 0; i < len; i++) mean += samples[off + i] * scale;
      mean /= len;
      for (let i = 0; i < len; i++) frame[i] = samples[off + i] * scale - mean;
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

/** Cepstral mean normalisation over the whole utterance (3D-Speaker's "global-mean"), in place. */
export function subtractMean(feats: Features): Features {
  const { frames, bins, data } = feats;
  if (frames === 0) return feats;
  const mean = new Float64Array(bins);
  for (let f = 0; f < frames; f++) for (let b = 0; b < bins; b++) mean[b] += data[f * bins + b];
  for (let b = 0; b < bins; b++) mean[b] /= frames;
  for (let f = 0; f < frames; f++) for (let b = 0; b < bins; b++) data[f * bins + b] -= mean[b];
  return feats;
}

let shared: KaldiFbank | undefined;

/** 80-bin 16 kHz fbank with the defaults above. */
export function fbank(samples: Float32Array, scale = 1): Features {
  shared ??= new KaldiFbank();
  return shared.compute(samples, scale);
}

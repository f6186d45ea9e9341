/**
 * Whisper log-mel front end for one 30-s window, numerically the transformers.js WhisperFeatureExtractor /
 * openai `log_mel_spectrogram(pad_or_trim(audio))` path (see ../shared/reference/whisper-onnx.md §3).
 */
import { RealFFT } from './fft.js';

import { SAMPLE_RATE } from './rate.js';

export { SAMPLE_RATE };
export const N_FFT = 400;
export const HOP_LENGTH = 160;
export const N_SAMPLES = 480000;
export const N_FRAMES = 3000;

const N_BINS = N_FFT / 2 + 1; // 201
const PAD = N_FFT / 2; // centred frames: reflect-pad 200 each side
const PADDED_LENGTH = N_SAMPLES + 2 * PAD;
const MEL_FLOOR = 1e-10;
const LOG_FLOOR = Math.log10(MEL_FLOOR);

/** One triangular mel filter restricted to its non-zero bins. */
interface MelFilter {
  firstBin: number;
  weights: Float64Array;
}

// Slaney mel scale as in librosa / tjs `utils/audio.js` (linear below 1 kHz, log above).
const MIN_LOG_HZ = 1000;
const MIN_LOG_MEL = 15;
const LOGSTEP = Math.log(6.4) / 27;

function hzToMel(hz: number): number {
  return hz >= MIN_LOG_HZ ? MIN_LOG_MEL + Math.log(hz / MIN_LOG_HZ) * (27 / Math.log(6.4)) : (3 * hz) / 200;
}

function melToHz(mel: number): number {
  return mel >= MIN_LOG_MEL ? MIN_LOG_HZ * Math.exp(LOGSTEP * (mel - MIN_LOG_MEL)) : (200 * mel) / 3;
}

/**
 * librosa.filters.mel(sr=16000, n_fft=400, n_mels, fmin=0, fmax=8000, htk=False, norm="slaney"), computed with
 * the same operation order as tjs `mel_filter_bank` so the weights agree to the last bit or two.
 */
export function melFilterBank(nMels: number): Float64Array[] {
  const melMin = hzToMel(0);
  const melMax = hzToMel(SAMPLE_RATE / 2);
  const step = (melMax - melMin) / (nMels + 1);
  const filterHz = Float64Array.from({ length: nMels + 2 }, (_, i) => melToHz(melMin + step * i));
  const binStep = Math.floor(SAMPLE_RATE / 2) / (N_BINS - 1);
  const rows: Float64Array[] = [];
  for (let m = 0; m < nMels; m++) {
    const row = new Float64Array(N_BINS);
    const enorm = 2 / (filterHz[m + 2] - filterHz[m]);
    for (let k = 0; k < N_BINS; k++) {
      const f = binStep * k;
      const down = -(filterHz[m] - f) / (filterHz[m + 1] - filterHz[m]);
      const up = (filterHz[m + 2] - f) / (filterHz[m + 2] - filterHz[m + 1]);
      row[k] = Math.max(0, Math.min(down, up)) * enorm;
    }
    rows.push(row);
  }
  return rows;
}

function sparseFilters(rows: Float64Array[]): MelFilter[] {
  return rows.map((row) => {
    let first = 0;
    while (first < row.length && row[first] === 0) first++;
    let last = row.length - 1;
    while (last >= first && row[last] === 0) last--;
    return { firstBin: first, weights: row.slice(first, last + 1) };
  });
}

// Plans shared by every LogMel instance (immutable once built).
const filterCache = new Map<number, MelFilter[]>();

function periodicHann(n: number): Float64Array {
  // Same formula as tjs window_function(n, 'hann'): symmetric Hann of n+1 points, last dropped.
  const w = new Float64Array(n);
  const factor = (2 * Math.PI) / n;
  for (let i = 0; i < n; i++) w[i] = 0.5 - 0.5 * Math.cos(i * factor);
  return w;
}

/**
 * Working memory (~7 MB) shared by all instances: compute() is synchronous and never yields, so instances
 * can be created per stream without each holding its own buffers.
 */
class Scratch {
  readonly window = periodicHann(N_FFT);
  readonly fft = new RealFFT(N_FFT);
  readonly padded = new Float64Array(PADDED_LENGTH);
  readonly frame = new Float64Array(N_FFT);
  readonly specRe = new Float64Array(N_BINS);
  readonly specIm = new Float64Array(N_BINS);
  readonly power = new Float64Array(N_BINS);
  readonly logSpec = new Float64Array(128 * N_FRAMES);
  /** Audio samples the previous compute() wrote into `padded` (the rest is known to be zero). */
  prevLength = 0;
}

let scratch: Scratch | undefined;

export class LogMel {
  readonly nMels: 80 | 128;
  private readonly filters: MelFilter[];

  constructor(nMels: 80 | 128) {
    if (nMels !== 80 && nMels !== 128) throw new RangeError(`nMels must be 80 or 128, got ${String(nMels)}`);
    this.nMels = nMels;
    let filters = filterCache.get(nMels);
    if (!filters) {
      filters = sparseFilters(melFilterBank(nMels));
      filterCache.set(nMels, filters);
    }
    this.filters = filters;
  }

  /**
   * audio: 16 kHz mono; zero-padded to 30 s, or truncated to its first 30 s (as pad_or_trim does).
   * Returns nMels×3000 features, mel-major (row m is out[m*3000 .. m*3000+2999]), written into `out` if given.
   */
  compute(audio: Float32Array, out?: Float32Array): Float32Array {
    const nMels = this.nMels;
    const size = nMels * N_FRAMES;
    if (out && out.length < size) throw new RangeError(`out must hold ${size} values, got ${out.length}`);
    const result = out ?? new Float32Array(size);
    scratch ??= new Scratch();
    const s = scratch;
    const { padded, frame, window, specRe, specIm, power, logSpec } = s;
    const filters = this.filters;

    const n = Math.min(audio.length, N_SAMPLES);
    // padded = reflect(200) + audio[0..n) + zeros + reflect(200) of the 480000-sample window.
    // Only the samples the previous call wrote past n need zeroing; the reflections are rewritten below.
    if (s.prevLength > n) padded.fill(0, PAD + n, PAD + s.prevLength);
    s.prevLength = n;
    let lastNonZero = -1;
    for (let i = 0; i < n; i++) {
      const v = audio[i];
      padded[PAD + i] = v;
      if (v !== 0) lastNonZero = i;
    }
    for (let i = 1; i <= PAD; i++) {
      padded[PAD - i] = padded[PAD + i];
      padded[PAD + N_SAMPLES - 1 + i] = padded[PAD + N_SAMPLES - 1 - i];
    }
    // Index in `padded` after which everything is zero (the right reflection may hold audio near 30 s).
    const zeroFrom = lastNonZero >= N_SAMPLES - 1 - PAD ? PADDED_LENGTH : PAD + lastNonZero + 1;

    let maxLog = -Infinity;
    for (let t = 0; t < N_FRAMES; t++) {
      const offset = t * HOP_LENGTH;
      // Frames of pure zeros (the padding of short utterances, digital silence) have power 0, so every mel is
      // log10(1e-10): no FFT needed. Streaming re-runs short utterances padded to 30 s many times a second.
      let silent = offset >= zeroFrom;
      if (!silent) {
        silent = true;
        for (let j = 0; j < N_FFT; j++) {
          if (padded[offset + j] !== 0) {
            silent = false;
            break;
          }
        }
      }
      if (silent) {
        for (let m = 0; m < nMels; m++) logSpec[m * N_FRAMES + t] = LOG_FLOOR;
        if (LOG_FLOOR > maxLog) maxLog = LOG_FLOOR;
        continue;
      }
      for (let j = 0; j < N_FFT; j++) frame[j] = padded[offset + j] * window[j];
      s.fft.forward(frame, specRe, specIm);
      for (let k = 0; k < N_BINS; k++) power[k] = specRe[k] * specRe[k] + specIm[k] * specIm[k];
      for (let m = 0; m < nMels; m++) {
        const { firstBin, weights } = filters[m];
        let acc = 0;
        for (let k = 0; k < weights.length; k++) acc += weights[k] * power[firstBin + k];
        const v = Math.log10(acc > MEL_FLOOR ? acc : MEL_FLOOR);
        logSpec[m * N_FRAMES + t] = v;
        if (v > maxLog) maxLog = v;
      }
    }

    const threshold = maxLog - 8;
    for (let i = 0; i < size; i++) {
      const v = logSpec[i];
      result[i] = ((v > threshold ? v : threshold) + 4) / 4;
    }
    return result;
  }
}

/**
 * Voice statistics of a clip's speech frames, the input of the built-in speaker embedding:
 * - the cepstrum (DCT of the Kaldi log-mel fbank, c1..c24): its mean is the vocal tract's average spectral
 *   envelope (formants, brightness), its spread how the voice moves, the spread of its frame-to-frame change
 *   (delta) how fast it moves; c0 (loudness) is left out so distance to the microphone does not matter;
 * - pitch (normalised autocorrelation, 60-400 Hz): quartiles of log f0 over voiced frames.
 * The cepstra are taken after the steady noise is subtracted from the bands (denoised()): the clip's own, or the
 * whole recording's (RoomMeter) when it is a piece of one.
 *
 * A recording is analysed once (VoiceFrames: per-frame values as running sums), so the diarizer's many
 * overlapping windows and candidate pieces cost a few vector operations each, not another pass over the audio.
 */
import { type Features, KaldiFbank } from '../../audio/fbank.js';
import { type RoomLevels, frameEnergy, levelsFrom, silentEnergyOf } from './room.js';

/** Cepstra c1..c24. */
const NC = 24;
const MIN_F0 = 60;
const MAX_F0 = 400;
const SR = 16000;
/** Samples of one pitch frame (frameF0 reads one more: the lag after the last). */
export const PITCH_LEN = 640;

/** Length of a statistics vector: cepstral means, spreads, delta spreads, then three pitch quartiles. */
export const STATS_DIM = 3 * NC + 3;

/** Cepstra c1..c19 of the fixed kernel's statistics (voice-kernel.ts). */
export const FIXED_NC = 19;
/** Length of the fixed kernel's statistics: c1..c19 means, their spreads, the median log2 f0. */
export const FIXED_DIM = 2 * FIXED_NC + 1;

function dctMatrix(nIn: number, nOut: number): Float64Array[] {
  return Array.from({ length: nOut }, (_, k) =>
    Float64Array.from(
      { length: nIn },
      (_, n) => Math.cos((Math.PI * k * (n + 0.5)) / nIn) * Math.sqrt(2 / nIn),
    ),
  );
}

function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i);
  return sorted[lo] + (sorted[Math.min(lo + 1, sorted.length - 1)] - sorted[lo]) * (i - lo);
}

/**
 * sum_i x[off+i] * x[off+i+lag] over i < n for each lag in [from, to]: four lags per pass over the frame, so each
 * sample is read once for four products (each sum still adds in the same order: the values are those of one lag at
 * a time).
 */
function lagDots(x: Float32Array, off: number, n: number, from: number, to: number): Float64Array {
  const out = new Float64Array(to - from + 1);
  let lag = from;
  for (; lag + 3 <= to; lag += 4) {
    let d0 = 0;
    let d1 = 0;
    let d2 = 0;
    let d3 = 0;
    for (let i = 0; i < n; i++) {
      const a = x[off + i];
      const j = off + i + lag;
      d0 += a * x[j];
      d1 += a * x[j + 1];
      d2 += a * x[j + 2];
      d3 += a * x[j + 3];
    }
    out[lag - from] = d0;
    out[lag - from + 1] = d1;
    out[lag - from + 2] = d2;
    out[lag - from + 3] = d3;
  }
  for (; lag <= to; lag++) {
    let d = 0;
    for (let i = 0; i < n; i++) d += x[off + i] * x[off + i + lag];
    out[lag - from] = d;
  }
  return out;
}

/** f0 of one frame by normalised autocorrelation, or 0 when unvoiced. */
export function frameF0(x: Float32Array, off: number, len: number): number {
  const minLag = Math.floor(SR / MAX_F0);
  const maxLag = Math.ceil(SR / MIN_F0);
  const n = len - maxLag;
  let e0 = 0;
  for (let i = 0; i < n; i++) e0 += x[off + i] * x[off + i];
  if (e0 <= 1e-8) return 0;
  let best = 0;
  let bestLag = 0;
  const r = new Float64Array(maxLag + 2);
  // The lagged window's energy slides with the lag: one sample leaves, one enters (the search's inner loop is then
  // the dot product alone; it is most of a live final's labelling time).
  let e1 = 0;
  for (let i = 0; i < n; i++) e1 += x[off + minLag - 1 + i] ** 2;
  const dots = lagDots(x, off, n, minLag - 1, maxLag + 1);
  for (let lag = minLag - 1; lag <= maxLag + 1; lag++) {
    if (lag > minLag - 1) e1 += x[off + lag - 1 + n] ** 2 - x[off + lag - 1] ** 2;
    r[lag] = e1 > 0 ? dots[lag - minLag + 1] / Math.sqrt(e0 * e1) : 0;
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

/** Running sums (index f = the frames before f) of `rows` values per frame. */
function prefix(frames: number, rows: number, value: (f: number, k: number) => number): Float64Array {
  const out = new Float64Array((frames + 1) * rows);
  for (let f = 0; f < frames; f++) {
    for (let k = 0; k < rows; k++) out[(f + 1) * rows + k] = out[f * rows + k] + value(f, k);
  }
  return out;
}

/**
 * A clip's voice features frame by frame (10 ms), kept as running sums so that the statistics of any span of it
 * cost O(1) (pitch quartiles: a sort of the span's voiced frames).
 */
export class VoiceFrames {
  private readonly speech: Float64Array;
  private readonly cepSum: Float64Array;
  private readonly cepSq: Float64Array;
  /** Frames whose neighbours are both speech (where a delta is defined), and their squared deltas. */
  private readonly deltaN: Float64Array;
  private readonly deltaSq: Float64Array;
  /** The same over the fixed kernel's frames (voice: see VoiceAnalyzer.frames), c1..c19. */
  private readonly voice: Float64Array;
  private readonly voiceCepSum: Float64Array;
  private readonly voiceCepSq: Float64Array;

  constructor(
    readonly frames: number,
    readonly frameSeconds: number,
    speech: Uint8Array,
    /** frames × NC cepstra of the denoised bands (zeros where not speech). */
    cep: Float64Array,
    /** log2 f0 per frame; not finite when unvoiced or not analysed. */
    private readonly logF0: Float64Array,
    /** The fixed kernel's frames (cepstra and pitch are given for these too). */
    private readonly voiceMask: Uint8Array,
    /** frames × FIXED_NC cepstra of the bands as heard, for the fixed kernel. */
    fixedCep: Float64Array,
  ) {
    const hasDelta = (f: number): boolean => f > 0 && f + 1 < frames && !!speech[f - 1] && !!speech[f + 1];
    this.speech = prefix(frames, 1, (f) => speech[f]);
    this.cepSum = prefix(frames, NC, (f, k) => (speech[f] ? cep[f * NC + k] : 0));
    this.cepSq = prefix(frames, NC, (f, k) => (speech[f] ? cep[f * NC + k] ** 2 : 0));
    this.deltaN = prefix(frames, 1, (f) => (hasDelta(f) ? 1 : 0));
    this.deltaSq = prefix(frames, NC, (f, k) =>
      hasDelta(f) ? ((cep[(f + 1) * NC + k] - cep[(f - 1) * NC + k]) / 2) ** 2 : 0,
    );
    this.voice = prefix(frames, 1, (f) => voiceMask[f]);
    this.voiceCepSum = prefix(frames, FIXED_NC, (f, k) => (voiceMask[f] ? fixedCep[f * FIXED_NC + k] : 0));
    this.voiceCepSq = prefix(frames, FIXED_NC, (f, k) =>
      voiceMask[f] ? fixedCep[f * FIXED_NC + k] ** 2 : 0,
    );
  }

  /** The fixed kernel's frames between start and end seconds. */
  voiceFrames(start = 0, end = Infinity): number {
    const [a, b] = this.range(start, end);
    return this.voice[b] - this.voice[a];
  }

  /** The fixed kernel's statistics (FIXED_DIM) between start and end seconds; the median is NaN when unvoiced. */
  fixedStats(start = 0, end = Infinity): Float64Array {
    const [a, b] = this.range(start, end);
    const n = this.voice[b] - this.voice[a];
    const x = new Float64Array(FIXED_DIM);
    for (let k = 0; k < FIXED_NC; k++) {
      [x[k], x[FIXED_NC + k]] = moments(this.voiceCepSum, this.voiceCepSq, FIXED_NC, k, a, b, n);
    }
    x[2 * FIXED_NC] = quantile(
      this.logF0s(a, b, (f) => this.voiceMask[f] > 0),
      0.5,
    );
    return x;
  }

  /** Frame range [a, b) of a span in seconds from the clip's start. */
  range(start: number, end: number): [number, number] {
    const a = Math.max(0, Math.min(this.frames, Math.round(start / this.frameSeconds)));
    const b = Math.max(a, Math.min(this.frames, Math.round(end / this.frameSeconds)));
    return [a, b];
  }

  /** Sorted log-pitch of the frames in [a, b) that `keep` takes and that have a pitch. */
  private logF0s(a: number, b: number, keep: (f: number) => boolean): number[] {
    const out: number[] = [];
    for (let f = a; f < b; f++) if (keep(f) && Number.isFinite(this.logF0[f])) out.push(this.logF0[f]);
    return out.sort((p, q) => p - q);
  }

  private isSpeech(f: number): boolean {
    return this.speech[f + 1] > this.speech[f];
  }

  /** Speech frames between start and end seconds. */
  speechFrames(start = 0, end = Infinity): number {
    const [a, b] = this.range(start, end);
    return this.speech[b] - this.speech[a];
  }

  /**
   * The statistics vector (STATS_DIM) of the frames between start and end seconds; pitch quartiles are NaN when
   * no frame is voiced.
   */
  stats(start = 0, end = Infinity): Float64Array {
    const [a, b] = this.range(start, end);
    const n = this.speech[b] - this.speech[a];
    const nd = this.deltaN[b] - this.deltaN[a];
    const x = new Float64Array(STATS_DIM);
    for (let k = 0; k < NC; k++) {
      [x[k], x[NC + k]] = moments(this.cepSum, this.cepSq, NC, k, a, b, n);
      x[2 * NC + k] = nd > 0 ? Math.sqrt((this.deltaSq[b * NC + k] - this.deltaSq[a * NC + k]) / nd) : 0;
    }
    // Quartiles, not means: a few octave errors must not move a voice's pitch.
    const f0s = this.logF0s(a, b, (f) => this.isSpeech(f));
    x[3 * NC] = quantile(f0s, 0.25);
    x[3 * NC + 1] = quantile(f0s, 0.5);
    x[3 * NC + 2] = quantile(f0s, 0.75);
    return x;
  }
}

/** Mean and spread of coordinate k over frames [a, b) (n of them counted) from prefix sums of x and x². */
function moments(
  sum: Float64Array,
  sq: Float64Array,
  dims: number,
  k: number,
  a: number,
  b: number,
  n: number,
): [number, number] {
  if (n <= 0) return [0, 0];
  const m = (sum[b * dims + k] - sum[a * dims + k]) / n;
  const s2 = (sq[b * dims + k] - sq[a * dims + k]) / n;
  return [m, Math.sqrt(Math.max(0, s2 - m * m))];
}

/** Subtraction never takes a band below this share of its power (-10 dB): musical noise stays small. */
const NOISE_FLOOR = Math.log(0.1);

/**
 * Log-mel bands with the steady noise (`noise`: power per band) subtracted in the power domain (spectral
 * subtraction), for the learnt statistics: noise fills every voice's spectral valleys alike and compresses how its
 * cepstrum moves, which draws all the voices of a noisy recording towards each other. A clean recording's floor is
 * far below its speech, so it barely changes.
 */
function denoised(data: Float32Array, bins: number, noise: Float64Array | undefined): Float64Array {
  const out = Float64Array.from(data);
  if (!noise) return out;
  for (let i = 0; i < out.length; i++) {
    const x = out[i];
    out[i] = Math.max(Math.log(Math.max(Math.exp(x) - noise[i % bins], 1e-30)), x + NOISE_FLOOR);
  }
  return out;
}

/** The levels of one clip, from its own frames. */
function clipLevels(data: Float32Array, frames: number, bins: number, energy: Float64Array): RoomLevels {
  const silent = silentEnergyOf(bins);
  // The loud and quiet references over frames that are not digital silence: padding or a muted stretch would
  // otherwise become the "quiet" level and let the noise between words count as voice.
  const heard: number[] = [];
  for (let f = 0; f < frames; f++) if (energy[f] > silent) heard.push(f);
  const heardEnergy = Float64Array.from(heard, (f) => energy[f]).sort();
  const allEnergy = energy.slice().sort();
  return levelsFrom(
    {
      frames: heard.length,
      energy: (q) => quantile(heardEnergy, q),
      band: (b) => (q) => quantile(Float64Array.from(heard, (f) => data[f * bins + b]).sort(), q),
    },
    (q) => quantile(allEnergy, q),
    bins,
  );
}

/**
 * Frame-local analysis already made of a stream (frame-cache.ts), by stream sample: the fbank row of the frame
 * starting there, the f0 (Hz, 0 unvoiced) of the pitch frame starting there; undefined when not (yet) made.
 */
export interface HeardFrames {
  row(at: number): Float32Array | undefined;
  pitch(at: number): number | undefined;
}

export class VoiceAnalyzer {
  private readonly fbank = new KaldiFbank();
  private readonly dct = dctMatrix(80, NC + 1);

  /**
   * Per-frame features of a whole clip. `heard`: what was made of the stream the clip is cut from, the clip
   * starting at stream sample `at`; used when the clip starts on the pitch grid (every other frame), the rest is
   * computed. Either way the result is the same, bit for bit. `room`: the levels of the recording the clip is part
   * of (RoomMeter), else the clip's own.
   */
  frames(clip: Float32Array, heard?: HeardFrames, at = 0, room?: RoomLevels): VoiceFrames {
    const cached = heard && at % (2 * this.fbank.frameShift) === 0 ? heard : undefined;
    const feats = cached ? this.features(clip, cached, at) : this.fbank.compute(clip);
    const { frames, bins, data } = feats;
    const energy = frameEnergy(data, frames, bins);
    const silentEnergy = silentEnergyOf(bins);
    const { speechFloor, voiceFloor, noise } = room ?? clipLevels(data, frames, bins, energy);
    const speech = new Uint8Array(frames);
    const voice = new Uint8Array(frames);
    const cep = new Float64Array(frames * NC);
    const clean = denoised(data, bins, noise);
    const logF0 = new Float64Array(frames).fill(NaN);
    const fixedCep = new Float64Array(frames * FIXED_NC);
    for (let f = 0; f < frames; f++) {
      // Digital silence (a muted or padded stream: every bin at the log floor) is never speech.
      if (energy[f] <= silentEnergy) continue;
      speech[f] = energy[f] >= speechFloor ? 1 : 0;
      voice[f] = energy[f] >= voiceFloor ? 1 : 0;
      if (!speech[f] && !voice[f]) continue;
      for (let k = 1; k <= NC; k++) {
        const row = this.dct[k];
        let c = 0;
        for (let b = 0; b < bins; b++) c += row[b] * clean[f * bins + b];
        cep[f * NC + k - 1] = c;
        // The fixed kernel keeps the bands as heard: it was made on them, and subtraction costs it the synthetic
        // two-speaker conversation.
        if (k <= FIXED_NC) {
          let raw = 0;
          for (let b = 0; b < bins; b++) raw += row[b] * data[f * bins + b];
          fixedCep[f * FIXED_NC + k - 1] = raw;
        }
      }
      // Pitch on every other frame (20 ms hop) is plenty for statistics.
      const off = f * this.fbank.frameShift;
      if (f % 2 === 0 && off + PITCH_LEN <= clip.length) {
        // At the clip's very end frameF0 reads past it (undefined): the stream's next sample would differ.
        const made = off + PITCH_LEN < clip.length ? cached?.pitch(at + off) : undefined;
        const f0 = made ?? frameF0(clip, off, PITCH_LEN);
        logF0[f] = f0 > 0 ? Math.log2(f0) : -Infinity;
      }
    }
    return new VoiceFrames(frames, this.fbank.frameShift / SR, speech, cep, logF0, voice, fixedCep);
  }

  /** The clip's fbank rows: those heard, the runs of missing ones computed (each row is its own frame's). */
  private features(clip: Float32Array, heard: HeardFrames, at: number): Features {
    const { frameShift: shift, frameLength, numBins: bins } = this.fbank;
    const n = clip.length === 0 ? 0 : this.fbank.frames(clip.length);
    const data = new Float32Array(n * bins);
    let missing = -1;
    const fill = (to: number) => {
      if (missing < 0) return;
      const part = this.fbank.compute(clip.subarray(missing * shift, (to - 1) * shift + frameLength));
      data.set(part.data, missing * bins);
      missing = -1;
    };
    for (let f = 0; f < n; f++) {
      const row = heard.row(at + f * shift);
      if (row) {
        fill(f);
        data.set(row, f * bins);
      } else if (missing < 0) missing = f;
    }
    fill(n);
    return { frames: n, bins, data };
  }
}

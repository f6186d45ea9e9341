/**
 * Rational-ratio polyphase resampler with a Kaiser-windowed sinc kernel.
 *
 * The ratio is exact (44100→16000 is 160/441: output n sits at input position n·441/160), so long streams never
 * drift. The kernel is centred (zero-phase): output n needs input up to ⌊n·M/L⌋ + H, so push() holds back the last
 * H input samples (≈ 1.5–3 ms at 44.1/48 kHz, 3.5 ms at 8 kHz) until more audio or flush() arrives. Streaming and
 * whole-buffer resampling run the same code with the same history, so their outputs are bit-identical.
 *
 * Design: pass band flat to 90% of the lower Nyquist (7.2 kHz for a 16 kHz target), stop band from 100% of it
 * with ≥ 80 dB attenuation, so nothing above 8 kHz folds back into Whisper's 0–8 kHz mel range.
 */
import { SAMPLE_RATE } from './rate.js';

const PASS_EDGE = 0.9; // fraction of the lower Nyquist frequency
const STOP_EDGE = 1.0;
const STOPBAND_DB = 80;

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** Modified Bessel function of the first kind, order 0 (power series; converges fast for the β we use). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 200; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

interface Kernel {
  /** Upsampling factor L (output positions advance by down/up input samples). */
  up: number;
  /** Downsampling factor M. */
  down: number;
  /** Taps per phase (2·half). */
  taps: number;
  /** Input samples needed on each side of an output's position. */
  half: number;
  /**
   * Table rows: row r holds the taps for fractional position r/rows, applied to inputs ⌊t⌋-half+1 .. ⌊t⌋+half.
   * When rows === up every phase has its exact row; otherwise (odd rates with thousands of phases) there are
   * TABLE_ROWS+1 rows and a phase's taps are linearly interpolated between its two neighbours.
   */
  rows: number;
  coeffs: Float32Array;
}

/**
 * Above this many phases (rates like 44101 Hz, where L = 16000) an exact table would cost ~20 MB and ~200 ms to
 * build; an oversampled table with linear interpolation is accurate to about -110 dB instead.
 */
const MAX_EXACT_PHASES = 1024;
const TABLE_ROWS = 1024;

const kernelCache = new Map<string, Kernel>();
const KERNEL_CACHE_LIMIT = 16;

function designKernel(fromRate: number, toRate: number): Kernel {
  const g = gcd(fromRate, toRate);
  const up = toRate / g;
  const down = fromRate / g;
  const key = `${up}/${down}`;
  const cached = kernelCache.get(key);
  if (cached) return cached;

  // Frequencies in cycles per input sample.
  const nyquist = 0.5 * Math.min(1, up / down);
  const cutoff = (nyquist * (PASS_EDGE + STOP_EDGE)) / 2;
  const transition = nyquist * (STOP_EDGE - PASS_EDGE);
  // Kaiser's formulas: β from the attenuation, length from attenuation and transition width.
  const beta = 0.1102 * (STOPBAND_DB - 8.7);
  const length = (STOPBAND_DB - 7.95) / (2.285 * 2 * Math.PI * transition);
  const half = Math.max(1, Math.ceil(length / 2));
  const taps = 2 * half;
  const exact = up <= MAX_EXACT_PHASES;
  const rows = exact ? up : TABLE_ROWS;
  const coeffs = new Float32Array((exact ? rows : rows + 1) * taps);
  const i0Beta = besselI0(beta);
  const row = new Float64Array(taps);
  for (let p = 0; p < coeffs.length / taps; p++) {
    const frac = p / rows;
    let sum = 0;
    for (let k = 0; k < taps; k++) {
      const x = k - half + 1 - frac; // input index minus output position, in input samples
      const r = x / half;
      const w = r * r >= 1 ? 0 : besselI0(beta * Math.sqrt(1 - r * r)) / i0Beta;
      const arg = 2 * cutoff * x;
      const sinc = arg === 0 ? 1 : Math.sin(Math.PI * arg) / (Math.PI * arg);
      row[k] = 2 * cutoff * sinc * w;
      sum += row[k];
    }
    // Exact unity DC gain on every phase: a constant input gives a constant output (no phase-pattern ripple).
    for (let k = 0; k < taps; k++) coeffs[p * taps + k] = row[k] / sum;
  }
  const kernel: Kernel = { up, down, taps, half, rows, coeffs };
  if (kernelCache.size >= KERNEL_CACHE_LIMIT) kernelCache.delete(kernelCache.keys().next().value!);
  kernelCache.set(key, kernel);
  return kernel;
}

function checkRate(name: string, rate: number): void {
  if (!Number.isInteger(rate) || rate < 1000 || rate > 768000) {
    throw new RangeError(`${name} must be an integer sample rate in Hz (1000..768000), got ${rate}`);
  }
}

function dot(x: Float32Array, xi: number, c: Float32Array, ci: number, n: number): number {
  let acc = 0;
  let k = 0;
  for (; k + 3 < n; k += 4) {
    acc +=
      x[xi + k] * c[ci + k] +
      x[xi + k + 1] * c[ci + k + 1] +
      x[xi + k + 2] * c[ci + k + 2] +
      x[xi + k + 3] * c[ci + k + 3];
  }
  for (; k < n; k++) acc += x[xi + k] * c[ci + k];
  return acc;
}

/**
 * Integer decimation (48k→16k, 32k→16k) has a single, symmetric phase: taps at offsets ±j are equal (and the
 * last one, at +half, is a window zero), so pairs of inputs share one multiply.
 */
function symmetricDot(x: Float32Array, xc: number, c: Float32Array, cc: number, half: number): number {
  let acc = x[xc] * c[cc];
  for (let j = 1; j < half; j++) acc += c[cc + j] * (x[xc - j] + x[xc + j]);
  return acc;
}

export class StreamingResampler {
  readonly fromRate: number;
  readonly toRate: number;
  private readonly kernel: Kernel | null; // null: same rate, pass through
  /** Input samples from absolute index `bufStart`, `bufLength` of them valid. */
  private buf: Float32Array;
  private bufStart = 0;
  private bufLength = 0;
  /** Next output's position: input index `base` + `phase`/up. */
  private base = 0;
  private phase = 0;
  private inputCount = 0;
  private outputCount = 0;

  constructor(fromRate: number, toRate = SAMPLE_RATE) {
    checkRate('fromRate', fromRate);
    checkRate('toRate', toRate);
    this.fromRate = fromRate;
    this.toRate = toRate;
    this.kernel = fromRate === toRate ? null : designKernel(fromRate, toRate);
    this.buf = new Float32Array(0);
    this.reset();
  }

  /** Input samples on each side of an output's position that the filter reads (the hold-back of push()). */
  get filterHalfWidth(): number {
    return this.kernel?.half ?? 0;
  }

  /** Resamples a chunk; output lags input by the filter half-width until flush(). */
  push(samples: Float32Array): Float32Array {
    if (!this.kernel) return samples.slice();
    this.append(samples);
    // Output needs inputs up to base + half, all of which must have arrived.
    return this.produce(this.inputCount - 1);
  }

  /**
   * Ends the stream: returns the held-back tail (as if silence followed) and resets to the initial state, so that
   * push(a)+push(b)+flush() equals resample(a+b). Total output length is ⌈inputs·to/from⌉.
   */
  flush(): Float32Array {
    if (!this.kernel) return new Float32Array(0);
    const { up, down, half } = this.kernel;
    // Outputs at positions < inputCount; the zeros past the end cover the right half of the last kernels.
    const total = Math.ceil((this.inputCount * up) / down);
    const silence = new Float32Array(half);
    this.append(silence);
    this.inputCount -= half;
    const out = this.produce(Infinity, total);
    this.reset();
    return out;
  }

  /** Drops all state (history and held-back input). */
  reset(): void {
    const half = this.kernel?.half ?? 0;
    // The first outputs read `half - 1` samples before t=0: they are zeros.
    this.buf = new Float32Array(Math.max(1024, 4 * half));
    this.bufStart = -(half - 1);
    this.bufLength = Math.max(0, half - 1);
    this.base = 0;
    this.phase = 0;
    this.inputCount = 0;
    this.outputCount = 0;
  }

  private append(samples: Float32Array): void {
    const kernel = this.kernel!;
    // Discard input no future output can read (everything before base - half + 1).
    const keepFrom = this.base - kernel.half + 1;
    const drop = keepFrom - this.bufStart;
    if (drop > 0) {
      this.buf.copyWithin(0, drop, this.bufLength);
      this.bufLength -= drop;
      this.bufStart = keepFrom;
    }
    const needed = this.bufLength + samples.length;
    if (needed > this.buf.length) {
      const grown = new Float32Array(Math.max(needed, 2 * this.buf.length));
      grown.set(this.buf.subarray(0, this.bufLength));
      this.buf = grown;
    }
    this.buf.set(samples, this.bufLength);
    this.bufLength += samples.length;
    this.inputCount += samples.length;
  }

  /** Emits outputs whose rightmost tap index ≤ lastInput (and, if given, until outputCount reaches `limit`). */
  private produce(lastInput: number, limit = Infinity): Float32Array {
    const { up, down, taps, half, rows, coeffs } = this.kernel!;
    const buf = this.buf;
    const step = Math.floor(down / up);
    const stepFrac = down % up;
    // Count outputs first so the result is allocated once.
    let count = 0;
    {
      let b = this.base;
      let p = this.phase;
      while (b + half <= lastInput && this.outputCount + count < limit) {
        count++;
        b += step;
        p += stepFrac;
        if (p >= up) {
          p -= up;
          b++;
        }
      }
    }
    const out = new Float32Array(count);
    let b = this.base;
    let p = this.phase;
    const start = this.bufStart;
    const exact = rows === up;
    for (let n = 0; n < count; n++) {
      const i0 = b - half + 1 - start;
      if (up === 1) {
        out[n] = symmetricDot(buf, i0 + half - 1, coeffs, half - 1, half);
      } else if (exact) {
        out[n] = dot(buf, i0, coeffs, p * taps, taps);
      } else {
        const num = p * rows;
        const r = Math.floor(num / up);
        const a = (num - r * up) / up;
        const lo = dot(buf, i0, coeffs, r * taps, taps);
        out[n] = a === 0 ? lo : lo + a * (dot(buf, i0, coeffs, (r + 1) * taps, taps) - lo);
      }
      b += step;
      p += stepFrac;
      if (p >= up) {
        p -= up;
        b++;
      }
    }
    this.base = b;
    this.phase = p;
    this.outputCount += count;
    return out;
  }
}

/** Whole-buffer resampling with exactly the streaming filter (same output as push(all) + flush()). */
export function resample(samples: Float32Array, fromRate: number, toRate = SAMPLE_RATE): Float32Array {
  const r = new StreamingResampler(fromRate, toRate);
  const head = r.push(samples);
  const tail = r.flush();
  if (tail.length === 0) return head;
  const out = new Float32Array(head.length + tail.length);
  out.set(head);
  out.set(tail, head.length);
  return out;
}

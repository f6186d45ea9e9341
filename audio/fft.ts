/**
 * Mixed-radix FFT (Stockham autosort, radices 4/2/3/5 plus a generic odd-prime butterfly) with a cached plan.
 * Whisper's N_FFT = 400 = 2^4·5^2 is not a power of two, so a radix-2 FFT would need zero-padding (which changes
 * the spectrum) and a naive DFT is ~50x slower; the real transform runs as a half-length complex FFT.
 * All maths in Float64: the log-mel must match the reference to ~1e-7.
 */

interface Stage {
  radix: number;
  /** Product of the radices of the earlier stages (output block stride). */
  span: number;
  /** cos/sin of r·(-2πk/(span·radix)) for k < span, r = 1..radix-1, laid out [k][r-1]. */
  twRe: Float64Array;
  twIm: Float64Array;
  /** e^{-2πir/radix}, only for the generic (odd prime > 5) butterfly. */
  rootRe: Float64Array;
  rootIm: Float64Array;
}

function factorize(n: number): number[] {
  const factors: number[] = [];
  let rest = n;
  while (rest % 4 === 0) {
    factors.push(4);
    rest /= 4;
  }
  for (const p of [2, 3, 5]) {
    while (rest % p === 0) {
      factors.push(p);
      rest /= p;
    }
  }
  for (let p = 7; rest > 1; p += 2) {
    while (rest % p === 0) {
      factors.push(p);
      rest /= p;
    }
    if (p * p > rest && rest > 1) {
      factors.push(rest);
      rest = 1;
    }
  }
  return factors;
}

const C5_1 = Math.cos((2 * Math.PI) / 5);
const C5_2 = Math.cos((4 * Math.PI) / 5);
const S5_1 = Math.sin((2 * Math.PI) / 5);
const S5_2 = Math.sin((4 * Math.PI) / 5);
const S3 = Math.sin((2 * Math.PI) / 3);

/** In-place forward complex FFT, X[k] = Σ x[n]·e^{-2πikn/N}, for any N ≥ 1. */
export class FFT {
  readonly size: number;
  private readonly stages: Stage[];
  private readonly bufRe: Float64Array;
  private readonly bufIm: Float64Array;
  // Scratch for the generic-radix butterfly.
  private readonly vRe: Float64Array;
  private readonly vIm: Float64Array;

  constructor(n: number) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`FFT size must be a positive integer, got ${n}`);
    this.size = n;
    this.bufRe = new Float64Array(n);
    this.bufIm = new Float64Array(n);
    const radices = n === 1 ? [] : factorize(n);
    const maxRadix = Math.max(1, ...radices);
    this.vRe = new Float64Array(maxRadix);
    this.vIm = new Float64Array(maxRadix);
    this.stages = [];
    let span = 1;
    for (const radix of radices) {
      const twRe = new Float64Array(span * (radix - 1));
      const twIm = new Float64Array(span * (radix - 1));
      for (let k = 0; k < span; k++) {
        for (let r = 1; r < radix; r++) {
          const angle = (-2 * Math.PI * k * r) / (span * radix);
          twRe[k * (radix - 1) + r - 1] = Math.cos(angle);
          twIm[k * (radix - 1) + r - 1] = Math.sin(angle);
        }
      }
      const generic = radix > 5 || radix === 1;
      const rootRe = new Float64Array(generic ? radix : 0);
      const rootIm = new Float64Array(generic ? radix : 0);
      for (let r = 0; r < rootRe.length; r++) {
        rootRe[r] = Math.cos((-2 * Math.PI * r) / radix);
        rootIm[r] = Math.sin((-2 * Math.PI * r) / radix);
      }
      this.stages.push({ radix, span, twRe, twIm, rootRe, rootIm });
      span *= radix;
    }
  }

  /** Transforms re/im (length size) in place. */
  transform(re: Float64Array, im: Float64Array): void {
    const n = this.size;
    if (re.length < n || im.length < n)
      throw new RangeError(`FFT of size ${n} needs arrays of length >= ${n}`);
    let srcRe = re;
    let srcIm = im;
    let dstRe = this.bufRe;
    let dstIm = this.bufIm;
    for (const stage of this.stages) {
      this.runStage(stage, srcRe, srcIm, dstRe, dstIm);
      [srcRe, dstRe] = [dstRe, srcRe];
      [srcIm, dstIm] = [dstIm, srcIm];
    }
    if (srcRe !== re) {
      re.set(srcRe.subarray(0, n));
      im.set(srcIm.subarray(0, n));
    }
  }

  private runStage(
    stage: Stage,
    sRe: Float64Array,
    sIm: Float64Array,
    dRe: Float64Array,
    dIm: Float64Array,
  ): void {
    const { radix, span, twRe, twIm } = stage;
    const n = this.size;
    const stride = n / radix; // distance between butterfly inputs
    const groups = stride / span;
    const outStride = span; // distance between butterfly outputs
    const rm1 = radix - 1;
    // Butterfly j = g·span + k reads src[j + r·stride] and writes dst[g·span·radix + k + r·span].
    for (let k = 0; k < span; k++) {
      const t = k * rm1;
      if (radix === 4) {
        const w1r = twRe[t],
          w1i = twIm[t],
          w2r = twRe[t + 1],
          w2i = twIm[t + 1],
          w3r = twRe[t + 2],
          w3i = twIm[t + 2];
        for (let g = 0; g < groups; g++) {
          const j = g * span + k;
          const x0r = sRe[j],
            x0i = sIm[j];
          let ar = sRe[j + stride],
            ai = sIm[j + stride];
          const x1r = ar * w1r - ai * w1i,
            x1i = ar * w1i + ai * w1r;
          ar = sRe[j + 2 * stride];
          ai = sIm[j + 2 * stride];
          const x2r = ar * w2r - ai * w2i,
            x2i = ar * w2i + ai * w2r;
          ar = sRe[j + 3 * stride];
          ai = sIm[j + 3 * stride];
          const x3r = ar * w3r - ai * w3i,
            x3i = ar * w3i + ai * w3r;
          const s02r = x0r + x2r,
            s02i = x0i + x2i,
            d02r = x0r - x2r,
            d02i = x0i - x2i;
          const s13r = x1r + x3r,
            s13i = x1i + x3i,
            d13r = x1r - x3r,
            d13i = x1i - x3i;
          const o = g * span * 4 + k;
          dRe[o] = s02r + s13r;
          dIm[o] = s02i + s13i;
          // y1 = d02 - i·d13, y3 = d02 + i·d13
          dRe[o + outStride] = d02r + d13i;
          dIm[o + outStride] = d02i - d13r;
          dRe[o + 2 * outStride] = s02r - s13r;
          dIm[o + 2 * outStride] = s02i - s13i;
          dRe[o + 3 * outStride] = d02r - d13i;
          dIm[o + 3 * outStride] = d02i + d13r;
        }
      } else if (radix === 2) {
        const w1r = twRe[t],
          w1i = twIm[t];
        for (let g = 0; g < groups; g++) {
          const j = g * span + k;
          const x0r = sRe[j],
            x0i = sIm[j];
          const ar = sRe[j + stride],
            ai = sIm[j + stride];
          const x1r = ar * w1r - ai * w1i,
            x1i = ar * w1i + ai * w1r;
          const o = g * span * 2 + k;
          dRe[o] = x0r + x1r;
          dIm[o] = x0i + x1i;
          dRe[o + outStride] = x0r - x1r;
          dIm[o + outStride] = x0i - x1i;
        }
      } else if (radix === 5) {
        const w1r = twRe[t],
          w1i = twIm[t],
          w2r = twRe[t + 1],
          w2i = twIm[t + 1],
          w3r = twRe[t + 2],
          w3i = twIm[t + 2],
          w4r = twRe[t + 3],
          w4i = twIm[t + 3];
        for (let g = 0; g < groups; g++) {
          const j = g * span + k;
          const x0r = sRe[j],
            x0i = sIm[j];
          let ar = sRe[j + stride],
            ai = sIm[j + stride];
          const x1r = ar * w1r - ai * w1i,
            x1i = ar * w1i + ai * w1r;
          ar = sRe[j + 2 * stride];
          ai = sIm[j + 2 * stride];
          const x2r = ar * w2r - ai * w2i,
            x2i = ar * w2i + ai * w2r;
          ar = sRe[j + 3 * stride];
          ai = sIm[j + 3 * stride];
          const x3r = ar * w3r - ai * w3i,
            x3i = ar * w3i + ai * w3r;
          ar = sRe[j + 4 * stride];
          ai = sIm[j + 4 * stride];
          const x4r = ar * w4r - ai * w4i,
            x4i = ar * w4i + ai * w4r;
          const t1r = x1r + x4r,
            t1i = x1i + x4i,
            t2r = x2r + x3r,
            t2i = x2i + x3i;
          const t3r = x1r - x4r,
            t3i = x1i - x4i,
            t4r = x2r - x3r,
            t4i = x2i - x3i;
          const a1r = x0r + C5_1 * t1r + C5_2 * t2r,
            a1i = x0i + C5_1 * t1i + C5_2 * t2i;
          const a2r = x0r + C5_2 * t1r + C5_1 * t2r,
            a2i = x0i + C5_2 * t1i + C5_1 * t2i;
          const b1r = S5_1 * t3r + S5_2 * t4r,
            b1i = S5_1 * t3i + S5_2 * t4i;
          const b2r = S5_2 * t3r - S5_1 * t4r,
            b2i = S5_2 * t3i - S5_1 * t4i;
          const o = g * span * 5 + k;
          dRe[o] = x0r + t1r + t2r;
          dIm[o] = x0i + t1i + t2i;
          // y1 = a1 - i·b1, y4 = a1 + i·b1, y2 = a2 - i·b2, y3 = a2 + i·b2
          dRe[o + outStride] = a1r + b1i;
          dIm[o + outStride] = a1i - b1r;
          dRe[o + 4 * outStride] = a1r - b1i;
          dIm[o + 4 * outStride] = a1i + b1r;
          dRe[o + 2 * outStride] = a2r + b2i;
          dIm[o + 2 * outStride] = a2i - b2r;
          dRe[o + 3 * outStride] = a2r - b2i;
          dIm[o + 3 * outStride] = a2i + b2r;
        }
      } else if (radix === 3) {
        const w1r = twRe[t],
          w1i = twIm[t],
          w2r = twRe[t + 1],
          w2i = twIm[t + 1];
        for (let g = 0; g < groups; g++) {
          const j = g * span + k;
          const x0r = sRe[j],
            x0i = sIm[j];
          let ar = sRe[j + stride],
            ai = sIm[j + stride];
          const x1r = ar * w1r - ai * w1i,
            x1i = ar * w1i + ai * w1r;
          ar = sRe[j + 2 * stride];
          ai = sIm[j + 2 * stride];
          const x2r = ar * w2r - ai * w2i,
            x2i = ar * w2i + ai * w2r;
          const sr = x1r + x2r,
            si = x1i + x2i;
          const mr = x0r - 0.5 * sr,
            mi = x0i - 0.5 * si;
          const br = S3 * (x1r - x2r),
            bi = S3 * (x1i - x2i);
          const o = g * span * 3 + k;
          dRe[o] = x0r + sr;
          dIm[o] = x0i + si;
          dRe[o + outStride] = mr + bi;
          dIm[o + outStride] = mi - br;
          dRe[o + 2 * outStride] = mr - bi;
          dIm[o + 2 * outStride] = mi + br;
        }
      } else {
        this.genericButterflies(stage, k, groups, stride, sRe, sIm, dRe, dIm);
      }
    }
  }

  private genericButterflies(
    stage: Stage,
    k: number,
    groups: number,
    stride: number,
    sRe: Float64Array,
    sIm: Float64Array,
    dRe: Float64Array,
    dIm: Float64Array,
  ): void {
    const { radix, span, twRe, twIm, rootRe, rootIm } = stage;
    const { vRe, vIm } = this;
    const t = k * (radix - 1);
    for (let g = 0; g < groups; g++) {
      const j = g * span + k;
      vRe[0] = sRe[j];
      vIm[0] = sIm[j];
      for (let r = 1; r < radix; r++) {
        const ar = sRe[j + r * stride],
          ai = sIm[j + r * stride];
        const wr = twRe[t + r - 1],
          wi = twIm[t + r - 1];
        vRe[r] = ar * wr - ai * wi;
        vIm[r] = ar * wi + ai * wr;
      }
      const o = g * span * radix + k;
      for (let q = 0; q < radix; q++) {
        let accR = 0,
          accI = 0;
        for (let r = 0; r < radix; r++) {
          const idx = (q * r) % radix;
          const wr = rootRe[idx],
            wi = rootIm[idx];
          accR += vRe[r] * wr - vIm[r] * wi;
          accI += vRe[r] * wi + vIm[r] * wr;
        }
        dRe[o + q * span] = accR;
        dIm[o + q * span] = accI;
      }
    }
  }
}

/**
 * Forward FFT of a real signal of length n → bins 0..n/2 (n/2+1 complex values).
 * Even n runs as an n/2-point complex FFT of the even/odd samples packed as re/im plus one twiddle pass.
 */
export class RealFFT {
  readonly size: number;
  readonly bins: number;
  private readonly half: number;
  private readonly fft: FFT;
  private readonly zRe: Float64Array;
  private readonly zIm: Float64Array;
  private readonly wRe: Float64Array;
  private readonly wIm: Float64Array;

  constructor(n: number) {
    if (!Number.isInteger(n) || n < 2)
      throw new RangeError(`real FFT size must be an integer >= 2, got ${n}`);
    this.size = n;
    this.bins = Math.floor(n / 2) + 1;
    const even = n % 2 === 0;
    this.half = even ? n / 2 : n;
    this.fft = new FFT(this.half);
    this.zRe = new Float64Array(this.half);
    this.zIm = new Float64Array(this.half);
    this.wRe = new Float64Array(this.bins);
    this.wIm = new Float64Array(this.bins);
    for (let k = 0; k < this.bins; k++) {
      this.wRe[k] = Math.cos((-2 * Math.PI * k) / n);
      this.wIm[k] = Math.sin((-2 * Math.PI * k) / n);
    }
  }

  /** input: n real samples; outRe/outIm receive `bins` values. */
  forward(input: ArrayLike<number>, outRe: Float64Array, outIm: Float64Array): void {
    const { size: n, half: m, zRe, zIm } = this;
    if (input.length < n) throw new RangeError(`real FFT of size ${n} needs ${n} input samples`);
    if (outRe.length < this.bins || outIm.length < this.bins) {
      throw new RangeError(`real FFT of size ${n} writes ${this.bins} bins`);
    }
    if (m === n) {
      // Odd size: plain complex transform.
      for (let i = 0; i < n; i++) {
        zRe[i] = input[i];
        zIm[i] = 0;
      }
      this.fft.transform(zRe, zIm);
      for (let k = 0; k < this.bins; k++) {
        outRe[k] = zRe[k];
        outIm[k] = zIm[k];
      }
      return;
    }
    for (let i = 0; i < m; i++) {
      zRe[i] = input[2 * i];
      zIm[i] = input[2 * i + 1];
    }
    this.fft.transform(zRe, zIm);
    const { wRe, wIm } = this;
    // X[k] = E[k] + W^k·O[k], E = (Z[k] + conj Z[m-k])/2, O = (Z[k] - conj Z[m-k])/(2i)
    for (let k = 0; k <= m; k++) {
      const a = k === m ? 0 : k;
      const b = k === 0 ? 0 : m - k;
      const zr = zRe[a],
        zi = zIm[a],
        cr = zRe[b],
        ci = -zIm[b];
      const er = 0.5 * (zr + cr),
        ei = 0.5 * (zi + ci);
      const or = 0.5 * (zi - ci),
        oi = -0.5 * (zr - cr);
      const wr = wRe[k],
        wi = wIm[k];
      outRe[k] = er + or * wr - oi * wi;
      outIm[k] = ei + or * wi + oi * wr;
    }
  }
}

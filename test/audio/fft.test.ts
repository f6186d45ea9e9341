import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FFT, RealFFT } from '../../audio/fft.js';

function rng(seed: number): () => number {
  return () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32 - 0.5;
  };
}

function naiveDft(re: Float64Array, im: Float64Array): [Float64Array, Float64Array] {
  const n = re.length;
  const outRe = new Float64Array(n);
  const outIm = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    let ar = 0;
    let ai = 0;
    for (let t = 0; t < n; t++) {
      const angle = (-2 * Math.PI * ((k * t) % n)) / n;
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      ar += re[t] * c - im[t] * s;
      ai += re[t] * s + im[t] * c;
    }
    outRe[k] = ar;
    outIm[k] = ai;
  }
  return [outRe, outIm];
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>, n = a.length): number {
  let m = 0;
  for (let i = 0; i < n; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

// Power-of-two, Whisper's 400 = 2^4·5^2, the 200-point half transform, radix 3, generic primes and mixes.
const SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 25, 30, 49, 100, 121, 200, 221, 400, 1024, 2310];

describe('FFT (complex, mixed radix)', () => {
  for (const n of SIZES) {
    test(`matches a naive DFT for n=${n}`, () => {
      const rand = rng(n);
      const re = Float64Array.from({ length: n }, rand);
      const im = Float64Array.from({ length: n }, rand);
      const [wantRe, wantIm] = naiveDft(re, im);
      new FFT(n).transform(re, im);
      const tol = 1e-12 * n;
      assert.ok(maxAbsDiff(re, wantRe) < tol, `re error ${maxAbsDiff(re, wantRe)}`);
      assert.ok(maxAbsDiff(im, wantIm) < tol, `im error ${maxAbsDiff(im, wantIm)}`);
    });
  }

  test('a plan is reusable: the same input twice gives the same output', () => {
    const fft = new FFT(400);
    const rand = rng(7);
    const re0 = Float64Array.from({ length: 400 }, rand);
    const im0 = Float64Array.from({ length: 400 }, rand);
    const a = [re0.slice(), im0.slice()] as const;
    const b = [re0.slice(), im0.slice()] as const;
    fft.transform(a[0], a[1]);
    fft.transform(b[0], b[1]);
    assert.deepEqual(a, b);
  });

  test('rejects bad sizes', () => {
    assert.throws(() => new FFT(0), RangeError);
    assert.throws(() => new FFT(2.5), RangeError);
    assert.throws(() => new FFT(8).transform(new Float64Array(4), new Float64Array(4)), RangeError);
  });
});

describe('RealFFT', () => {
  for (const n of [2, 3, 8, 10, 25, 200, 400, 1000]) {
    test(`matches a naive DFT for n=${n} (bins 0..n/2)`, () => {
      const rand = rng(100 + n);
      const x = Float64Array.from({ length: n }, rand);
      const [wantRe, wantIm] = naiveDft(x, new Float64Array(n));
      const rf = new RealFFT(n);
      assert.equal(rf.bins, Math.floor(n / 2) + 1);
      const re = new Float64Array(rf.bins);
      const im = new Float64Array(rf.bins);
      rf.forward(x, re, im);
      const tol = 1e-12 * n;
      assert.ok(maxAbsDiff(re, wantRe, rf.bins) < tol, `re error ${maxAbsDiff(re, wantRe, rf.bins)}`);
      assert.ok(maxAbsDiff(im, wantIm, rf.bins) < tol, `im error ${maxAbsDiff(im, wantIm, rf.bins)}`);
    });
  }

  test('a pure cosine lands in its bin only', () => {
    const n = 400;
    const x = Float64Array.from({ length: n }, (_, i) => Math.cos((2 * Math.PI * 17 * i) / n));
    const rf = new RealFFT(n);
    const re = new Float64Array(rf.bins);
    const im = new Float64Array(rf.bins);
    rf.forward(x, re, im);
    for (let k = 0; k < rf.bins; k++) {
      const mag = Math.hypot(re[k], im[k]);
      if (k === 17) assert.ok(Math.abs(mag - n / 2) < 1e-9);
      else assert.ok(mag < 1e-9, `bin ${k} has ${mag}`);
    }
  });
});

/**
 * Background noise for endpointing benchmarks, deterministic from a seed, and mixing at an exact SNR measured on
 * the speech itself (not on the pauses, which would flatter the SNR by the share of silence).
 */

import { rng } from '../../models/whisper/logits.js';

export type NoiseKind = 'white' | 'pink' | 'hum' | 'babble' | 'stationary';

/** Standard normal samples (Box-Muller). */
function gaussian(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(r(), 1e-12);
    const v = r();
    const m = Math.sqrt(-2 * Math.log(u));
    out[i] = m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = m * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/**
 * `n` samples of noise at 16 kHz, unscaled (mix() levels it).
 * - white: flat spectrum; pink: -3 dB/octave (Paul Kellet's filter), closer to fans and traffic;
 * - hum: mains at 50 Hz (even seeds) or 60 Hz (odd) with 5 harmonics falling 1/k, random phases;
 * - stationary: white smoothed by a 4-tap mean, the noise of corpus/real's dev-four-noisy (the issue's acceptance
 *   points);
 * - babble: the sum of `voices` (other readers' speech, each levelled, looped from a random offset).
 */
export function noise(
  kind: NoiseKind,
  n: number,
  seed: number,
  voices: readonly Float32Array[] = [],
): Float32Array {
  if (kind === 'white') return gaussian(n, seed);
  if (kind === 'stationary') {
    const w = gaussian(n, seed);
    const out = new Float32Array(n);
    let acc = 0;
    for (let i = 0; i < n; i++) {
      acc += w[i] - (i >= 4 ? w[i - 4] : 0);
      out[i] = acc / 4;
    }
    return out;
  }
  if (kind === 'pink') {
    const w = gaussian(n, seed);
    const out = new Float32Array(n);
    let b0 = 0, b1 = 0, b2 = 0, b3 = 0, b4 = 0, b5 = 0, b6 = 0; // prettier-ignore
    for (let i = 0; i < n; i++) {
      const x = w[i];
      b0 = 0.99886 * b0 + x * 0.0555179;
      b1 = 0.99332 * b1 + x * 0.0750759;
      b2 = 0.969 * b2 + x * 0.153852;
      b3 = 0.8665 * b3 + x * 0.3104856;
      b4 = 0.55 * b4 + x * 0.5329522;
      b5 = -0.7616 * b5 - x * 0.016898;
      out[i] = b0 + b1 + b2 + b3 + b4 + b5 + b6 + x * 0.5362;
      b6 = x * 0.115926;
    }
    return out;
  }
  if (kind === 'hum') {
    const r = rng(seed);
    const f0 = seed % 2 === 0 ? 50 : 60;
    const phases = Array.from({ length: 5 }, () => 2 * Math.PI * r());
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let k = 1; k <= 5; k++) s += Math.sin((2 * Math.PI * f0 * k * i) / 16000 + phases[k - 1]) / k;
      out[i] = s;
    }
    return out;
  }
  if (voices.length === 0) throw new Error('babble needs voices');
  const r = rng(seed);
  const out = new Float32Array(n);
  for (const v of voices) {
    const g = 1 / rms(v);
    let at = Math.floor(r() * v.length);
    for (let i = 0; i < n; i++, at++) out[i] += v[at % v.length] * g;
  }
  return out;
}

function rms(x: Float32Array): number {
  let e = 0;
  for (const v of x) e += v * v;
  return Math.sqrt(e / Math.max(1, x.length)) || 1;
}

/** Mean power of `x` inside the spans (seconds); the speech level an SNR is measured against. */
export function speechPower(x: Float32Array, spans: readonly { start: number; end: number }[]): number {
  let e = 0;
  let n = 0;
  for (const s of spans) {
    const to = Math.min(x.length, Math.round(s.end * 16000));
    for (let i = Math.max(0, Math.round(s.start * 16000)); i < to; i++, n++) e += x[i] * x[i];
  }
  return n ? e / n : 0;
}

/** speech + noise scaled so that speech power (inside `spans`) over noise power (all of it) is `snrDb`. */
export function mix(
  speech: Float32Array,
  spans: readonly { start: number; end: number }[],
  n: Float32Array,
  snrDb: number,
): Float32Array {
  if (n.length !== speech.length)
    throw new Error(`noise of ${n.length} samples for speech of ${speech.length}`);
  const gain = Math.sqrt(speechPower(speech, spans) / 10 ** (snrDb / 10)) / rms(n);
  const out = new Float32Array(speech.length);
  for (let i = 0; i < out.length; i++) out[i] = speech[i] + n[i] * gain;
  return out;
}

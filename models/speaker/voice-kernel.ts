/**
 * The fixed half of the built-in embedding (earshot's first built-in, kept beside the learnt projection): cepstral
 * means and spreads (c1..c19) and median pitch, each divided by its typical spread between clips of one voice and
 * weighted, then lifted by random Fourier features, z(x) = sqrt(2/D)·cos(Wx + b) with W ~ N(0, 1/bandwidth²), so
 * that cos(z(x), z(y)) ≈ exp(-|x - y|² / (2·bandwidth²)): a Gaussian kernel of the distance between voices. It
 * needs no training distribution, so it still separates voices the learnt projection never saw (synthetic voices,
 * tones an octave apart), where the projection's shared offset makes every such voice look alike.
 */
import { FIXED_NC as NC } from './voice-stats.js';

/** Typical spread of each statistic between ~2 s clips of one voice. */
const CEP_MEAN_SPREAD = [
  1.943, 1.362, 1.889, 1.164, 1.182, 1.342, 0.805, 0.83, 0.623, 0.534, 0.513, 0.48, 0.471, 0.53, 0.445, 0.485,
  0.464, 0.418, 0.374,
];
const CEP_STD_SPREAD = [
  1.495, 0.683, 1.289, 0.845, 0.645, 0.86, 0.55, 0.52, 0.393, 0.335, 0.38, 0.321, 0.309, 0.331, 0.304, 0.266,
  0.294, 0.284, 0.261,
];
/** Octaves. */
const LOG_F0_SPREAD = 0.1;
const WEIGHTS = { cepMean: 0.5, cepStd: 0.5, pitch: 1 };
/** In spreads: at 1, two turns of one voice already scored no better than two different voices. */
const BANDWIDTH = 2;
export const KERNEL_DIM = 512;

/** The weighted, scaled statistics (before the random-feature lift). */
function point(x: Float64Array): Float64Array {
  const p = new Float64Array(2 * NC + 1);
  // Blocks are scaled so each carries its weight whatever its length.
  const cm = WEIGHTS.cepMean / Math.sqrt(NC);
  const cs = WEIGHTS.cepStd / Math.sqrt(NC);
  for (let k = 0; k < NC; k++) {
    p[k] = (cm * x[k]) / CEP_MEAN_SPREAD[k];
    p[NC + k] = (cs * x[NC + k]) / CEP_STD_SPREAD[k];
  }
  // An unvoiced clip (whisper, noise) sits at a pitch no voice has, far from every voiced speaker.
  const f0 = Number.isFinite(x[2 * NC]) ? x[2 * NC] : Math.log2(30);
  p[2 * NC] = (WEIGHTS.pitch * f0) / LOG_F0_SPREAD;
  return p;
}

/** Deterministic Gaussian samples (mulberry32 + Box-Muller). */
export function gaussians(n: number, seed: number): Float64Array {
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

const IN = 2 * NC + 1;
const W = gaussians(IN * KERNEL_DIM, 20240601).map((g) => g / BANDWIDTH);
// Phases spread evenly over [0, 2π) (golden-ratio sequence).
const B = Float64Array.from({ length: KERNEL_DIM }, (_, j) => 2 * Math.PI * ((j * 0.6180339887498949) % 1));

/** The kernel features of fixed statistics (VoiceFrames.fixedStats), written scaled by `scale` into out[at..at+KERNEL_DIM). */
export function kernelFeatures(x: Float64Array, out: Float32Array, at: number, scale: number): void {
  const p = point(x);
  const s = scale * Math.sqrt(2 / KERNEL_DIM);
  for (let j = 0; j < KERNEL_DIM; j++) {
    let v = B[j];
    for (let i = 0; i < IN; i++) v += W[j * IN + i] * p[i];
    out[at + j] = s * Math.cos(v);
  }
}

/**
 * Pitch by YIN (de Cheveigné & Kawahara 2002): the cumulative-mean-normalised difference function, the first dip
 * under a threshold, refined to its local minimum and by parabolic interpolation. Taking the first dip (the
 * shortest period) rather than the global minimum is what avoids YIN's octave-too-low errors; pitchTrack() then
 * drops frames more than half an octave from the track's median, which removes the remaining octave jumps.
 */

export interface PitchOptions {
  /** Default 16000. */
  sampleRate?: number;
  /** Default 60 Hz. */
  minHz?: number;
  /** Default 400 Hz. */
  maxHz?: number;
  /** Dip threshold of the normalised difference; default 0.15. */
  threshold?: number;
  /** Integration window, samples; default 320 (20 ms). */
  window?: number;
}

export interface PitchFrame {
  /** Hz, 0 when unvoiced. */
  f0: number;
  /** The normalised difference at the chosen period: 0 perfectly periodic, 1 noise. */
  aperiodicity: number;
}

/** Samples a frame needs: window + the longest period + 1. */
export function pitchFrameLength(opts: PitchOptions = {}): number {
  return (opts.window ?? 320) + Math.ceil((opts.sampleRate ?? 16000) / (opts.minHz ?? 60)) + 2;
}

/** YIN on x[off .. off + pitchFrameLength). */
export function yin(x: ArrayLike<number>, off: number, opts: PitchOptions = {}): PitchFrame {
  const sr = opts.sampleRate ?? 16000;
  const w = opts.window ?? 320;
  const minLag = Math.floor(sr / (opts.maxHz ?? 400));
  const maxLag = Math.ceil(sr / (opts.minHz ?? 60)) + 1;
  const threshold = opts.threshold ?? 0.15;
  const d = new Float64Array(maxLag + 1);
  for (let lag = 1; lag <= maxLag; lag++) {
    let s = 0;
    for (let i = 0; i < w; i++) {
      const diff = x[off + i] - x[off + i + lag];
      s += diff * diff;
    }
    d[lag] = s;
  }
  // Cumulative mean normalisation: d'(τ) = d(τ)·τ / Σ_{j≤τ} d(j).
  let cum = 0;
  const cmnd = new Float64Array(maxLag + 1);
  cmnd[0] = 1;
  for (let lag = 1; lag <= maxLag; lag++) {
    cum += d[lag];
    cmnd[lag] = cum > 0 ? (d[lag] * lag) / cum : 1;
  }
  let tau = -1;
  for (let lag = minLag; lag < maxLag; lag++) {
    if (cmnd[lag] < threshold) {
      tau = lag;
      while (tau + 1 < maxLag && cmnd[tau + 1] < cmnd[tau]) tau++;
      break;
    }
  }
  if (tau < 0) return { f0: 0, aperiodicity: 1 };
  const a = cmnd[tau - 1];
  const b = cmnd[tau];
  const c = cmnd[tau + 1];
  const den = a - 2 * b + c;
  const shift = den > 0 ? (0.5 * (a - c)) / den : 0;
  return { f0: sr / (tau + shift), aperiodicity: b };
}

/**
 * log2 f0 of the voiced frames every `hop` samples over `x` (optionally only frames whose start `keep` accepts),
 * with frames more than half an octave from the median dropped. Sorted ascending.
 */
export function pitchTrack(
  x: ArrayLike<number>,
  hop: number,
  opts: PitchOptions = {},
  keep: (offset: number) => boolean = () => true,
): { logF0: number[]; aperiodicity: number[] } {
  const len = pitchFrameLength(opts);
  const logs: number[] = [];
  const aper: number[] = [];
  for (let off = 0; off + len <= x.length; off += hop) {
    if (!keep(off)) continue;
    const p = yin(x, off, opts);
    if (p.f0 > 0) {
      logs.push(Math.log2(p.f0));
      aper.push(p.aperiodicity);
    }
  }
  if (logs.length === 0) return { logF0: [], aperiodicity: [] };
  const sorted = [...logs].sort((a, b) => a - b);
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  const logF0: number[] = [];
  const aperiodicity: number[] = [];
  logs.forEach((l, i) => {
    if (Math.abs(l - median) <= 0.5) {
      logF0.push(l);
      aperiodicity.push(aper[i]);
    }
  });
  return { logF0: logF0.sort((a, b) => a - b), aperiodicity: aperiodicity.sort((a, b) => a - b) };
}

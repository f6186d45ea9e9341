/**
 * Kaldi's LinearResample (feat/resample.cc) as sherpa-onnx runs it in front of every feature extractor
 * (features.cc): a sinc low-pass at 99% of the lower Nyquist frequency under a raised-cosine window six zero
 * crossings wide, one pass over the whole input, not flushed (the last window_width of output, under a millisecond,
 * is never produced). Its stop band is far shallower than resample.ts's, which matters where nothing is: 8 kHz
 * audio brought to 16 kHz keeps different residue above 4 kHz, and a speaker model sees those bins. Speaker
 * embeddings resample with this one so that a model gives here what it gives in sherpa-onnx.
 */

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** `samples` at `fromRate` brought to `toRate`, sample for sample as sherpa-onnx's FeatureExtractor does it. */
export function linearResample(samples: Float32Array, fromRate: number, toRate: number): Float32Array {
  if (fromRate === toRate) return samples;
  if (!(Number.isInteger(fromRate) && Number.isInteger(toRate) && fromRate > 0 && toRate > 0)) {
    throw new RangeError(`resampling needs positive integer rates, got ${fromRate} -> ${toRate}`);
  }
  const cutoff = 0.99 * 0.5 * Math.min(fromRate, toRate);
  const numZeros = 6;
  const g = gcd(fromRate, toRate);
  const inUnit = fromRate / g;
  const outUnit = toRate / g;
  const windowWidth = numZeros / (2 * cutoff);
  const filter = (t: number): number => {
    // Kaldi passes the offset as a float.
    t = Math.fround(t);
    const window =
      Math.abs(t) < windowWidth ? 0.5 * (1 + Math.cos(((2 * Math.PI * cutoff) / numZeros) * t)) : 0;
    const sinc = t !== 0 ? Math.sin(2 * Math.PI * cutoff * t) / (Math.PI * t) : 2 * cutoff;
    return sinc * window;
  };
  const firstIndex = new Int32Array(outUnit);
  const weights: Float64Array[] = [];
  for (let i = 0; i < outUnit; i++) {
    const outT = i / toRate;
    const lo = Math.ceil((outT - windowWidth) * fromRate);
    const hi = Math.floor((outT + windowWidth) * fromRate);
    firstIndex[i] = lo;
    const w = new Float64Array(hi - lo + 1);
    for (let j = 0; j < w.length; j++) w[j] = Math.fround(filter((lo + j) / fromRate - outT) / fromRate);
    weights.push(w);
  }
  // GetNumOutputSamples(n, flush = false), counted in ticks of the two rates' least common multiple.
  const tick = (fromRate / g) * toRate;
  const interval = samples.length * (tick / fromRate) - Math.floor(Math.fround(windowWidth) * tick);
  let count = 0;
  if (interval > 0) {
    const perOut = tick / toRate;
    let last = Math.floor(interval / perOut);
    if (last * perOut === interval) last--;
    count = last + 1;
  }
  const out = new Float32Array(count);
  const n = samples.length;
  for (let o = 0; o < count; o++) {
    const unit = Math.floor(o / outUnit);
    const phase = o - unit * outUnit;
    const first = firstIndex[phase] + unit * inUnit;
    const w = weights[phase];
    let s = 0;
    for (let k = 0; k < w.length; k++) {
      const i = first + k;
      if (i >= 0 && i < n) s += w[k] * samples[i];
    }
    out[o] = s;
  }
  return out;
}

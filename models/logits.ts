import type { SpecialIds } from './model-dir.js';

/** What the logit filters need to know about one sequence. */
export interface FilterState {
  /** Tokens sampled so far, after the prompt. */
  sampled: readonly number[];
  timestamps: boolean;
}

/**
 * openai's logit filters in their order (whisper/decoding.py): SuppressTokens, SuppressBlank at the first sampled
 * position, ApplyTimestampRules. Mutates `logits` (one row of the vocabulary) in place.
 */
export function applyFilters(logits: Float32Array, ids: SpecialIds, s: FilterState): void {
  const ninf = -Infinity;
  for (const t of ids.suppressTokens) if (t < logits.length) logits[t] = ninf;
  const seq = s.sampled;
  if (seq.length === 0) for (const t of ids.beginSuppressTokens) if (t < logits.length) logits[t] = ninf;
  if (!s.timestamps) return;
  const tsBegin = ids.timestampBegin;
  logits[ids.noTimestamps] = ninf;
  const lastWasTs = seq.length >= 1 && seq[seq.length - 1] >= tsBegin;
  const penultimateWasTs = seq.length < 2 || seq[seq.length - 2] >= tsBegin;
  if (lastWasTs) {
    // A segment just opened (text must follow) or just closed (the next one's opening timestamp, or EOT).
    if (penultimateWasTs) logits.fill(ninf, tsBegin);
    else logits.fill(ninf, 0, ids.eot);
  }
  let lastTs = -1;
  for (let i = seq.length - 1; i >= 0; i--) {
    if (seq[i] >= tsBegin) {
      lastTs = seq[i];
      break;
    }
  }
  if (lastTs >= 0) {
    // Monotonic: a new segment may start where the last ended, nothing earlier; no zero-length segment.
    const limit = lastWasTs && !penultimateWasTs ? lastTs : lastTs + 1;
    logits.fill(ninf, tsBegin, Math.min(limit, logits.length));
  }
  if (seq.length === 0) {
    logits.fill(ninf, 0, tsBegin);
    if (ids.maxInitialTimestampIndex !== null) logits.fill(ninf, tsBegin + ids.maxInitialTimestampIndex + 1);
  }
  // If the timestamps together are likelier than any text token, a timestamp must come next.
  const lse = logSumExp(logits, 0, logits.length);
  const tsLogprob = logSumExp(logits, tsBegin, logits.length) - lse;
  let maxText = ninf;
  for (let i = 0; i < tsBegin; i++) if (logits[i] > maxText) maxText = logits[i];
  if (tsLogprob > maxText - lse) logits.fill(ninf, 0, tsBegin);
}

export function logSumExp(x: Float32Array, from: number, to: number): number {
  let m = -Infinity;
  for (let i = from; i < to; i++) if (x[i] > m) m = x[i];
  if (m === -Infinity) return -Infinity;
  let s = 0;
  for (let i = from; i < to; i++) s += Math.exp(x[i] - m);
  return m + Math.log(s);
}

export function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/** Samples from softmax(logits / temperature) with the given uniform draw in [0, 1). */
export function sample(x: Float32Array, temperature: number, u: number): number {
  let m = -Infinity;
  for (let i = 0; i < x.length; i++) if (x[i] > m) m = x[i];
  const p = new Float64Array(x.length);
  let total = 0;
  for (let i = 0; i < x.length; i++) total += p[i] = Math.exp((x[i] - m) / temperature);
  let acc = 0;
  const target = u * total;
  for (let i = 0; i < x.length; i++) {
    acc += p[i];
    if (acc > target && p[i] > 0) return i;
  }
  return argmax(x);
}

/** mulberry32: small, fast and deterministic, so sampled fallbacks are reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

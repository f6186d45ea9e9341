import type { SpecialIds } from './model-dir.js';

/** What the logit filters need to know about one sequence. */
export interface FilterState {
  /** Tokens sampled so far, after the prompt. */
  sampled: readonly number[];
  timestamps: boolean;
}

/** The filtered row's log-normaliser and most likely token, so a caller needs no further pass over the vocabulary. */
export interface Filtered {
  lse: number;
  argmax: number;
}

/**
 * openai's logit filters in their order (whisper/decoding.py): SuppressTokens, SuppressBlank at the first sampled
 * position, ApplyTimestampRules. Mutates `logits` (one row of the vocabulary) in place.
 */
export function applyFilters(logits: Float32Array, ids: SpecialIds, s: FilterState): Filtered {
  const ninf = -Infinity;
  for (const t of ids.suppressTokens) if (t < logits.length) logits[t] = ninf;
  const seq = s.sampled;
  if (seq.length === 0) for (const t of ids.beginSuppressTokens) if (t < logits.length) logits[t] = ninf;
  if (!s.timestamps) {
    const all = maxAndLogSumExp(logits, 0, logits.length);
    return { lse: all.lse, argmax: all.arg };
  }
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
  const text = maxAndLogSumExp(logits, 0, tsBegin);
  const ts = maxAndLogSumExp(logits, tsBegin, logits.length);
  if (ts.lse > text.max) {
    logits.fill(ninf, 0, tsBegin);
    return { lse: ts.lse, argmax: ts.arg };
  }
  return { lse: logAddExp(text.lse, ts.lse), argmax: text.max >= ts.max ? text.arg : ts.arg };
}

/**
 * Maximum, its index and logsumexp of a range: the hot loop of every decoder step, run once per row. Terms more
 * than 40 nats under the maximum are skipped (each adds under 4e-18 relative to the sum).
 */
export function maxAndLogSumExp(
  x: Float32Array,
  from: number,
  to: number,
): { max: number; arg: number; lse: number } {
  let m = -Infinity;
  let arg = from;
  for (let i = from; i < to; i++) {
    if (x[i] > m) {
      m = x[i];
      arg = i;
    }
  }
  if (m === -Infinity) return { max: m, arg, lse: m };
  const floor = m - 40;
  let sum = 0;
  for (let i = from; i < to; i++) if (x[i] > floor) sum += Math.exp(x[i] - m);
  return { max: m, arg, lse: m + Math.log(sum) };
}

function logAddExp(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  const m = Math.max(a, b);
  return m + Math.log(Math.exp(a - m) + Math.exp(b - m));
}

export function logSumExp(x: Float32Array, from: number, to: number): number {
  return maxAndLogSumExp(x, from, to).lse;
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

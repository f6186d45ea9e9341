import type { WhisperTokenizer } from './tokenizer.js';

/** Seconds per encoder frame (a timestamp step). */
export const FRAME_SECONDS = 0.02;

export interface Word {
  word: string;
  start: number;
  end: number;
  probability: number;
  /** True when the time is spread over the segment rather than aligned from cross-attention. */
  estimated?: boolean;
}

/** Groups text tokens into words: a token starting with a space starts a word (byte-level BPE convention). */
export function splitWords(
  tokenizer: WhisperTokenizer,
  tokens: readonly number[],
): { text: string; tokens: number[]; first: number }[] {
  const words: { text: string; tokens: number[]; first: number }[] = [];
  tokens.forEach((t, i) => {
    const bytes = tokenizer.tokenBytes(t);
    const startsWord = bytes[0] === 0x20 || words.length === 0;
    if (startsWord) words.push({ text: '', tokens: [t], first: i });
    else words[words.length - 1].tokens.push(t);
  });
  for (const w of words) w.text = tokenizer.decodeText(w.tokens);
  return words.filter((w) => w.text.trim().length > 0);
}

/** Median filter along the last axis with reflect padding (scipy / transformers.js semantics). */
export function medianFilter(x: Float32Array, width: number): Float32Array {
  const n = x.length;
  const half = Math.floor(width / 2);
  if (n <= half || width < 2) return x.slice();
  const out = new Float32Array(n);
  const win = new Float32Array(width);
  for (let i = 0; i < n; i++) {
    for (let k = -half; k <= half; k++) {
      let j = i + k;
      if (j < 0) j = -j;
      else if (j >= n) j = 2 * (n - 1) - j;
      win[k + half] = x[j];
    }
    win.sort();
    out[i] = win[half];
  }
  return out;
}

/** openai's DTW on a cost matrix [rows x cols]; returns the monotonic path as parallel index arrays. */
export function dtw(
  cost: Float32Array,
  rows: number,
  cols: number,
): { textIdx: number[]; timeIdx: number[] } {
  const W = cols + 1;
  const acc = new Float64Array((rows + 1) * W).fill(Infinity);
  const trace = new Int8Array((rows + 1) * W).fill(-1);
  acc[0] = 0;
  for (let j = 1; j <= cols; j++) {
    for (let i = 1; i <= rows; i++) {
      const c0 = acc[(i - 1) * W + j - 1];
      const c1 = acc[(i - 1) * W + j];
      const c2 = acc[i * W + j - 1];
      let c: number;
      let t: number;
      if (c0 < c1 && c0 < c2) [c, t] = [c0, 0];
      else if (c1 < c0 && c1 < c2) [c, t] = [c1, 1];
      else [c, t] = [c2, 2];
      acc[i * W + j] = cost[(i - 1) * cols + j - 1] + c;
      trace[i * W + j] = t;
    }
  }
  for (let j = 0; j <= cols; j++) trace[j] = 2;
  for (let i = 0; i <= rows; i++) trace[i * W] = 1;
  let i = rows;
  let j = cols;
  const textIdx: number[] = [];
  const timeIdx: number[] = [];
  while (i > 0 || j > 0) {
    textIdx.push(i - 1);
    timeIdx.push(j - 1);
    const t = trace[i * W + j];
    if (t === 0) {
      i--;
      j--;
    } else if (t === 1) i--;
    else j--;
  }
  return { textIdx: textIdx.reverse(), timeIdx: timeIdx.reverse() };
}

export interface AlignInput {
  tokenizer: WhisperTokenizer;
  /** Sampled tokens (timestamps included) and their per-token probabilities. */
  tokens: readonly number[];
  probs: readonly number[];
  /** Cross-attention rows per decoder position (alignment heads x frames), prompt first. */
  attention: readonly Float32Array[];
  promptLength: number;
  heads: number;
  /** Encoder frames that hold audio (the rest of the window is padding). */
  frames: number;
  timestampBegin: number;
  medianFilterWidth: number;
  /** Seconds added to every time (the window's offset in the stream). */
  offset: number;
}

/**
 * Word timings from the cross-attention gathered during decoding (HF/transformers.js approach: no extra pass):
 * the row that predicts each text token, z-normalised over tokens, median-filtered over frames, heads averaged,
 * then DTW; a word spans the jumps of its first token to the next word's.
 */
export function alignWords(a: AlignInput): (Word & { index: number })[] {
  const text: number[] = [];
  const rowsAt: number[] = [];
  a.tokens.forEach((t, k) => {
    if (t < a.timestampBegin) {
      text.push(k);
      rowsAt.push(a.promptLength - 1 + k);
    }
  });
  if (text.length === 0) return [];
  rowsAt.push(Math.min(a.promptLength - 1 + a.tokens.length, a.attention.length - 1));
  const totalFrames = a.attention[0].length / a.heads;
  const F = Math.max(1, Math.min(a.frames, totalFrames));
  const R = rowsAt.length;
  const avg = new Float32Array(R * F);
  for (let h = 0; h < a.heads; h++) {
    const m = new Float32Array(R * F);
    rowsAt.forEach((pos, r) => {
      const src = a.attention[Math.min(pos, a.attention.length - 1)];
      m.set(src.subarray(h * totalFrames, h * totalFrames + F), r * F);
    });
    for (let f = 0; f < F; f++) {
      let mean = 0;
      for (let r = 0; r < R; r++) mean += m[r * F + f];
      mean /= R;
      let v = 0;
      for (let r = 0; r < R; r++) v += (m[r * F + f] - mean) ** 2;
      const std = Math.sqrt(v / R) || 1;
      for (let r = 0; r < R; r++) m[r * F + f] = (m[r * F + f] - mean) / std;
    }
    for (let r = 0; r < R; r++) {
      const filtered = medianFilter(m.subarray(r * F, (r + 1) * F), a.medianFilterWidth);
      for (let f = 0; f < F; f++) avg[r * F + f] += filtered[f] / a.heads;
    }
  }
  for (let i = 0; i < avg.length; i++) avg[i] = -avg[i];
  const { textIdx, timeIdx } = dtw(avg, R, F);
  const jumpTimes = new Array<number>(R).fill(0);
  let prev = -1;
  textIdx.forEach((ti, k) => {
    if (ti !== prev) jumpTimes[ti] = timeIdx[k] * FRAME_SECONDS;
    prev = ti;
  });
  const textTokens = text.map((k) => a.tokens[k]);
  const words = splitWords(a.tokenizer, textTokens);
  return words.map((w, i) => {
    const endIdx = i + 1 < words.length ? words[i + 1].first : textTokens.length;
    const p = w.tokens.map((_, j) => a.probs[text[w.first + j]] ?? 1);
    return {
      word: w.text.trim(),
      start: round(a.offset + jumpTimes[w.first]),
      end: round(a.offset + Math.max(jumpTimes[endIdx], jumpTimes[w.first])),
      probability: p.reduce((x, y) => x + y, 0) / p.length,
      index: text[w.first],
    };
  });
}

/** Without cross-attention: spread a segment's words over its span by character count, marked estimated. */
export function estimateWords(
  tokenizer: WhisperTokenizer,
  tokens: readonly number[],
  probs: readonly number[],
  start: number,
  end: number,
): Word[] {
  const words = splitWords(tokenizer, tokens);
  const total = words.reduce((s, w) => s + w.text.trim().length, 0) || 1;
  let t = start;
  return words.map((w) => {
    const d = ((end - start) * w.text.trim().length) / total;
    const p = w.tokens.map((_, j) => probs[w.first + j] ?? 1);
    const word = {
      word: w.text.trim(),
      start: round(t),
      end: round(t + d),
      probability: p.reduce((x, y) => x + y, 0) / p.length,
      estimated: true,
    };
    t += d;
    return word;
  });
}

export function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

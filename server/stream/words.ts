import { bareWord, type DgWord } from '../protocol.js';

/**
 * Collapses an n-gram (n = 1..4) repeated more than `maxRepeats` times in a row: Whisper's classic hallucination
 * loop ("thank you thank you thank you ...") keeps its first occurrences only.
 */
export function collapseRepeats(words: readonly DgWord[], maxRepeats = 2): DgWord[] {
  const out = [...words];
  for (let n = 1; n <= 4; n++) {
    for (let i = 0; i + n <= out.length; i++) {
      const gram = out.slice(i, i + n).map((w) => w.word);
      let reps = 1;
      while (
        i + (reps + 1) * n <= out.length &&
        out.slice(i + reps * n, i + (reps + 1) * n).every((w, k) => w.word === gram[k])
      ) {
        reps++;
      }
      if (reps > maxRepeats) out.splice(i + maxRepeats * n, (reps - maxRepeats) * n);
    }
  }
  return out;
}

/** LocalAgreement: the longest common prefix of two hypotheses, compared on bare words. */
export function agreedPrefix(a: readonly DgWord[], b: readonly DgWord[]): number {
  let n = 0;
  while (n < a.length && n < b.length && bareWord(a[n].word) === bareWord(b[n].word)) n++;
  return n;
}

/**
 * Fits words into a result's span [start, end], after `floor` (where earlier finals end): every word inside it, in
 * order without overlap, and each with a positive duration (a zero-length word breaks caption and alignment
 * consumers). Overhanging words are pulled in, zero-length ones get a share of the room around them. Times are
 * whole milliseconds. A span too short for its words (under 1 ms each) is stretched just enough to hold them.
 */
export function clampWords(words: readonly DgWord[], start: number, end: number, floor = start): DgWord[] {
  const n = words.length;
  if (n === 0) return [];
  let hi = Math.round(end * 1000);
  let lo = Math.min(Math.round(Math.max(start, floor) * 1000), hi);
  if (hi - lo < n) lo = Math.max(Math.round(start * 1000), hi - n);
  if (hi - lo < n) hi = lo + n;
  // The shortest a word may be: 20 ms when there is room, else an equal share of the span.
  const d = Math.max(1, Math.min(20, Math.floor((hi - lo) / n)));
  const clamp = (x: number, a: number, b: number) => Math.min(Math.max(x, a), b);
  const out: DgWord[] = [];
  let prevEnd = lo;
  for (let i = 0; i < n; i++) {
    const w = words[i];
    // Each bound leaves room (d per word) for the words still to come.
    const s = clamp(Math.round(w.start * 1000), prevEnd, hi - (n - i) * d);
    const e = clamp(Math.round(w.end * 1000), s + d, hi - (n - 1 - i) * d);
    out.push({ ...w, start: s / 1000, end: e / 1000 });
    prevEnd = e;
  }
  return out;
}

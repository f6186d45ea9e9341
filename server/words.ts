import { bareWord, type DgWord } from './protocol.js';

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

/** Keeps words inside [start, end] and makes times monotonic from `floor` on. */
export function clampWords(words: readonly DgWord[], start: number, end: number, floor: number): DgWord[] {
  let t = Math.max(start, floor);
  const out: DgWord[] = [];
  for (const w of words) {
    const s = Math.min(Math.max(w.start, t), end);
    const e = Math.min(Math.max(w.end, s), end);
    out.push({ ...w, start: Math.round(s * 1000) / 1000, end: Math.round(e * 1000) / 1000 });
    t = s;
  }
  return out;
}

/** Scoring utterance boundaries against a conversation's reference segments. */
import type { TimeSpan } from '../../audio/span.js';

/**
 * The utterances a perfect endpointer would make: reference segments joined across pauses shorter than
 * `minPause` (the endpointing silence), since no endpointer should end an utterance there.
 */
export function trueUtterances(segments: readonly TimeSpan[], minPause: number): TimeSpan[] {
  const out: TimeSpan[] = [];
  for (const s of [...segments].sort((a, b) => a.start - b.start)) {
    const last = out.at(-1);
    if (last && s.start - last.end < minPause) last.end = Math.max(last.end, s.end);
    else out.push({ start: s.start, end: s.end });
  }
  return out;
}

/**
 * Each true start's distance to the nearest found start, and each true end's to the nearest found end (seconds).
 * A missed boundary costs the distance to whatever boundary came instead (seconds, for an utterance running on
 * over several turns); spurious extra boundaries cost nothing here, the utterance count shows them.
 */
export function boundaryErrors(truth: readonly TimeSpan[], found: readonly TimeSpan[]): number[] {
  const nearest = (t: number, xs: number[]) =>
    xs.reduce((best, x) => Math.min(best, Math.abs(x - t)), Infinity);
  const starts = found.map((f) => f.start);
  const ends = found.map((f) => f.end);
  return [...truth.map((t) => nearest(t.start, starts)), ...truth.map((t) => nearest(t.end, ends))];
}

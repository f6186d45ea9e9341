/**
 * Putting speakers on words: the one rule for which turn a word belongs to and who speaks most of a stretch,
 * shared by live finals, stored results and file transcripts.
 */
import type { TimeSpan } from '../../audio/span.js';

/** The item overlapping [start, end) most; with no overlap, the nearest one. */
export function turnAt<T extends TimeSpan>(turns: readonly T[], start: number, end: number): T | undefined {
  let best: T | undefined;
  let bestScore = -Infinity;
  for (const t of turns) {
    // A negative overlap is minus the gap: the nearest turn wins when none overlaps.
    const overlap = Math.min(end, t.end) - Math.max(start, t.start);
    if (overlap > bestScore) {
      bestScore = overlap;
      best = t;
    }
  }
  return best;
}

/**
 * The speaker of most of the time of these labelled spans (a word counts at least 10 ms: an aligner may give one
 * no duration); undefined when none is labelled. Ties go to the speaker heard first.
 */
export function mostSpoken(spans: readonly (TimeSpan & { speaker?: number })[]): number | undefined {
  const time = new Map<number, number>();
  for (const s of spans) {
    if (s.speaker !== undefined)
      time.set(s.speaker, (time.get(s.speaker) ?? 0) + Math.max(0.01, s.end - s.start));
  }
  let best: number | undefined;
  for (const [speaker, t] of time) if (best === undefined || t > time.get(best)!) best = speaker;
  return best;
}

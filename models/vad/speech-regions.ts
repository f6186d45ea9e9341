import { UtteranceSegmenter } from './segmenter.js';
import type { TimeSpan } from '../../audio/span.js';

/**
 * How speaker labels cut speech into regions: the segmenter's rules with a pause of 300 ms ending a region (shorter
 * than a live final's endpointing, so that a change of speaker at a pause falls between two regions) and a pad
 * of 100 ms. The file path diarizes these regions; a live session's finals are chunked within them.
 */
export const REGION_SEGMENTER = { endpointingMs: 300, speechPadMs: 100, maxUtteranceSeconds: 29 } as const;

/** Closed regions a live session keeps (it asks only for those of its latest finals). */
const KEPT_REGIONS = 256;

/**
 * Speech regions (REGION_SEGMENTER) from VAD probabilities, as they come: a live session's, from the same
 * probabilities as its finals, or a whole file's (`kept`: Infinity). Times are session seconds: `offset` is the
 * session time of the first probability's frame.
 */
export class SpeechRegions {
  private readonly seg: UtteranceSegmenter;
  private readonly closed: TimeSpan[] = [];
  /** Start of the region in progress, if any. */
  private open: number | undefined;

  constructor(
    opts: { frameSeconds: number; threshold?: number; minSpeechMs?: number },
    private readonly offset = 0,
    private readonly kept = KEPT_REGIONS,
  ) {
    this.seg = new UtteranceSegmenter({ ...opts, ...REGION_SEGMENTER });
  }

  push(probs: Float32Array): void {
    for (const e of this.seg.push(probs)) this.take(e);
  }

  /** End of input: the region in progress closes. */
  flush(): void {
    for (const e of this.seg.flush()) this.take(e);
  }

  /** The regions that overlap `from`..`to` (session seconds), clipped to it; the one in progress ends at `to`. */
  within(from: number, to: number): TimeSpan[] {
    const all = this.open === undefined ? this.closed : [...this.closed, { start: this.open, end: to }];
    return all
      .filter((r) => r.end > from && r.start < to)
      .map((r) => ({ start: Math.max(from, r.start), end: Math.min(to, r.end) }));
  }

  private take(e: ReturnType<UtteranceSegmenter['push']>[number]): void {
    if (e.type === 'speech_start') this.open = this.offset + e.time;
    else if (e.type === 'speech_end') {
      this.closed.push({ start: this.offset + e.start, end: this.offset + e.time });
      if (this.closed.length > this.kept) this.closed.shift();
      this.open = undefined;
    }
  }
}

import { SAMPLE_RATE } from '../../audio/rate.js';

/**
 * The 16 kHz audio a stream keeps for its utterances, addressed by session time (seconds since the session's
 * start; a resumed connection starts at `offset`). Grown on first audio, so idle connections cost little; when
 * full, what no utterance can need any more is dropped instead of growing.
 */
export class AudioRing {
  private buf = new Float32Array(0);
  private len = 0;
  /** Sample index (since `offset`) of buf[0]. */
  private first = 0;
  /** Samples received since `offset`. */
  private received = 0;

  constructor(private readonly offset: number) {}

  /** Session time of the end of the audio received. */
  get end(): number {
    return this.offset + this.received / SAMPLE_RATE;
  }

  /** Samples received (the index the next one will have). */
  get count(): number {
    return this.received;
  }

  /** The index of the sample at session time t, as slice() cuts. */
  index(t: number): number {
    return Math.round((t - this.offset) * SAMPLE_RATE);
  }

  /** A copy of samples [a, b) by index, or null when some before b are no longer kept. */
  samples(a: number, b: number): Float32Array | null {
    if (a < this.first) return null;
    return this.buf.slice(a - this.first, Math.max(a, Math.min(b, this.first + this.len)) - this.first);
  }

  /** Appends samples; audio before `keepFrom` (session time) may be dropped to make room. */
  append(samples: Float32Array, keepFrom: number): void {
    if (this.len + samples.length > this.buf.length) {
      const keep = Math.floor((keepFrom - this.offset) * SAMPLE_RATE);
      const drop = Math.max(0, Math.min(this.len, keep - this.first));
      if (drop > 0) {
        this.buf.copyWithin(0, drop, this.len);
        this.len -= drop;
        this.first += drop;
      }
      if (this.len + samples.length > this.buf.length) {
        const grown = new Float32Array(
          Math.max(this.buf.length * 2, this.len + samples.length, SAMPLE_RATE * 4),
        );
        grown.set(this.buf.subarray(0, this.len));
        this.buf = grown;
      }
    }
    this.buf.set(samples, this.len);
    this.len += samples.length;
    this.received += samples.length;
  }

  /** A copy of the audio between two session times, clipped to what is kept. */
  slice(from: number, to: number): Float32Array {
    const a = Math.max(this.first, Math.round((from - this.offset) * SAMPLE_RATE));
    const b = Math.min(this.first + this.len, Math.round((to - this.offset) * SAMPLE_RATE));
    return this.buf.slice(a - this.first, Math.max(a, b) - this.first);
  }
}

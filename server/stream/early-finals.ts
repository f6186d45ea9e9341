import type { FinalDecode } from './jobs.js';

export type EarlyOutcome = 'used' | 'withdrawn' | 'wasted';

/**
 * Finals decoded during the endpointing wait. When speech pauses long enough that the final it would end in is
 * known (the segmenter's pause), that audio is decoded at once instead of after the endpointing silence: the
 * final is ready up to endpointing - pad sooner (300 ms at the defaults). Until the endpoint it waits behind every
 * final (only an engine that has nothing more urgent decodes it); if the speech goes on, it is withdrawn while
 * still queued, or its result is dropped. A final takes the early decode only when it closes
 * exactly the same audio, so what the client gets is what a decode after the endpoint would have given.
 */
export class EarlyFinals {
  private current: { from: number; to: number; decode: FinalDecode; abort: AbortController } | null = null;

  constructor(
    private readonly d: {
      decode(from: number, to: number, signal: AbortSignal): FinalDecode;
      /** The early decode's endpoint came: it is a final now (the scheduler's priority). */
      promote(decode: FinalDecode): void;
      /** What became of an early decode (metrics). */
      outcome?(o: EarlyOutcome): void;
    },
  ) {}

  /** Decodes [from, to] now, in place of any earlier early decode. */
  start(from: number, to: number): void {
    this.drop();
    const abort = new AbortController();
    this.current = { from, to, abort, decode: this.d.decode(from, to, abort.signal) };
  }

  /** The early decode of exactly [from, to], if there is one; any other is dropped. */
  take(from: number, to: number): FinalDecode | null {
    const c = this.current;
    if (c && c.from === from && c.to === to) {
      this.current = null;
      this.d.promote(c.decode);
      this.d.outcome?.('used');
      return c.decode;
    }
    this.drop();
    return null;
  }

  /** The speech went on: the early decode is not wanted (withdrawn if it has not run). */
  drop(): void {
    const c = this.current;
    if (!c) return;
    this.current = null;
    c.abort.abort();
    void c.decode.ran.then((ran) => this.d.outcome?.(ran ? 'wasted' : 'withdrawn'));
  }
}

import type { WindowResult } from '../../models/whisper/transcribe.js';
import type { FinalDecode } from './jobs.js';
import type { InterimAsk } from './utterances.js';

/**
 * What became of an early decode: its final's; an interim (or early commit) of the speech that went on; withdrawn
 * unrun; run for nothing.
 */
export type EarlyOutcome = 'used' | 'interim' | 'withdrawn' | 'wasted';

/**
 * Finals decoded during the endpointing wait. When speech pauses long enough that the final it would end in is
 * known (the segmenter's pause), that audio is decoded at once instead of after the endpointing silence: the final
 * is ready up to endpointing - pad sooner (300 ms at the defaults). Until the endpoint it waits behind every final
 * (only an engine with nothing more urgent decodes it). A final takes the early decode only when it closes exactly
 * the same audio, so what the client gets is what a decode after the endpoint would have given. If the speech goes
 * on, a decode still queued is withdrawn, and one already run is the utterance's latest hypothesis (an interim).
 * Without interims nothing would use that hypothesis: such a decode is speculative, run only when nothing else is
 * queued and in a call of its own (TranscribeJob.ifIdle), so it costs these streams no capacity.
 */
export class EarlyFinals {
  private current: { ask: InterimAsk; decode: FinalDecode; abort: AbortController } | null = null;

  constructor(
    private readonly d: {
      decode(from: number, to: number, signal: AbortSignal): FinalDecode;
      /** The early decode's endpoint came: it is a final now (the scheduler's priority). */
      promote(decode: FinalDecode): void;
      /** The speech went on after an early decode ran: its result as a hypothesis (true: the client got something). */
      hypothesis(ask: InterimAsk, result: WindowResult): boolean;
      /** What became of an early decode (metrics). */
      outcome?(o: EarlyOutcome): void;
    },
  ) {}

  /** Decodes the pause's audio now, in place of any earlier early decode. */
  start(ask: InterimAsk): void {
    this.drop();
    const abort = new AbortController();
    this.current = { ask, abort, decode: this.d.decode(ask.from, ask.to, abort.signal) };
  }

  /** The early decode of exactly [from, to], if there is one; any other is dropped. */
  take(from: number, to: number): FinalDecode | null {
    const c = this.current;
    if (c && c.ask.from === from && c.ask.to === to) {
      this.current = null;
      this.d.promote(c.decode);
      this.d.outcome?.('used');
      return c.decode;
    }
    this.drop();
    return null;
  }

  /** The speech went on (or ended elsewhere): withdrawn if it has not run, a hypothesis if it has. */
  drop(): void {
    const c = this.current;
    if (!c) return;
    this.current = null;
    c.abort.abort();
    c.decode.result.then(
      (r) => this.d.outcome?.(!r ? 'withdrawn' : this.d.hypothesis(c.ask, r) ? 'interim' : 'wasted'),
      () => this.d.outcome?.('wasted'),
    );
  }
}

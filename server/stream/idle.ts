import { closeCode } from '../errors.js';
import type { StreamState } from './state.js';

/**
 * The idle timeout: a live stream without audio or KeepAlive for `ms` closes 1011 NET-0001 (Deepgram's). It does
 * not run while a Finalize is unanswered (the client may be waiting for it), nor once the stream is not live.
 */
export class IdleTimeout {
  private timer: NodeJS.Timeout | null = null;
  private awaiting = 0;

  constructor(
    private readonly ms: number,
    private readonly state: StreamState,
  ) {}

  /** The client did something: the timeout starts again. */
  touch(): void {
    this.clear();
    if (this.ms > 0 && this.state.live && this.awaiting === 0) {
      this.timer = setTimeout(() => this.expire(), this.ms);
    }
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** A Finalize is asked for: no timeout until it is answered. */
  finalizeAsked(): void {
    this.awaiting++;
    this.clear();
  }

  finalizeAnswered(): void {
    this.awaiting--;
    this.touch();
  }

  private expire(): void {
    this.state.fail(closeCode('IDLE_TIMEOUT'), 'NET-0001');
  }
}

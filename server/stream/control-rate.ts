/**
 * How many control messages (text frames) a stream may send: a burst, refilled at a steady rate. Each Finalize
 * costs a decode, a Results and possibly a store write, so a client must not send them by the thousand.
 */
export class ControlRate {
  private tokens: number;
  private at = performance.now();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  /** Whether one more message is allowed now. */
  take(now = performance.now()): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.perSecond);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }

  describe(): string {
    return `${this.burst} at once or ${this.perSecond}/s`;
  }
}

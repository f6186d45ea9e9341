const round3 = (x: number) => Math.round(x * 1000) / 1000;

export interface BacklogLimits {
  /** Audio waiting for inference past which the stream is stopped (as for queued audio). */
  maxQueuedSeconds: number;
  maxPendingFinals: number;
  /** Finals this far behind the audio are worth a warning. */
  lagWarnSeconds: number;
}

/** Finals requested and not yet delivered, oldest first. */
type Pending = readonly { from: number; to: number }[];

/** How far one stream's finals are behind its audio: a warning per episode, and the bound that stops it. */
export class Backlog {
  private lagging = false;

  constructor(
    private readonly id: string,
    private readonly limits: BacklogLimits,
    private readonly log: { info(o: object, msg?: string): void; warn(o: object, msg?: string): void },
  ) {}

  /**
   * Past maxQueuedSeconds of audio waiting for inference (or maxPendingFinals finals) the server cannot keep up
   * with this stream: the reason head to stop it with, or null.
   */
  over(received: number, pending: Pending): string | null {
    if (pending.length === 0) return null;
    const behind = received - pending[0].from;
    const { maxQueuedSeconds, maxPendingFinals } = this.limits;
    if (behind <= maxQueuedSeconds && pending.length <= maxPendingFinals) return null;
    const head = `finals backlog: ${pending.length} finals, ${behind.toFixed(1)} s of audio waiting for inference`;
    this.log.warn({ session: this.id, pendingFinals: pending.length, behind: round3(behind) }, head);
    return head;
  }

  /** A warning when finals fall behind the audio by more than lagWarnSeconds; once per episode, not per frame. */
  watchLag(received: number, pending: Pending, queuedSeconds: number): void {
    const waiting = pending.length ? received - pending[0].to : 0;
    const lag = Math.max(0, waiting) + queuedSeconds;
    const limit = this.limits.lagWarnSeconds;
    if (!this.lagging && lag > limit) {
      this.lagging = true;
      this.log.warn(
        { session: this.id, lag: round3(lag), pendingFinals: pending.length },
        `stream falling behind: finals ${lag.toFixed(1)} s behind the audio`,
      );
    } else if (this.lagging && lag < limit / 2) {
      this.lagging = false;
      this.log.info({ session: this.id, lag: round3(lag) }, 'stream caught up');
    }
  }
}

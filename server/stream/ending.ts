/** Close reasons are cut to 123 bytes by the WebSocket protocol. */
const MAX_REASON_BYTES = 123;

const round3 = (x: number) => Math.round(x * 1000) / 1000;

export interface EndingDeps {
  id: string;
  log: { warn(o: object, msg?: string): void };
  /** After CloseStream, the longest wait for the last finals (0: none). */
  flushTimeoutMs: number;
  /** The socket is closed. */
  closed(): boolean;
  committed(): number;
  extent(): number;
  pendingFinals(): number;
  /** Seq of the last final the client was handed (where it resumes from). */
  sentSeq(): number;
  /** The stream starts ending: stop input, flush, and call complete() once every final is out. */
  onBegin(): void;
  /** Closes with a closing Metadata. */
  close(code: number, reason: string): void;
  error(code: string, description: string): void;
}

/**
 * How a stream ends: the client's CloseStream (bounded by the flush limit) and/or the server's shutdown (bounded
 * by the drain deadline). Ends the input, closes once its finals are out or at the deadline with what is out by
 * then, with a reason that says what was not decoded and how to resume. Audio arriving meanwhile is refused.
 */
export class Ending {
  private state: {
    byClient: boolean;
    shutdown: boolean;
    /** The server stopped the stream (a bound crossed): it closes with this code and reason head. */
    stop?: { code: number; head: string };
    deadline: number;
    timer: NodeJS.Timeout | null;
  } | null = null;
  private readonly refused = { seconds: 0, told: false };
  private readonly socketGone: Promise<void>;
  private resolveSocketGone!: () => void;

  constructor(private readonly d: EndingDeps) {
    this.socketGone = new Promise((r) => (this.resolveSocketGone = r));
  }

  get active(): boolean {
    return this.state !== null;
  }
  /** Audio that arrived while ending: not decoded, but part of the input's extent. */
  get refusedSeconds(): number {
    return this.refused.seconds;
  }

  closeStream(): void {
    const limit = this.d.flushTimeoutMs;
    this.begin(false, limit > 0 ? Date.now() + limit : Infinity);
  }

  /**
   * The server stops the stream (a bound crossed): no more input, the finals of what was received are delivered
   * (bounded by the flush limit), then Metadata and `code` with `head` and how to resume.
   */
  stop(code: number, head: string): void {
    if (this.d.closed()) return;
    const limit = this.d.flushTimeoutMs;
    const fresh = !this.state;
    this.begin(false, limit > 0 ? Date.now() + limit : Infinity);
    if (fresh && this.state) this.state.stop = { code, head };
  }

  /** Server shutdown by `deadline` (epoch ms); resolves once the socket is closed. */
  shutdown(deadline: number): Promise<void> {
    this.begin(true, deadline);
    return this.socketGone;
  }

  /** The socket closed (either side): no deadline runs any more. */
  socketClosed(): void {
    if (this.state?.timer) clearTimeout(this.state.timer);
    this.resolveSocketGone();
  }

  /** Every final is out: close. */
  complete(): void {
    if (this.d.closed() || !this.state) return;
    // The client asked to close and has everything: a shutdown meanwhile changes nothing for it.
    if (this.state.stop) {
      this.d.close(this.state.stop.code, this.resumeReason(this.state.stop.head));
      return;
    }
    if (this.state.byClient) {
      this.d.close(1000, '');
      return;
    }
    const head =
      this.refused.seconds > 0
        ? `server shutting down: audio after ${this.d.committed().toFixed(1)} s not decoded`
        : 'server shutting down';
    this.d.close(1001, this.resumeReason(head));
  }

  /** Audio while ending is not decoded: the client is told once, and it counts in the input's extent. */
  refuse(seconds: number, received: number): void {
    if (seconds === 0) return;
    this.refused.seconds += seconds;
    if (this.refused.told) return;
    this.refused.told = true;
    const stop = this.state?.stop;
    if (stop)
      this.d.error('STREAM_CLOSING', `${stop.head}: audio after ${received.toFixed(1)} s is not decoded`);
    else if (this.state?.byClient) this.d.error('STREAM_CLOSING', 'audio after CloseStream is not decoded');
    else {
      this.d.error(
        'SHUTTING_DOWN',
        `server shutting down: audio after ${received.toFixed(1)} s is not decoded; resume with session=${this.d.id} and re-send audio from committed_until`,
      );
    }
  }

  /** A close reason with how to resume, shortened to fit the 123 bytes a reason may have. */
  resumeReason(head: string): string {
    const seq = this.d.sentSeq();
    for (const r of [
      `${head}; resume with session=${this.d.id}&resume_from=${seq}`,
      `${head}; resume_from=${seq}`,
    ]) {
      if (Buffer.byteLength(r) <= MAX_REASON_BYTES) return r;
    }
    return head.slice(0, MAX_REASON_BYTES);
  }

  private begin(shutdown: boolean, deadline: number): void {
    if (this.d.closed()) return;
    let s = this.state;
    if (!s) {
      s = this.state = { byClient: !shutdown, shutdown, deadline: Infinity, timer: null };
      this.d.onBegin();
    }
    s.shutdown ||= shutdown;
    if (deadline >= s.deadline) return;
    s.deadline = deadline;
    if (s.timer) clearTimeout(s.timer);
    s.timer = setTimeout(() => this.atDeadline(), Math.max(0, deadline - Date.now()));
  }

  private atDeadline(): void {
    if (this.d.closed() || !this.state) return;
    const shutdown = this.state.shutdown;
    this.d.log.warn(
      {
        session: this.d.id,
        committed: round3(this.d.committed()),
        received: round3(this.d.extent()),
        pendingFinals: this.d.pendingFinals(),
      },
      shutdown
        ? 'drain deadline: closing a stream whose finals are still decoding'
        : 'flush limit: closing a stream whose finals are still decoding',
    );
    const what = `audio after ${this.d.committed().toFixed(1)} s not decoded`;
    const stop = this.state.stop;
    if (stop) this.d.close(stop.code, this.resumeReason(`${stop.head}: ${what}`));
    else
      this.d.close(
        shutdown ? 1001 : 1011,
        this.resumeReason(shutdown ? `server shutting down: ${what}` : `flush limit: ${what}`),
      );
  }
}

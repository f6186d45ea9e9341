import { closeCode } from '../errors.js';
import { MAX_REASON_BYTES, type StreamState } from './state.js';

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** A close frame. */
export interface Close {
  code: number;
  reason: string;
}

/** Where the stream's decoding stands, for the close reason and the log. */
interface Progress {
  committed: number;
  /** Audio received, queued and refused (seconds). */
  extent: number;
  pendingFinals: number;
}

/** Why a stream ends gracefully (with its finals). */
interface Cause {
  /** The client's CloseStream: 1000 once the finals are out. */
  byClient: boolean;
  /** The server shuts down (alone or after the client's CloseStream): its deadline may be sooner. */
  shutdown: boolean;
  /** The server stopped the stream (a bound crossed): it closes with this code and reason head. */
  stop?: { code: number; head: string; resumable: boolean };
  deadline: number;
}

/**
 * How a stream ends with its finals: the client's CloseStream or a limit (bounded by the flush limit), the
 * server's stop at a bound, and/or the server's shutdown (bounded by the drain deadline). It decides; the session
 * acts: once the finals are out it closes with done(), or at the deadline (deadlinePassed) with late(), whose
 * reasons say what was not decoded and how to resume. Audio arriving meanwhile is refused.
 */
export class Ending {
  private cause: Cause | null = null;
  private readonly refused = { seconds: 0, told: false };
  private timer: NodeJS.Timeout | null = null;
  /** Resolves when the deadline passes (brought closer by a shutdown; never without one). */
  readonly deadlinePassed: Promise<void>;
  private resolveDeadline!: () => void;

  constructor(
    private readonly state: StreamState,
    /** After CloseStream, the longest wait for the last finals (0: none). */
    private readonly flushTimeoutMs: number,
    private readonly log: { warn(o: object, msg?: string): void },
  ) {
    this.deadlinePassed = new Promise((r) => (this.resolveDeadline = r));
  }

  /** Audio that arrived while ending: not decoded, but part of the input's extent. */
  get refusedSeconds(): number {
    return this.refused.seconds;
  }

  /** The client's CloseStream; true when the stream starts ending now (the caller ends its input). */
  closeStream(): boolean {
    return this.begin(false, this.flushDeadline());
  }

  /**
   * The server stops the stream (a bound crossed): no more input, the finals of what was received are delivered
   * (bounded by the flush limit), then Metadata and `code` with `head` and, when `resumable`, how to resume.
   */
  stop(code: number, head: string, resumable = true): boolean {
    if (this.state.closed) return false;
    const fresh = this.begin(false, this.flushDeadline());
    // A stop while the client's CloseStream flushes still says why it ends; a shutdown keeps its own code.
    const c = this.cause!;
    if (!c.stop && !c.shutdown) c.stop = { code, head, resumable };
    return fresh;
  }

  /** Server shutdown by `deadline` (epoch ms). */
  shutdown(deadline: number): boolean {
    return this.begin(true, deadline);
  }

  /** The socket closed (either side): no deadline runs any more. */
  socketClosed(): void {
    if (this.timer) clearTimeout(this.timer);
  }

  /** The close once every final is out, or (`late`) at the deadline with finals still decoding. */
  close(late: boolean, at: Progress): Close {
    return late ? this.late(at) : this.done(at.committed);
  }

  private done(committed: number): Close {
    const c = this.cause!;
    if (c.stop) return this.stopClose(c.stop.head);
    // The client asked to close and has everything: a shutdown meanwhile changes nothing for it.
    if (c.byClient) return { code: closeCode('DONE'), reason: '' };
    const head =
      this.refused.seconds > 0
        ? `server shutting down: audio after ${committed.toFixed(1)} s not decoded`
        : 'server shutting down';
    return { code: closeCode('SHUTTING_DOWN'), reason: this.state.resumeReason(head) };
  }

  /** The deadline passed with finals still decoding: the close, with what was not decoded (and a warning). */
  private late(at: Progress): Close {
    const c = this.cause!;
    const { committed } = at;
    this.log.warn(
      {
        session: this.state.id,
        committed: round3(committed),
        received: round3(at.extent),
        pendingFinals: at.pendingFinals,
      },
      c.shutdown
        ? 'drain deadline: closing a stream whose finals are still decoding'
        : 'flush limit: closing a stream whose finals are still decoding',
    );
    const what = `audio after ${committed.toFixed(1)} s not decoded`;
    if (c.stop) return this.stopClose(`${c.stop.head}: ${what}`);
    const [code, head] = c.shutdown
      ? [closeCode('SHUTTING_DOWN'), `server shutting down: ${what}`]
      : [closeCode('FLUSH_LIMIT'), `flush limit: ${what}`];
    return { code, reason: this.state.resumeReason(head) };
  }

  private stopClose(head: string): Close {
    const { code, resumable } = this.cause!.stop!;
    return { code, reason: resumable ? this.state.resumeReason(head) : fit(head) };
  }

  /** Audio while ending is not decoded: it counts in the input's extent; the error to tell the client, once. */
  refuse(seconds: number, received: number): { code: string; description: string } | null {
    if (seconds === 0) return null;
    this.refused.seconds += seconds;
    if (this.refused.told) return null;
    this.refused.told = true;
    const c = this.cause;
    const after = `audio after ${received.toFixed(1)} s is not decoded`;
    if (c?.stop) return { code: 'STREAM_CLOSING', description: `${c.stop.head}: ${after}` };
    if (c?.byClient) return { code: 'STREAM_CLOSING', description: 'audio after CloseStream is not decoded' };
    return {
      code: 'SHUTTING_DOWN',
      description: `server shutting down: ${after}; resume with session=${this.state.id} and re-send audio from committed_until`,
    };
  }

  private flushDeadline(): number {
    return this.flushTimeoutMs > 0 ? Date.now() + this.flushTimeoutMs : Infinity;
  }

  /** True when the stream starts ending now. */
  private begin(shutdown: boolean, deadline: number): boolean {
    if (this.state.closed) return false;
    let c = this.cause;
    const fresh = !c;
    if (!c) {
      c = this.cause = { byClient: !shutdown, shutdown, deadline: Infinity };
      this.state.beginClosing();
    }
    c.shutdown ||= shutdown;
    if (deadline < c.deadline) {
      c.deadline = deadline;
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(this.resolveDeadline, Math.max(0, deadline - Date.now()));
    }
    return fresh;
  }
}

/** Resolves when `p` does or at `deadline` (epoch ms), whichever is first. */
export function settleBy(p: Promise<void>, deadline: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((r) => (timer = setTimeout(r, Math.max(0, deadline - Date.now()))));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** A reason cut to the bytes a close frame allows, on a character boundary. */
function fit(reason: string): string {
  const b = Buffer.from(reason);
  return b.length <= MAX_REASON_BYTES
    ? reason
    : b
        .subarray(0, MAX_REASON_BYTES)
        .toString()
        .replace(/\uFFFD$/, '');
}

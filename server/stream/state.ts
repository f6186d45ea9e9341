/** Close reasons are cut to 123 bytes by the WebSocket protocol. */
export const MAX_REASON_BYTES = 123;

/**
 * live: audio is taken. closing: no more input, the finals of what was received are on their way (see Ending).
 * closed: no socket any more (either side closed it); what was received is still decoded into the store.
 */
export type Phase = 'live' | 'closing' | 'closed';

/** The transport's close. */
export interface Closer {
  close(code: number, reason: string): void;
}

/**
 * Where one stream stands, the object its parts read (writer, interims, ending, session). It owns the closed
 * state: every close goes through close() or clientLeft(), once; whenClosed resolves then.
 */
export class StreamState {
  private current: Phase = 'live';
  private cut = false;
  private sent: number;
  private closedWith: { code: number; reason: string } | null = null;
  /** Resolves once the stream is closed (by either side). */
  readonly whenClosed: Promise<void>;
  private resolveClosed!: () => void;

  constructor(
    readonly id: string,
    seqStart: number,
    private readonly transport: Closer,
    private readonly log: { info(o: object, msg?: string): void },
  ) {
    this.sent = seqStart;
    this.whenClosed = new Promise((r) => (this.resolveClosed = r));
  }

  get phase(): Phase {
    return this.current;
  }
  get live(): boolean {
    return this.current === 'live';
  }
  get closed(): boolean {
    return this.current === 'closed';
  }
  /** The client went away mid-stream (not after CloseStream, a stop or shutdown): the speaker may not have stopped. */
  get clientCut(): boolean {
    return this.cut;
  }
  /** The close frame the server sent (null: none, or the client left first). */
  get closeFrame(): { readonly code: number; readonly reason: string } | null {
    return this.closedWith;
  }
  /** Seq of the last final the client was handed: where it resumes from. */
  get sentSeq(): number {
    return this.sent;
  }

  /** A final reached the client. */
  handed(seq: number): void {
    this.sent = Math.max(this.sent, seq);
  }

  /** The stream starts ending (no more input); false when it was not live. */
  beginClosing(): boolean {
    if (!this.live) return false;
    this.current = 'closing';
    return true;
  }

  /** The server closes the socket with `code` (once; nothing once closed). */
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closedWith = { code, reason };
    this.toClosed();
    this.transport.close(code, reason);
  }

  /** Closes at once, without a closing Metadata (a failure, a client that misbehaves), and logs why. */
  fail(code: number, reason: string): void {
    if (this.closed) return;
    this.log.info({ session: this.id, code, reason }, 'closing stream');
    this.close(code, reason);
  }

  /** The client closed the socket. */
  clientLeft(): void {
    if (this.closed) return;
    this.cut = this.live;
    this.toClosed();
  }

  /** A close reason with how to resume, shortened to fit the 123 bytes a reason may have. */
  resumeReason(head: string): string {
    for (const r of [
      `${head}; resume with session=${this.id}&resume_from=${this.sent}`,
      `${head}; resume_from=${this.sent}`,
    ]) {
      if (Buffer.byteLength(r) <= MAX_REASON_BYTES) return r;
    }
    return head.slice(0, MAX_REASON_BYTES);
  }

  private toClosed(): void {
    this.current = 'closed';
    this.resolveClosed();
  }
}

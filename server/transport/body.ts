// Request bodies for both transports: collected from the first byte, handed over whole or as a stream, with
// back-pressure on the socket and the size limit enforced as bytes arrive.

import { BodyTimeoutError, BodyTooLargeError, RequestAbortedError, type BodyOptions } from './types.js';

/** Body bytes buffered before the handler asks for the body; then the socket is paused. */
const PREREAD_BYTES = 64 * 1024;

interface FlowControl {
  pause(): void;
  resume(): void;
}

/**
 * Collects a request body from the moment the request arrives (uWS drops body chunks that come before a data
 * handler is attached), pausing the socket while PREREAD_BYTES wait unconsumed: before the handler asks for the
 * body, or while a stream() consumer lags. read() takes the whole body; stream() hands it over chunk by chunk.
 */
export class BodyCollector {
  private chunks: Buffer[] = [];
  /** Bytes received so far (what the limit applies to). */
  private size = 0;
  /** Bytes held in chunks. */
  private held = 0;
  private limit = -1;
  private ended = false;
  private failure: Error | undefined;
  private paused = false;
  private waiter: { resolve(b: Buffer): void; reject(e: Error): void } | undefined;
  private requested = false;
  private streaming = false;
  /** The rest of the body is read and thrown away (the consumer stopped early). */
  private discarding = false;
  private wake: (() => void) | undefined;
  /** The receive deadline: a trickling client must not hold the request (and what waits on it) forever. */
  private deadline: NodeJS.Timeout | undefined;

  constructor(
    private readonly flow: FlowControl,
    private readonly declaredLength: number | undefined,
  ) {}

  /** Whether the whole body has arrived (else the connection must close after the response). */
  get complete(): boolean {
    return this.ended;
  }

  /** chunk is copied unless owned; last: the body ends with it. */
  push(chunk: Uint8Array, owned: boolean, last = false): void {
    if (this.failure || this.ended) return;
    this.size += chunk.byteLength;
    if (this.limit >= 0 && this.size > this.limit) {
      this.fail(new BodyTooLargeError(this.limit));
      return;
    }
    if (this.discarding) return;
    this.chunks.push(
      owned ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) : Buffer.from(chunk),
    );
    this.held += chunk.byteLength;
    if (last) this.end();
    else if ((!this.requested || this.streaming) && this.held >= PREREAD_BYTES) this.setPaused(true);
    this.notify();
  }

  end(): void {
    if (this.failure || this.ended) return;
    if (this.paused) {
      this.paused = false;
      this.flow.resume();
    }
    this.ended = true;
    clearTimeout(this.deadline);
    if (this.waiter) this.waiter.resolve(this.take());
    this.notify();
  }

  abort(): void {
    if (!this.ended) this.fail(new RequestAbortedError());
  }

  read(limitBytes: number): Promise<Buffer> {
    const refused = this.request(limitBytes);
    if (refused) return Promise.reject(refused);
    if (this.ended) return Promise.resolve(this.take());
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.setPaused(false);
    });
  }

  async *stream(limitBytes: number, opts: BodyOptions = {}): AsyncGenerator<Uint8Array> {
    const refused = this.request(limitBytes, opts.timeoutMs);
    if (refused) throw refused;
    this.streaming = true;
    try {
      for (;;) {
        if (this.failure) throw this.failure;
        const chunk = this.chunks.shift();
        if (chunk) {
          this.held -= chunk.length;
          if (this.held < PREREAD_BYTES) this.setPaused(false);
          yield chunk;
        } else if (this.ended) {
          return;
        } else {
          this.setPaused(false);
          await new Promise<void>((r) => (this.wake = r));
        }
      }
    } finally {
      if (!this.ended && !this.failure) {
        // The consumer gave up (bad audio, a refusal): read the rest without keeping it; the response closes.
        this.discarding = true;
        this.chunks = [];
        this.held = 0;
        this.setPaused(false);
      }
    }
  }

  /** Starts the one read of the body; returns the error to throw when it cannot be had. */
  private request(limitBytes: number, timeoutMs?: number): Error | undefined {
    if (this.requested) return new Error('request body already read: call body() or stream() once');
    this.requested = true;
    this.limit = Math.max(0, limitBytes);
    if (this.failure) return this.failure;
    if (timeoutMs !== undefined && !this.ended) {
      this.deadline = setTimeout(() => this.fail(new BodyTimeoutError(timeoutMs)), timeoutMs);
      this.deadline.unref();
    }
    if (
      this.size > this.limit ||
      (this.declaredLength !== undefined && this.declaredLength > this.limit && !this.ended)
    ) {
      this.fail(new BodyTooLargeError(this.limit));
      return this.failure;
    }
    return undefined;
  }

  private setPaused(paused: boolean): void {
    // Once the body is in, flow control is moot; and uWS re-arms its 10-s HTTP timeout on resume(), which would
    // cut a response that takes longer to compute.
    if (this.paused === paused || this.ended) return;
    this.paused = paused;
    if (paused) this.flow.pause();
    else this.flow.resume();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private take(): Buffer {
    const body = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.size);
    this.chunks = [];
    this.held = 0;
    return body;
  }

  private fail(err: Error): void {
    if (this.failure) return;
    clearTimeout(this.deadline);
    this.failure = err;
    this.chunks = [];
    this.held = 0;
    // Let the rest of the body be read and discarded; the response closes the connection.
    this.setPaused(false);
    if (this.waiter) this.waiter.reject(err);
    this.notify();
  }
}

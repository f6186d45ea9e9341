import { APIConnectionError, APIStatusError, APITimeoutError } from '@livekit/agents';
import WebSocket from 'ws';

/** A refused handshake: the server's status, body and Retry-After (503 when at capacity, 409 while resuming). */
export class HandshakeRefused extends APIStatusError {
  constructor(
    statusCode: number,
    body: string,
    /** The server's Retry-After, in ms, when it sent one. */
    readonly retryAfterMs: number | undefined,
  ) {
    super({
      message: `earshot refused the stream: HTTP ${statusCode} ${summarize(body)}`,
      options: { statusCode, body: parseBody(body), retryable: statusCode >= 500 || statusCode === 409 },
    });
    this.name = 'HandshakeRefused';
  }
}

/** The refusal's body as an object for APIStatusError: earshot's JSON error, or the text under `message`. */
export function parseBody(body: string): object | null {
  try {
    const parsed = JSON.parse(body) as unknown;
    if (parsed && typeof parsed === 'object') return parsed;
  } catch {
    // not JSON
  }
  return body ? { message: body } : null;
}

function summarize(body: string): string {
  const parsed = parseBody(body) as { error?: { message?: string } } | null;
  return parsed?.error?.message ?? body.slice(0, 200);
}

export function parseRetryAfter(value: string | string[] | undefined): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  const seconds = Number(v);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(v);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

export type ServerMessage = { type?: unknown } & Record<string, unknown>;

/**
 * One WebSocket to /v1/listen. Messages are recorded from the moment the socket exists: the server's opening
 * Metadata can arrive in the same packet as the handshake, before anyone listens.
 */
export class Connection {
  private backlog: ServerMessage[] = [];
  private handler: ((m: ServerMessage) => void) | null = null;
  /** Resolves once, when the socket closes for any reason. */
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let msg: ServerMessage;
      try {
        msg = JSON.parse(String(data)) as ServerMessage;
      } catch {
        return; // not ours to interpret; the server only sends JSON text
      }
      if (this.handler) this.handler(msg);
      else this.backlog.push(msg);
    });
    this.closed = new Promise((resolve) =>
      ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })),
    );
  }

  /** Opens the socket; throws HandshakeRefused, APITimeoutError or APIConnectionError (no secrets in messages). */
  static open(
    url: string,
    headers: Record<string, string>,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers, perMessageDeflate: false });
      const conn = new Connection(ws);
      const safeUrl = url.replace(/\?.*$/, '');
      const fail = (err: Error) => {
        cleanup();
        ws.removeAllListeners('error');
        ws.on('error', () => {});
        ws.terminate();
        reject(err);
      };
      const timer = setTimeout(
        () =>
          fail(new APITimeoutError({ message: `earshot: no handshake from ${safeUrl} in ${timeoutMs} ms` })),
        timeoutMs,
      );
      const onAbort = () =>
        fail(new APIConnectionError({ message: 'aborted', options: { retryable: false } }));
      signal.addEventListener('abort', onAbort, { once: true });
      const cleanup = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
      };
      ws.once('open', () => {
        cleanup();
        ws.on('error', () => {}); // a later error is followed by 'close', which is what we act on
        resolve(conn);
      });
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (body.length < 4096) body += chunk;
        });
        res.on('end', () =>
          fail(new HandshakeRefused(res.statusCode ?? 0, body, parseRetryAfter(res.headers['retry-after']))),
        );
        res.on('error', () =>
          fail(new HandshakeRefused(res.statusCode ?? 0, body, parseRetryAfter(res.headers['retry-after']))),
        );
      });
      ws.once('error', (err) =>
        fail(new APIConnectionError({ message: `earshot: cannot connect to ${safeUrl}: ${err.message}` })),
      );
    });
  }

  /** Delivers the backlog, then every later message, to `handler`. */
  listen(handler: (m: ServerMessage) => void): void {
    this.handler = handler;
    for (const m of this.backlog.splice(0)) handler(m);
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  sendAudio(pcm: Uint8Array): void {
    if (this.open) this.ws.send(pcm, { binary: true });
  }

  sendControl(type: 'KeepAlive' | 'Finalize' | 'CloseStream'): void {
    if (this.open) this.ws.send(JSON.stringify({ type }));
  }

  close(code = 1000): void {
    if (this.ws.readyState === WebSocket.CONNECTING || this.ws.readyState === WebSocket.OPEN) {
      this.ws.close(code);
    }
  }

  terminate(): void {
    this.ws.terminate();
  }
}

// The transport contract: session, protocol and routing code only ever see these types, never uWS or ws.

export interface HttpRequest {
  /** Upper case. */
  method: string;
  /** Without the query string, not percent-decoded. */
  path: string;
  query: URLSearchParams;
  /** Lower-case names; repeated headers joined with ', '. */
  headers: Record<string, string>;
  /** IPv4 as dotted quad (IPv4-mapped IPv6 included), IPv6 in compressed form. */
  remoteAddress: string;
  /**
   * The whole request body. Rejects with BodyTooLargeError past limitBytes (the transport answers 413 when the
   * handler lets that error through) and with RequestAbortedError when the client goes away. Call at most once.
   */
  body(limitBytes: number): Promise<Buffer>;
  /**
   * The body as it arrives, for uploads too large to hold: chunks in order, the socket paused while the consumer
   * lags. Throws BodyTooLargeError as soon as limitBytes is passed (at once when content-length says so), and
   * RequestAbortedError when the client goes away. Use either body() or stream(), once.
   */
  stream(limitBytes: number, opts?: BodyOptions): AsyncIterable<Uint8Array>;
  /** Aborted when the client disconnects before the response (or upgrade) is written. */
  signal: AbortSignal;
}

export interface BodyOptions {
  /** The whole body must have arrived this long after stream() was called, else BodyTimeoutError. */
  timeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  /** Sent as given, except content-length and transfer-encoding, which the transport computes. */
  headers?: Record<string, string>;
  /**
   * An async iterable is streamed (chunked), each chunk written as it comes: server-sent events. The iteration is
   * stopped (return()) when the client leaves, and the request's signal aborts.
   */
  body?: string | Uint8Array | AsyncIterable<Uint8Array>;
}

export type HttpHandler = (req: HttpRequest) => Promise<HttpResponse>;

/**
 * send() results, identical in both transports:
 * - 'ok': accepted, and the queue for this client is within maxBackpressureBytes.
 * - 'backpressure': accepted, but the queue now exceeds maxBackpressureBytes; further sends are dropped until
 *   drain() fires.
 * - 'dropped': not sent, because the queue was already over the limit or the connection is closed.
 */
export type SendResult = 'ok' | 'backpressure' | 'dropped';

export interface WsConnection {
  readonly id: string;
  readonly remoteAddress: string;
  /** binary defaults to true for bytes and false for strings. */
  send(data: string | Uint8Array, binary?: boolean): SendResult;
  /** Bytes queued for this client and not yet handed to the kernel. */
  bufferedAmount(): number;
  /**
   * Graceful close frame. Safe to call twice or after the peer left. The close handler runs afterwards (never
   * inside this call) with this code and reason. The reason is cut to 123 bytes.
   */
  close(code: number, reason?: string): void;
  /** Drop the TCP connection without a close frame; the close handler sees 1006. */
  terminate(): void;
}

export type UpgradeDecision<C> =
  /** protocol: the Sec-WebSocket-Protocol value to echo (it must be one the client offered). */
  { accept: true; protocol?: string; context: C } | { accept: false; response: HttpResponse };

export interface WsHandlers<C> {
  /** Async (auth, admission); if the client leaves meanwhile, the decision is ignored and nothing else is called. */
  upgrade(req: HttpRequest): Promise<UpgradeDecision<C>>;
  open(conn: WsConnection, context: C): void;
  /** Text frames arrive as string, binary frames as an ArrayBuffer the handler owns (safe to keep). */
  message(conn: WsConnection, context: C, data: ArrayBuffer | string, isBinary: boolean): void;
  /** After a send() returned 'backpressure' or 'dropped': the queue is back within maxBackpressureBytes. */
  drain?(conn: WsConnection, context: C): void;
  /**
   * Exactly once per opened connection, asynchronously. code/reason: what the server sent when it closed
   * (1009 for an oversize message), what the client sent otherwise, 1006 for a dropped connection.
   */
  close(conn: WsConnection, context: C, code: number, reason: string): void;
}

export interface TransportWsOptions<C> {
  path: string;
  handlers: WsHandlers<C>;
  /** A larger message closes the connection with 1009. */
  maxPayloadBytes: number;
  /** Close connections idle this long (pings are sent at half of it); 0 or absent = off. */
  idleTimeoutSec?: number;
  /** Per-connection send queue limit; see SendResult. Default 1 MiB; 0 = unlimited. */
  maxBackpressureBytes?: number;
}

export interface TransportOptions<C> {
  host: string;
  /** 0 = ephemeral. */
  port: number;
  /** Every non-upgrade request (any method and path), and upgrade requests for paths other than ws.path. */
  http: HttpHandler;
  ws: TransportWsOptions<C>;
}

export interface Transport {
  readonly kind: 'uws' | 'ws';
  listen(): Promise<{ port: number }>;
  /** Close the listen socket; open connections go on. */
  stopAccepting(): void;
  /** Stop accepting and terminate everything (open WebSockets see their close handler with 1006). */
  close(): Promise<void>;
  /** Open WebSocket connections. */
  connectionCount(): number;
}

export interface TransportLog {
  warn(msg: string): void;
}

export class BodyTooLargeError extends Error {
  readonly status = 413;
  constructor(readonly limitBytes: number) {
    super(`request body exceeds ${limitBytes} bytes: send a smaller body`);
    this.name = 'BodyTooLargeError';
  }
}

/** The body did not arrive whole within the handler's deadline (a trickling upload): 408. */
export class BodyTimeoutError extends Error {
  readonly status = 408;
  constructor(readonly timeoutMs: number) {
    super(
      `the request body did not arrive within ${timeoutMs / 1000} s: send it faster or in a smaller file`,
    );
    this.name = 'BodyTimeoutError';
  }
}

export class RequestAbortedError extends Error {
  constructor() {
    super('the client closed the connection before the request completed');
    this.name = 'RequestAbortedError';
  }
}

export class ListenError extends Error {
  constructor(host: string, port: number, detail: string) {
    super(
      `cannot listen on ${host}:${port} (${detail}): choose another --host/--port or stop the other server`,
    );
    this.name = 'ListenError';
  }
}

export class TransportUnavailableError extends Error {
  constructor(readonly detail: string) {
    super(`uWebSockets.js native binding failed to load (${detail}): run with --transport ws`);
    this.name = 'TransportUnavailableError';
  }
}

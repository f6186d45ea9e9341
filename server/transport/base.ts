// Building blocks shared by the two transports, so that both behave the same by construction.

import { randomUUID } from 'node:crypto';
import { closeCode } from '../errors.js';
import { STATUS_CODES, validateHeaderName, validateHeaderValue } from 'node:http';
import {
  BodyTooLargeError,
  type HttpResponse,
  type SendResult,
  type TransportLog,
  type WsConnection,
  type WsHandlers,
} from './types.js';

/** The JSON body every earshot error has: {"error":{"code","message"}}. */
export function jsonError(status: number, code: string, message: string): HttpResponse {
  return {
    status,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ error: { code, message } }),
  };
}

export const DEFAULT_MAX_BACKPRESSURE = 1024 * 1024;
/** Request line plus headers, as node:http allows by default; both transports answer 431 past it. */
export const MAX_HEADER_BYTES = 16 * 1024;

export function headersTooLarge(): HttpResponse {
  const res = jsonError(
    431,
    'headers_too_large',
    `request line and headers exceed ${MAX_HEADER_BYTES >> 10} KiB: send a shorter URL or fewer headers`,
  );
  // A client this far off is not worth keeping the connection for.
  res.headers = { ...res.headers, connection: 'close' };
  return res;
}

export const defaultLog: TransportLog = { warn: (msg) => console.warn(msg) };

/** Runs an async handler, turning a synchronous throw into a rejection. */
export function invoke<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (err) {
    return Promise.reject(err);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** What the client gets when a handler (or upgrade decision) throws. */
export function responseForError(err: unknown): HttpResponse {
  if (err instanceof BodyTooLargeError) return jsonError(413, 'body_too_large', err.message);
  return jsonError(500, 'internal', errorMessage(err));
}

export function validateIdleTimeout(sec: number | undefined): number {
  const s = sec ?? 0;
  // uWS aborts the process (std::terminate) on 1..7 and on more than 960, so refuse them in both transports.
  if (!Number.isInteger(s) || s < 0 || (s > 0 && s < 8) || s > 960) {
    throw new RangeError(`idleTimeoutSec must be 0 (off) or an integer from 8 to 960, got ${sec}`);
  }
  return s;
}

export interface PreparedResponse {
  statusLine: string;
  /** Without content-length / transfer-encoding / connection. */
  headers: [string, string][];
  /** undefined: no content-length header at all (1xx/204/304). */
  contentLength: number | undefined;
  /** undefined for HEAD and body-less statuses. */
  body: Buffer | undefined;
  closeConnection: boolean;
}

/** The body to stream chunk by chunk, when the handler gave one. */
export function streamedBody(resp: HttpResponse): AsyncIterable<Uint8Array> | undefined {
  const b = resp.body;
  return b !== undefined && typeof b !== 'string' && !(b instanceof Uint8Array) ? b : undefined;
}

/** A response that will not be sent (the client left first): a streamed body is told to stop. */
export async function dropUnread(resp: HttpResponse): Promise<void> {
  await streamedBody(resp)?.[Symbol.asyncIterator]().return?.();
}

/** Throws on invalid status or header (callers fall back to a 500). */
export function prepareResponse(resp: HttpResponse, method: string): PreparedResponse {
  const status = resp.status;
  if (!Number.isInteger(status) || status < 100 || status > 999)
    throw new RangeError(`invalid HTTP status ${status}`);
  const headers: [string, string][] = [];
  let declaredLength: number | undefined;
  let closeConnection = false;
  for (const [name, value] of Object.entries(resp.headers ?? {})) {
    validateHeaderName(name);
    validateHeaderValue(name, value);
    const lower = name.toLowerCase();
    if (lower === 'content-length') declaredLength = Number(value);
    else if (lower === 'connection') closeConnection ||= /\bclose\b/i.test(value);
    else if (lower !== 'transfer-encoding') headers.push([name, String(value)]);
  }
  const raw = streamedBody(resp) ? undefined : (resp.body as string | Uint8Array | undefined);
  const body =
    raw === undefined
      ? Buffer.alloc(0)
      : typeof raw === 'string'
        ? Buffer.from(raw, 'utf8')
        : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const bodiless = status < 200 || status === 204 || status === 304;
  const head = method === 'HEAD';
  // A HEAD handler may state the GET length without building the body.
  const contentLength = bodiless
    ? undefined
    : head && body.length === 0 && declaredLength !== undefined && Number.isSafeInteger(declaredLength)
      ? declaredLength
      : body.length;
  return {
    statusLine: `${status} ${STATUS_CODES[status] ?? 'Unknown'}`,
    headers,
    contentLength,
    body: bodiless || head ? undefined : body,
    closeConnection,
  };
}

/** A response for a raw socket (a refused upgrade in the ws transport). */
export function serializeResponse(p: PreparedResponse): Buffer {
  let head = `HTTP/1.1 ${p.statusLine}\r\n`;
  for (const [name, value] of p.headers) head += `${name}: ${value}\r\n`;
  if (p.contentLength !== undefined) head += `content-length: ${p.contentLength}\r\n`;
  head += 'connection: close\r\n\r\n';
  return p.body ? Buffer.concat([Buffer.from(head, 'latin1'), p.body]) : Buffer.from(head, 'latin1');
}

/** IPv4 (also IPv4-mapped IPv6) as dotted quad, IPv6 compressed, from 4 or 16 raw bytes. */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join('.');
  if (bytes.length !== 16) return '';
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return bytes.subarray(12).join('.');
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  // The WHATWG URL parser emits the canonical (RFC 5952) IPv6 form.
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

export function normalizeAddress(address: string | undefined): string {
  if (!address) return '';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1] : address;
}

const VALID_CLOSE = (code: number) =>
  Number.isInteger(code) &&
  ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999));

/** Cuts a close reason to the 123 bytes a close frame allows, on a character boundary. */
export function truncateReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let out = '';
  let bytes = 0;
  for (const ch of reason) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > 123) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/**
 * The transport-independent half of a connection: send-result mapping, drain bookkeeping, and a close handler
 * that runs exactly once, asynchronously, with the code the server chose if it closed first.
 */
export abstract class BaseConnection<C> implements WsConnection {
  readonly id = randomUUID();
  private finished = false;
  private closeInfo: { code: number; reason: string } | undefined;
  private drainOwed = false;
  /** The raw socket is gone; the raw object must not be touched any more. */
  protected socketGone = false;

  constructor(
    readonly remoteAddress: string,
    readonly context: C,
    protected readonly handlers: WsHandlers<C>,
    protected readonly maxBackpressure: number,
    protected readonly log: TransportLog,
    private readonly onFinished: (conn: BaseConnection<C>) => void,
  ) {}

  get isOpen(): boolean {
    return !this.finished;
  }

  protected abstract rawSend(data: string | Uint8Array, binary: boolean): boolean;
  protected abstract rawBuffered(): number;
  protected abstract rawClose(code: number, reason: string): void;
  protected abstract rawTerminate(): void;
  /** Called when a drain is owed, for transports without a native drain event. */
  protected watchDrain(): void {}
  /** Called once when the connection finishes, before the close handler is scheduled. */
  protected cleanup(): void {}

  send(data: string | Uint8Array, binary: boolean = typeof data !== 'string'): SendResult {
    if (this.finished || this.socketGone) return 'dropped';
    if (this.maxBackpressure > 0 && this.rawBuffered() > this.maxBackpressure)
      return this.oweDrain('dropped');
    if (!this.rawSend(data, binary)) return this.oweDrain('dropped');
    if (this.rawBuffered() > this.maxBackpressure) return this.oweDrain('backpressure');
    return 'ok';
  }

  bufferedAmount(): number {
    return this.socketGone ? 0 : this.rawBuffered();
  }

  close(code: number, reason = ''): void {
    if (!VALID_CLOSE(code)) {
      throw new RangeError(`invalid WebSocket close code ${code}: use 1000-1003, 1007-1014 or 3000-4999`);
    }
    if (this.finished || this.socketGone) return;
    const r = truncateReason(reason);
    this.closeInfo = { code, reason: r };
    this.rawClose(code, r);
    this.finish(code, r);
  }

  terminate(): void {
    if (!this.socketGone) this.rawTerminate();
    this.finish(1006, '');
  }

  /** Raw socket closed (peer close frame, drop, timeout). */
  protected socketClosed(code: number, reason: string): void {
    this.socketGone = true;
    this.finish(code, reason);
  }

  /** The transport closed the connection itself with this code (e.g. 1009), without our close(). */
  protected failed(code: number, reason: string): void {
    this.closeInfo ??= { code, reason };
    this.finish(code, reason);
  }

  /** Deliver a message unless closing; handler errors close with 1011 instead of reaching the event loop. */
  protected deliver(data: ArrayBuffer | string, isBinary: boolean): void {
    if (this.finished) return;
    try {
      this.handlers.message(this, this.context, data, isBinary);
    } catch (err) {
      this.handlerFailed('message', err);
    }
  }

  protected opened(): void {
    try {
      this.handlers.open(this, this.context);
    } catch (err) {
      this.handlerFailed('open', err);
    }
  }

  checkDrain(): void {
    if (!this.drainOwed || this.finished || this.socketGone) return;
    if (this.maxBackpressure > 0 ? this.rawBuffered() > this.maxBackpressure : this.rawBuffered() > 0) return;
    this.drainOwed = false;
    try {
      this.handlers.drain?.(this, this.context);
    } catch (err) {
      this.handlerFailed('drain', err);
    }
  }

  protected get drainPending(): boolean {
    return this.drainOwed && !this.finished && !this.socketGone;
  }

  private oweDrain(result: SendResult): SendResult {
    if (!this.drainOwed) {
      this.drainOwed = true;
      this.watchDrain();
    }
    return result;
  }

  private handlerFailed(what: string, err: unknown): void {
    this.log.warn(
      `websocket ${what} handler failed on ${this.id}: ${err instanceof Error ? err.stack : err}`,
    );
    if (!this.finished) this.close(closeCode('INTERNAL'), 'internal error');
  }

  private finish(code: number, reason: string): void {
    if (this.finished) return;
    this.finished = true;
    const info = this.closeInfo ?? { code, reason };
    this.cleanup();
    this.onFinished(this);
    setImmediate(() => {
      try {
        this.handlers.close(this, this.context, info.code, info.reason);
      } catch (err) {
        this.log.warn(
          `websocket close handler failed on ${this.id}: ${err instanceof Error ? err.stack : err}`,
        );
      }
    });
  }
}

// uWebSockets.js transport. uWS objects are only valid inside their callbacks: everything the app may need later
// is copied out synchronously, every async path guards on onAborted, and writes after an await are corked.
// Over 400 lines on purpose: one library's HTTP, upgrade and WebSocket lifecycle in one file, read beside ws.ts.

import { createRequire } from 'node:module';
import type * as UWS from '@trufflesuite/uws-js-unofficial';
import { closeCode } from '../errors.js';
import {
  BodyTooLargeError,
  ListenError,
  RequestAbortedError,
  TransportUnavailableError,
  type HttpRequest,
  type HttpResponse,
  type Transport,
  type TransportLog,
  type TransportOptions,
  type WsHandlers,
} from './types.js';
import {
  BaseConnection,
  DEFAULT_MAX_BACKPRESSURE,
  defaultLog,
  errorMessage,
  formatIp,
  headersTooLarge,
  invoke,
  MAX_HEADER_BYTES,
  prepareResponse,
  responseForError,
  dropUnread,
  streamedBody,
  validateIdleTimeout,
  type PreparedResponse,
} from './base.js';
import { BodyCollector } from './body.js';

// Present in this build but missing from its typings: the exclusive-port listen flag and overload, app.close().
type Uws = typeof UWS & { LIBUS_LISTEN_EXCLUSIVE_PORT: number };
type App = UWS.TemplatedApp & {
  close?: () => void;
  listen(
    host: string,
    port: number,
    options: number,
    cb: (listenSocket: UWS.us_listen_socket | false) => void,
  ): UWS.TemplatedApp;
};

let binding: Uws | TransportUnavailableError | undefined;

/** Loads the native binding or throws TransportUnavailableError. */
export function loadUwsBinding(): Uws {
  if (binding === undefined) {
    try {
      // The package entry silently swaps in a slow JS emulation when no binary matches this Node.js; require the
      // binary itself so that a mismatch is an error and we fall back to our own ws transport instead.
      const require = createRequire(import.meta.url);
      const file = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
      binding = require(`@trufflesuite/uws-js-unofficial/binaries/${file}`) as Uws;
    } catch (err) {
      binding = new TransportUnavailableError(errorMessage(err).split('\n')[0]);
    }
  }
  if (binding instanceof Error) throw binding;
  return binding;
}

/** uWS drops over-long messages with a bare TCP close (1006), so it gets a higher ceiling and we send 1009. */
export function uwsPayloadCeiling(maxPayloadBytes: number): number {
  return Math.min(Math.max(maxPayloadBytes * 4, 16 * 1024 * 1024), 0x7fffffff);
}

/** Reasons uWS gives its close handler when it drops a connection for a protocol error. */
const UWS_DROP_CODES: Record<string, number> = {
  'Received too big message': closeCode('PAYLOAD_TOO_LARGE'),
  'Received invalid UTF-8': closeCode('INVALID_UTF8'),
};

interface UserData<C> {
  context: C;
  remoteAddress: string;
  conn?: UwsConnection<C>;
}

/** An HTTP or upgrade request in flight. */
interface Pending {
  res: UWS.HttpResponse;
  request: HttpRequest;
  body: BodyCollector;
  controller: AbortController;
  /** Answered, upgraded or aborted: res must not be touched. */
  done: boolean;
}

class UwsConnection<C> extends BaseConnection<C> {
  constructor(
    private readonly ws: UWS.WebSocket<UserData<C>>,
    private readonly maxPayloadBytes: number,
    handlers: WsHandlers<C>,
    maxBackpressure: number,
    log: TransportLog,
    onFinished: (conn: BaseConnection<C>) => void,
  ) {
    const data = ws.getUserData();
    super(data.remoteAddress, data.context, handlers, maxBackpressure, log, onFinished);
  }

  protected rawSend(data: string | Uint8Array, binary: boolean): boolean {
    let status = 2;
    this.ws.cork(() => {
      status = this.ws.send(data, binary, false);
    });
    return status !== 2;
  }

  protected rawBuffered(): number {
    return this.ws.getBufferedAmount();
  }

  protected rawClose(code: number, reason: string): void {
    this.ws.end(code, reason);
  }

  protected rawTerminate(): void {
    this.ws.close();
  }

  handleOpen(): void {
    this.opened();
  }

  handleMessage(message: ArrayBuffer, isBinary: boolean): void {
    if (message.byteLength > this.maxPayloadBytes) {
      this.close(closeCode('PAYLOAD_TOO_LARGE'), 'message too big');
      return;
    }
    // uWS neuters the ArrayBuffer when this callback returns.
    this.deliver(isBinary ? message.slice(0) : Buffer.from(message).toString('utf8'), isBinary);
  }

  handleClose(code: number, message: ArrayBuffer): void {
    const reason = Buffer.from(message).toString('utf8');
    // uWS drops the TCP connection without a close frame on these (the client sees 1006, and nothing here can
    // change that); the app at least learns what happened.
    const dropped = code === 1006 ? UWS_DROP_CODES[reason] : undefined;
    if (dropped) {
      this.socketGone = true;
      this.failed(dropped, reason);
    } else this.socketClosed(code, reason);
  }
}

/** About what node:http counts against its header limit: the request line and every header line. */
function headerBytes(r: HttpRequest): number {
  let n = r.method.length + r.path.length + r.query.toString().length + 12;
  for (const [name, value] of Object.entries(r.headers)) n += name.length + value.length + 4;
  return n;
}

export class UwsTransport<C> implements Transport {
  readonly kind = 'uws' as const;
  private readonly uws: Uws;
  private readonly app: App;
  private readonly log: TransportLog;
  private readonly maxBackpressure: number;
  private listenSocket: UWS.us_listen_socket | undefined;
  private readonly pending = new Set<Pending>();
  private readonly conns = new Set<BaseConnection<C>>();
  private closing: Promise<void> | undefined;

  constructor(
    private readonly opts: TransportOptions<C>,
    log: TransportLog = defaultLog,
  ) {
    this.uws = loadUwsBinding();
    this.log = log;
    this.maxBackpressure = opts.ws.maxBackpressureBytes ?? DEFAULT_MAX_BACKPRESSURE;
    const idleTimeout = validateIdleTimeout(opts.ws.idleTimeoutSec);
    const { handlers, maxPayloadBytes } = opts.ws;
    this.app = this.uws.App() as App;
    this.app.ws<UserData<C>>(opts.ws.path, {
      compression: this.uws.DISABLED,
      maxPayloadLength: uwsPayloadCeiling(maxPayloadBytes),
      maxBackpressure: this.maxBackpressure,
      closeOnBackpressureLimit: 0,
      idleTimeout,
      sendPingsAutomatically: true,
      upgrade: (res, req, context) => this.onUpgrade(res, req, context),
      open: (ws) => {
        const data = ws.getUserData();
        const conn = new UwsConnection(ws, maxPayloadBytes, handlers, this.maxBackpressure, this.log, (c) =>
          this.conns.delete(c),
        );
        data.conn = conn;
        this.conns.add(conn);
        conn.handleOpen();
      },
      message: (ws, message, isBinary) => ws.getUserData().conn?.handleMessage(message, isBinary),
      drain: (ws) => ws.getUserData().conn?.checkDrain(),
      close: (ws, code, message) => ws.getUserData().conn?.handleClose(code, message),
    });
    this.app.any('/*', (res, req) => this.onHttp(res, req));
  }

  listen(): Promise<{ port: number }> {
    const { host, port } = this.opts;
    return new Promise((resolve, reject) => {
      // Exclusive: by default uSockets sets SO_REUSEPORT, and a second server would silently share the port.
      this.app.listen(host, port, this.uws.LIBUS_LISTEN_EXCLUSIVE_PORT, (socket) => {
        if (!socket) {
          reject(new ListenError(host, port, 'address in use or not available'));
          return;
        }
        this.listenSocket = socket;
        resolve({ port: this.uws.us_socket_local_port(socket) });
      });
    });
  }

  stopAccepting(): void {
    if (this.listenSocket) {
      this.uws.us_listen_socket_close(this.listenSocket);
      this.listenSocket = undefined;
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopAccepting();
      for (const p of [...this.pending]) {
        this.settle(p);
        p.res.close();
      }
      for (const conn of [...this.conns]) conn.terminate();
      // Idle keep-alive HTTP sockets are not tracked by us; this closes them so the process can exit.
      this.app.close?.();
      // Close handlers are dispatched with setImmediate; let them run before resolving.
      await new Promise((r) => setImmediate(r));
    })();
    return this.closing;
  }

  connectionCount(): number {
    return this.conns.size;
  }

  private begin(res: UWS.HttpResponse, req: UWS.HttpRequest, readBody: boolean): Pending {
    const controller = new AbortController();
    const headers: Record<string, string> = {};
    req.forEach((name, value) => {
      headers[name] = Object.hasOwn(headers, name) ? `${headers[name]}, ${value}` : value;
    });
    const declared = headers['content-length'] === undefined ? NaN : Number(headers['content-length']);
    const p: Pending = {
      res,
      controller,
      done: false,
      body: new BodyCollector(
        {
          pause: () => {
            if (!p.done) res.pause();
          },
          resume: () => {
            if (!p.done) res.resume();
          },
        },
        Number.isSafeInteger(declared) ? declared : undefined,
      ),
      request: {
        method: req.getMethod().toUpperCase(),
        path: req.getUrl(),
        query: new URLSearchParams(req.getQuery() ?? ''),
        headers,
        remoteAddress: formatIp(new Uint8Array(res.getRemoteAddress())),
        body: (limit) => p.body.read(limit),
        stream: (limit, opts) => p.body.stream(limit, opts),
        signal: controller.signal,
      },
    };
    res.onAborted(() => {
      if (p.done) {
        this.pending.delete(p);
        return;
      }
      this.settle(p);
    });
    // uWS reports the end of an empty body only after the handler returns; know it now so a quick answer can
    // keep the connection alive.
    const hasBody =
      (Number.isSafeInteger(declared) && declared > 0) ||
      /\bchunked\b/i.test(headers['transfer-encoding'] ?? '');
    if (readBody && hasBody) {
      res.onData((chunk, isLast) => {
        p.body.push(new Uint8Array(chunk), false, isLast);
      });
    } else {
      p.body.end();
    }
    this.pending.add(p);
    return p;
  }

  /** The request is over without a normal answer: nothing may touch res any more. */
  private settle(p: Pending): void {
    p.done = true;
    this.pending.delete(p);
    p.body.abort();
    p.controller.abort();
  }

  private onHttp(res: UWS.HttpResponse, req: UWS.HttpRequest): void {
    const p = this.begin(res, req, true);
    if (headerBytes(p.request) > MAX_HEADER_BYTES) {
      this.respond(p, headersTooLarge());
      return;
    }
    invoke(() => this.opts.http(p.request))
      .then(
        (resp) => this.respond(p, resp),
        (err: unknown) => this.fail(p, err),
      )
      .catch((err: unknown) => this.broken(p, err));
  }

  private onUpgrade(res: UWS.HttpResponse, req: UWS.HttpRequest, context: UWS.us_socket_context_t): void {
    // req is invalid once this function returns: read the handshake headers now.
    const key = req.getHeader('sec-websocket-key');
    const extensions = req.getHeader('sec-websocket-extensions');
    const p = this.begin(res, req, false);
    if (headerBytes(p.request) > MAX_HEADER_BYTES) {
      this.respond(p, headersTooLarge());
      return;
    }
    invoke(() => this.opts.ws.handlers.upgrade(p.request))
      .then(
        (decision) => {
          if (p.done) return;
          if (!decision.accept) {
            this.respond(p, decision.response);
            return;
          }
          p.done = true;
          this.pending.delete(p);
          const data: UserData<C> = { context: decision.context, remoteAddress: p.request.remoteAddress };
          res.cork(() => res.upgrade(data, key, decision.protocol ?? '', extensions, context));
        },
        (err: unknown) => this.fail(p, err),
      )
      .catch((err: unknown) => this.broken(p, err));
  }

  /** A bug on our side (or a malformed decision) must not become an unhandled rejection. */
  private broken(p: Pending, err: unknown): void {
    this.log.warn(`transport error on ${p.request.method} ${p.request.path}: ${errorMessage(err)}`);
    if (!p.done) {
      this.settle(p);
      p.res.close();
    }
  }

  private fail(p: Pending, err: unknown): void {
    if (p.done) return;
    if (!(err instanceof BodyTooLargeError) && !(err instanceof RequestAbortedError)) {
      this.log.warn(
        `${p.request.method} ${p.request.path} failed: ${err instanceof Error ? err.stack : String(err)}`,
      );
    }
    this.respond(p, responseForError(err));
  }

  /**
   * A streamed body: chunked, each chunk written as it comes (the head goes with the first). The request stays pending (not done) meanwhile, so a
   * client that leaves aborts its signal, and the iteration stops at the next chunk.
   */
  private stream(p: Pending, out: PreparedResponse, chunks: AsyncIterable<Uint8Array>): void {
    const { res } = p;
    res.cork(() => {
      res.writeStatus(out.statusLine);
      for (const [name, value] of out.headers) res.writeHeader(name, value);
      if (out.closeConnection || !p.body.complete) res.writeHeader('connection', 'close');
    });
    void (async () => {
      try {
        for await (const chunk of chunks) {
          if (p.done) break;
          res.cork(() => res.write(chunk));
        }
        if (!p.done) {
          p.done = true;
          this.pending.delete(p);
          res.cork(() => res.end());
        }
      } catch (err) {
        this.log.warn(`${p.request.method} ${p.request.path}: streamed body failed: ${errorMessage(err)}`);
        if (!p.done) {
          this.settle(p);
          res.close();
        }
      }
    })();
  }

  private respond(p: Pending, resp: HttpResponse): void {
    if (p.done) return void dropUnread(resp);
    let out: PreparedResponse;
    try {
      out = prepareResponse(resp, p.request.method);
    } catch (err) {
      this.log.warn(`${p.request.method} ${p.request.path}: invalid response: ${errorMessage(err)}`);
      out = prepareResponse(responseForError(err), p.request.method);
    }
    const chunks = streamedBody(resp);
    if (chunks && out.body) {
      this.stream(p, out, chunks);
      return;
    }
    p.done = true;
    this.pending.delete(p);
    // An unread body would be parsed as the next request: close instead.
    const closeConnection = out.closeConnection || !p.body.complete;
    const { res } = p;
    res.cork(() => {
      res.writeStatus(out.statusLine);
      for (const [name, value] of out.headers) res.writeHeader(name, value);
      if (out.body) {
        res.end(out.body, closeConnection);
      } else {
        // Any argument to endWithoutBody() in this build writes a bogus content-length and stalls the
        // connection, so write the headers literally (the client then closes on 'connection: close').
        if (out.contentLength !== undefined) res.writeHeader('content-length', String(out.contentLength));
        if (closeConnection) res.writeHeader('connection', 'close');
        res.endWithoutBody();
      }
    });
  }
}

// Fallback transport: node:http + ws. Mirrors the uWS transport's behaviour, including send results, drain and
// 1009 on oversize messages, so the app cannot tell them apart. Over 400 lines on purpose: one library's HTTP,
// upgrade and WebSocket lifecycle in one file, read side by side with uws.ts.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  BodyTooLargeError,
  ListenError,
  RequestAbortedError,
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
  headersTooLarge,
  invoke,
  jsonError,
  MAX_HEADER_BYTES,
  normalizeAddress,
  prepareResponse,
  responseForError,
  serializeResponse,
  dropUnread,
  streamedBody,
  validateIdleTimeout,
  type PreparedResponse,
} from './base.js';
import { BodyCollector } from './body.js';
import { closeCode } from '../errors.js';

const DRAIN_POLL_MS = 20;
/** Bytes a client may send before its upgrade is decided (it should send none). */
const MAX_EARLY_BYTES = 64 * 1024;

// ws reports protocol errors as an 'error' event and then closes with the matching code itself.
const WS_ERROR_CLOSE_CODES: Record<string, number> = {
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: closeCode('PAYLOAD_TOO_LARGE'),
  WS_ERR_INVALID_UTF8: closeCode('INVALID_UTF8'),
  WS_ERR_TOO_MANY_BUFFERED_PARTS: closeCode('TOO_MANY_FRAGMENTS'),
};

class WsConnection<C> extends BaseConnection<C> {
  private drainTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private lastHeard = Date.now();

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Duplex,
    remoteAddress: string,
    context: C,
    handlers: WsHandlers<C>,
    maxBackpressure: number,
    idleTimeoutSec: number,
    log: TransportLog,
    onFinished: (conn: BaseConnection<C>) => void,
  ) {
    super(remoteAddress, context, handlers, maxBackpressure, log, onFinished);
    ws.binaryType = 'arraybuffer';
    ws.on('message', (data: ArrayBuffer, isBinary: boolean) => {
      this.lastHeard = Date.now();
      this.deliver(isBinary ? data : Buffer.from(data).toString('utf8'), isBinary);
    });
    ws.on('error', (err: Error & { code?: string }) => {
      this.failed(WS_ERROR_CLOSE_CODES[err.code ?? ''] ?? closeCode('PROTOCOL_ERROR'), '');
    });
    ws.on('close', (code: number, reason: Buffer) => this.socketClosed(code, reason.toString('utf8')));
    ws.on('pong', () => (this.lastHeard = Date.now()));
    ws.on('ping', () => (this.lastHeard = Date.now()));
    socket.on('drain', () => this.checkDrain());
    if (idleTimeoutSec > 0) this.startIdleTimer(idleTimeoutSec * 1000);
  }

  handleOpen(): void {
    this.opened();
  }

  protected rawSend(data: string | Uint8Array, binary: boolean): boolean {
    // uWS copies what it queues; ws would keep a reference to the caller's bytes.
    this.ws.send(typeof data === 'string' ? data : Buffer.from(data), { binary, compress: false });
    return true;
  }

  protected rawBuffered(): number {
    return this.ws.bufferedAmount;
  }

  protected rawClose(code: number, reason: string): void {
    this.ws.close(code, reason);
  }

  protected rawTerminate(): void {
    this.ws.terminate();
  }

  /** The socket's 'drain' only fires after a write crossed its high-water mark, so also poll while owed. */
  protected override watchDrain(): void {
    if (this.drainTimer) return;
    this.drainTimer = setInterval(() => {
      this.checkDrain();
      if (!this.drainPending) {
        clearInterval(this.drainTimer);
        this.drainTimer = undefined;
      }
    }, DRAIN_POLL_MS);
  }

  /** Like uWS: ping at half the timeout, drop the connection when nothing was heard for the whole of it. */
  private startIdleTimer(timeoutMs: number): void {
    this.idleTimer = setInterval(() => {
      const silent = Date.now() - this.lastHeard;
      if (silent >= timeoutMs) this.terminate();
      else if (silent >= timeoutMs / 2 && !this.socketGone) this.ws.ping();
    }, timeoutMs / 4);
    this.idleTimer.unref();
  }

  protected override cleanup(): void {
    clearInterval(this.drainTimer);
    clearInterval(this.idleTimer);
    this.drainTimer = this.idleTimer = undefined;
  }
}

function pathOf(url: string | undefined): [string, string] {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q < 0 ? [u, ''] : [u.slice(0, q), u.slice(q + 1)];
}

export class WsTransport<C> implements Transport {
  readonly kind = 'ws' as const;
  private readonly server: Server;
  private readonly wss: WebSocketServer;
  private readonly log: TransportLog;
  private readonly maxBackpressure: number;
  private readonly idleTimeoutSec: number;
  /** Open as far as the app knows. */
  private readonly conns = new Set<BaseConnection<C>>();
  /** Every ws socket not yet fully closed, including those in their closing handshake. */
  private readonly sockets = new Set<WebSocket>();
  /** Upgrade requests awaiting the app's decision. */
  private readonly pendingUpgrades = new Set<Duplex>();
  private readonly chosenProtocol = new WeakMap<IncomingMessage, string | false>();
  private serverClosed: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly opts: TransportOptions<C>,
    log: TransportLog = defaultLog,
  ) {
    this.log = log;
    this.maxBackpressure = opts.ws.maxBackpressureBytes ?? DEFAULT_MAX_BACKPRESSURE;
    this.idleTimeoutSec = validateIdleTimeout(opts.ws.idleTimeoutSec);
    this.server = createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (req, res) => this.onHttp(req, res));
    // Node answers parse errors itself (431 for oversized headers, 400 otherwise) with no body; send our JSON.
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) =>
      this.onClientError(err, socket),
    );
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.onUpgrade(req, socket, head),
    );
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: opts.ws.maxPayloadBytes,
      handleProtocols: (_offered, req) => this.chosenProtocol.get(req) ?? false,
    });
  }

  listen(): Promise<{ port: number }> {
    const { host, port } = this.opts;
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) =>
        reject(new ListenError(host, port, err.code ?? err.message));
      this.server.once('error', onError);
      this.server.listen({ host, port, exclusive: true }, () => {
        this.server.off('error', onError);
        const address = this.server.address();
        resolve({ port: typeof address === 'object' && address ? address.port : port });
      });
    });
  }

  stopAccepting(): void {
    if (!this.server.listening) return;
    this.serverClosed ??= new Promise((resolve) => this.server.close(() => resolve()));
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopAccepting();
      for (const socket of [...this.pendingUpgrades]) socket.destroy();
      this.pendingUpgrades.clear();
      for (const conn of [...this.conns]) conn.terminate();
      for (const ws of [...this.sockets]) ws.terminate();
      this.server.closeAllConnections();
      await this.serverClosed;
      await new Promise((r) => setImmediate(r));
    })();
    return this.closing;
  }

  connectionCount(): number {
    return this.conns.size;
  }

  /** A streamed body, chunk by chunk (waiting for drain); stopped when the client leaves. */
  private async pipeChunks(chunks: AsyncIterable<Uint8Array>, res: ServerResponse, request: HttpRequest) {
    try {
      for await (const chunk of chunks) {
        if (res.destroyed) break;
        if (!res.write(chunk)) {
          await new Promise<void>((resolve) => {
            res.once('drain', resolve);
            res.once('close', resolve);
          });
        }
      }
      if (!res.destroyed) res.end();
    } catch (err) {
      this.logFailure(request, err);
      res.destroy();
    }
  }

  private makeRequest(req: IncomingMessage, body: BodyCollector, controller: AbortController): HttpRequest {
    const headers: Record<string, string> = {};
    // headersDistinct keeps repeats (req.headers drops some), joined the way uWS reports them.
    for (const [name, values] of Object.entries(req.headersDistinct)) {
      if (values) headers[name] = values.join(', ');
    }
    const [path, query] = pathOf(req.url);
    return {
      method: (req.method ?? 'GET').toUpperCase(),
      path,
      query: new URLSearchParams(query),
      headers,
      remoteAddress: normalizeAddress(req.socket.remoteAddress),
      body: (limit) => body.read(limit),
      stream: (limit, opts) => body.stream(limit, opts),
      signal: controller.signal,
    };
  }

  private onHttp(req: IncomingMessage, res: ServerResponse): void {
    const controller = new AbortController();
    const declared =
      req.headers['content-length'] === undefined ? NaN : Number(req.headers['content-length']);
    const body = new BodyCollector(
      { pause: () => req.pause(), resume: () => req.resume() },
      Number.isSafeInteger(declared) ? declared : undefined,
    );
    req.on('data', (chunk: Buffer) => body.push(chunk, true));
    req.on('end', () => body.end());
    req.on('close', () => body.abort());
    res.on('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    const request = this.makeRequest(req, body, controller);
    const respond = (resp: HttpResponse) => {
      if (res.headersSent || res.destroyed) return void dropUnread(resp);
      const out = this.prepare(resp, request);
      const headers: Record<string, string | number> = {};
      for (const [name, value] of out.headers) headers[name] = value;
      if (out.contentLength !== undefined) headers['content-length'] = out.contentLength;
      // An unread body would be parsed as the next request: close instead.
      if (out.closeConnection || !body.complete) headers['connection'] = 'close';
      const chunks = streamedBody(resp);
      if (chunks && out.body) {
        delete headers['content-length'];
        res.writeHead(Number(out.statusLine.slice(0, 3)), out.statusLine.slice(4), headers);
        res.flushHeaders();
        void this.pipeChunks(chunks, res, request);
        return;
      }
      res.writeHead(Number(out.statusLine.slice(0, 3)), out.statusLine.slice(4), headers);
      res.end(out.body);
    };
    invoke(() => this.opts.http(request))
      .then(respond, (err: unknown) => {
        this.logFailure(request, err);
        respond(responseForError(err));
      })
      .catch((err: unknown) => {
        this.log.warn(`transport error on ${request.method} ${request.path}: ${errorMessage(err)}`);
        res.destroy();
      });
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Errors on a socket nobody listens to would crash the process.
    const ignore = () => {};
    socket.on('error', ignore);
    const controller = new AbortController();
    const body = new BodyCollector({ pause: () => {}, resume: () => {} }, undefined);
    body.end();
    const request = this.makeRequest(req, body, controller);
    // Node stops reading an upgrade socket, so a client that leaves would go unnoticed; read it (keeping
    // whatever arrives for ws) to see the FIN while the decision is pending.
    const early: Buffer[] = [head];
    let earlyBytes = head.length;
    const onData = (chunk: Buffer) => {
      early.push(chunk);
      earlyBytes += chunk.length;
      if (earlyBytes > MAX_EARLY_BYTES) socket.destroy();
    };
    const gone = () => {
      this.pendingUpgrades.delete(socket);
      controller.abort();
      socket.destroy();
    };
    const unwatch = () => {
      socket.off('data', onData);
      socket.off('end', gone);
      socket.off('close', gone);
      this.pendingUpgrades.delete(socket);
    };
    socket.on('data', onData);
    socket.once('end', gone);
    socket.once('close', gone);
    const refuse = (resp: HttpResponse) => {
      unwatch();
      if (socket.destroyed) return;
      socket.once('finish', () => socket.destroy());
      socket.end(serializeResponse(this.prepare(resp, request)));
    };
    const fail = (err: unknown) => {
      this.logFailure(request, err);
      refuse(responseForError(err));
    };
    // A bug on our side (or a malformed decision) must not become an unhandled rejection.
    const broken = (err: unknown) => {
      this.log.warn(`transport error on ${request.method} ${request.path}: ${errorMessage(err)}`);
      unwatch();
      socket.destroy();
    };
    if (request.path !== this.opts.ws.path || req.headers.upgrade?.toLowerCase() !== 'websocket') {
      // uWS hands these to the HTTP handler too.
      this.pendingUpgrades.add(socket);
      invoke(() => this.opts.http(request))
        .then(refuse, fail)
        .catch(broken);
      return;
    }
    this.pendingUpgrades.add(socket);
    invoke(() => this.opts.ws.handlers.upgrade(request))
      .then((decision) => {
        if (controller.signal.aborted || socket.destroyed || this.closing) {
          socket.destroy();
          return;
        }
        if (!decision.accept) {
          refuse(decision.response);
          return;
        }
        // No pause here: ws attaches its own 'data' listener synchronously and would not resume a paused socket.
        unwatch();
        this.chosenProtocol.set(req, decision.protocol ?? false);
        this.wss.handleUpgrade(req, socket, Buffer.concat(early), (ws) => {
          socket.off('error', ignore);
          this.onOpen(ws, socket, request.remoteAddress, decision.context);
        });
      }, fail)
      .catch(broken);
  }

  private onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    if (!socket.writable || (socket as Socket & { _httpMessage?: unknown })._httpMessage) {
      socket.destroy();
      return;
    }
    const resp =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? headersTooLarge()
        : jsonError(400, 'bad_request', `malformed HTTP request (${err.code ?? err.message})`);
    socket.once('finish', () => socket.destroy());
    socket.end(serializeResponse(prepareResponse(resp, 'GET')));
  }

  private onOpen(ws: WebSocket, socket: Duplex, remoteAddress: string, context: C): void {
    (socket as Socket).setNoDelay?.(true);
    this.sockets.add(ws);
    ws.once('close', () => this.sockets.delete(ws));
    const conn = new WsConnection(
      ws,
      socket,
      remoteAddress,
      context,
      this.opts.ws.handlers,
      this.maxBackpressure,
      this.idleTimeoutSec,
      this.log,
      (c) => this.conns.delete(c),
    );
    this.conns.add(conn);
    conn.handleOpen();
  }

  private prepare(resp: HttpResponse, request: HttpRequest): PreparedResponse {
    try {
      return prepareResponse(resp, request.method);
    } catch (err) {
      this.log.warn(`${request.method} ${request.path}: invalid response: ${errorMessage(err)}`);
      return prepareResponse(responseForError(err), request.method);
    }
  }

  private logFailure(request: HttpRequest, err: unknown): void {
    if (err instanceof BodyTooLargeError || err instanceof RequestAbortedError) return;
    this.log.warn(
      `${request.method} ${request.path} failed: ${err instanceof Error ? err.stack : String(err)}`,
    );
  }
}

// A small app on top of the transport interface plus ws/http clients, shared by the transport tests.

import http from 'node:http';
import { once } from 'node:events';
import WebSocket from 'ws';
import { createTransport } from '../../../server/transport/index.js';
import type {
  HttpRequest,
  HttpResponse,
  Transport,
  TransportWsOptions,
  UpgradeDecision,
  WsConnection,
} from '../../../server/transport/index.js';

export const KINDS = ['uws', 'ws'] as const;
export const WS_PATH = '/v1/listen';
export const MAX_PAYLOAD = 64 * 1024;

export interface Ctx {
  user: string;
  offered: string;
}

export interface ClosedEvent {
  conn: WsConnection;
  code: number;
  reason: string;
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

export const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Bounded wait for a condition driven by I/O (fails the test instead of hanging). */
export async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}

export class Server {
  transport!: Transport;
  port = 0;
  readonly warnings: string[] = [];
  readonly opened: { conn: WsConnection; context: Ctx }[] = [];
  readonly messages: { conn: WsConnection; data: ArrayBuffer | string; isBinary: boolean }[] = [];
  readonly closed: ClosedEvent[] = [];
  readonly drains: WsConnection[] = [];
  readonly upgradeRequests: HttpRequest[] = [];
  /** POST /stream: bytes received after each chunk. */
  readonly streamed: number[] = [];
  /** Upgrades with ?mode=hold wait for this. */
  hold = deferred<UpgradeDecision<Ctx>>();
  echo = true;

  constructor(
    readonly kind: (typeof KINDS)[number],
    private readonly wsOptions: Partial<TransportWsOptions<Ctx>> = {},
  ) {}

  get url(): string {
    return `ws://127.0.0.1:${this.port}${WS_PATH}`;
  }

  async start(port = 0): Promise<this> {
    this.transport = await createTransport<Ctx>(
      this.kind,
      {
        host: '127.0.0.1',
        port,
        http: (req) => this.http(req),
        ws: {
          path: WS_PATH,
          maxPayloadBytes: MAX_PAYLOAD,
          idleTimeoutSec: 0,
          ...this.wsOptions,
          handlers: {
            upgrade: (req) => this.upgrade(req),
            open: (conn, context) => {
              this.opened.push({ conn, context });
            },
            message: (conn, _context, data, isBinary) => {
              this.messages.push({ conn, data, isBinary });
              if (data === 'throw') throw new Error('message handler exploded');
              if (this.echo)
                conn.send(isBinary ? new Uint8Array(data as ArrayBuffer) : (data as string), isBinary);
            },
            drain: (conn) => {
              this.drains.push(conn);
            },
            close: (conn, _context, code, reason) => {
              this.closed.push({ conn, code, reason });
            },
          },
        },
      },
      { warn: (msg) => this.warnings.push(msg) },
    );
    this.port = (await this.transport.listen()).port;
    return this;
  }

  private async http(req: HttpRequest): Promise<HttpResponse> {
    const json = (status: number, value: unknown, headers: Record<string, string> = {}): HttpResponse => ({
      status,
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(value),
    });
    switch (`${req.method} ${req.path}`) {
      case 'GET /meta':
      case 'DELETE /meta':
        return json(
          200,
          {
            method: req.method,
            path: req.path,
            query: [...req.query.entries()],
            headers: req.headers,
            remoteAddress: req.remoteAddress,
          },
          { 'x-test': 'yes' },
        );
      case 'POST /echo': {
        const body = await req.body(8 * 1024 * 1024);
        return { status: 200, headers: { 'x-body-length': String(body.length) }, body };
      }
      case 'POST /late-echo': {
        // Reading the body only after an await: the transport must have kept (and paused) it meanwhile.
        await delay(50);
        const body = await req.body(8 * 1024 * 1024);
        return { status: 200, headers: { 'x-body-length': String(body.length) }, body };
      }
      case 'POST /stream': {
        // Streams the body, recording each chunk as it arrives; ?limit= bytes.
        let total = 0;
        for await (const chunk of req.stream(Number(req.query.get('limit') ?? 8 * 1024 * 1024))) {
          total += chunk.length;
          this.streamed.push(total);
        }
        return json(200, { total });
      }
      case 'POST /slow': {
        // Reads the body, then takes ?ms to answer (a long transcription).
        let total = 0;
        for await (const chunk of req.stream(64 * 1024 * 1024)) total += chunk.length;
        await delay(Number(req.query.get('ms')));
        return json(200, { total });
      }
      case 'POST /small':
        await req.body(1024);
        return json(200, { ok: true });
      case 'GET /throw':
        throw new Error('boom');
      case 'GET /text':
      case 'HEAD /text':
        return { status: 200, headers: { 'content-type': 'text/plain' }, body: 'hello world' };
      case 'GET /empty':
        return { status: 204 };
      case `GET ${WS_PATH}`:
        return json(426, { error: { code: 'upgrade_required', message: 'use a WebSocket' } });
      default:
        return json(404, { error: { code: 'not_found', message: `${req.method} ${req.path}` } });
    }
  }

  private async upgrade(req: HttpRequest): Promise<UpgradeDecision<Ctx>> {
    this.upgradeRequests.push(req);
    const offered = req.headers['sec-websocket-protocol'] ?? '';
    switch (req.query.get('mode')) {
      case 'refuse':
        return {
          accept: false,
          response: {
            status: 400,
            headers: { 'content-type': 'application/json', 'dg-error': 'invalid sample_rate' },
            body: JSON.stringify({
              error: { code: 'bad_request', message: 'sample_rate must be 8000..48000' },
            }),
          },
        };
      case 'busy':
        return {
          accept: false,
          response: {
            status: 503,
            headers: { 'retry-after': '5', 'content-type': 'application/json' },
            body: JSON.stringify({ error: { code: 'overloaded', message: 'try later' } }),
          },
        };
      case 'throw':
        throw new Error('upgrade exploded');
      case 'badheader':
        // Header injection attempt: must become a 500, not a split response.
        return { accept: false, response: { status: 400, headers: { 'x-bad': 'a\r\nx-injected: 1' } } };
      case 'hold':
        return this.hold.promise;
    }
    await delay(1); // decisions are asynchronous in the real app (auth, admission)
    return {
      accept: true,
      protocol: offered.split(',')[0]?.trim() === 'token' ? 'token' : undefined,
      context: { user: req.query.get('user') ?? 'anon', offered },
    };
  }

  async close(): Promise<void> {
    await this.transport?.close();
  }
}

export async function withServer(
  kind: (typeof KINDS)[number],
  fn: (s: Server) => Promise<void>,
  wsOptions: Partial<TransportWsOptions<Ctx>> = {},
): Promise<void> {
  const s = new Server(kind, wsOptions);
  await s.start();
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

export function connect(url: string, protocols?: string[]): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
  });
}

export function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) throw new Error('already closed');
  return once(ws, 'close').then(([code, reason]) => ({ code: code as number, reason: String(reason) }));
}

export interface Inbox {
  next(): Promise<{ data: Buffer; isBinary: boolean }>;
}

/** Queues a client's messages (ws may emit several in one tick, so once('message') could miss some). */
export function inbox(ws: WebSocket): Inbox {
  const queue: { data: Buffer; isBinary: boolean }[] = [];
  const waiters: ((m: { data: Buffer; isBinary: boolean }) => void)[] = [];
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    const m = { data, isBinary };
    const w = waiters.shift();
    if (w) w(m);
    else queue.push(m);
  });
  return {
    next: () => {
      const m = queue.shift();
      return m ? Promise.resolve(m) : new Promise((r) => waiters.push(r));
    },
  };
}

export interface Refusal {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Attempts an upgrade that the server is expected to refuse; resolves with the HTTP response. */
export function refusal(url: string, protocols?: string[]): Promise<Refusal> {
  const ws = new WebSocket(url, protocols);
  return new Promise((resolve, reject) => {
    ws.once('open', () => reject(new Error('upgrade unexpectedly accepted')));
    ws.once('error', (err) => reject(err));
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        req.destroy();
      });
    });
  });
}

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export function request(
  port: number,
  opts: { method?: string; path: string; headers?: Record<string, string>; body?: Buffer; chunks?: Buffer[] },
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: opts.method ?? 'GET',
        path: opts.path,
        headers: opts.headers,
        agent: false,
      },
      (res) => {
        answered = true;
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }),
        );
        res.on('error', reject);
      },
    );
    // Once answered, a server that stopped reading our upload may reset the connection: not an error here.
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    if (opts.chunks) {
      void (async () => {
        for (const chunk of opts.chunks!) {
          if (answered || req.destroyed) return;
          if (!req.write(chunk)) await once(req, 'drain');
          await new Promise((r) => setImmediate(r));
        }
        req.end();
      })().catch(() => {});
    } else {
      req.end(opts.body);
    }
  });
}

import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { AdmissionController, Decision } from './scheduling/admission.js';
import type { VadModel } from '../models/vad/silero.js';
import type { Metrics } from './metrics.js';
import type { InferenceScheduler } from './scheduling/scheduler.js';
import type { ServerConfig } from './config.js';
import { parseListenParams, type ListenParams } from './params.js';
import { transcriptionsHandler } from './http/transcriptions.js';
import { sessionsHandler } from './http/sessions.js';
import { prerecordedHandler, type FileTranscriber } from './http/listen.js';
import type { ModelInfo } from './protocol.js';
import { DEFAULT_SESSION_CONFIG, StreamSession, type SessionConfig } from './stream/session.js';
import type { SessionRecord, StoredFinal, TranscriptStore } from './store/types.js';
import { createTransport } from './transport/index.js';
import { type HttpRequest, type HttpResponse, type Transport, type WsConnection } from './transport/types.js';
import { ApiError, errorResponse } from './errors.js';
import { pageResponse } from './http/page.js';

export interface AppDeps {
  config: ServerConfig;
  log: Logger;
  scheduler: InferenceScheduler;
  vad: VadModel;
  store: TranscriptStore;
  model: ModelInfo;
  /** Whole-file transcription for the pre-recorded routes; stops its work when the signal aborts. */
  transcribe: FileTranscriber;
  /** File transcriptions running at once (each holds its decoded audio); default 2. */
  maxFileJobs?: number;
  encodePrompt?: (text: string) => number[];
  session?: Partial<SessionConfig>;
  admission: AdmissionController;
  metrics: Metrics;
}

interface StreamContext {
  id: string;
  params: ListenParams;
  /** The stored record when this connection continues an earlier session. */
  resumed?: SessionRecord;
  /** Finals after the client's resume_from, re-sent first. */
  replay: StoredFinal[];
  session?: StreamSession;
}

/**
 * The earshot server: HTTP routes and /v1/listen streams over one transport. Owns the live sessions and the
 * shutdown sequence; inference goes through the shared scheduler.
 */
export class EarshotApp {
  private transport: Transport | null = null;
  readonly sessions = new Map<string, StreamSession>();
  private draining = false;
  private readonly sessionConfig: SessionConfig;

  constructor(private readonly d: AppDeps) {
    this.sessionConfig = {
      ...DEFAULT_SESSION_CONFIG,
      interimIntervalMs: d.config.interimIntervalMs,
      idleTimeoutMs: d.config.idleTimeoutMs,
      flushTimeoutMs: d.config.flushTimeoutMs,
      ...d.session,
    };
  }

  get transportKind(): string {
    return this.transport?.kind ?? 'none';
  }

  /**
   * Capacity check: draining, then admission control (the stream cap, queued finals, the load priced by each
   * stream's parameters). With a joining stream's parameters it is counted; without (/readyz) it is only asked.
   */
  admit(params?: ListenParams): Decision {
    if (this.draining) return { ok: false, reason: 'server is draining', retryAfterSeconds: 5 };
    return params ? this.d.admission.admit(params) : this.d.admission.decide();
  }

  async start(): Promise<{ port: number }> {
    const { config, log } = this.d;
    this.transport = await createTransport<StreamContext>(
      config.transport,
      {
        host: config.host,
        port: config.port,
        http: (req) => this.http(req),
        ws: {
          path: '/v1/listen',
          maxPayloadBytes: config.maxFrameBytes,
          // The session sheds interims past its own bound (1 MiB); finals that cannot be queued below this mean the
          // client does not read, and the session closes it with 1008 (its finals are stored for a resume).
          maxBackpressureBytes: SEND_QUEUE_LIMIT_BYTES,
          handlers: {
            upgrade: (req) => this.upgrade(req),
            open: (conn, ctx) => this.open(conn, ctx),
            message: (_conn, ctx, data, isBinary) => {
              if (!ctx.session) return;
              if (isBinary) ctx.session.onAudio(new Uint8Array(data as ArrayBuffer));
              else ctx.session.onText(data as string);
            },
            close: (_conn, ctx) => ctx.session?.onClientClose(),
          },
        },
      },
      { warn: (m) => log.warn(m) },
    );
    return this.transport.listen();
  }

  private async upgrade(req: HttpRequest) {
    const requestId = randomUUID();
    // Refusals before the upgrade: the error table's JSON body and dg-error, plus Deepgram's dg-request-id.
    const refuse = (err: unknown) => ({
      accept: false as const,
      response: errorResponse(err, { 'dg-request-id': requestId }),
    });
    let params: ListenParams;
    try {
      params = parseListenParams(req.query, { endpointingMs: this.d.config.endpointingMs });
    } catch (err) {
      return refuse(err);
    }
    const admission = this.admit(params);
    if (!admission.ok) {
      this.d.metrics.refused.inc({ reason: admission.reason.split(/[:(]/)[0].trim() });
      return refuse(
        new ApiError('OVERLOADED', admission.reason, { retryAfterSeconds: admission.retryAfterSeconds }),
      );
    }
    if (params.session && !(await this.previousConnectionDone(params.session))) {
      const message = `session ${params.session} is still streaming on another connection`;
      return refuse(new ApiError('SESSION_LIVE', message, { dgError: `session: ${message}` }));
    }
    if (this.draining) return refuse(new ApiError('OVERLOADED', 'server is draining'));
    const resumed = params.session ? await this.d.store.get(params.session) : undefined;
    if (params.resumeFrom !== undefined && !resumed) {
      const message = `no session ${params.session} to resume`;
      return refuse(new ApiError('SESSION_NOT_FOUND', message, { dgError: `session: ${message}` }));
    }
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
    return {
      accept: true as const,
      protocol: offered.includes('token') ? 'token' : undefined,
      context: {
        id: params.session ?? requestId,
        params,
        resumed,
        replay:
          resumed && params.resumeFrom !== undefined
            ? await this.d.store.finals(resumed.id, params.resumeFrom)
            : [],
      } as StreamContext,
    };
  }

  /**
   * A client that dropped and reconnected at once finds its previous connection still flushing (decoding what it
   * received into the store): wait for that, bounded, so the resume sees every final. A live one answers at once.
   */
  private async previousConnectionDone(id: string): Promise<boolean> {
    const previous = this.sessions.get(id);
    if (!previous) return true;
    if (!previous.flushing) return false;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      previous.whenDone(),
      new Promise((r) => (timer = setTimeout(r, RESUME_WAIT_MS))),
    ]).finally(() => clearTimeout(timer));
    return !this.sessions.has(id);
  }

  private open(conn: WsConnection, ctx: StreamContext): void {
    const { log } = this.d;
    const session = new StreamSession({
      id: ctx.id,
      params: ctx.params,
      config: this.sessionConfig,
      model: this.d.model,
      vad: this.d.vad,
      store: this.d.store,
      scheduler: this.d.scheduler,
      encodePrompt: this.d.encodePrompt,
      interimBackoff: () => this.d.admission.interimBackoff(),
      observe: {
        result: (kind, lag) => this.d.metrics.result(kind, lag),
        audio: (seconds) => this.d.metrics.audioReceived.inc(seconds),
      },
      send: (msg) => conn.send(JSON.stringify(msg), false),
      bufferedAmount: () => conn.bufferedAmount(),
      close: (code, reason) => conn.close(code, reason),
      log,
      onEnd: (s) => {
        if (this.sessions.get(s.id) === s) this.sessions.delete(s.id);
      },
      // A resumed session continues its seq numbering, and its clock from the committed time: the client
      // re-sends its audio from there (committed_until in the opening Metadata).
      timeOffset: ctx.resumed?.committed,
      seqStart: ctx.resumed?.lastSeq,
      resumed: ctx.resumed !== undefined,
    });
    ctx.session = session;
    this.sessions.set(session.id, session);
    this.d.metrics.opened.inc();
    void this.d.store.open({
      id: session.id,
      subject: '',
      created: ctx.resumed?.created ?? new Date().toISOString(),
      status: 'live',
      duration: ctx.resumed?.duration ?? 0,
      committed: ctx.resumed?.committed ?? 0,
      lastSeq: ctx.resumed?.lastSeq ?? 0,
      params: { ...ctx.params },
    });
    const p = ctx.params;
    log.info(
      {
        session: session.id,
        encoding: p.encoding,
        sample_rate: p.sampleRate,
        channels: p.channels,
        language: p.language ?? 'auto',
        interim_results: p.interimResults,
        endpointing: p.endpointing,
        ignored: p.ignored,
        resumed_from: p.resumeFrom,
      },
      'stream opened',
    );
    session.start();
    session.replay(ctx.replay);
  }

  async http(req: HttpRequest): Promise<HttpResponse> {
    const requestId = randomUUID();
    const res = await this.route(req);
    res.headers = { 'dg-request-id': requestId, ...res.headers };
    return res;
  }

  private async route(req: HttpRequest): Promise<HttpResponse> {
    const { method, path } = req;
    if (path === '/healthz') return json(200, { status: 'ok' });
    if (path === '/favicon.ico') return { status: 204 };
    if (path === '/' || path === '/index.html') {
      return pageResponse();
    }
    if (path === '/readyz') {
      const a = this.admit();
      return a.ok
        ? json(200, { status: 'ready', streams: this.sessions.size })
        : json(503, { status: 'not ready', reason: a.reason });
    }
    if (path === '/metrics') {
      const m = await this.d.metrics.render();
      return { status: 200, headers: { 'content-type': m.contentType }, body: m.body };
    }
    if (path.startsWith('/v1/sessions/')) {
      return sessionsHandler(req, this.d.store, (id) => this.sessions.get(id));
    }
    if (path === '/v1/audio/transcriptions') {
      if (method !== 'POST') {
        return errorResponse(new ApiError('METHOD', 'POST a multipart form with the audio file'));
      }
      return this.fileJob(() =>
        transcriptionsHandler(req, {
          maxBodyBytes: this.d.config.maxBodyBytes,
          transcribe: this.d.transcribe,
        }),
      );
    }
    if (path === '/v1/listen') {
      if (method !== 'POST') {
        const how = 'use a WebSocket upgrade (live) or POST with an audio body (pre-recorded)';
        return errorResponse(new ApiError(method === 'GET' ? 'UPGRADE_REQUIRED' : 'METHOD', how));
      }
      return this.fileJob(() =>
        prerecordedHandler(req, {
          maxBodyBytes: this.d.config.maxBodyBytes,
          endpointingMs: this.d.config.endpointingMs,
          model: this.d.model,
          transcribe: this.d.transcribe,
        }),
      );
    }
    return errorResponse(new ApiError('NOT_FOUND', `no route for ${method} ${path}`));
  }

  /** File transcriptions running now. */
  fileJobs = 0;

  /**
   * A file shares the engine with the streams: the same admission decides (503 + Retry-After when it does not
   * fit, before the body is read), and at most maxFileJobs run at once.
   */
  private async fileJob(run: () => Promise<HttpResponse>): Promise<HttpResponse> {
    const limit = this.d.maxFileJobs ?? 2;
    const a: Decision =
      this.fileJobs >= limit
        ? { ok: false, reason: `at the file job limit (${limit} at once)`, retryAfterSeconds: 5 }
        : this.admit();
    if (!a.ok) {
      this.d.metrics.refused.inc({ reason: a.reason.split(/[:(]/)[0].trim() });
      return errorResponse(new ApiError('OVERLOADED', a.reason, { retryAfterSeconds: a.retryAfterSeconds }));
    }
    this.fileJobs++;
    try {
      return await run();
    } finally {
      this.fileJobs--;
    }
  }

  /**
   * SIGTERM: refuse new streams, finalize every live one and deliver its finals; each closes 1001 once done or at
   * the deadline (its reason then says what was not decoded), so this returns within timeoutMs.
   */
  async drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    this.transport?.stopAccepting();
    const deadline = Date.now() + timeoutMs;
    await Promise.all([...this.sessions.values()].map((s) => s.drain(deadline)));
  }

  async close(): Promise<void> {
    this.draining = true;
    await this.transport?.close();
  }
}

/** Per-connection send queue: a few MiB above where sessions stop sending interims. */
const SEND_QUEUE_LIMIT_BYTES = 4 * 1024 * 1024;
/** How long a reconnecting client's upgrade waits for its previous connection to finish flushing. */
const RESUME_WAIT_MS = 10_000;

function json(status: number, body: unknown): HttpResponse {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

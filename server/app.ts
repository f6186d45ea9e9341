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
import { fileDiarizer, type FileDiarizer } from './http/diarized.js';
import type { SpeakerEmbedder } from '../models/speaker/embedding.js';
import type { ModelInfo } from './protocol.js';
import { DEFAULT_SESSION_CONFIG, StreamSession, type SessionConfig } from './stream/session.js';
import type { SessionRecord, StoredFinal, TranscriptStore } from './store/types.js';
import { createTransport } from './transport/index.js';
import { type HttpRequest, type HttpResponse, type Transport, type WsConnection } from './transport/types.js';
import { ApiError, errorResponse } from './errors.js';
import { pageResponse } from './http/page.js';
import { Guard } from './auth/guard.js';
import { canAccess, newSessionId, sessionKey } from './auth/ownership.js';
import { RefusalError, type Principal } from './auth/types.js';
import type { StreamLease, StreamStop } from './limits/limiter.js';
import { UsageLedger } from './limits/usage.js';
import { usageHandler } from './http/usage.js';
import { bytesPerSample } from '../audio/pcm.js';
import { SAMPLE_RATE } from '../audio/rate.js';

export interface AppDeps {
  config: ServerConfig;
  log: Logger;
  scheduler: InferenceScheduler;
  vad: VadModel;
  store: TranscriptStore;
  model: ModelInfo;
  /** Whole-file transcription for the pre-recorded routes; stops its work when the signal aborts. */
  transcribe: FileTranscriber;
  /** Speaker embeddings for live diarize=true (built once at start-up); absent: live streams get no labels. */
  speakerEmbedder?: SpeakerEmbedder;
  /** File transcriptions running at once (each holds its decoded audio); default 2. */
  maxFileJobs?: number;
  encodePrompt?: (text: string) => number[];
  session?: Partial<SessionConfig>;
  admission: AdmissionController;
  metrics: Metrics;
  /** Auth, Origin checks and limits; default: auth off (loopback clients only), no limits. */
  guard?: Guard;
  usage?: UsageLedger;
}

interface StreamContext {
  /** The session's store key: its id scoped to the principal's subject. */
  id: string;
  principal: Principal;
  /** The stream's concurrency slot, audio budget and deadline. */
  lease: StreamLease;
  /** A limit crossed mid-stream: the session flushes its finals, then closes with this instead of 1000. */
  stop?: StreamStop;
  deadline?: NodeJS.Timeout;
  params: ListenParams;
  /** The stored record when this connection continues an earlier session. */
  resumed?: SessionRecord;
  /** Who holds the session in a store shared by replicas (`replica/connection`), and its renewal timer. */
  holder: string;
  renewal?: NodeJS.Timeout;
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
  /** This process among the replicas sharing a store: the prefix of the session leases it holds. */
  private readonly replica = randomUUID().slice(0, 8);
  private readonly sessionConfig: SessionConfig;
  readonly guard: Guard;
  readonly usage: UsageLedger;

  /** Speakers for the file routes (diarize=true, diarized_json, known speakers); without an embedder, refused. */
  private readonly fileDiarizer?: FileDiarizer;

  constructor(private readonly d: AppDeps) {
    this.fileDiarizer = d.speakerEmbedder && fileDiarizer(d.vad, d.speakerEmbedder);
    this.guard = d.guard ?? Guard.default();
    this.usage = d.usage ?? new UsageLedger();
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
              if (!isBinary) ctx.session.onText(data as string);
              else if (!ctx.stop) {
                const bytes = new Uint8Array(data as ArrayBuffer);
                this.chargeStream(ctx, bytes.length);
                ctx.session.onAudio(bytes);
              }
            },
            close: (_conn, ctx) => {
              clearTimeout(ctx.deadline);
              void ctx.lease.release();
              ctx.session?.onClientClose();
            },
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
    const who = await this.guard.upgrade(req, { 'dg-request-id': requestId });
    if (!who.ok) return { accept: false as const, response: who.response };
    const { principal } = who;
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
    // Client-chosen ids live in the subject's own namespace; the server picks 128 random bits.
    const key = sessionKey(principal.subject, params.session ?? newSessionId());
    if (params.session && !(await this.previousConnectionDone(key))) {
      const message = `session ${params.session} is still streaming on another connection`;
      return refuse(new ApiError('SESSION_LIVE', message, { dgError: `session: ${message}` }));
    }
    if (this.draining)
      return refuse(
        new ApiError(
          'SHUTTING_DOWN',
          'server is draining: reconnect (a sticky balancer sends you to another replica)',
        ),
      );
    const storeDown = this.storeDown();
    if (storeDown) return refuse(storeDown);
    const found = params.session ? await this.d.store.get(key) : undefined;
    // Another subject's session is not found, whatever its id (never confirm that it exists).
    const resumed = found && canAccess(principal, found) ? found : undefined;
    if ((params.resumeFrom !== undefined || found) && !resumed) {
      const message = `no session ${params.session} to resume`;
      return refuse(new ApiError('SESSION_NOT_FOUND', message, { dgError: `session: ${message}` }));
    }
    const replay =
      resumed && params.resumeFrom !== undefined ? await this.d.store.finals(key, params.resumeFrom) : [];
    // The subject's stream slot, then the session's claim: the lease is released when the stream closes, if the
    // claim fails, or if the upgrade never opens.
    const lease = await this.guard.limiter.openStream(principal.subject);
    if (!('release' in lease)) {
      return {
        accept: false as const,
        response: this.guard.deny(lease, { 'dg-request-id': requestId }).response,
      };
    }
    const holder = `${this.replica}/${requestId}`;
    const claimed = await this.claimSession(key, holder);
    if (claimed) {
      void lease.release();
      return refuse(claimed);
    }
    req.signal.addEventListener('abort', () => void lease.release(), { once: true });
    const context: StreamContext = { id: key, principal, lease, params, resumed, replay, holder };
    return { accept: true as const, protocol: who.protocol, context };
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

  /** Not ready for a new stream while the store could not keep its finals (Redis unreachable). */
  private storeDown(): ApiError | undefined {
    if (this.d.store.available?.() !== false) return undefined;
    const why = 'transcript store unavailable (Redis unreachable): new streams are refused until it returns';
    return new ApiError('STORE_UNAVAILABLE', why, { retryAfterSeconds: 5 });
  }

  /** One live connection per session across replicas (stores shared by replicas): the refusal, or none. */
  private async claimSession(key: string, holder: string): Promise<ApiError | undefined> {
    const ok = await this.d.store.lease?.(key, holder, SESSION_LEASE_MS).catch(() => 'down' as const);
    if (ok === 'down')
      return this.storeDown() ?? new ApiError('STORE_UNAVAILABLE', 'transcript store unavailable');
    if (ok !== false) return undefined;
    const message = `session ${key} is streaming on another replica`;
    return new ApiError('SESSION_LIVE', message, { dgError: `session: ${message}` });
  }

  /** Keeps the session's lease while it lives (decoding after the client left included), then frees it. */
  private holdSession(ctx: StreamContext): void {
    const { store, log } = this.d;
    if (!store.lease) return;
    ctx.renewal = setInterval(() => {
      void store.lease!(ctx.id, ctx.holder, SESSION_LEASE_MS).then(
        (ok) => ok || log.warn({ session: ctx.id }, 'session lease taken by another replica'),
        () => undefined, // Redis away: the lease outlives a short outage; a longer one ends the stream anyway
      );
    }, SESSION_LEASE_MS / 3);
    ctx.renewal.unref();
  }

  private releaseSession(ctx: StreamContext): void {
    clearInterval(ctx.renewal);
    void this.d.store.release?.(ctx.id, ctx.holder);
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
      embedder: this.d.speakerEmbedder,
      interimBackoff: () => this.d.admission.interimBackoff(),
      observe: {
        result: (kind, lag) => this.d.metrics.result(kind, lag),
        audio: (seconds) => this.d.metrics.audioReceived.inc(seconds),
        labelled: (seconds) => this.d.metrics.speakerLabelling.inc(seconds),
      },
      send: (msg) => conn.send(JSON.stringify(msg), false),
      bufferedAmount: () => conn.bufferedAmount(),
      // A limit's stop goes through the CloseStream path (every final, then Metadata): its 1000 becomes the 1008.
      close: (code, reason) =>
        ctx.stop && code === 1000 ? conn.close(ctx.stop.code, ctx.stop.reason) : conn.close(code, reason),
      log,
      onEnd: (s) => {
        this.releaseSession(ctx);
        if (this.sessions.get(s.id) === s) this.sessions.delete(s.id);
        this.d.admission.ended(s.params);
      },
      // A resumed session continues its seq numbering, and its clock from the committed time: the client
      // re-sends its audio from there (committed_until in the opening Metadata).
      timeOffset: ctx.resumed?.committed,
      // Past the stored lastSeq when the client saw later (empty) finals, whose seq is not written at once.
      seqStart: ctx.resumed && Math.max(ctx.resumed.lastSeq, ctx.params.resumeFrom ?? 0),
      speakers: ctx.resumed?.speakers,
      resumed: ctx.resumed !== undefined,
    });
    ctx.session = session;
    this.sessions.set(session.id, session);
    this.d.metrics.opened.inc();
    this.usage.stream(ctx.principal.subject);
    this.armDeadline(ctx);
    this.holdSession(ctx);
    const stored = this.d.store.open({
      id: session.id,
      subject: ctx.principal.subject,
      created: ctx.resumed?.created ?? new Date().toISOString(),
      status: 'live',
      duration: ctx.resumed?.duration ?? 0,
      committed: ctx.resumed?.committed ?? 0,
      lastSeq: ctx.resumed?.lastSeq ?? 0,
      params: { ...ctx.params },
      speakers: ctx.resumed?.speakers,
    });
    stored.catch((err: unknown) => {
      log.error({ session: session.id, err: (err as Error).message }, 'transcript store: session not opened');
      conn.close(1011, 'transcript store unavailable');
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

  /** Audio seconds of a chunk: charged to the subject's budget (a crossed limit stops the stream) and counted. */
  private chargeStream(ctx: StreamContext, bytes: number): void {
    const p = ctx.params;
    const seconds = bytes / (bytesPerSample(p.encoding) * p.channels) / p.sampleRate;
    const subject = ctx.principal.subject;
    this.usage.audio(subject, seconds);
    this.d.metrics.subjectAudioSeconds(subject, seconds);
    void ctx.lease.addAudio(seconds).then((stop) => stop && this.stopStream(ctx, stop));
  }

  /** The max session duration: a timer that stops the stream once the lease says it is over. */
  private armDeadline(ctx: StreamContext): void {
    const ms = ctx.lease.msUntilDeadline();
    if (!Number.isFinite(ms)) return;
    ctx.deadline = setTimeout(() => {
      const stop = ctx.lease.checkDeadline();
      if (stop) this.stopStream(ctx, stop);
      else this.armDeadline(ctx);
    }, ms);
  }

  /** A limit crossed mid-stream: no more audio is taken, the finals so far are delivered, then 1008 with why. */
  private stopStream(ctx: StreamContext, stop: StreamStop): void {
    if (ctx.stop || !ctx.session) return;
    ctx.stop = stop;
    this.guard.count(stop.reason.split(':')[0]);
    this.d.log.info({ session: ctx.id, reason: stop.reason }, 'stream stopped by a limit');
    ctx.session.onText(JSON.stringify({ type: 'CloseStream' }));
  }

  async http(req: HttpRequest): Promise<HttpResponse> {
    const requestId = randomUUID();
    const who = await this.guard.http(req);
    const res = who.ok ? await this.route(req, who.principal) : who.response;
    res.headers = { 'dg-request-id': requestId, ...this.guard.cors.headers(req), ...res.headers };
    return res;
  }

  private async route(req: HttpRequest, principal: Principal): Promise<HttpResponse> {
    const { method, path } = req;
    if (path === '/healthz') return json(200, { status: 'ok' });
    if (path === '/favicon.ico') return { status: 204 };
    if (path === '/' || path === '/index.html') {
      return pageResponse();
    }
    if (path === '/readyz') {
      const down = this.storeDown();
      const a: Decision = down ? { ok: false, reason: down.message, retryAfterSeconds: 5 } : this.admit();
      return a.ok
        ? json(200, { status: 'ready', streams: this.sessions.size })
        : json(503, { status: 'not ready', reason: a.reason });
    }
    if (path === '/metrics') {
      const m = await this.d.metrics.render();
      return { status: 200, headers: { 'content-type': m.contentType }, body: m.body };
    }
    if (path.startsWith('/v1/sessions/')) {
      return sessionsHandler(req, principal, this.d.store, (key) => this.sessions.get(key));
    }
    if (path === '/v1/usage') return usageHandler(req, principal, this.usage);
    if (path === '/v1/audio/transcriptions') {
      if (method !== 'POST') {
        return errorResponse(new ApiError('METHOD', 'POST a multipart form with the audio file'));
      }
      return this.fileJob(principal, () =>
        transcriptionsHandler(req, {
          maxBodyBytes: this.d.config.maxBodyBytes,
          transcribe: this.charged(principal),
          diarize: this.fileDiarizer,
        }),
      );
    }
    if (path === '/v1/listen') {
      if (method !== 'POST') {
        const how = 'use a WebSocket upgrade (live) or POST with an audio body (pre-recorded)';
        return errorResponse(new ApiError(method === 'GET' ? 'UPGRADE_REQUIRED' : 'METHOD', how));
      }
      return this.fileJob(principal, () =>
        prerecordedHandler(req, {
          maxBodyBytes: this.d.config.maxBodyBytes,
          endpointingMs: this.d.config.endpointingMs,
          model: this.d.model,
          transcribe: this.charged(principal),
          diarize: this.fileDiarizer,
        }),
      );
    }
    return errorResponse(new ApiError('NOT_FOUND', `no route for ${method} ${path}`));
  }

  /** File transcriptions running now. */
  fileJobs = 0;

  /**
   * The subject's requests per minute first; then a file shares the engine with the streams: the same admission
   * decides (503 + Retry-After when it does not fit, before the body is read), and at most maxFileJobs run at once.
   */
  private async fileJob(principal: Principal, run: () => Promise<HttpResponse>): Promise<HttpResponse> {
    const over = await this.guard.limiter.admitRequest(principal.subject);
    if (over) return this.guard.deny(over).response;
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
    let streaming = false;
    try {
      const res = await run();
      const body = res.body;
      // A streamed answer (stream=true) is still transcribing: it holds its slot until the stream ends.
      if (body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array)) {
        streaming = true;
        return { ...res, body: this.holdingFileJob(body) };
      }
      return res;
    } catch (err) {
      if (err instanceof RefusalError) return this.guard.deny(err.refusal).response;
      throw err;
    } finally {
      if (!streaming) this.fileJobs--;
    }
  }

  /** The slot is released when the stream ends, fails or is stopped (return(): the transport drops it unread too). */
  private holdingFileJob(body: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
    let held = true;
    const release = () => {
      if (held) this.fileJobs--;
      held = false;
    };
    const it = body[Symbol.asyncIterator]();
    return {
      [Symbol.asyncIterator]: () => ({
        next: async () => {
          try {
            const r = await it.next();
            if (r.done) release();
            return r;
          } catch (err) {
            release();
            throw err;
          }
        },
        return: async (value?: unknown) => {
          release();
          return (await it.return?.(value)) ?? { done: true as const, value: undefined };
        },
      }),
    };
  }

  /** The file transcriber, charging the decoded audio to the subject's budget first (429 when it cannot). */
  private charged(principal: Principal): FileTranscriber {
    const subject = principal.subject;
    return async (audio, opts, signal) => {
      const seconds = audio.length / SAMPLE_RATE;
      const over = await this.guard.limiter.chargeAudio(subject, seconds);
      if (over) throw new RefusalError(over);
      this.usage.file(subject, seconds);
      this.d.metrics.subjectAudioSeconds(subject, seconds);
      return this.d.transcribe(audio, opts, signal);
    };
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
/** A shared store's session lease lives this long without renewal (a holder seen dead is taken over at once). */
const SESSION_LEASE_MS = 15_000;
/** How long a reconnecting client's upgrade waits for its previous connection to finish flushing. */
const RESUME_WAIT_MS = 10_000;

function json(status: number, body: unknown): HttpResponse {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

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
import {
  prerecordedHandler,
  type FileJobGate,
  type FileTranscriber,
  type UploadLimits,
} from './http/listen.js';
import { FileJobSlots, FileSlotsBusyError, releasedWhenDone } from './scheduling/file-jobs.js';
import { fileDiarizer, type FileDiarizer } from './http/diarized.js';
import type { SpeakerEmbedder } from '../models/speaker/embedding.js';
import type { ModelInfo } from './protocol.js';
import { DEFAULT_SESSION_CONFIG, StreamSession, type SessionConfig } from './stream/session.js';
import type { SessionRecord, StoredFinal, TranscriptStore } from './store/types.js';
import { createTransport } from './transport/index.js';
import { type HttpRequest, type HttpResponse, type Transport, type WsConnection } from './transport/types.js';
import { ApiError, errorResponse } from './errors.js';
import { pageResponse } from './http/page.js';
import { methodCheck } from './http/methods.js';
import { Guard } from './auth/guard.js';
import { canAccess, newSessionId, sessionKey } from './auth/ownership.js';
import { RefusalError, type Principal, type Refusal } from './auth/types.js';
import type { StreamLease, StreamStop } from './limits/limiter.js';
import { UsageLedger } from './limits/usage.js';
import { usageHandler } from './http/usage.js';
import { bytesPerSample } from '../audio/pcm.js';

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
  /** Whether the credential still holds (a revoked key, an expired JWT): re-checked while the stream lives. */
  recheck?: () => Promise<Refusal | undefined>;
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
  /**
   * Streams holding a --max-streams slot: open, or closed with their audio still decoding. A stream leaves once
   * its decoding is done, before its closing frame when it closes after its finals.
   */
  private readonly holding = new Map<StreamSession, StreamContext>();
  private recheckTimer?: NodeJS.Timeout;
  private stopRecheckOnReload?: () => void;
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
    this.fileSlots = new FileJobSlots(d.maxFileJobs ?? 2, FILE_SLOT_WAIT_MS);
    this.sessionConfig = {
      ...DEFAULT_SESSION_CONFIG,
      interimIntervalMs: d.config.interimIntervalMs,
      maxUtteranceSeconds: d.config.maxUtteranceSeconds,
      idleTimeoutMs: d.config.idleTimeoutMs,
      flushTimeoutMs: d.config.flushTimeoutMs,
      ...d.session,
    };
  }

  /** Streams counted against --max-streams (admission's probe). */
  get activeStreams(): number {
    return this.holding.size;
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
              // The stream's slot is freed once its audio is decoded (the session says when), not here.
              if (!ctx.session) void ctx.lease.release();
              else this.recordStreamed(ctx);
              ctx.session?.onClientClose();
            },
          },
        },
      },
      { warn: (m) => log.warn(m) },
    );
    this.watchCredentials();
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
    // Admitted: a later refusal (or an upgrade that never opens) gives the place back at once.
    const withdraw = () => this.d.admission.withdraw(params);
    const decision = await this.admitted(req, requestId, who, params).catch((err: unknown) => {
      withdraw();
      throw err;
    });
    if (!decision.accept || req.signal.aborted) withdraw();
    else req.signal.addEventListener('abort', withdraw, { once: true });
    return decision;
  }

  /** The upgrade's checks after admission control: the session (resume, claim) and the subject's limits. */
  private async admitted(
    req: HttpRequest,
    requestId: string,
    who: { principal: Principal; protocol?: string; recheck?: () => Promise<Refusal | undefined> },
    params: ListenParams,
  ) {
    const refuse = (err: unknown) => ({
      accept: false as const,
      response: errorResponse(err, { 'dg-request-id': requestId }),
    });
    const { principal } = who;
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
    // The subject's stream slot, then the session's claim: the lease is released when the stream's decoding is
    // done, if the claim fails, or if the upgrade never opens. A resume continues the session's length.
    const lease = await this.guard.limiter.openStream(principal.subject, resumed?.streamed ?? 0);
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
    if (req.signal.aborted) void lease.release();
    else req.signal.addEventListener('abort', () => void lease.release(), { once: true });
    const context: StreamContext = {
      id: key,
      principal,
      lease,
      recheck: who.recheck,
      params,
      resumed,
      replay,
      holder,
    };
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
    const session: StreamSession = new StreamSession({
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
      onDecoded: (): Promise<void> => this.freeSlots(session, ctx),
      onEnd: (s) => {
        this.releaseSession(ctx);
        if (this.sessions.get(s.id) === s) this.sessions.delete(s.id);
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
    this.holding.set(session, ctx);
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
      streamed: ctx.resumed?.streamed ?? 0,
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

  /** The stream's decoding is done: its --max-streams place and the subject's stream slot are free. */
  private async freeSlots(session: StreamSession, ctx: StreamContext): Promise<void> {
    if (!this.holding.delete(session)) return;
    this.d.admission.ended(session.params);
    await ctx.lease.release();
  }

  /** The connection's length, its earlier ones included: a resume continues the max session duration from it. */
  private recordStreamed(ctx: StreamContext): void {
    const streamed = Math.round(ctx.lease.elapsedSeconds() * 1000) / 1000;
    this.d.store.update(ctx.id, { streamed }).catch((err: unknown) => {
      this.d.log.warn({ session: ctx.id, err: (err as Error).message }, 'session length not stored');
    });
  }

  /**
   * Credentials are re-checked while streams live: every CREDENTIAL_RECHECK_MS and when the API keys file is
   * reloaded (a change, SIGHUP). A revoked key or an expired token stops its streams like a limit does.
   */
  private watchCredentials(): void {
    this.recheckTimer = setInterval(() => void this.recheckCredentials(), CREDENTIAL_RECHECK_MS);
    this.recheckTimer.unref();
    this.stopRecheckOnReload = this.guard.auth.keys?.onReload(() => void this.recheckCredentials());
  }

  /** Stops every live stream whose credential no longer holds: its finals so far, Metadata, then 1008 and why. */
  async recheckCredentials(): Promise<void> {
    await Promise.all(
      [...this.holding.values()].map(async (ctx) => {
        if (ctx.stop || !ctx.recheck) return;
        const r = await ctx.recheck().catch(() => undefined);
        // 401/403: the credential is refused now; 503 (a JWKS that cannot be fetched) says nothing about it.
        if (!r || (r.status !== 401 && r.status !== 403)) return;
        const code = r.code === 'INVALID_CREDENTIAL' ? 'CREDENTIAL_REVOKED' : r.code;
        this.stopStream(ctx, { code: 1008, reason: fitReason(`${code}: ${r.message}`) });
      }),
    );
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
    res.headers = { 'dg-request-id': requestId, ...this.guard.corsHeaders(req), ...res.headers };
    return res;
  }

  private async route(req: HttpRequest, principal: Principal): Promise<HttpResponse> {
    const { method, path } = req;
    const refused = methodCheck(method, path);
    if (refused) return refused;
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
      return this.fileJob(principal, req.signal, (gate) =>
        transcriptionsHandler(req, { ...this.uploads(), gate, diarize: this.fileDiarizer }),
      );
    }
    if (path === '/v1/listen') {
      if (method === 'GET') {
        const how = 'use a WebSocket upgrade (live) or POST with an audio body (pre-recorded)';
        return errorResponse(new ApiError('UPGRADE_REQUIRED', how));
      }
      return this.fileJob(principal, req.signal, (gate) =>
        prerecordedHandler(req, {
          ...this.uploads(),
          gate,
          endpointingMs: this.d.config.endpointingMs,
          model: this.d.model,
          diarize: this.fileDiarizer,
        }),
      );
    }
    return errorResponse(new ApiError('NOT_FOUND', `no route for ${method} ${path}`));
  }

  /** What both file routes are given: limits on the upload and its audio, and the transcriber. */
  private uploads(): UploadLimits & { transcribe: FileTranscriber } {
    const c = this.d.config;
    return {
      maxBodyBytes: c.maxBodyBytes,
      bodyTimeoutMs: c.bodyTimeoutMs,
      maxAudioSeconds: c.maxAudioSeconds,
      transcribe: this.d.transcribe,
    };
  }

  /** Engine slots of the file routes, taken once a request's body is in; fair per subject. */
  readonly fileSlots: FileJobSlots;

  /**
   * The subject's requests per minute first; then a file shares the engine with the streams: the same admission
   * decides (503 + Retry-After when it does not fit, before the body is read). The handler takes a file-job slot
   * through the gate only once the body is in and every field is checked, so a slow upload holds none.
   */
  private async fileJob(
    principal: Principal,
    signal: AbortSignal,
    run: (gate: FileJobGate) => Promise<HttpResponse>,
  ): Promise<HttpResponse> {
    const over = await this.guard.limiter.admitRequest(principal.subject);
    if (over) return this.guard.deny(over).response;
    const a = this.admit();
    if (!a.ok) return this.overloaded(a.reason, a.retryAfterSeconds);
    let release: (() => void) | undefined;
    const gate: FileJobGate = {
      slot: async () => {
        release ??= await this.fileSlots.acquire(principal.subject, signal);
      },
      charge: (seconds) => this.chargeFile(principal.subject, seconds),
    };
    try {
      const res = await run(gate);
      const body = res.body;
      // A streamed answer (stream=true) is still transcribing: it holds its slot until the stream ends.
      if (release && body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array)) {
        const held = release;
        release = undefined;
        return { ...res, body: releasedWhenDone(body, held) };
      }
      return res;
    } catch (err) {
      if (err instanceof RefusalError) return this.guard.deny(err.refusal).response;
      if (err instanceof FileSlotsBusyError) return this.overloaded(err.message, err.retryAfterSeconds);
      throw err;
    } finally {
      release?.();
    }
  }

  private overloaded(reason: string, retryAfterSeconds: number): HttpResponse {
    this.d.metrics.refused.inc({ reason: reason.split(/[:(]/)[0].trim() });
    return errorResponse(new ApiError('OVERLOADED', reason, { retryAfterSeconds }));
  }

  /** A file's audio seconds, charged to the subject's budget before it is decoded (429 when it cannot be). */
  private async chargeFile(subject: string, seconds: number): Promise<void> {
    const over = await this.guard.limiter.chargeAudio(subject, seconds);
    if (over) throw new RefusalError(over);
    this.usage.file(subject, seconds);
    this.d.metrics.subjectAudioSeconds(subject, seconds);
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
    clearInterval(this.recheckTimer);
    this.stopRecheckOnReload?.();
    await this.transport?.close();
  }
}

/** How long a received upload waits for a file-job slot before 503. */
const FILE_SLOT_WAIT_MS = 30_000;
/** Per-connection send queue: a few MiB above where sessions stop sending interims. */
const SEND_QUEUE_LIMIT_BYTES = 4 * 1024 * 1024;
/** A shared store's session lease lives this long without renewal (a holder seen dead is taken over at once). */
const SESSION_LEASE_MS = 15_000;
/** How long a reconnecting client's upgrade waits for its previous connection to finish flushing. */
const RESUME_WAIT_MS = 10_000;
/** How often live streams' credentials are checked again (revoked keys, expired tokens). */
const CREDENTIAL_RECHECK_MS = 30_000;

/** WebSocket close reasons hold 123 bytes. */
function fitReason(reason: string): string {
  const b = Buffer.from(reason);
  return b.length <= 123
    ? reason
    : b
        .subarray(0, 123)
        .toString()
        .replace(/\uFFFD$/, '');
}

function json(status: number, body: unknown): HttpResponse {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

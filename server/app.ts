import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { AdmissionController } from './scheduling/admission.js';
import type { VadModel } from '../models/vad/silero.js';
import type { Metrics } from './metrics.js';
import type { InferenceScheduler } from './scheduling/scheduler.js';
import type { ServerConfig } from './options.js';
import type { FileTranscriber } from './http/listen.js';
import { FileJobSlots } from './scheduling/file-jobs.js';
import type { LiveLabellers } from '../models/speaker/live-labels.js';
import type { SpeakerEmbedder } from '../models/speaker/embedding.js';
import { speakerModelId } from '../models/speaker/model-id.js';
import type { ModelInfo } from './protocol.js';
import { DEFAULT_SESSION_CONFIG, type SessionConfig } from './stream/session.js';
import type { LiveStream } from './stream/channels.js';
import type { TranscriptStore } from './store/types.js';
import { createTransport } from './transport/index.js';
import type { HttpRequest, HttpResponse, Transport } from './transport/types.js';
import { Guard } from './auth/guard.js';
import { UsageLedger } from './limits/usage.js';
import { Router } from './http/router.js';
import { earshotRoutes } from './routes.js';
import type { StreamContext } from './admission/context.js';
import { StreamAdmission } from './admission/upgrade.js';
import { LiveStreams } from './admission/live.js';

export interface AppDeps {
  config: ServerConfig;
  log: Logger;
  scheduler: InferenceScheduler;
  vad: VadModel;
  store: TranscriptStore;
  model: ModelInfo;
  /** The model's name when it is English-only: it cannot translate, and task=translate is refused naming it. */
  englishOnly?: string;
  /** Whole-file transcription for the pre-recorded routes; stops its work when the signal aborts. */
  transcribe: FileTranscriber;
  /** Speaker embeddings for live diarize=true (built once at start-up); absent: live streams get no labels. */
  speakerEmbedder?: SpeakerEmbedder;
  /** Where live labels are computed (serve.ts: a worker thread); default: in-process with speakerEmbedder. */
  liveLabels?: LiveLabellers;
  /** The embedder's model id, stored with voiceprints (default: models/speaker/model-id.ts speakerModelId). */
  speakerModelId?: string;
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

/** How long a received upload waits for a file-job slot before 503. */
const FILE_SLOT_WAIT_MS = 30_000;
/** Per-connection send queue: a few MiB above where sessions stop sending interims. */
const SEND_QUEUE_LIMIT_BYTES = 4 * 1024 * 1024;

/**
 * The earshot server: the transport wired to the HTTP routes (routes.ts) and to the /v1/listen streams (their
 * upgrade in admission/upgrade.ts, the live ones in admission/live.ts), and the shutdown sequence. Inference goes
 * through the shared scheduler.
 */
export class EarshotApp {
  private transport: Transport | null = null;
  readonly guard: Guard;
  readonly usage: UsageLedger;
  /** Engine slots of the file routes, taken once a request's body is in; fair per subject. */
  readonly fileSlots: FileJobSlots;
  private readonly streams: StreamAdmission;
  private readonly live: LiveStreams;
  private readonly router: Router;

  constructor(private readonly d: AppDeps) {
    this.guard = d.guard ?? Guard.default();
    this.usage = d.usage ?? new UsageLedger();
    this.fileSlots = new FileJobSlots(d.maxFileJobs ?? 2, FILE_SLOT_WAIT_MS);
    const { config } = d;
    this.streams = new StreamAdmission({
      guard: this.guard,
      admission: d.admission,
      metrics: d.metrics,
      store: d.store,
      endpointingMs: config.endpointingMs,
      englishOnly: d.englishOnly,
      speakerModelId: d.speakerEmbedder && (d.speakerModelId ?? speakerModelId(d.speakerEmbedder)),
      live: (key) => this.sessions.get(key),
    });
    this.live = new LiveStreams({
      ...d,
      streams: this.streams,
      guard: this.guard,
      usage: this.usage,
      sessionConfig: {
        ...DEFAULT_SESSION_CONFIG,
        interimIntervalMs: config.interimIntervalMs,
        maxUtteranceSeconds: config.maxUtteranceSeconds,
        earlyFinals: config.earlyFinals,
        idleTimeoutMs: config.idleTimeoutMs,
        flushTimeoutMs: config.flushTimeoutMs,
        ...d.session,
      },
    });
    this.router = new Router(
      earshotRoutes({
        ...d,
        guard: this.guard,
        usage: this.usage,
        fileSlots: this.fileSlots,
        uploads: {
          maxBodyBytes: config.maxBodyBytes,
          bodyTimeoutMs: config.bodyTimeoutMs,
          maxAudioSeconds: config.maxAudioSeconds,
        },
        endpointingMs: config.endpointingMs,
        admit: () => this.streams.admit(),
        storeDown: () => this.streams.storeDown(),
        live: (key) => this.sessions.get(key),
        liveCount: () => this.sessions.size,
      }),
    );
  }

  /** Live sessions by store key, until their decoding is done. */
  get sessions(): Map<string, LiveStream> {
    return this.live.sessions;
  }

  /** Streams counted against --max-streams (admission's probe). */
  get activeStreams(): number {
    return this.live.holdingSlots;
  }

  get transportKind(): string {
    return this.transport?.kind ?? 'none';
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
            upgrade: (req) => this.streams.upgrade(req),
            open: (conn, ctx) => this.live.open(conn, ctx),
            message: (_conn, ctx, data, isBinary) => this.live.message(ctx, data, isBinary),
            close: (_conn, ctx) => this.live.close(ctx),
          },
        },
      },
      { warn: (m) => log.warn(m) },
    );
    this.live.watchCredentials();
    return this.transport.listen();
  }

  async http(req: HttpRequest): Promise<HttpResponse> {
    const requestId = randomUUID();
    const who = await this.guard.http(req);
    const res = who.ok ? await this.router.handle(req, who.principal) : who.response;
    res.headers = { 'dg-request-id': requestId, ...this.guard.corsHeaders(req), ...res.headers };
    return res;
  }

  /**
   * SIGTERM: refuse new streams, finalize every live one and deliver its finals; each closes 1001 once done or at
   * the deadline (its reason then says what was not decoded), so this returns within timeoutMs.
   */
  async drain(timeoutMs: number): Promise<void> {
    this.streams.drain();
    this.transport?.stopAccepting();
    await this.live.drain(Date.now() + timeoutMs);
  }

  async close(): Promise<void> {
    this.streams.drain();
    this.live.stopWatching();
    await this.transport?.close();
  }
}

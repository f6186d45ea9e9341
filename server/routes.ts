// earshot's HTTP routes, each declared once with its methods and handler (the router answers 404, OPTIONS and
// 405). The file routes pass through the file-job gate first: the subject's request rate, admission control,
// then an engine slot once the body is in.

import type { Guard } from './auth/guard.js';
import type { Principal } from './auth/types.js';
import { ApiError } from './errors.js';
import { fileDiarizer, type FileDiarizer } from '../models/speaker/diarize.js';
import { errorResponse } from './error-response.js';
import {
  prerecordedHandler,
  type FileJobGate,
  type FileTranscriber,
  type KnownVoiceprints,
  type UploadLimits,
} from './http/listen.js';
import { pageResponse } from './http/page.js';
import { READ, type Route } from './http/router.js';
import { sessionsHandler } from './http/sessions.js';
import { speakersHandler } from './http/speakers.js';
import { transcriptionsHandler } from './http/transcriptions.js';
import { usageHandler } from './http/usage.js';
import type { UsageLedger } from './limits/usage.js';
import { knownVoiceprints } from './voiceprints/known.js';
import type { Metrics } from './metrics.js';
import type { ModelInfo } from './protocol.js';
import type { Decision } from './scheduling/admission.js';
import { FileJobSlots, FileSlotsBusyError, releasedWhenDone } from './scheduling/file-jobs.js';
import type { TranscriptStore } from './store/types.js';
import type { LiveStream } from './stream/channels.js';
import type { HttpRequest, HttpResponse } from './transport/types.js';
import type { VadModel } from '../models/vad/silero.js';
import type { SpeakerEmbedder } from '../models/speaker/embedding.js';
import { speakerModelId } from '../models/speaker/model-id.js';

export interface RouteDeps {
  guard: Guard;
  usage: UsageLedger;
  metrics: Metrics;
  store: TranscriptStore;
  model: ModelInfo;
  /** The model's name when it is English-only (translation is refused naming it). */
  englishOnly?: string;
  vad: VadModel;
  speakerEmbedder?: SpeakerEmbedder;
  /** The embedder's model id, stored with voiceprints (default: models/speaker/model-id.ts speakerModelId). */
  speakerModelId?: string;
  transcribe: FileTranscriber;
  uploads: UploadLimits;
  endpointingMs: number;
  fileSlots: FileJobSlots;
  /** Draining and admission control (a file shares the engine with the streams). */
  admit(): Decision;
  /** Why no new stream can start while the store is down, or undefined. */
  storeDown(): ApiError | undefined;
  /** The live session under a store key. */
  live(key: string): LiveStream | undefined;
  liveCount(): number;
}

export function earshotRoutes(d: RouteDeps): Route[] {
  const files = new FileJobs(d);
  /** Speakers for the file routes (diarize=true, diarized_json, known speakers); without an embedder, refused. */
  const diarize: FileDiarizer | undefined = d.speakerEmbedder && fileDiarizer(d.vad, d.speakerEmbedder);
  const uploads = { ...d.uploads, transcribe: d.transcribe, englishOnly: d.englishOnly };
  const sessions = (req: HttpRequest, principal: Principal) =>
    sessionsHandler(req, principal, d.store, d.live);
  const modelId = d.speakerEmbedder && (d.speakerModelId ?? speakerModelId(d.speakerEmbedder));
  /** known_speakers on the file routes: the requester's voiceprints. */
  const known = (p: Principal): KnownVoiceprints | undefined =>
    modelId === undefined
      ? undefined
      : (request) => knownVoiceprints(d.store.voiceprints, p.subject, request, modelId);
  const speakers = (req: HttpRequest, principal: Principal) =>
    speakersHandler(req, principal, {
      store: d.store.voiceprints,
      enroller: d.speakerEmbedder && { embedder: d.speakerEmbedder, modelId: modelId!, vad: d.vad },
      bodyTimeoutMs: d.uploads.bodyTimeoutMs,
      admitRequest: async (subject) => {
        const over = await d.guard.limiter.admitRequest(subject);
        return over && d.guard.deny(over).response;
      },
    });
  return [
    { path: '/healthz', methods: READ, handler: () => json(200, { status: 'ok' }) },
    { path: '/favicon.ico', methods: READ, handler: () => ({ status: 204 }) },
    { path: '/', methods: READ, handler: () => pageResponse() },
    { path: '/index.html', methods: READ, handler: () => pageResponse() },
    {
      path: '/readyz',
      methods: READ,
      handler: () => {
        const down = d.storeDown();
        const a: Decision = down ? { ok: false, reason: down.message, retryAfterSeconds: 5 } : d.admit();
        return a.ok
          ? json(200, { status: 'ready', streams: d.liveCount() })
          : json(503, { status: 'not ready', reason: a.reason });
      },
    },
    {
      path: '/metrics',
      methods: READ,
      handler: async () => {
        const m = await d.metrics.render();
        return { status: 200, headers: { 'content-type': m.contentType }, body: m.body };
      },
    },
    { path: /^\/v1\/sessions\/[^/]+$/, methods: [...READ, 'DELETE'], handler: sessions },
    { path: /^\/v1\/sessions\/[^/]+\/transcript$/, methods: READ, handler: sessions },
    { path: '/v1/speakers', methods: [...READ, 'POST'], handler: speakers },
    { path: /^\/v1\/speakers\/[^/]+$/, methods: [...READ, 'DELETE'], handler: speakers },
    { path: '/v1/usage', methods: READ, handler: (req, p) => usageHandler(req, p, d.usage) },
    {
      path: '/v1/audio/transcriptions',
      methods: ['POST'],
      handler: (req, p) =>
        files.run(p, req.signal, (gate) =>
          transcriptionsHandler(req, { ...uploads, gate, diarize, known: known(p) }),
        ),
    },
    {
      // OpenAI's translation into English: the same form and handler, with the translate task.
      path: '/v1/audio/translations',
      methods: ['POST'],
      handler: (req, p) =>
        files.run(p, req.signal, (gate) =>
          transcriptionsHandler(req, { ...uploads, gate, diarize, task: 'translate' }),
        ),
    },
    {
      // GET is the WebSocket upgrade (426 without one); POST is a pre-recorded file.
      path: '/v1/listen',
      methods: ['GET', 'POST'],
      handler: (req, p) => {
        if (req.method === 'GET') {
          const how = 'use a WebSocket upgrade (live) or POST with an audio body (pre-recorded)';
          return errorResponse(new ApiError('UPGRADE_REQUIRED', how));
        }
        return files.run(p, req.signal, (gate) =>
          prerecordedHandler(req, {
            ...uploads,
            gate,
            endpointingMs: d.endpointingMs,
            model: d.model,
            diarize,
            known: known(p),
          }),
        );
      },
    },
  ];
}

/** The file routes' way to the engine. */
class FileJobs {
  constructor(private readonly d: RouteDeps) {}

  /**
   * The subject's requests per minute first; then a file shares the engine with the streams: the same admission
   * decides (503 + Retry-After when it does not fit, before the body is read). The handler takes a file-job slot
   * through the gate only once the body is in and every field is checked, so a slow upload holds none.
   */
  async run(
    principal: Principal,
    signal: AbortSignal,
    handler: (gate: FileJobGate) => Promise<HttpResponse>,
  ): Promise<HttpResponse> {
    const over = await this.d.guard.limiter.admitRequest(principal.subject);
    if (over) return this.d.guard.deny(over).response;
    const a = this.d.admit();
    if (!a.ok) return this.overloaded(a.reason, a.retryAfterSeconds);
    let release: (() => void) | undefined;
    const gate: FileJobGate = {
      slot: async () => {
        release ??= await this.d.fileSlots.acquire(principal.subject, signal);
      },
      charge: (seconds) => this.charge(principal.subject, seconds),
    };
    try {
      const res = await handler(gate);
      const body = res.body;
      // A streamed answer (stream=true) is still transcribing: it holds its slot until the stream ends.
      if (release && body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array)) {
        const held = release;
        release = undefined;
        return { ...res, body: releasedWhenDone(body, held) };
      }
      return res;
    } catch (err) {
      if (err instanceof ApiError) return errorResponse(err);
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
  private async charge(subject: string, seconds: number): Promise<void> {
    const over = await this.d.guard.limiter.chargeAudio(subject, seconds);
    if (over) {
      this.d.guard.count(over.code);
      throw ApiError.from(over);
    }
    this.d.usage.file(subject, seconds);
    this.d.metrics.subjectAudioSeconds(subject, seconds);
  }
}

function json(status: number, body: unknown): HttpResponse {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

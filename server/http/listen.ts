import { createHash, randomUUID } from 'node:crypto';
import { tooLong } from '../../audio/ffmpeg.js';
import type { DecodeOptions, LoadedAudio } from '../../audio/load.js';
import { decodeUpload, probeUpload, spoolUpload, type SpooledUpload } from '../../audio/upload.js';
import { SAMPLE_RATE } from '../../audio/rate.js';
import type { Segment, Transcript, TranscribeOptions } from '../../models/whisper/transcribe.js';
import { parseListenParams } from '../params.js';
import { meanConfidence, transcriptOf, type ModelInfo } from '../protocol.js';
import type { HttpRequest, HttpResponse } from '../transport/types.js';
import { ApiError } from '../errors.js';
import { errorResponse } from '../error-response.js';
import { labelTranscript, type FileDiarizer } from './diarized.js';
import { paragraphsOf, utterancesOf } from './utterances.js';
import type { KnownSpeaker } from '../../models/speaker/cluster.js';
import type { KnownSpeakersRequest } from '../voiceprints/names.js';

export interface FileJobOptions extends TranscribeOptions {
  /** Progress: each window's segments, in time order, as soon as it and every window before it are decoded. */
  onSegments?: (segments: Segment[], progress: { done: number; total: number }) => void;
}

/** Whole-file transcription; stops submitting work (and rejects) once signal aborts. */
export type FileTranscriber = (
  audio16k: Float32Array,
  opts: FileJobOptions,
  signal?: AbortSignal,
) => Promise<Transcript>;

/** What an upload may be: its size, how long it may take to arrive, how much audio it may decode to. */
export interface UploadLimits {
  maxBodyBytes: number;
  /** The body must arrive whole within this (408 otherwise). */
  bodyTimeoutMs: number;
  maxAudioSeconds: number;
}

/**
 * What a file route asks of the server once its body is in and every field is checked: an engine slot (may wait;
 * rejects when none frees in time or the client leaves) and the audio's seconds charged to the subject's budget
 * (rejects with a RefusalError when over).
 */
export interface FileJobGate {
  slot(): Promise<void>;
  charge(seconds: number): Promise<void>;
}

export interface PrerecordedDeps extends UploadLimits {
  endpointingMs: number;
  model: ModelInfo;
  transcribe: FileTranscriber;
  gate: FileJobGate;
  /** Speakers for diarize=true; absent: diarize=true is refused (400). */
  diarize?: FileDiarizer;
  /** The requesting subject's voiceprints for known_speakers (an ApiError when one cannot be used). */
  known?: KnownVoiceprints;
}

/** known_speakers resolved for the requesting subject (server/voiceprints/known.ts). */
export type KnownVoiceprints = (request: KnownSpeakersRequest) => Promise<KnownSpeaker[]>;

/**
 * A received upload to 16 kHz, in the order that costs least for what is refused: its length from the header
 * (refused past maxSeconds before anything is decoded), an engine slot, the budget charged, then the decode,
 * capped at maxSeconds. When no header says the length, the decoded length is charged.
 */
export async function decodeForJob(
  upload: SpooledUpload,
  gate: FileJobGate,
  opts: DecodeOptions & { maxSeconds: number },
): Promise<LoadedAudio> {
  const probed = await probeUpload(upload, opts);
  if (probed !== undefined && probed > opts.maxSeconds) throw tooLong(opts.maxSeconds, probed);
  await gate.slot();
  if (probed !== undefined) await gate.charge(probed);
  const audio = await decodeUpload(upload, opts);
  if (probed === undefined) await gate.charge(audio.samples16k.length / SAMPLE_RATE);
  return audio;
}

/** Deepgram's pre-recorded API: POST /v1/listen with an audio body, answered with its JSON shape. */
export async function prerecordedHandler(req: HttpRequest, d: PrerecordedDeps): Promise<HttpResponse> {
  const requestId = randomUUID();
  try {
    const params = parseListenParams(req.query, { endpointingMs: d.endpointingMs, prerecorded: true });
    const contentType = (req.headers['content-type'] ?? '').toLowerCase();
    if (contentType.startsWith('application/json')) {
      return errorResponse(
        new ApiError('UNSUPPORTED_SOURCE', 'earshot takes the audio in the request body, not a URL to fetch'),
      );
    }
    const raw = /audio\/(l16|pcm|raw|basic|x-raw)/.test(contentType) || req.query.has('encoding');
    // Every parameter is checked before the body is read, and the body is in before any of it is decoded.
    const speakers = diarizeOptions(req.query, params.diarize);
    if (params.diarize && !d.diarize) {
      throw new ApiError('INVALID_QUERY_PARAMETER', 'speaker diarization is not available on this server', {
        dgError: 'diarize: not available on this server',
      });
    }
    const known = params.knownSpeakers && (await d.known!(params.knownSpeakers));
    const paragraphs = bool(req.query, 'paragraphs');
    const hash = createHash('sha256');
    const upload = await spoolUpload(
      hashed(req.stream(d.maxBodyBytes, { timeoutMs: d.bodyTimeoutMs }), hash),
    );
    let audio: LoadedAudio;
    try {
      audio = await decodeForJob(upload, d.gate, {
        maxSeconds: d.maxAudioSeconds,
        ...(raw
          ? { rawEncoding: params.encoding, rawSampleRate: params.sampleRate, rawChannels: params.channels }
          : {}),
      });
    } finally {
      await upload.remove();
    }
    const diarizing = params.diarize
      ? d.diarize!(audio.samples16k, { ...speakers, known }, req.signal)
      : undefined;
    diarizing?.catch(() => {});
    const plain = await d.transcribe(
      audio.samples16k,
      { language: params.language, prompt: params.prompt, wordTimestamps: true },
      req.signal,
    );
    const t = diarizing ? labelTranscript(plain, await diarizing) : plain;
    const punctuated = params.punctuate || params.smartFormat;
    const utterances = utterancesOf(t, punctuated);
    const words = utterances.flatMap((u) => u.words);
    const confidence = meanConfidence(words);
    const uuid = d.model.uuid;
    const { uuid: _, ...info } = d.model;
    const alternative: Record<string, unknown> = {
      transcript: transcriptOf(words, punctuated),
      confidence,
      words,
    };
    if (paragraphs) alternative.paragraphs = paragraphsOf(utterances);
    const out = {
      metadata: {
        transaction_key: 'deprecated',
        request_id: requestId,
        sha256: hash.digest('hex'),
        created: new Date().toISOString(),
        duration: t.duration,
        channels: 1,
        models: [uuid],
        model_info: { [uuid]: info },
      },
      results: {
        channels: [{ alternatives: [alternative], detected_language: t.language }],
        utterances: utterances.map((u) => ({ ...u, id: randomUUID() })),
      },
    };
    return {
      status: 200,
      headers: { 'content-type': 'application/json', 'dg-request-id': requestId },
      body: JSON.stringify(out),
    };
  } catch (err) {
    // A client that left reads no answer; the transport drops it.
    if (req.signal.aborted) return clientGone();
    return errorResponse(err);
  }
}

function bool(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  if (v === null || v === 'false') return false;
  if (v === 'true' || v === '') return true;
  throw new ApiError('INVALID_QUERY_PARAMETER', `${name} must be true or false`, {
    dgError: `${name}: must be true or false`,
  });
}

/** min_speakers / max_speakers (with diarize=true): whole numbers 1-32. */
function diarizeOptions(
  q: URLSearchParams,
  diarize: boolean,
): { minSpeakers?: number; maxSpeakers?: number } {
  const count = (name: string): number | undefined => {
    const v = q.get(name);
    if (v === null) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 32 || !diarize) {
      const why = diarize ? 'must be a whole number from 1 to 32' : 'needs diarize=true';
      throw new ApiError('INVALID_QUERY_PARAMETER', `${name} ${why}`, { dgError: `${name}: ${why}` });
    }
    return n;
  };
  const minSpeakers = count('min_speakers');
  const maxSpeakers = count('max_speakers');
  if (minSpeakers !== undefined && maxSpeakers !== undefined && minSpeakers > maxSpeakers) {
    const why = 'min_speakers must not exceed max_speakers';
    throw new ApiError('INVALID_QUERY_PARAMETER', why, { dgError: `min_speakers: ${why}` });
  }
  return { minSpeakers, maxSpeakers };
}

/** The answer to a request whose client left (never seen by anyone). */
export function clientGone(): HttpResponse {
  return errorResponse(new ApiError('CLIENT_CLOSED_REQUEST', 'the client closed the connection'));
}

async function* hashed(
  chunks: AsyncIterable<Uint8Array>,
  hash: ReturnType<typeof createHash>,
): AsyncGenerator<Uint8Array> {
  for await (const c of chunks) {
    hash.update(c);
    yield c;
  }
}

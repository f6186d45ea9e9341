import { createHash, randomUUID } from 'node:crypto';
import { tooLong } from '../../audio/ffmpeg.js';
import type { DecodeOptions, LoadedAudio } from '../../audio/load.js';
import {
  decodeUpload,
  probeUpload,
  spoolUpload,
  uploadChannels,
  type SpooledUpload,
} from '../../audio/upload.js';
import { SAMPLE_RATE } from '../../audio/rate.js';
import type { Segment, Transcript, TranscribeOptions } from '../../models/whisper/transcribe.js';
import { parseListenParams } from '../params.js';
import { meanConfidence, transcriptOf, type ModelInfo } from '../protocol.js';
import type { HttpRequest, HttpResponse } from '../transport/types.js';
import { ApiError } from '../errors.js';
import { errorResponse } from '../error-response.js';
import type { FileDiarizer } from '../../models/speaker/diarize.js';
import { labelTranscript } from './diarized.js';
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
  /** The model's name when it is English-only (task=translate is refused naming it). */
  englishOnly?: string;
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
  return (await decodeChannelsForJob(upload, gate, opts, [undefined]))[0];
}

/**
 * decodeForJob for each of `channels` on its own (multichannel=true; undefined: all mixed): each is charged, as
 * each is transcribed.
 */
async function decodeChannelsForJob(
  upload: SpooledUpload,
  gate: FileJobGate,
  opts: DecodeOptions & { maxSeconds: number },
  channels: readonly (number | undefined)[],
): Promise<LoadedAudio[]> {
  const probed = await probeUpload(upload, opts);
  if (probed !== undefined && probed > opts.maxSeconds) throw tooLong(opts.maxSeconds, probed);
  await gate.slot();
  if (probed !== undefined) await gate.charge(probed * channels.length);
  const audio: LoadedAudio[] = [];
  for (const channel of channels) audio.push(await decodeUpload(upload, { ...opts, channel }));
  if (probed === undefined) await gate.charge((audio[0].samples16k.length / SAMPLE_RATE) * channels.length);
  return audio;
}

/** Deepgram's pre-recorded API: POST /v1/listen with an audio body, answered with its JSON shape. */
export async function prerecordedHandler(req: HttpRequest, d: PrerecordedDeps): Promise<HttpResponse> {
  const requestId = randomUUID();
  try {
    const params = parseListenParams(req.query, {
      endpointingMs: d.endpointingMs,
      prerecorded: true,
      englishOnly: d.englishOnly,
    });
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
    let audio: LoadedAudio[];
    try {
      const opts = {
        maxSeconds: d.maxAudioSeconds,
        ...(raw
          ? { rawEncoding: params.encoding, rawSampleRate: params.sampleRate, rawChannels: params.channels }
          : {}),
      };
      // multichannel=true: each channel of the upload is transcribed on its own (Deepgram's results.channels).
      const which = params.multichannel ? [...Array(await uploadChannels(upload, opts)).keys()] : [undefined];
      audio = await decodeChannelsForJob(upload, d.gate, opts, which);
    } finally {
      await upload.remove();
    }
    const punctuated = params.punctuate || params.smartFormat;
    const channels = await Promise.all(
      audio.map(async ({ samples16k }, channel) => {
        const diarizing = params.diarize
          ? d.diarize!(samples16k, { ...speakers, known }, req.signal)
          : undefined;
        diarizing?.catch(() => {});
        const plain = await d.transcribe(
          samples16k,
          { language: params.language, task: params.task, prompt: params.prompt, wordTimestamps: true },
          req.signal,
        );
        const t = diarizing ? labelTranscript(plain, await diarizing) : plain;
        const utterances = utterancesOf(t, punctuated).map((u) => ({ ...u, channel }));
        const words = utterances.flatMap((u) => u.words);
        const alternative: Record<string, unknown> = {
          transcript: transcriptOf(words, punctuated),
          confidence: meanConfidence(words),
          words,
        };
        if (paragraphs) alternative.paragraphs = paragraphsOf(utterances);
        return {
          t,
          utterances,
          result: { alternatives: [alternative], ...languageOf(t, params.detectLanguage) },
        };
      }),
    );
    const uuid = d.model.uuid;
    const { uuid: _, ...info } = d.model;
    const out = {
      metadata: {
        transaction_key: 'deprecated',
        request_id: requestId,
        sha256: hash.digest('hex'),
        created: new Date().toISOString(),
        duration: Math.max(...channels.map((c) => c.t.duration)),
        channels: channels.length,
        models: [uuid],
        model_info: { [uuid]: info },
      },
      results: {
        channels: channels.map((c) => c.result),
        utterances: channels
          .flatMap((c) => c.utterances)
          .sort((a, b) => a.start - b.start)
          .map((u) => ({ ...u, id: randomUUID() })),
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

/**
 * Deepgram's detected_language, and with detect_language=true its language_confidence: the probability of the
 * language token (0 when no speech was found to detect it on).
 */
function languageOf(t: Transcript, detect: boolean): Record<string, unknown> {
  if (!detect) return { detected_language: t.language };
  return { detected_language: t.language, language_confidence: round3(t.languageProbability ?? 0) };
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

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

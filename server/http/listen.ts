import { createHash, randomUUID } from 'node:crypto';
import { decodeAudioStream } from '../../audio/load.js';
import type { Segment, Transcript, TranscribeOptions } from '../../models/whisper/transcribe.js';
import { parseListenParams } from '../params.js';
import { meanConfidence, transcriptOf, type ModelInfo } from '../protocol.js';
import type { HttpRequest, HttpResponse } from '../transport/types.js';
import { ApiError, errorResponse } from '../errors.js';
import { labelTranscript, type FileDiarizer } from './diarized.js';
import { paragraphsOf, utterancesOf } from './utterances.js';

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

export interface PrerecordedDeps {
  maxBodyBytes: number;
  endpointingMs: number;
  model: ModelInfo;
  transcribe: FileTranscriber;
  /** Speakers for diarize=true; absent: diarize=true is refused (400). */
  diarize?: FileDiarizer;
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
    const hash = createHash('sha256');
    const audio = await decodeAudioStream(
      hashed(req.stream(d.maxBodyBytes), hash),
      raw
        ? { rawEncoding: params.encoding, rawSampleRate: params.sampleRate, rawChannels: params.channels }
        : {},
    );
    const speakers = diarizeOptions(req.query, params.diarize);
    if (params.diarize && !d.diarize) {
      throw new ApiError('INVALID_QUERY_PARAMETER', 'speaker diarization is not available on this server', {
        dgError: 'diarize: not available on this server',
      });
    }
    const diarizing = params.diarize ? d.diarize!(audio.samples16k, speakers, req.signal) : undefined;
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
    if (bool(req.query, 'paragraphs')) alternative.paragraphs = paragraphsOf(utterances);
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

import { createHash, randomUUID } from 'node:crypto';
import { AudioDecodeError } from '../audio/errors.js';
import { decodeAudioStream } from '../audio/load.js';
import type { Transcript, TranscribeOptions } from '../models/transcribe.js';
import { ParamError, parseListenParams } from './params.js';
import { toDgWords, transcriptOf, type ModelInfo } from './protocol.js';
import {
  BodyTooLargeError,
  jsonError,
  RequestAbortedError,
  type HttpRequest,
  type HttpResponse,
} from './transport/types.js';

/** Whole-file transcription; stops submitting work (and rejects) once signal aborts. */
export type FileTranscriber = (
  audio16k: Float32Array,
  opts: TranscribeOptions,
  signal?: AbortSignal,
) => Promise<Transcript>;

export interface PrerecordedDeps {
  maxBodyBytes: number;
  endpointingMs: number;
  model: ModelInfo;
  transcribe: FileTranscriber;
}

/** Maps audio decoding failures to HTTP: a missing ffmpeg is 415 (the container is unsupported here), else 400. */
export function audioErrorResponse(err: AudioDecodeError): HttpResponse {
  const status = err.code === 'ffmpeg_missing' || err.code === 'unsupported' ? 415 : 400;
  const res = jsonError(status, status === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : 'BAD_AUDIO', err.message);
  res.headers = { ...res.headers, 'dg-error': err.message };
  return res;
}

/** Deepgram's pre-recorded API: POST /v1/listen with an audio body, answered with its JSON shape. */
export async function prerecordedHandler(req: HttpRequest, d: PrerecordedDeps): Promise<HttpResponse> {
  const requestId = randomUUID();
  try {
    const params = parseListenParams(req.query, { endpointingMs: d.endpointingMs, prerecorded: true });
    const contentType = (req.headers['content-type'] ?? '').toLowerCase();
    if (contentType.startsWith('application/json')) {
      return jsonError(
        400,
        'UNSUPPORTED_SOURCE',
        'earshot takes the audio in the request body, not a URL to fetch',
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
    const t = await d.transcribe(
      audio.samples16k,
      { language: params.language, prompt: params.prompt, wordTimestamps: true },
      req.signal,
    );
    const words = toDgWords(t.segments.flatMap((s) => s.words ?? []));
    const punctuated = params.punctuate || params.smartFormat;
    const confidence = words.length ? words.reduce((s, w) => s + w.confidence, 0) / words.length : 0;
    const uuid = d.model.uuid;
    const { uuid: _, ...info } = d.model;
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
        channels: [
          {
            alternatives: [{ transcript: transcriptOf(words, punctuated), confidence, words }],
            detected_language: t.language,
          },
        ],
        utterances: t.segments.map((s) => {
          const w = toDgWords(s.words ?? []);
          return {
            start: s.start,
            end: s.end,
            confidence: w.length ? w.reduce((a, x) => a + x.confidence, 0) / w.length : 0,
            channel: 0,
            transcript: transcriptOf(w, punctuated),
            words: w,
            id: randomUUID(),
          };
        }),
      },
    };
    return {
      status: 200,
      headers: { 'content-type': 'application/json', 'dg-request-id': requestId },
      body: JSON.stringify(out),
    };
  } catch (err) {
    if (err instanceof ParamError) {
      const res = jsonError(400, 'INVALID_QUERY_PARAMETER', err.message);
      res.headers = { ...res.headers, 'dg-error': `${err.param}: ${err.message}` };
      return res;
    }
    if (err instanceof AudioDecodeError) return audioErrorResponse(err);
    if (err instanceof BodyTooLargeError) return jsonError(413, 'PAYLOAD_TOO_LARGE', err.message);
    // Nobody reads this answer; the transport drops it.
    if (err instanceof RequestAbortedError || req.signal.aborted) return clientGone();
    throw err;
  }
}

/** The answer to a request whose client left (never seen by anyone). */
export function clientGone(): HttpResponse {
  return jsonError(499, 'CLIENT_CLOSED_REQUEST', 'the client closed the connection');
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

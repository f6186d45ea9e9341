import { createHash, randomUUID } from 'node:crypto';
import { decodeAudioStream } from '../../audio/load.js';
import type { Transcript, TranscribeOptions } from '../../models/whisper/transcribe.js';
import { parseListenParams } from '../params.js';
import { toDgWords, transcriptOf, type ModelInfo } from '../protocol.js';
import type { HttpRequest, HttpResponse } from '../transport/types.js';
import { ApiError, errorResponse } from '../errors.js';

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
    // A client that left reads no answer; the transport drops it.
    if (req.signal.aborted) return clientGone();
    return errorResponse(err);
  }
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

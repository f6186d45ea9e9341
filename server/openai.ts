import { AudioDecodeError } from '../audio/errors.js';
import { decodeAudio } from '../audio/load.js';
import type { Transcript, TranscribeOptions } from '../models/transcribe.js';
import { formatTranscript, TEXT_FORMATS, type TextFormat } from './formats.js';
import { audioErrorResponse } from './prerecorded.js';
import { BodyTooLargeError, jsonError, type HttpRequest, type HttpResponse } from './transport/types.js';

export interface TranscriptionsDeps {
  maxBodyBytes: number;
  transcribe: (audio16k: Float32Array, opts: TranscribeOptions) => Promise<Transcript>;
}

/** OpenAI's error shape: {"error": {"message", "type", "param", "code"}}. */
function openaiError(status: number, message: string, param: string | null, code: string): HttpResponse {
  return {
    status,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ error: { message, type: 'invalid_request_error', param, code } }),
  };
}

/**
 * POST /v1/audio/transcriptions, OpenAI-compatible multipart: file, model, language, prompt, response_format,
 * temperature, timestamp_granularities[]. Multipart is parsed by undici's FormData (built into Node).
 */
export async function transcriptionsHandler(req: HttpRequest, d: TranscriptionsDeps): Promise<HttpResponse> {
  const type = req.headers['content-type'] ?? '';
  if (!type.startsWith('multipart/form-data')) {
    return openaiError(415, 'send multipart/form-data with a "file" field', 'file', 'unsupported_media_type');
  }
  let form: FormData;
  try {
    const body = await req.body(d.maxBodyBytes);
    form = await new Request('http://earshot.local/', {
      method: 'POST',
      headers: { 'content-type': type },
      body,
    }).formData();
  } catch (err) {
    if (err instanceof BodyTooLargeError) return jsonError(413, 'body_too_large', err.message);
    return openaiError(
      400,
      `the multipart body cannot be parsed: ${(err as Error).message}`,
      null,
      'invalid_multipart',
    );
  }
  const file = form.get('file');
  if (!(file instanceof Blob))
    return openaiError(400, 'the "file" field with the audio is missing', 'file', 'missing_file');
  const format = (form.get('response_format') as string | null) ?? 'json';
  if (!TEXT_FORMATS.includes(format as TextFormat)) {
    return openaiError(
      400,
      `response_format must be one of ${TEXT_FORMATS.join(', ')}`,
      'response_format',
      'invalid_value',
    );
  }
  const granularities = form.getAll('timestamp_granularities[]').map(String);
  if (granularities.some((g) => g !== 'segment' && g !== 'word')) {
    return openaiError(
      400,
      'timestamp_granularities[] takes segment and/or word',
      'timestamp_granularities[]',
      'invalid_value',
    );
  }
  const language = (form.get('language') as string | null) || undefined;
  if (language && !/^[a-zA-Z]{2,3}$/.test(language)) {
    return openaiError(
      400,
      `language must be an ISO-639-1 code such as en, got "${language}"`,
      'language',
      'invalid_value',
    );
  }
  const temperature = form.get('temperature');
  const t = temperature === null ? undefined : Number(temperature);
  if (t !== undefined && !(t >= 0 && t <= 1)) {
    return openaiError(400, 'temperature must be a number from 0 to 1', 'temperature', 'invalid_value');
  }
  if (form.get('diarize') === 'true') {
    return openaiError(400, 'diarize=true is not available in this build', 'diarize', 'unsupported');
  }
  try {
    const audio = await decodeAudio(new Uint8Array(await file.arrayBuffer()));
    const words = granularities.includes('word');
    const transcript = await d.transcribe(audio.samples16k, {
      language: language?.toLowerCase(),
      prompt: (form.get('prompt') as string | null) || undefined,
      wordTimestamps: words,
      temperatures: t === undefined || t === 0 ? undefined : [t],
    });
    const out = formatTranscript(
      transcript,
      format as TextFormat,
      granularities.length ? (granularities as ('segment' | 'word')[]) : ['segment'],
    );
    return { status: 200, headers: { 'content-type': out.contentType }, body: out.body };
  } catch (err) {
    if (err instanceof AudioDecodeError) {
      const res = audioErrorResponse(err);
      return openaiError(
        res.status,
        err.message,
        'file',
        res.status === 415 ? 'unsupported_media_type' : 'invalid_audio',
      );
    }
    throw err;
  }
}

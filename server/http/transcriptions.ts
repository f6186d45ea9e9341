import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import busboy from 'busboy';
import { AudioDecodeError } from '../../audio/errors.js';
import { decodeAudioStream, type LoadedAudio } from '../../audio/load.js';
import { checkLanguage, languageName, UnsupportedLanguageError } from '../../models/whisper/languages.js';
import { formatTranscript, TEXT_FORMATS, type TextFormat } from './formats.js';
import { clientGone, type FileTranscriber } from './listen.js';
import { toApiError } from '../errors.js';
import {
  BodyTooLargeError,
  RequestAbortedError,
  type HttpRequest,
  type HttpResponse,
} from '../transport/types.js';
import { jsonError } from '../errors.js';

export interface TranscriptionsDeps {
  maxBodyBytes: number;
  transcribe: FileTranscriber;
  /** Language codes the model takes (models/languages.ts validLanguages); default: every Whisper language. */
  languages?: readonly string[];
}

/** OpenAI's error shape: {"error": {"message", "type", "param", "code"}}. */
function openaiError(status: number, message: string, param: string | null, code: string): HttpResponse {
  return {
    status,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ error: { message, type: 'invalid_request_error', param, code } }),
  };
}

/** The text fields of a form, in order, repeated names kept (FormData's get/getAll). */
class Fields {
  private readonly values = new Map<string, string[]>();
  add(name: string, value: string): void {
    this.values.set(name, [...(this.values.get(name) ?? []), value]);
  }
  get(name: string): string | null {
    return this.values.get(name)?.[0] ?? null;
  }
  getAll(name: string): string[] {
    return this.values.get(name) ?? [];
  }
}

class MultipartError extends Error {}

/**
 * Streams a multipart body through busboy: text fields are collected, the "file" part is decoded to 16 kHz as it
 * arrives (never held whole). Throws MultipartError for a form that cannot be parsed or has no file.
 */
async function readForm(req: HttpRequest, type: string, maxBodyBytes: number) {
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: { 'content-type': type },
      limits: { files: 1, fields: 100, fieldSize: 64 * 1024, parts: 200 },
    });
  } catch (err) {
    throw new MultipartError((err as Error).message);
  }
  const fields = new Fields();
  let decoding: Promise<LoadedAudio> | undefined;
  // A failed decode stops the upload at once; the rest of the body is not read.
  const stop = new AbortController();
  parser.on('field', (name, value) => fields.add(name, value));
  parser.on('file', (name, stream) => {
    if (name !== 'file' || decoding) {
      stream.resume();
      return;
    }
    decoding = decodeAudioStream(stream);
    decoding.catch(() => stop.abort());
  });
  try {
    await pipeline(Readable.from(req.stream(maxBodyBytes)), parser, { signal: stop.signal });
  } catch (err) {
    if (!stop.signal.aborted) {
      if (err instanceof BodyTooLargeError || err instanceof RequestAbortedError) throw err;
      throw new MultipartError((err as Error).message);
    }
  }
  if (!decoding) throw new MultipartError('the "file" field with the audio is missing');
  return { fields, audio: await decoding };
}

/**
 * POST /v1/audio/transcriptions, OpenAI-compatible multipart: file, model, language, prompt, response_format,
 * temperature, timestamp_granularities[].
 */
export async function transcriptionsHandler(req: HttpRequest, d: TranscriptionsDeps): Promise<HttpResponse> {
  const type = req.headers['content-type'] ?? '';
  if (!/^multipart\/form-data\b/i.test(type)) {
    return openaiError(415, 'send multipart/form-data with a "file" field', 'file', 'unsupported_media_type');
  }
  let form: Fields;
  let audio: LoadedAudio;
  try {
    ({ fields: form, audio } = await readForm(req, type, d.maxBodyBytes));
  } catch (err) {
    if (err instanceof BodyTooLargeError) return jsonError(413, 'body_too_large', err.message);
    if (err instanceof RequestAbortedError) return clientGone();
    if (err instanceof MultipartError && /"file" field/.test(err.message))
      return openaiError(400, err.message, 'file', 'missing_file');
    if (err instanceof MultipartError) {
      return openaiError(
        400,
        `the multipart body cannot be parsed: ${err.message}`,
        null,
        'invalid_multipart',
      );
    }
    if (err instanceof AudioDecodeError) return audioError(err);
    throw err;
  }
  const format = form.get('response_format') ?? 'json';
  if (!TEXT_FORMATS.includes(format as TextFormat)) {
    return openaiError(
      400,
      `response_format must be one of ${TEXT_FORMATS.join(', ')}`,
      'response_format',
      'invalid_value',
    );
  }
  const granularities = form.getAll('timestamp_granularities[]');
  if (granularities.some((g) => g !== 'segment' && g !== 'word')) {
    return openaiError(
      400,
      'timestamp_granularities[] takes segment and/or word',
      'timestamp_granularities[]',
      'invalid_value',
    );
  }
  let language: string | undefined;
  try {
    language = checkLanguage((form.get('language') as string | null) || undefined, d.languages);
  } catch (err) {
    if (!(err instanceof UnsupportedLanguageError)) throw err;
    return openaiError(400, err.message, 'language', 'invalid_value');
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
    const words = granularities.includes('word');
    const transcript = await d.transcribe(
      audio.samples16k,
      {
        language,
        prompt: form.get('prompt') || undefined,
        wordTimestamps: words,
        temperatures: t === undefined || t === 0 ? undefined : [t],
      },
      req.signal,
    );
    const out = formatTranscript(
      // OpenAI names the language in verbose_json ("english"), not its code.
      { ...transcript, language: languageName(transcript.language) },
      format as TextFormat,
      granularities.length ? (granularities as ('segment' | 'word')[]) : ['segment'],
    );
    return { status: 200, headers: { 'content-type': out.contentType }, body: out.body };
  } catch (err) {
    if (req.signal.aborted) return clientGone();
    throw err;
  }
}

function audioError(err: AudioDecodeError): HttpResponse {
  const status = toApiError(err)!.status;
  return openaiError(
    status,
    err.message,
    'file',
    status === 415 ? 'unsupported_media_type' : 'invalid_audio',
  );
}

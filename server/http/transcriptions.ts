import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import busboy from 'busboy';
import { AudioDecodeError } from '../../audio/errors.js';
import type { LoadedAudio } from '../../audio/load.js';
import { spoolUpload, type SpooledUpload } from '../../audio/upload.js';
import { checkLanguage, languageName, UnsupportedLanguageError } from '../../models/whisper/languages.js';
import { checkTask, UnsupportedTaskError, type Task } from '../../models/whisper/tasks.js';
import type { Transcript } from '../../models/whisper/transcribe.js';
import { diarizedSegments, formatTranscript, TEXT_FORMATS, type TextFormat } from './formats.js';
import {
  clientGone,
  decodeForJob,
  type FileJobGate,
  type FileJobOptions,
  type FileTranscriber,
  type KnownVoiceprints,
  type UploadLimits,
} from './listen.js';
import type { FileDiarizer } from '../../models/speaker/diarize.js';
import { labelTranscript } from './diarized.js';
import { KnownSpeakerError, knownSpeakers, MAX_KNOWN_SPEAKERS, type KnownSpeaker } from './speaker-refs.js';
import { sseResponse } from './sse.js';
import type { KnownSpeaker as NamedEmbedding } from '../../models/speaker/cluster.js';
import { ApiError } from '../errors.js';
import { parseKnownSpeakers } from '../voiceprints/names.js';
import { toApiError } from '../error-response.js';
import {
  BodyTimeoutError,
  BodyTooLargeError,
  RequestAbortedError,
  type HttpRequest,
  type HttpResponse,
} from '../transport/types.js';
import { jsonError } from '../transport/base.js';

export interface TranscriptionsDeps extends UploadLimits {
  transcribe: FileTranscriber;
  gate: FileJobGate;
  /** Speakers for diarized_json, diarize=true and known speakers; absent: those are refused (400). */
  diarize?: FileDiarizer;
  /** The subject's voiceprints for the known_speakers field; absent: no speaker model, the field is refused. */
  known?: KnownVoiceprints;
  /** Language codes the model takes (models/languages.ts validLanguages); default: every Whisper language. */
  languages?: readonly string[];
  /** translate: the /v1/audio/translations route (into English); default transcribe. */
  task?: Task;
  /** The model's name when it is English-only: translation is refused naming it. */
  englishOnly?: string;
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
 * Streams a multipart body through busboy: text fields are collected, the "file" part is spooled to a temporary
 * file as it arrives (never held whole, nothing decoded: the fields are checked first, wherever they come in the
 * form). Throws MultipartError for a form that cannot be parsed or has no file; the spool is then removed.
 */
async function readForm(req: HttpRequest, type: string, limits: UploadLimits) {
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: { 'content-type': type },
      limits: { files: 1 + MAX_KNOWN_SPEAKERS, fields: 100, fieldSize: MAX_FIELD_BYTES, parts: 200 },
    });
  } catch (err) {
    throw new MultipartError((err as Error).message);
  }
  const fields = new Fields();
  /** Reference clips uploaded as file parts (the alternative to data URLs), in order. */
  const references: Promise<Uint8Array>[] = [];
  let spooling: Promise<SpooledUpload> | undefined;
  // A failed spool stops the upload at once; the rest of the body is not read.
  const stop = new AbortController();
  parser.on('field', (name, value, info) => {
    if (info.valueTruncated) {
      stop.abort(new MultipartError(`the field ${name} is too long (at most ${MAX_FIELD_BYTES} bytes)`));
    } else fields.add(name, value);
  });
  parser.on('file', (name, stream) => {
    if (name === REFERENCES) {
      const clip = collect(stream, MAX_FIELD_BYTES, `a ${REFERENCES} upload`);
      clip.catch((err: unknown) => stop.abort(err));
      references.push(clip);
      return;
    }
    if (name !== 'file' || spooling) {
      stream.resume();
      return;
    }
    spooling = spoolUpload(stream);
    spooling.catch(() => stop.abort());
  });
  try {
    const body = req.stream(limits.maxBodyBytes, { timeoutMs: limits.bodyTimeoutMs });
    try {
      await pipeline(Readable.from(body), parser, { signal: stop.signal });
    } catch (err) {
      if (stop.signal.reason instanceof MultipartError) throw stop.signal.reason;
      const bodyFailed =
        err instanceof BodyTooLargeError ||
        err instanceof RequestAbortedError ||
        err instanceof BodyTimeoutError;
      if (bodyFailed) throw err;
      if (!stop.signal.aborted) throw new MultipartError((err as Error).message);
    }
    if (!spooling) throw new MultipartError('the "file" field with the audio is missing');
    return { fields, upload: await spooling, references: await Promise.all(references) };
  } catch (err) {
    void spooling?.then(
      (u) => u.remove(),
      () => {},
    );
    throw err;
  }
}

const REFERENCES = 'known_speaker_references[]';
/** A text field (a data-URL reference clip of 10 s of 16-bit 48 kHz stereo is ~2.6 MB) or an uploaded clip. */
const MAX_FIELD_BYTES = 4 * 1024 * 1024;

async function collect(stream: AsyncIterable<Buffer>, limit: number, what: string): Promise<Uint8Array> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    n += c.length;
    if (n > limit) throw new MultipartError(`${what} is too long (at most ${limit} bytes)`);
    parts.push(c);
  }
  return Buffer.concat(parts);
}

/**
 * POST /v1/audio/transcriptions, OpenAI-compatible multipart: file, model, language, prompt, response_format,
 * temperature, timestamp_granularities[]. With task=translate it is POST /v1/audio/translations (OpenAI's
 * contract is the same form without language; here language, when given, names the spoken language).
 */
export async function transcriptionsHandler(req: HttpRequest, d: TranscriptionsDeps): Promise<HttpResponse> {
  // What the model cannot do is refused before the upload is read.
  try {
    checkTask(d.task, d.englishOnly);
  } catch (err) {
    if (!(err instanceof UnsupportedTaskError)) throw err;
    return openaiError(400, err.message, 'model', 'model_not_supported');
  }
  const type = req.headers['content-type'] ?? '';
  if (!/^multipart\/form-data\b/i.test(type)) {
    return openaiError(415, 'send multipart/form-data with a "file" field', 'file', 'unsupported_media_type');
  }
  let form: Fields;
  let upload: SpooledUpload;
  let references: Uint8Array[];
  try {
    ({ fields: form, upload, references } = await readForm(req, type, d));
  } catch (err) {
    if (err instanceof BodyTooLargeError) return jsonError(413, 'body_too_large', err.message);
    if (err instanceof BodyTimeoutError) return jsonError(408, 'request_timeout', err.message);
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
  try {
    return await checkedJob(req, d, form, upload, references);
  } finally {
    await upload.remove();
  }
}

/** The form's fields checked, then the upload decoded and transcribed (the spool is the caller's to remove). */
async function checkedJob(
  req: HttpRequest,
  d: TranscriptionsDeps,
  form: Fields,
  upload: SpooledUpload,
  references: readonly Uint8Array[],
): Promise<HttpResponse> {
  const task = d.task ?? 'transcribe';
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
  const stream = flag(form, 'stream');
  const diarizeFlag = flag(form, 'diarize');
  if (stream === null) return openaiError(400, 'stream must be true or false', 'stream', 'invalid_value');
  if (diarizeFlag === null)
    return openaiError(400, 'diarize must be true or false', 'diarize', 'invalid_value');
  let speakers: SpeakerRequest;
  try {
    speakers = await speakerRequest(form, references, d.known);
  } catch (err) {
    if (err instanceof ApiError) {
      const code = err.status === 409 ? 'speaker_model_mismatch' : 'invalid_value';
      return openaiError(err.status, err.message, 'known_speakers', code);
    }
    if (!(err instanceof KnownSpeakerError)) throw err;
    return openaiError(400, err.message, err.param, 'invalid_value');
  }
  const diarize = format === 'diarized_json' || diarizeFlag || speakers.known.length > 0;
  if (diarize && !d.diarize) {
    return openaiError(
      400,
      'speaker diarization is not available on this server',
      'response_format',
      'unsupported',
    );
  }
  const words = granularities.includes('word');
  const options: FileJobOptions = {
    language,
    task,
    prompt: form.get('prompt') || undefined,
    // Speakers are put on words, so a segment where the speaker changes can be split.
    wordTimestamps: words || diarize,
    temperatures: t === undefined || t === 0 ? undefined : [t],
  };
  const diarizer = diarize ? d.diarize : undefined;
  let audio: LoadedAudio;
  try {
    audio = await decodeForJob(upload, d.gate, { maxSeconds: d.maxAudioSeconds });
  } catch (err) {
    if (req.signal.aborted) return clientGone();
    if (err instanceof AudioDecodeError) return audioError(err);
    throw err;
  }
  const job = { audio: audio.samples16k, options, speakers, diarizer, transcribe: d.transcribe };
  if (stream) return sseResponse((emit) => streamJob(job, emit, req.signal), req.signal);
  try {
    const transcript = await runJob(job, req.signal);
    const out = formatTranscript(
      // OpenAI names the language in verbose_json ("english"), not its code; a translation's is its output's.
      { ...transcript, task, language: languageName(task === 'translate' ? 'en' : transcript.language) },
      format as TextFormat,
      granularities.length ? (granularities as ('segment' | 'word')[]) : ['segment'],
    );
    return { status: 200, headers: { 'content-type': out.contentType }, body: out.body };
  } catch (err) {
    if (req.signal.aborted) return clientGone();
    throw err;
  }
}

/** true / false / absent (false); null for anything else. */
function flag(form: Fields, name: string): boolean | null {
  const v = form.get(name);
  return v === null || v === 'false' ? false : v === 'true' ? true : null;
}

interface SpeakerRequest {
  /** Reference clips and stored voiceprints. */
  known: (KnownSpeaker | NamedEmbedding)[];
  minSpeakers?: number;
  maxSpeakers?: number;
}

async function speakerRequest(
  form: Fields,
  uploads: readonly Uint8Array[],
  voiceprints?: KnownVoiceprints,
): Promise<SpeakerRequest> {
  const count = (name: string): number | undefined => {
    const v = form.get(name);
    if (v === null || v === '') return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 32) {
      throw new KnownSpeakerError(`${name} must be a whole number from 1 to 32`, name);
    }
    return n;
  };
  const minSpeakers = count('min_speakers');
  const maxSpeakers = count('max_speakers');
  if (minSpeakers !== undefined && maxSpeakers !== undefined && minSpeakers > maxSpeakers) {
    throw new KnownSpeakerError('min_speakers must not exceed max_speakers', 'min_speakers');
  }
  const fail = (message: string) => new KnownSpeakerError(message, 'known_speakers');
  const stored = parseKnownSpeakers(form.get('known_speakers'), fail);
  if (stored && !voiceprints) throw fail('speaker diarization is not available on this server');
  const clips = await knownSpeakers(form.getAll('known_speaker_names[]'), [
    ...form.getAll('known_speaker_references[]'),
    ...uploads,
  ]);
  const named = stored ? await voiceprints!(stored) : [];
  const twice = named.find((v) => clips.some((c) => c.name === v.name));
  if (twice) throw fail(`"${twice.name}" is named by known_speakers and known_speaker_names[]: name it once`);
  return { known: [...clips, ...named], minSpeakers, maxSpeakers };
}

interface Job {
  audio: Float32Array;
  options: FileJobOptions;
  speakers: SpeakerRequest;
  diarizer?: FileDiarizer;
  transcribe: FileTranscriber;
}

/** Transcription and diarization side by side; speakers put on the transcript when both are done. */
async function runJob(job: Job, signal: AbortSignal): Promise<Transcript> {
  const speakers = job.diarizer?.(job.audio, job.speakers, signal);
  // Not awaited until the transcript is done: keep a failure from being unhandled meanwhile.
  speakers?.catch(() => {});
  const transcript = await job.transcribe(job.audio, job.options, signal);
  return speakers ? labelTranscript(transcript, await speakers) : transcript;
}

/**
 * OpenAI's streaming events: `transcript.text.delta` per segment as its window is decoded (with `segment_id` and a
 * `transcript.text.segment` per speaker turn when diarizing), then `transcript.text.done`. Speakers are known
 * before the first delta: the diarization of the whole file runs first. Additive: `start`, `end` and
 * `progress` (windows decoded / windows) on each delta, for progress bars.
 */
async function streamJob(job: Job, emit: (e: object) => void, signal: AbortSignal): Promise<void> {
  const diarization = job.diarizer && (await job.diarizer(job.audio, job.speakers, signal));
  let text = '';
  let segmentId = 0;
  await job.transcribe(
    job.audio,
    {
      ...job.options,
      onSegments: (segments, p) => {
        const progress = Math.round((p.done / Math.max(1, p.total)) * 1000) / 1000;
        const units = diarization
          ? labelTranscript({ text: '', language: '', duration: 0, segments }, diarization).turns
          : segments;
        const labelled = diarization ? diarizedSegments(units, segmentId) : [];
        units
          .filter((u) => u.text.trim())
          .forEach((u, i) => {
            text += u.text;
            const id = labelled[i]?.id;
            emit({
              type: 'transcript.text.delta',
              delta: u.text,
              ...(id ? { segment_id: id } : {}),
              start: u.start,
              end: u.end,
              progress,
            });
            if (labelled[i]) emit(labelled[i]);
          });
        segmentId += labelled.length;
      },
    },
    signal,
  );
  emit({ type: 'transcript.text.done', text: text.trim() });
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

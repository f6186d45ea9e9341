/**
 * Named voiceprints: POST /v1/speakers (name + 2-30 s clips, multipart `file`/`files[]` or JSON data URLs),
 * GET /v1/speakers (the subject's list, without vectors), GET and DELETE /v1/speakers/{name}. A voiceprint
 * belongs to the subject that enrolled it: another subject finds no such name (404); an admin lists every
 * subject's and reaches another's with ?subject=.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import type { Principal } from '../auth/types.js';
import { ApiError } from '../errors.js';
import { errorResponse, toApiError } from '../error-response.js';
import { VoiceprintLimitError, type Voiceprint, type VoiceprintStore } from '../store/types.js';
import type { HttpRequest, HttpResponse } from '../transport/types.js';
import { MAX_CLIPS, voiceprintOf, type EnrolmentClip, type Enroller } from '../voiceprints/enroll.js';
import { nameProblem } from '../voiceprints/names.js';
import { dataUrlBytes } from './speaker-refs.js';

/** Voiceprints one subject may hold. */
export const MAX_VOICEPRINTS = 1000;
/** An enrolment clip upload (30 s of 48 kHz stereo 32-bit float is 11.5 MB), and a whole enrolment request. */
const MAX_CLIP_BYTES = 16 * 2 ** 20;
const MAX_BODY_BYTES = 64 * 2 ** 20;

export interface SpeakersDeps {
  store: VoiceprintStore;
  /** Absent: the server has no speaker embedding, and enrolment is refused. */
  enroller?: Enroller;
  /** Default MAX_VOICEPRINTS. */
  limit?: number;
  bodyTimeoutMs: number;
  /** The subject's request rate (a refusal, or undefined to go on). */
  admitRequest(subject: string): Promise<HttpResponse | undefined>;
}

const json = (status: number, body: unknown): HttpResponse => ({
  status,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

const invalid = (field: string, message: string) =>
  new ApiError('INVALID_FIELD', message, { dgError: `${field}: ${message}` });

/** What a listing shows: everything but the vector (and the subject only to admins, who see every subject's). */
function summary(v: Voiceprint, admin: boolean) {
  const { embedding: _, subject, ...rest } = v;
  return admin ? { ...rest, subject } : rest;
}

export async function speakersHandler(
  req: HttpRequest,
  principal: Principal,
  d: SpeakersDeps,
): Promise<HttpResponse> {
  try {
    return await handle(req, principal, d);
  } catch (err) {
    if (err instanceof VoiceprintLimitError) {
      return errorResponse(new ApiError('TOO_MANY_VOICEPRINTS', err.message));
    }
    // A refusal of the table (bad audio, body too large, the client gone); anything else is a fault (500).
    if (toApiError(err)) return errorResponse(err);
    throw err;
  }
}

async function handle(req: HttpRequest, principal: Principal, d: SpeakersDeps): Promise<HttpResponse> {
  const store = d.store;
  const modelId = d.enroller?.modelId;
  if (req.path === '/v1/speakers') {
    if (req.method === 'POST') return enrol(req, principal, d);
    const all = await store.list(principal.admin ? undefined : principal.subject);
    return json(200, { model: modelId ?? null, speakers: all.map((v) => summary(v, principal.admin)) });
  }
  const name = nameInPath(req.path);
  // An admin reaches another subject's voiceprint with ?subject=; everyone else only their own.
  const subject = principal.admin ? (req.query.get('subject') ?? principal.subject) : principal.subject;
  const v = await store.get(subject, name);
  if (!v) throw new ApiError('NOT_FOUND', `no voiceprint named "${name}"`);
  if (req.method === 'DELETE') {
    await store.delete(subject, name);
    return { status: 204 };
  }
  return json(200, { ...summary(v, principal.admin), embedding: v.embedding });
}

function nameInPath(path: string): string {
  const raw = path.slice('/v1/speakers/'.length);
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ApiError('NOT_FOUND', `no voiceprint named "${raw}" (the name is not valid percent-encoding)`);
  }
}

async function enrol(req: HttpRequest, principal: Principal, d: SpeakersDeps): Promise<HttpResponse> {
  const refused = await d.admitRequest(principal.subject);
  if (refused) return refused;
  if (!d.enroller) throw invalid('files[]', 'speaker embeddings are not available on this server');
  const type = (req.headers['content-type'] ?? '').toLowerCase();
  let form: { name: string | undefined; clips: EnrolmentClip[] };
  if (type.startsWith('multipart/form-data')) form = await readMultipart(req, type, d.bodyTimeoutMs);
  else if (type.startsWith('application/json')) form = await readJson(req);
  else {
    throw new ApiError(
      'UNSUPPORTED_MEDIA_TYPE',
      'send multipart/form-data (name, file or files[]) or application/json ({"name", "files": [data URLs]})',
    );
  }
  if (form.name === undefined) throw invalid('name', 'name is missing: the name to enrol the voice under');
  const problem = nameProblem(form.name);
  if (problem) throw invalid('name', `name ${problem}`);
  const v = await voiceprintOf(d.enroller, principal.subject, form.name, form.clips);
  await d.store.put(v, d.limit ?? MAX_VOICEPRINTS);
  return json(201, summary(v, principal.admin));
}

async function readJson(req: HttpRequest): Promise<{ name: string | undefined; clips: EnrolmentClip[] }> {
  let body: unknown;
  try {
    body = JSON.parse((await req.body(MAX_BODY_BYTES)).toString('utf8'));
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    throw invalid('body', `the body is not JSON: ${err.message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid(
      'body',
      'the body must be a JSON object: {"name": ..., "files": ["data:audio/wav;base64,..."]}',
    );
  }
  const o = body as Record<string, unknown>;
  if (o.name !== undefined && typeof o.name !== 'string') throw invalid('name', 'name must be a string');
  const urls = o.files ?? (o.file === undefined ? [] : [o.file]);
  if (!Array.isArray(urls) || urls.some((u) => typeof u !== 'string')) {
    throw invalid('files', 'files must be an array of data URLs (data:audio/wav;base64,...)');
  }
  if (urls.length > MAX_CLIPS) throw invalid('files', `at most ${MAX_CLIPS} clips, got ${urls.length}`);
  const clips = (urls as string[]).map((u, i) => {
    const field = `files[${i}]`;
    return { field, bytes: dataUrlBytes(u, field, (m) => invalid(field, m)) };
  });
  return { name: o.name, clips };
}

/** Text fields and clip parts (`file`, `files[]`, or data URLs in a `files[]` text field), in order. */
async function readMultipart(
  req: HttpRequest,
  type: string,
  timeoutMs: number,
): Promise<{ name: string | undefined; clips: EnrolmentClip[] }> {
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: { 'content-type': type },
      limits: {
        files: MAX_CLIPS,
        fields: 20,
        fieldSize: MAX_CLIP_BYTES,
        fileSize: MAX_CLIP_BYTES,
        parts: 40,
      },
    });
  } catch (err) {
    throw invalid('body', `the multipart body cannot be parsed: ${(err as Error).message}`);
  }
  let name: string | undefined;
  const parts: (Uint8Array | Promise<Uint8Array>)[] = [];
  let tooMany = false;
  let tooBig: string | undefined;
  let bad: ApiError | undefined;
  parser.on('field', (field, value) => {
    if (field === 'name') name ??= value;
    else if (field === 'files[]' || field === 'file') {
      const label = `files[${parts.length}]`;
      try {
        parts.push(dataUrlBytes(value, label, (m) => invalid(label, m)));
      } catch (err) {
        bad ??= err as ApiError;
        parts.push(new Uint8Array());
      }
    }
  });
  parser.on('file', (field, stream) => {
    if (field !== 'file' && field !== 'files[]') {
      stream.resume();
      return;
    }
    const label = `files[${parts.length}]`;
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('limit', () => (tooBig ??= label));
    parts.push(new Promise((resolve) => stream.on('end', () => resolve(Buffer.concat(chunks)))));
  });
  parser.on('filesLimit', () => (tooMany = true));
  try {
    await pipeline(Readable.from(req.stream(MAX_BODY_BYTES, { timeoutMs })), parser);
  } catch (err) {
    if (err instanceof Error && err.constructor === Error) {
      throw invalid('body', `the multipart body cannot be parsed: ${err.message}`);
    }
    throw err;
  }
  if (bad) throw bad;
  if (tooMany) throw invalid('files[]', `at most ${MAX_CLIPS} clips`);
  if (tooBig) throw invalid(tooBig, `${tooBig} is larger than ${MAX_CLIP_BYTES / 2 ** 20} MiB`);
  const bytes = await Promise.all(parts);
  return { name, clips: bytes.map((b, i) => ({ field: `files[${i}]`, bytes: b })) };
}

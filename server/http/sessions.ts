import { captionsFromFinals, inTimeOrder, toSrt, toText, toVtt, type CaptionSegment } from './formats.js';
import type { TranscriptStore } from '../store/types.js';
import { type HttpRequest, type HttpResponse } from '../transport/types.js';
import { ApiError } from '../errors.js';
import { errorResponse } from '../error-response.js';
import { findOwnedSession } from '../auth/ownership.js';
import type { Principal } from '../auth/types.js';

const FORMATS = ['json', 'srt', 'vtt', 'text'] as const;

/**
 * GET /v1/sessions/{id}, GET /v1/sessions/{id}/transcript?format=json|srt|vtt|text, DELETE /v1/sessions/{id}:
 * a live or finished session's finals, straight from the transcript store. The id is the one the principal knows
 * (its store key is scoped to the subject); another subject's session answers 404, as one that does not exist.
 * `live` is keyed by store key.
 */
export async function sessionsHandler(
  req: HttpRequest,
  principal: Principal,
  store: TranscriptStore,
  live: (key: string) => { receivedSeconds: number } | undefined,
): Promise<HttpResponse> {
  const m = /^\/v1\/sessions\/([A-Za-z0-9_-]{1,160})(\/transcript)?$/.exec(req.path);
  if (!m) return errorResponse(new ApiError('NOT_FOUND', `no route for ${req.method} ${req.path}`));
  const [, id, transcript] = m;
  const record = await findOwnedSession(principal, id, (k) => store.get(k));
  if (!record) return errorResponse(new ApiError('NOT_FOUND', `no session ${id}`));
  const key = record.id;
  if (req.method === 'DELETE' && !transcript) {
    if (live(key))
      return errorResponse(new ApiError('LIVE', `session ${id} is still streaming: close it first`));
    await store.delete(key);
    return { status: 204 };
  }
  if (req.method !== 'GET' && req.method !== 'HEAD')
    return errorResponse(new ApiError('METHOD', `${req.method} is not allowed here`));
  const stored = await store.finals(key);
  if (!transcript) {
    const s = live(id);
    const body = {
      id,
      status: record.status,
      created: record.created,
      duration: s ? s.receivedSeconds : record.duration,
      finals: stored.length,
      last_seq: stored.at(-1)?.seq ?? 0,
      // Where a resume re-sends audio from (the opening Metadata's committed_until).
      committed_until: record.committed,
    };
    return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
  }
  const format = req.query.get('format') ?? 'json';
  if (!(FORMATS as readonly string[]).includes(format)) {
    return errorResponse(
      new ApiError('INVALID_QUERY_PARAMETER', `format must be one of ${FORMATS.join(', ')}`),
    );
  }
  // A multichannel session's channels interleave in time (each final says its channel).
  const finals = inTimeOrder(stored);
  // Words carry their speaker (diarize=true): a cue per speaker turn, so a final with a change splits.
  const segments: CaptionSegment[] = captionsFromFinals(finals);
  const name = `${id}.${format === 'text' ? 'txt' : format}`;
  const disposition = { 'content-disposition': `attachment; filename="${name}"` };
  switch (format) {
    case 'srt':
      return {
        status: 200,
        headers: { 'content-type': 'application/x-subrip; charset=utf-8', ...disposition },
        body: toSrt(segments),
      };
    case 'vtt':
      return {
        status: 200,
        headers: { 'content-type': 'text/vtt; charset=utf-8', ...disposition },
        body: toVtt(segments),
      };
    case 'text':
      return {
        status: 200,
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        body: toText(segments),
      };
    default:
      return {
        status: 200,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          id,
          status: record.status,
          text: finals.map((f) => f.transcript).join(' '),
          segments: finals,
        }),
      };
  }
}

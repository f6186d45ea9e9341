// The HTTP answer for a row of the error table (errors.ts): earshot's JSON error body, Deepgram's dg-error,
// Retry-After, and WWW-Authenticate on 401. The one place these headers are built, for route errors and for the
// refusals of auth, origin, host and limits alike.

import { AudioDecodeError } from '../audio/errors.js';
import { UnsupportedLanguageError } from '../models/whisper/languages.js';
import { UnsupportedTaskError } from '../models/whisper/tasks.js';
import { ApiError, type Refusal } from './errors.js';
import { ParamError } from './params.js';
import { jsonError } from './transport/base.js';
import {
  BodyTimeoutError,
  BodyTooLargeError,
  RequestAbortedError,
  type HttpResponse,
} from './transport/types.js';

/** Longest dg-error value: a long query value echoed in a message must not make a huge header. */
const DG_ERROR_MAX = 512;

/**
 * Deepgram's dg-error header value. Its text often echoes what the client sent (a query value): a header value
 * takes printable ASCII only (CR/LF would be refused by Node, and the client would get a 500 instead of its 400),
 * so control characters become spaces and the rest `?`. The JSON body keeps the message as it is.
 */
function dgErrorValue(text: string): string {
  const value = text.replace(/[\u0000-\u001f\u007f]/g, ' ').replace(/[^\x20-\x7e]/gu, '?');
  return value.length > DG_ERROR_MAX ? `${value.slice(0, DG_ERROR_MAX - 3)}...` : value;
}

/** Known error classes as table rows; anything else is not the client's to see, and rethrown. */
export function toApiError(err: unknown): ApiError | undefined {
  if (err instanceof ApiError) return err;
  if (err instanceof ParamError) {
    return new ApiError('INVALID_QUERY_PARAMETER', err.message, { dgError: `${err.param}: ${err.message}` });
  }
  if (err instanceof UnsupportedLanguageError) {
    return new ApiError('INVALID_QUERY_PARAMETER', err.message, { dgError: `language: ${err.message}` });
  }
  if (err instanceof UnsupportedTaskError) {
    return new ApiError('INVALID_QUERY_PARAMETER', err.message, { dgError: `task: ${err.message}` });
  }
  if (err instanceof AudioDecodeError) {
    const unsupported = err.code === 'ffmpeg_missing' || err.code === 'unsupported';
    return new ApiError(unsupported ? 'UNSUPPORTED_MEDIA_TYPE' : 'BAD_AUDIO', err.message);
  }
  if (err instanceof BodyTooLargeError) return new ApiError('PAYLOAD_TOO_LARGE', err.message);
  if (err instanceof BodyTimeoutError) return new ApiError('REQUEST_TIMEOUT', err.message);
  if (err instanceof RequestAbortedError) {
    return new ApiError('CLIENT_CLOSED_REQUEST', 'the client closed the connection');
  }
  return undefined;
}

/** The HTTP answer for an error of the table. Unknown errors are rethrown. */
export function errorResponse(err: unknown, headers: Record<string, string> = {}): HttpResponse {
  const e = toApiError(err);
  if (!e) throw err;
  const res = jsonError(e.status, e.code, e.message);
  const out: Record<string, string> = {
    ...res.headers,
    'dg-error': dgErrorValue(e.options.dgError ?? e.message),
    ...headers,
  };
  if (e.status === 401) out['www-authenticate'] = 'Token realm="earshot", Bearer realm="earshot"';
  if (e.options.retryAfterSeconds !== undefined) out['retry-after'] = String(e.options.retryAfterSeconds);
  return { ...res, headers: out };
}

/** The answer for a refusal of auth, origin, host or a limit (dg-error `CODE: message`). */
export function refusalResponse(r: Refusal, headers: Record<string, string> = {}): HttpResponse {
  return errorResponse(ApiError.from(r), headers);
}

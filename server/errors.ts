// Every error a client can be answered with, in one table: its HTTP status, the WebSocket close code when it ends
// a live stream, and the text of Deepgram's dg-error header. Routes build ApiErrors (or let a known error class
// through); nothing else picks a status code. The CLI's UsageError lives here too, so no module needs the CLI.
import { AudioDecodeError } from '../audio/errors.js';
import { UnsupportedLanguageError } from '../models/whisper/languages.js';
import { ParamError } from './params.js';
import {
  BodyTimeoutError,
  BodyTooLargeError,
  RequestAbortedError,
  type HttpResponse,
} from './transport/types.js';

export const ERRORS = {
  INVALID_QUERY_PARAMETER: { status: 400 },
  UNSUPPORTED_SOURCE: { status: 400 },
  /** Live: Deepgram closes undecodable audio with 1011 and the reason DATA-0000. */
  BAD_AUDIO: { status: 400, close: 1011 },
  UNSUPPORTED_MEDIA_TYPE: { status: 415 },
  PAYLOAD_TOO_LARGE: { status: 413, close: 1009 },
  REQUEST_TIMEOUT: { status: 408 },
  NOT_FOUND: { status: 404 },
  SESSION_NOT_FOUND: { status: 404 },
  METHOD: { status: 405 },
  UPGRADE_REQUIRED: { status: 426 },
  SESSION_LIVE: { status: 409 },
  LIVE: { status: 409 },
  CLIENT_CLOSED_REQUEST: { status: 499 },
  OVERLOADED: { status: 503, close: 1013 },
  SHUTTING_DOWN: { status: 503, close: 1001 },
  /** The transcript store (Redis) cannot promise durable finals: new streams wait, live ones close 1011. */
  STORE_UNAVAILABLE: { status: 503, close: 1011 },
  INTERNAL: { status: 500, close: 1011 },
} as const satisfies Record<string, { status: number; close?: number }>;

export type ErrorCode = keyof typeof ERRORS;

export interface ApiErrorOptions {
  /** Deepgram's dg-error header; defaults to the message. */
  dgError?: string;
  retryAfterSeconds?: number;
}

/** A refusal with a code from the table: status and headers follow from it. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly options: ApiErrorOptions = {},
  ) {
    super(message);
  }
  get status(): number {
    return ERRORS[this.code].status;
  }
}

/** A command line that cannot run as given; exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The JSON body every earshot error has: {"error":{"code","message"}}. */
export function jsonError(status: number, code: string, message: string): HttpResponse {
  return {
    status,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ error: { code, message } }),
  };
}

/** Longest dg-error value: a long query value echoed in a message must not make a huge header. */
const DG_ERROR_MAX = 512;

/**
 * The JSON error plus Deepgram's dg-error header, the one place that header is built. Its text often echoes what
 * the client sent (a query value): a header value takes printable ASCII only (CR/LF would be refused by Node, and
 * the client would get a 500 instead of its 400), so control characters become spaces and the rest `?`. The
 * JSON body keeps the message as it is.
 */
export function jsonErrorWithDgError(
  status: number,
  code: string,
  message: string,
  dgError: string,
): HttpResponse {
  const res = jsonError(status, code, message);
  let value = dgError.replace(/[\u0000-\u001f\u007f]/g, ' ').replace(/[^\x20-\x7e]/gu, '?');
  if (value.length > DG_ERROR_MAX) value = `${value.slice(0, DG_ERROR_MAX - 3)}...`;
  res.headers = { ...res.headers, 'dg-error': value };
  return res;
}

/** Known error classes as table entries; anything else is not the client's to see, and rethrown. */
export function toApiError(err: unknown): ApiError | undefined {
  if (err instanceof ApiError) return err;
  if (err instanceof ParamError) {
    return new ApiError('INVALID_QUERY_PARAMETER', err.message, { dgError: `${err.param}: ${err.message}` });
  }
  if (err instanceof UnsupportedLanguageError) {
    return new ApiError('INVALID_QUERY_PARAMETER', err.message, { dgError: `language: ${err.message}` });
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

/** The HTTP answer for an error of the table: JSON body, dg-error, Retry-After. Unknown errors are rethrown. */
export function errorResponse(err: unknown, headers: Record<string, string> = {}): HttpResponse {
  const e = toApiError(err);
  if (!e) throw err;
  const res = jsonErrorWithDgError(e.status, e.code, e.message, e.options.dgError ?? e.message);
  res.headers = { ...res.headers, ...headers };
  if (e.options.retryAfterSeconds !== undefined)
    res.headers['retry-after'] = String(e.options.retryAfterSeconds);
  return res;
}

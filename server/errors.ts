// Every refusal the server answers or ends a stream with, in one table: its code, its HTTP status where a request
// can be refused with it, and its WebSocket close code where it can end a live stream. Auth, origin and host
// checks, limits, admission, validation and the store all name a row; nothing else picks a status or a close
// code. This file imports nothing, so every layer (the transports included) can read it.
// The HTTP answer for a row (JSON body, dg-error, Retry-After) is built in error-response.ts.

export const ERRORS = {
  // Validation of what the client sent.
  INVALID_QUERY_PARAMETER: { status: 400 },
  UNSUPPORTED_SOURCE: { status: 400 },
  /** Live: Deepgram closes undecodable audio with 1011 and the reason DATA-0000. */
  BAD_AUDIO: { status: 400, close: 1011 },
  UNSUPPORTED_MEDIA_TYPE: { status: 415 },
  /** Live: a frame over --max-frame-bytes (the transports close it themselves). */
  PAYLOAD_TOO_LARGE: { status: 413, close: 1009 },
  /** Live: a text frame that is not UTF-8 (the transports close it themselves). */
  INVALID_UTF8: { close: 1007 },
  /** Live: a frame that breaks the WebSocket protocol (the ws transport closes it itself). */
  PROTOCOL_ERROR: { close: 1002 },
  /** Live: a message in too many fragments (the ws transport closes it itself). */
  TOO_MANY_FRAGMENTS: { close: 1008 },
  /** A field of a request body (a form or JSON field: the message names it). */
  INVALID_FIELD: { status: 400 },
  /** known_speakers names a voiceprint the subject does not have. */
  UNKNOWN_SPEAKER: { status: 400 },
  REQUEST_TIMEOUT: { status: 408 },
  CLIENT_CLOSED_REQUEST: { status: 499 },

  // Routes and sessions.
  NOT_FOUND: { status: 404 },
  SESSION_NOT_FOUND: { status: 404 },
  METHOD: { status: 405 },
  UPGRADE_REQUIRED: { status: 426 },
  SESSION_LIVE: { status: 409 },
  LIVE: { status: 409 },
  /** A voiceprint made by another speaker model than the server runs: its vector means nothing to this one. */
  SPEAKER_MODEL_MISMATCH: { status: 409 },

  // Credentials (auth/). Those a re-check can find on a live stream stop it with 1008.
  MISSING_CREDENTIAL: { status: 401 },
  MALFORMED_CREDENTIAL: { status: 401 },
  INVALID_CREDENTIAL: { status: 401, close: 1008 },
  /** A credential that was accepted at the upgrade and no longer is (a revoked API key). */
  CREDENTIAL_REVOKED: { status: 401, close: 1008 },
  TOKEN_EXPIRED: { status: 401, close: 1008 },
  TOKEN_NOT_YET_VALID: { status: 401, close: 1008 },
  WRONG_AUDIENCE: { status: 401, close: 1008 },
  WRONG_ISSUER: { status: 401, close: 1008 },
  INVALID_TOKEN: { status: 401, close: 1008 },
  UNKNOWN_KEY: { status: 401, close: 1008 },
  ALGORITHM_NOT_ALLOWED: { status: 401, close: 1008 },
  BAD_SIGNATURE: { status: 401, close: 1008 },
  /** The signing keys cannot be fetched: says nothing about the credential, so a live stream goes on. */
  JWKS_UNAVAILABLE: { status: 503 },
  ANONYMOUS_NOT_ALLOWED: { status: 403 },

  // Where a request comes from (http/cors.ts, http/hosts.ts).
  ORIGIN_NOT_ALLOWED: { status: 403 },
  HOST_NOT_ALLOWED: { status: 403 },

  // Limits (limits/).
  TOO_MANY_CONNECTIONS: { status: 429 },
  TOO_MANY_REQUESTS: { status: 429 },
  TOO_MANY_STREAMS: { status: 429 },
  TOO_MANY_VOICEPRINTS: { status: 429 },
  AUDIO_QUOTA_EXCEEDED: { status: 429, close: 1008 },
  SESSION_TOO_LONG: { status: 403, close: 1008 },

  // Admission, shutdown, the store, the server itself.
  /** Live: the stream outruns the engine (audio queued, or finals waiting for inference). */
  OVERLOADED: { status: 503, close: 1013 },
  SHUTTING_DOWN: { status: 503, close: 1001 },
  /** The transcript store (Redis) cannot promise durable finals: new streams wait, live ones close 1011. */
  STORE_UNAVAILABLE: { status: 503, close: 1011 },
  INTERNAL: { status: 500, close: 1011 },

  // Live streams only: the session's own bounds (the client sees the code in an Error message or the reason).
  /** The client does not read its results (its send queue is full). */
  CLIENT_NOT_READING: { close: 1008 },
  TOO_MANY_MESSAGES: { close: 1008 },
  /** The store's cap on one session's transcript. */
  TRANSCRIPT_FULL: { close: 1008 },
  /** No audio or KeepAlive for --idle-timeout: Deepgram's NET-0001. */
  IDLE_TIMEOUT: { close: 1011 },
  /** After CloseStream, the finals were not all decoded within the flush limit. */
  FLUSH_LIMIT: { close: 1011 },
  /** Not a refusal: the stream ended as the client asked, every final delivered. */
  DONE: { close: 1000 },
} as const satisfies Record<string, { status?: number; close?: number }>;

type Table = typeof ERRORS;
export type ErrorCode = keyof Table;
/** Codes a request can be refused with. */
export type HttpErrorCode = { [K in ErrorCode]: Table[K] extends { status: number } ? K : never }[ErrorCode];
/** Codes that can end a live stream. */
export type CloseErrorCode = { [K in ErrorCode]: Table[K] extends { close: number } ? K : never }[ErrorCode];

/** The WebSocket close code a row ends a live stream with. */
export function closeCode(code: CloseErrorCode): number {
  return ERRORS[code].close;
}

/** Whether a row can end a live stream. */
export function endsStreams(code: ErrorCode): code is CloseErrorCode {
  return 'close' in ERRORS[code];
}

/** What a refusal says, as data (auth and limits return these; guard answers them). */
export interface Refusal {
  /** From the table. */
  status: number;
  code: HttpErrorCode;
  /** For people; never contains a credential. */
  message: string;
  /** Seconds, sent as Retry-After (429 and 503). */
  retryAfterSeconds?: number;
}

/** A refusal of the table's row `code`: its status follows from the row. */
export function refusal(code: HttpErrorCode, message: string, retryAfterSeconds?: number): Refusal {
  const status = ERRORS[code].status;
  return retryAfterSeconds === undefined
    ? { status, code, message }
    : { status, code, message, retryAfterSeconds };
}

/** How a live stream must end: the session delivers its finals, then closes with this code and reason. */
export interface StreamStop {
  code: number;
  reason: string;
}

/** A row that ends a live stream: its close code, and a reason that starts with its code. */
export function streamStop(code: CloseErrorCode, message: string): StreamStop {
  return { code: closeCode(code), reason: `${code}: ${message}` };
}

export interface ApiErrorOptions {
  /** Deepgram's dg-error header; defaults to the message. */
  dgError?: string;
  retryAfterSeconds?: number;
}

/** A refusal thrown from a route: status and headers follow from its row. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly code: HttpErrorCode,
    message: string,
    readonly options: ApiErrorOptions = {},
  ) {
    super(message);
  }
  get status(): number {
    return ERRORS[this.code].status;
  }

  /** A refusal as a thrown error; its dg-error is `CODE: message`, as auth and limits answer. */
  static from(r: Refusal): ApiError {
    return new ApiError(r.code, r.message, {
      dgError: `${r.code}: ${r.message}`,
      retryAfterSeconds: r.retryAfterSeconds,
    });
  }
}

/** A command line that cannot run as given; exit code 2. Here so that no module needs the CLI. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A server or store a command talks to refused it or could not be reached; exit code 1. */
export class ServiceError extends Error {
  override name = 'ServiceError';
}

// What authentication decides: who is asking, or why they are refused.

import { jsonErrorWithDgError } from '../errors.js';
import type { HttpRequest, HttpResponse } from '../transport/types.js';

/** The parts of a request that authentication reads. */
export type AuthRequest = Pick<HttpRequest, 'headers' | 'query' | 'remoteAddress'>;

export interface Principal {
  /** Owner of sessions: the JWT `sub`, `key:NAME` for an API key, '' for the anonymous principal (auth off). */
  subject: string;
  /** Sees and manages every subject's sessions. */
  admin: boolean;
  /** The API key's name (for logs and metrics; never the key). */
  keyName?: string;
}

export const ANONYMOUS: Principal = Object.freeze({ subject: '', admin: false });

export interface Refusal {
  /** 401 missing/invalid credential, 403 not allowed, 429 over a limit, 503 the JWKS cannot be fetched. */
  status: number;
  /** Stable machine code, e.g. INVALID_CREDENTIAL, TOKEN_EXPIRED, RATE_LIMITED. */
  code: string;
  /** For people; never contains the credential. */
  message: string;
  /** Seconds, sent as Retry-After (429 and 503). */
  retryAfterSeconds?: number;
}

/** A refusal thrown from deep inside a route (a file's audio over the budget), answered by the app. */
export class RefusalError extends Error {
  override name = 'RefusalError';
  constructor(readonly refusal: Refusal) {
    super(refusal.message);
  }
}

export function refusal(status: number, code: string, message: string, retryAfterSeconds?: number): Refusal {
  return retryAfterSeconds === undefined
    ? { status, code, message }
    : { status, code, message, retryAfterSeconds };
}

/**
 * The error table's answer shape (errors.ts jsonError: JSON {error:{code,message}}) plus dg-error, Retry-After, and
 * WWW-Authenticate on 401. Auth and limit codes are their own set (see the modules that make them).
 */
export function refusalResponse(r: Refusal, extraHeaders: Record<string, string> = {}): HttpResponse {
  const res = jsonErrorWithDgError(r.status, r.code, r.message, `${r.code}: ${r.message}`);
  const headers: Record<string, string> = { ...res.headers, ...extraHeaders };
  if (r.status === 401) headers['www-authenticate'] = 'Token realm="earshot", Bearer realm="earshot"';
  if (r.retryAfterSeconds !== undefined) headers['retry-after'] = String(r.retryAfterSeconds);
  return { ...res, headers };
}

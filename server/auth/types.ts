// What authentication decides: who is asking, or why they are refused.

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

export function refusal(status: number, code: string, message: string, retryAfterSeconds?: number): Refusal {
  return retryAfterSeconds === undefined
    ? { status, code, message }
    : { status, code, message, retryAfterSeconds };
}

/** The same refusal shape the app uses before an upgrade: JSON {error:{code,message}}, dg-error, Retry-After. */
export function refusalResponse(r: Refusal, extraHeaders: Record<string, string> = {}): HttpResponse {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'dg-error': `${r.code}: ${r.message}`,
    ...extraHeaders,
  };
  if (r.status === 401) headers['www-authenticate'] = 'Token realm="earshot", Bearer realm="earshot"';
  if (r.retryAfterSeconds !== undefined) headers['retry-after'] = String(r.retryAfterSeconds);
  return { status: r.status, headers, body: JSON.stringify({ error: { code: r.code, message: r.message } }) };
}

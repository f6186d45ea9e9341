// Where a request carries its credential: Authorization (Token / Bearer), the WebSocket subprotocol, or ?token=.

import { refusal, type Refusal } from '../errors.js';
import type { AuthRequest } from './types.js';

export interface Credential {
  value: string;
  /** 'key': only an API key is acceptable (`Authorization: Token`); 'any': an API key or a JWT. */
  accepts: 'key' | 'any';
  via: 'authorization' | 'subprotocol' | 'query';
  /** The Sec-WebSocket-Protocol the server must answer with (browsers fail the handshake otherwise). */
  protocol?: string;
}

/** Schemes a browser may offer as the first subprotocol, the credential being the next one. */
const SUBPROTOCOL_SCHEMES = ['token', 'bearer'];
const AUTHORIZATION = /^(token|bearer) +([\x21-\x7e]+)$/i;
const PLAUSIBLE = /^[\x21-\x7e]{1,8192}$/;

const malformed = (message: string) => refusal('MALFORMED_CREDENTIAL', message);

/**
 * The request's credential, undefined when it carries none, or a refusal when one is malformed or several differ.
 * The subprotocol (if offered) is reported even without auth configured, since the client needs it answered.
 */
export function extractCredential(req: AuthRequest): Credential | Refusal | undefined {
  const found: Credential[] = [];

  const authorization = req.headers['authorization'];
  if (authorization !== undefined) {
    const m = AUTHORIZATION.exec(authorization.trim());
    if (!m)
      return malformed('the Authorization header must be "Token <api key>" or "Bearer <api key or JWT>"');
    found.push({
      value: m[2],
      accepts: m[1].toLowerCase() === 'token' ? 'key' : 'any',
      via: 'authorization',
    });
  }

  const offered = subprotocolCredential(req.headers['sec-websocket-protocol']);
  if (offered && 'status' in offered) return offered;
  if (offered) found.push(offered);

  const tokens = req.query.getAll('token');
  if (tokens.length > 1) return malformed('give ?token= once');
  if (tokens.length === 1) {
    if (!PLAUSIBLE.test(tokens[0])) return malformed('?token= must be a non-empty API key or JWT');
    found.push({ value: tokens[0], accepts: 'any', via: 'query' });
  }

  if (found.length === 0) return undefined;
  if (found.some((c) => c.value !== found[0].value)) {
    return malformed(`different credentials in ${found.map((c) => c.via).join(' and ')}: send one`);
  }
  // The strictest reading wins (Token means an API key); the subprotocol must be echoed whichever source won.
  const protocol = found.find((c) => c.protocol)?.protocol;
  const best = found.find((c) => c.accepts === 'key') ?? found[0];
  return protocol ? { ...best, protocol } : best;
}

function subprotocolCredential(header: string | undefined): Credential | Refusal | undefined {
  if (header === undefined) return undefined;
  const offered = header.split(',').map((p) => p.trim());
  const i = offered.findIndex((p) => SUBPROTOCOL_SCHEMES.includes(p.toLowerCase()));
  if (i < 0) return undefined;
  const value = offered[i + 1];
  if (!value || !PLAUSIBLE.test(value)) {
    return malformed(`Sec-WebSocket-Protocol "${offered[i]}" must be followed by the API key or JWT`);
  }
  return { value, accepts: 'any', via: 'subprotocol', protocol: offered[i] };
}

/** The auth scheme a client offered as a subprotocol ('token' or 'bearer', as spelled), to echo it. */
export function offeredAuthSubprotocol(header: string | undefined): string | undefined {
  return header
    ?.split(',')
    .map((p) => p.trim())
    .find((p) => SUBPROTOCOL_SCHEMES.includes(p.toLowerCase()));
}

/** Three base64url segments: a compact JWS. API keys never contain dots. */
export function looksLikeJwt(value: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(value);
}

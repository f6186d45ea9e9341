// The one entry point: a request in, a Principal or a Refusal out.

import { ApiKeyStore } from './api-keys.js';
import { extractCredential, looksLikeJwt, offeredAuthSubprotocol } from './credentials.js';
import { JwtVerifier, type JwtOptions } from './jwt.js';
import { refusal, type Refusal } from '../errors.js';
import { ANONYMOUS, type AuthRequest, type Principal } from './types.js';

export interface AuthConfig {
  /** `NAME:KEY[:admin],...` or `@FILE`. */
  apiKeys?: string;
  /** A file of `name sha256:<hex> [admin]` lines. */
  apiKeysFile?: string;
  jwtSecret?: string;
  jwksUrl?: string;
  jwtAudience?: string;
  jwtIssuer?: string;
  /** With auth off, serve the anonymous principal to non-loopback clients too. */
  allowAnonymous?: boolean;
  /** Clock tolerance and JWKS timings (see JwtOptions). */
  jwt?: Pick<JwtOptions, 'clockToleranceSec' | 'jwksTimeoutMs' | 'jwksCooldownMs' | 'jwksMaxAgeMs'>;
}

export type AuthResult = (
  | {
      ok: true;
      principal: Principal;
      /** Checks the same credential again (a long-lived stream): the refusal it would get now, or none. */
      recheck?: () => Promise<Refusal | undefined>;
    }
  | { ok: false; refusal: Refusal }
) & {
  /** Answer the upgrade with this Sec-WebSocket-Protocol (the client offered it to carry its credential). */
  protocol?: string;
};

/** Paths served without a credential (SPEC: Auth). */
const PUBLIC_PATHS = new Set(['/healthz', '/readyz', '/', '/index.html', '/favicon.ico']);

/**
 * Whatever the method: a CORS preflight is answered before auth (Guard), and any other OPTIONS is an ordinary
 * request that must not reach a route's data without a credential.
 */
export function requiresAuth(path: string): boolean {
  return !PUBLIC_PATHS.has(path);
}

export function isLoopback(address: string): boolean {
  return /^127\.\d+\.\d+\.\d+$/.test(address) || address === '::1';
}

export class Authenticator {
  readonly keys: ApiKeyStore | undefined;
  readonly jwt: JwtVerifier | undefined;
  private readonly allowAnonymous: boolean;

  constructor(parts: { keys?: ApiKeyStore; jwt?: JwtVerifier; allowAnonymous?: boolean }) {
    this.keys = parts.keys;
    this.jwt = parts.jwt;
    this.allowAnonymous = parts.allowAnonymous ?? false;
  }

  /** Throws (ApiKeyError, Error) with a clear message on a bad option, before the server listens. */
  static fromConfig(c: AuthConfig): Authenticator {
    if (c.apiKeys !== undefined && c.apiKeysFile !== undefined) {
      throw new Error('give --api-keys or --api-keys-file, not both');
    }
    // An identity provider signs tokens for every application it serves: without an audience, any of them would do.
    if (c.jwksUrl !== undefined && !c.jwtAudience) {
      throw new Error(
        '--jwks-url needs --jwt-audience: otherwise any token its identity provider signs, for any application, is accepted',
      );
    }
    const keys =
      c.apiKeysFile !== undefined
        ? ApiKeyStore.fromFile(c.apiKeysFile)
        : c.apiKeys !== undefined
          ? ApiKeyStore.fromOption(c.apiKeys)
          : undefined;
    const jwt =
      c.jwtSecret !== undefined || c.jwksUrl !== undefined
        ? new JwtVerifier({
            secret: c.jwtSecret,
            jwksUrl: c.jwksUrl,
            audience: c.jwtAudience,
            issuer: c.jwtIssuer,
            ...c.jwt,
          })
        : undefined;
    return new Authenticator({ keys, jwt, allowAnonymous: c.allowAnonymous });
  }

  get enabled(): boolean {
    return this.keys !== undefined || this.jwt !== undefined;
  }

  /** Auth off and not --allow-anonymous: the server means to serve this machine only. */
  get loopbackOnly(): boolean {
    return !this.enabled && !this.allowAnonymous;
  }

  /** One line for the startup log (loud when auth is off). */
  describe(): string {
    if (!this.enabled) {
      return this.allowAnonymous
        ? 'auth is OFF: anyone who can reach this server can use it (--allow-anonymous)'
        : 'auth is OFF: only loopback clients are served; configure --api-keys or --jwt-secret/--jwks-url';
    }
    const parts = [];
    if (this.keys)
      parts.push(`${this.keys.size} API key(s)${this.keys.file ? ` from ${this.keys.file}` : ''}`);
    if (this.jwt) parts.push('Bearer JWTs');
    return `auth on: ${parts.join(', ')}`;
  }

  async authenticate(req: AuthRequest): Promise<AuthResult> {
    if (!this.enabled) {
      const protocol = offeredAuthSubprotocol(req.headers['sec-websocket-protocol']);
      const result: AuthResult =
        this.allowAnonymous || isLoopback(req.remoteAddress)
          ? { ok: true, principal: ANONYMOUS }
          : {
              ok: false,
              refusal: refusal(
                'ANONYMOUS_NOT_ALLOWED',
                'this server has no auth configured and serves only loopback clients',
              ),
            };
      return protocol ? { ...result, protocol } : result;
    }
    const cred = extractCredential(req);
    if (cred === undefined) {
      return {
        ok: false,
        refusal: refusal(
          'MISSING_CREDENTIAL',
          'send a credential: Authorization: Token <api key> or Bearer <JWT>, ?token=, or the token subprotocol',
        ),
      };
    }
    if ('status' in cred) return { ok: false, refusal: cred };
    const { value, accepts } = cred;
    const outcome = await this.check(value, accepts);
    const recheck = async () => {
      const now = await this.check(value, accepts);
      return 'status' in now ? now : undefined;
    };
    const result: AuthResult =
      'status' in outcome ? { ok: false, refusal: outcome } : { ok: true, principal: outcome, recheck };
    return cred.protocol ? { ...result, protocol: cred.protocol } : result;
  }

  private async check(value: string, accepts: 'key' | 'any'): Promise<Principal | Refusal> {
    if (accepts === 'any' && looksLikeJwt(value)) {
      if (this.jwt) return this.jwt.verify(value);
      return refusal('INVALID_CREDENTIAL', 'this server accepts API keys, not JWTs');
    }
    const entry = this.keys?.verify(value);
    if (!entry) return refusal('INVALID_CREDENTIAL', 'unknown or revoked API key');
    return { subject: `key:${entry.name}`, admin: entry.admin, keyName: entry.name };
  }
}

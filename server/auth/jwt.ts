// Bearer JWTs: an HS256 secret and/or a JWKS URL, algorithms pinned per key source, claims checked with jose.

import {
  createRemoteJWKSet,
  errors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTHeaderParameters,
  type FlattenedJWSInput,
} from 'jose';
import { refusal, type HttpErrorCode, type Refusal } from '../errors.js';
import type { Principal } from './types.js';

export interface JwtOptions {
  /** HS256 shared secret (at least 32 bytes). */
  secret?: string;
  /** JWKS URL for RS256, ES256 and EdDSA keys. */
  jwksUrl?: string;
  audience?: string;
  issuer?: string;
  /** Leeway for exp and nbf; at most 300 s. Default 30 s. */
  clockToleranceSec?: number;
  /** A JWKS fetch that takes longer fails (503). Default 5000 ms. */
  jwksTimeoutMs?: number;
  /** An unknown kid refetches the JWKS at most this often. Default 60000 ms. */
  jwksCooldownMs?: number;
  /** The JWKS is refetched when older than this. Default 10 minutes. */
  jwksMaxAgeMs?: number;
}

const HMAC_ALGS = ['HS256'];
const JWKS_ALGS = ['RS256', 'ES256', 'EdDSA', 'Ed25519'];
const MAX_TOLERANCE_SEC = 300;
/** API-key principals are `key:NAME`; a JWT must not be able to claim one. */
const RESERVED_SUBJECT = /^key:/;

/** The JWKS could not be fetched or parsed: the server's problem, not the token's. */
class JwksUnavailable extends Error {}

export class JwtVerifier {
  private readonly secret: Uint8Array | undefined;
  private readonly jwks: JWTVerifyGetKey | undefined;
  private readonly algorithms: string[];
  private readonly tolerance: number;

  constructor(private readonly o: JwtOptions) {
    if (!o.secret && !o.jwksUrl) throw new Error('JWT verification needs a secret or a JWKS URL');
    if (o.secret !== undefined && Buffer.byteLength(o.secret) < 32) {
      throw new Error(
        'the JWT secret must be at least 32 bytes (HS256 with a short secret can be brute-forced)',
      );
    }
    this.tolerance = Math.min(Math.max(o.clockToleranceSec ?? 30, 0), MAX_TOLERANCE_SEC);
    this.secret = o.secret === undefined ? undefined : new TextEncoder().encode(o.secret);
    if (o.jwksUrl !== undefined) {
      let url: URL;
      try {
        url = new URL(o.jwksUrl);
      } catch {
        throw new Error(`the JWKS URL "${o.jwksUrl}" is not a URL`);
      }
      this.jwks = createRemoteJWKSet(url, {
        timeoutDuration: o.jwksTimeoutMs ?? 5000,
        cooldownDuration: o.jwksCooldownMs ?? 60_000,
        cacheMaxAge: o.jwksMaxAgeMs ?? 600_000,
      });
    }
    this.algorithms = [...(this.secret ? HMAC_ALGS : []), ...(this.jwks ? JWKS_ALGS : [])];
  }

  async verify(token: string): Promise<Principal | Refusal> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, (header, input) => this.key(header, input), {
        algorithms: this.algorithms,
        audience: this.o.audience,
        issuer: this.o.issuer,
        clockTolerance: this.tolerance,
        requiredClaims: ['sub', 'exp'],
      }));
    } catch (err) {
      return refusalFor(err);
    }
    const sub = payload.sub;
    if (typeof sub !== 'string' || sub === '' || RESERVED_SUBJECT.test(sub)) {
      return refusal(
        'INVALID_TOKEN',
        'the JWT sub claim must be a non-empty string not starting with "key:"',
      );
    }
    return { subject: sub, admin: grantsAdmin(payload) };
  }

  /** HS256 only ever meets the secret and asymmetric algorithms only the JWKS: no key can serve both. */
  private async key(header: JWTHeaderParameters, input: FlattenedJWSInput) {
    if (HMAC_ALGS.includes(header.alg ?? '')) {
      if (this.secret) return this.secret;
    } else if (this.jwks) {
      try {
        return await this.jwks(header, input);
      } catch (err) {
        if (
          err instanceof errors.JWKSNoMatchingKey ||
          err instanceof errors.JWKSMultipleMatchingKeys ||
          err instanceof errors.JOSENotSupported
        ) {
          throw err;
        }
        throw new JwksUnavailable((err as Error).message, { cause: err });
      }
    }
    throw new errors.JOSEAlgNotAllowed(`"alg" (Algorithm) Header Parameter value not allowed`);
  }
}

function grantsAdmin(payload: JWTPayload): boolean {
  if (payload.earshot_admin === true) return true;
  const scopes = [payload.scope, payload.scp].flatMap((s) =>
    typeof s === 'string' ? s.split(' ') : Array.isArray(s) ? s : [],
  );
  return scopes.includes('earshot:admin');
}

function refusalFor(err: unknown): Refusal {
  const invalid = (code: HttpErrorCode, message: string) => refusal(code, message);
  if (err instanceof JwksUnavailable) {
    return refusal('JWKS_UNAVAILABLE', 'the signing keys (JWKS) cannot be fetched just now: try again', 5);
  }
  if (err instanceof errors.JWTExpired) return invalid('TOKEN_EXPIRED', 'the JWT has expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'nbf':
        return invalid('TOKEN_NOT_YET_VALID', 'the JWT is not valid yet (nbf)');
      case 'aud':
        return invalid('WRONG_AUDIENCE', 'the JWT aud claim does not name this server');
      case 'iss':
        return invalid('WRONG_ISSUER', 'the JWT iss claim is not the accepted issuer');
      default:
        return invalid('INVALID_TOKEN', `the JWT ${err.claim} claim is missing or invalid`);
    }
  }
  if (err instanceof errors.JWKSNoMatchingKey) {
    return invalid('UNKNOWN_KEY', 'no signing key matches the JWT kid/alg');
  }
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) {
    return invalid('ALGORITHM_NOT_ALLOWED', 'the JWT alg is not accepted');
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    return invalid('BAD_SIGNATURE', 'the JWT signature does not verify');
  }
  return invalid('INVALID_TOKEN', 'the JWT is malformed');
}

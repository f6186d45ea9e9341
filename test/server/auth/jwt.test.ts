import assert from 'node:assert/strict';
import { after, before, describe, mock, test } from 'node:test';
import { createServer } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, UnsecuredJWT, type CryptoKey } from 'jose';
import { JwtVerifier } from '../../../server/auth/jwt.js';
import type { Principal } from '../../../server/auth/types.js';
import type { Refusal } from '../../../server/errors.js';
import { JwksServer } from './helpers.js';

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256';
const AUD = 'earshot-test';
const ISS = 'https://issuer.test';
const now = () => Math.floor(Date.now() / 1000);

interface Signer {
  alg: string;
  kid?: string;
  key: CryptoKey | Uint8Array;
}

function sign(s: Signer, claims: Record<string, unknown> = {}, opts: { exp?: number; nbf?: number } = {}) {
  const jwt = new SignJWT({ sub: 'alice', aud: AUD, iss: ISS, ...claims })
    .setProtectedHeader(s.kid ? { alg: s.alg, kid: s.kid } : { alg: s.alg })
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? now() + 300);
  if (opts.nbf !== undefined) jwt.setNotBefore(opts.nbf);
  return jwt.sign(s.key);
}

function refused(r: Principal | Refusal, status: number, code: string): void {
  assert.ok('status' in r, `expected a refusal, got principal ${JSON.stringify(r)}`);
  assert.equal(r.code, code, r.message);
  assert.equal(r.status, status);
}

const hs: Signer = { alg: 'HS256', key: new TextEncoder().encode(SECRET) };

describe('JwtVerifier with an HS256 secret', () => {
  const v = new JwtVerifier({ secret: SECRET, audience: AUD, issuer: ISS });

  test('accepts a valid token; sub is the subject; admin only with the claim or scope', async () => {
    assert.deepEqual(await v.verify(await sign(hs)), { subject: 'alice', admin: false });
    assert.deepEqual(await v.verify(await sign(hs, { earshot_admin: true })), {
      subject: 'alice',
      admin: true,
    });
    assert.deepEqual(await v.verify(await sign(hs, { scope: 'read earshot:admin' })), {
      subject: 'alice',
      admin: true,
    });
    assert.deepEqual(await v.verify(await sign(hs, { earshot_admin: 'yes' })), {
      subject: 'alice',
      admin: false,
    });
  });

  test('refuses expired, not yet valid, wrong audience, wrong issuer, bad signature', async () => {
    refused(await v.verify(await sign(hs, {}, { exp: now() - 120 })), 401, 'TOKEN_EXPIRED');
    refused(await v.verify(await sign(hs, {}, { nbf: now() + 120 })), 401, 'TOKEN_NOT_YET_VALID');
    refused(await v.verify(await sign(hs, { aud: 'someone-else' })), 401, 'WRONG_AUDIENCE');
    refused(await v.verify(await sign(hs, { iss: 'https://evil.test' })), 401, 'WRONG_ISSUER');
    const other = { alg: 'HS256', key: new TextEncoder().encode(`${SECRET}-but-another-one`) };
    refused(await v.verify(await sign(other)), 401, 'BAD_SIGNATURE');
  });

  test('clock tolerance is bounded: 10 s late passes, 60 s late does not', async () => {
    assert.ok(!('status' in (await v.verify(await sign(hs, {}, { exp: now() - 10 })))));
    refused(await v.verify(await sign(hs, {}, { exp: now() - 60 })), 401, 'TOKEN_EXPIRED');
    const lax = new JwtVerifier({ secret: SECRET, clockToleranceSec: 100_000 });
    refused(await lax.verify(await sign(hs, {}, { exp: now() - 3600 })), 401, 'TOKEN_EXPIRED');
  });

  test('refuses alg none, a token without sub or exp, and a sub posing as an API key', async () => {
    const none = new UnsecuredJWT({ sub: 'alice', aud: AUD, iss: ISS }).setExpirationTime('5m').encode();
    refused(await v.verify(none), 401, 'ALGORITHM_NOT_ALLOWED');
    const noSub = await new SignJWT({ aud: AUD, iss: ISS })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('5m')
      .sign(hs.key);
    refused(await v.verify(noSub), 401, 'INVALID_TOKEN');
    const noExp = await new SignJWT({ sub: 'alice', aud: AUD, iss: ISS })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(hs.key);
    refused(await v.verify(noExp), 401, 'INVALID_TOKEN');
    refused(await v.verify(await sign(hs, { sub: 'key:ops' })), 401, 'INVALID_TOKEN');
    refused(await v.verify('not.a.jwt'), 401, 'INVALID_TOKEN');
  });

  test('a short secret is refused at start-up', () => {
    assert.throws(() => new JwtVerifier({ secret: 'short' }), /at least 32 bytes/);
  });

  test('messages never echo the token', async () => {
    const token = await sign(hs, { aud: 'x' });
    const r = await v.verify(token);
    assert.ok('status' in r && !r.message.includes(token.split('.')[2]));
  });
});

describe('JwtVerifier with a JWKS URL', () => {
  const jwks = new JwksServer();
  let url = '';
  const signers: Record<string, Signer & { publicKey: CryptoKey }> = {};

  before(async () => {
    url = await jwks.start();
    for (const alg of ['RS256', 'ES256', 'EdDSA']) {
      const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
      signers[alg] = { alg, kid: `kid-${alg}`, key: privateKey, publicKey };
      jwks.keys.push({ ...(await exportJWK(publicKey)), kid: `kid-${alg}`, alg, use: 'sig' });
    }
  });
  after(() => jwks.stop());

  test('accepts RS256, ES256 and EdDSA tokens, fetching the JWKS once', async () => {
    const v = new JwtVerifier({ jwksUrl: url, audience: AUD, issuer: ISS });
    jwks.fetches = 0;
    for (const alg of ['RS256', 'ES256', 'EdDSA']) {
      assert.deepEqual(await v.verify(await sign(signers[alg])), { subject: 'alice', admin: false }, alg);
    }
    assert.equal(jwks.fetches, 1);
  });

  test('an HS256 token signed with the RSA public key as the secret is refused', async () => {
    const pem = new TextEncoder().encode(await exportSPKI(signers.RS256.publicKey));
    const forged = await sign({ alg: 'HS256', kid: 'kid-RS256', key: pem });
    refused(await new JwtVerifier({ jwksUrl: url }).verify(forged), 401, 'ALGORITHM_NOT_ALLOWED');
    // With a secret configured too, HS256 meets only the secret.
    refused(await new JwtVerifier({ jwksUrl: url, secret: SECRET }).verify(forged), 401, 'BAD_SIGNATURE');
  });

  test('an unknown kid refetches the JWKS at most once per cooldown, then is refused', async () => {
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    try {
      const v = new JwtVerifier({ jwksUrl: url, jwksCooldownMs: 60_000 });
      jwks.fetches = 0;
      assert.ok(!('status' in (await v.verify(await sign(signers.ES256)))));
      assert.equal(jwks.fetches, 1);
      const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
      const rotated: Signer = { alg: 'ES256', kid: 'kid-new', key: privateKey };

      refused(await v.verify(await sign(rotated)), 401, 'UNKNOWN_KEY');
      assert.equal(jwks.fetches, 1, 'no refetch within the cooldown');
      mock.timers.tick(61_000);
      refused(await v.verify(await sign(rotated)), 401, 'UNKNOWN_KEY');
      assert.equal(jwks.fetches, 2, 'one refetch after the cooldown');
      refused(await v.verify(await sign(rotated)), 401, 'UNKNOWN_KEY');
      assert.equal(jwks.fetches, 2, 'still one refetch');

      // The issuer publishes the new key: after the cooldown it is picked up.
      jwks.keys.push({ ...(await exportJWK(publicKey)), kid: 'kid-new', alg: 'ES256' });
      mock.timers.tick(61_000);
      assert.ok(!('status' in (await v.verify(await sign(rotated)))));
      assert.equal(jwks.fetches, 3);
    } finally {
      mock.timers.reset();
      jwks.keys = jwks.keys.filter((k) => (k as { kid: string }).kid !== 'kid-new');
    }
  });

  test('a JWKS endpoint that does not answer gives 503 after the timeout, not a hang', async () => {
    const v = new JwtVerifier({ jwksUrl: url, jwksTimeoutMs: 300 });
    jwks.hang = true;
    try {
      const r = await v.verify(await sign(signers.RS256));
      refused(r, 503, 'JWKS_UNAVAILABLE');
      assert.ok('status' in r && r.retryAfterSeconds !== undefined);
    } finally {
      jwks.hang = false;
    }
  });

  test('a JWKS endpoint that is down gives 503', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const v = new JwtVerifier({ jwksUrl: `http://127.0.0.1:${port}/jwks.json`, jwksTimeoutMs: 1000 });
    refused(await v.verify(await sign(signers.RS256)), 503, 'JWKS_UNAVAILABLE');
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SignJWT } from 'jose';
import {
  Authenticator,
  isLoopback,
  requiresAuth,
  type AuthResult,
} from '../../../server/auth/authenticator.js';
import { extractCredential } from '../../../server/auth/credentials.js';
import { refusalResponse } from '../../../server/error-response.js';
import { request } from './helpers.js';

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256';
const KEY = 'esk_testkeytestkeytestkeytestkeytestkeytestk';
const auth = Authenticator.fromConfig({
  apiKeys: `ci:${KEY},ops:esk_opsopsopsopsopsops:admin`,
  jwtSecret: SECRET,
});

const jwt = (claims: Record<string, unknown> = {}) =>
  new SignJWT({ sub: 'alice', ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(SECRET));

function accepted(r: AuthResult, subject: string) {
  assert.ok(r.ok, `refused: ${!r.ok && r.refusal.code} ${!r.ok && r.refusal.message}`);
  assert.equal(r.principal.subject, subject);
  return r;
}

function refused(r: AuthResult, status: number, code: string) {
  assert.ok(!r.ok, `accepted as ${r.ok && r.principal.subject}`);
  assert.equal(r.refusal.code, code, r.refusal.message);
  assert.equal(r.refusal.status, status);
  return r;
}

describe('Authenticator: accepted credentials', () => {
  test('Authorization: Token KEY', async () => {
    const r = accepted(
      await auth.authenticate(request({ headers: { authorization: `Token ${KEY}` } })),
      'key:ci',
    );
    assert.deepEqual(r.principal, { subject: 'key:ci', admin: false, keyName: 'ci' });
    assert.equal(r.protocol, undefined);
  });

  test('Authorization: Bearer KEY, and the admin scope of a key', async () => {
    accepted(await auth.authenticate(request({ headers: { authorization: `bearer ${KEY}` } })), 'key:ci');
    const r = await auth.authenticate(
      request({ headers: { authorization: 'Bearer esk_opsopsopsopsopsops' } }),
    );
    assert.ok(accepted(r, 'key:ops').principal.admin);
  });

  test('Authorization: Bearer JWT', async () => {
    const r = await auth.authenticate(request({ headers: { authorization: `Bearer ${await jwt()}` } }));
    assert.deepEqual(accepted(r, 'alice').principal, { subject: 'alice', admin: false });
  });

  test('Sec-WebSocket-Protocol: token, <cred> is answered with the token protocol', async () => {
    const r = await auth.authenticate(
      request({ headers: { 'sec-websocket-protocol': `token, ${await jwt()}` } }),
    );
    accepted(r, 'alice');
    assert.equal(r.protocol, 'token');
    const k = await auth.authenticate(request({ headers: { 'sec-websocket-protocol': `token, ${KEY}` } }));
    assert.equal(accepted(k, 'key:ci').protocol, 'token');
  });

  test('?token= with a key or a JWT', async () => {
    accepted(await auth.authenticate(request({ query: `model=x&token=${KEY}` })), 'key:ci');
    accepted(await auth.authenticate(request({ query: `token=${await jwt()}` })), 'alice');
  });
});

describe('Authenticator: refusals', () => {
  test('no credential: 401 with a message saying how to send one', async () => {
    const r = refused(await auth.authenticate(request()), 401, 'MISSING_CREDENTIAL');
    assert.match(!r.ok ? r.refusal.message : '', /Authorization: Token/);
  });

  test('malformed headers and parameters', async () => {
    for (const headers of <Record<string, string>[]>[
      { authorization: 'Basic dXNlcjpwYXNz' },
      { authorization: 'Token' },
      { authorization: `Token ${KEY} extra` },
      { 'sec-websocket-protocol': 'token' },
    ]) {
      refused(await auth.authenticate(request({ headers })), 401, 'MALFORMED_CREDENTIAL');
    }
    refused(await auth.authenticate(request({ query: 'token=' })), 401, 'MALFORMED_CREDENTIAL');
    refused(await auth.authenticate(request({ query: `token=${KEY}&token=x` })), 401, 'MALFORMED_CREDENTIAL');
  });

  test('two different credentials are refused, the same one twice is fine', async () => {
    const headers = { authorization: `Token ${KEY}` };
    refused(
      await auth.authenticate(request({ headers, query: 'token=esk_other' })),
      401,
      'MALFORMED_CREDENTIAL',
    );
    accepted(await auth.authenticate(request({ headers, query: `token=${KEY}` })), 'key:ci');
  });

  test('unknown key, and a JWT under the Token scheme', async () => {
    const r = refused(
      await auth.authenticate(request({ headers: { authorization: 'Token esk_nope' } })),
      401,
      'INVALID_CREDENTIAL',
    );
    assert.ok(!r.ok && !r.refusal.message.includes('esk_nope'));
    refused(
      await auth.authenticate(request({ headers: { authorization: `Token ${await jwt()}` } })),
      401,
      'INVALID_CREDENTIAL',
    );
  });

  test('JWT refusals come through (expired)', async () => {
    const expired = await new SignJWT({ sub: 'alice' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(Math.floor(Date.now() / 1000) - 600)
      .sign(new TextEncoder().encode(SECRET));
    refused(await auth.authenticate(request({ query: `token=${expired}` })), 401, 'TOKEN_EXPIRED');
  });

  test('a JWT where only keys are configured', async () => {
    const keysOnly = Authenticator.fromConfig({ apiKeys: `ci:${KEY}` });
    refused(
      await keysOnly.authenticate(request({ headers: { authorization: `Bearer ${await jwt()}` } })),
      401,
      'INVALID_CREDENTIAL',
    );
  });

  test('the refusal response: JSON body, dg-error, WWW-Authenticate, Retry-After', () => {
    const res = refusalResponse({
      status: 401,
      code: 'INVALID_CREDENTIAL',
      message: 'unknown or revoked API key',
    });
    assert.equal(res.status, 401);
    assert.deepEqual(JSON.parse(String(res.body)), {
      error: { code: 'INVALID_CREDENTIAL', message: 'unknown or revoked API key' },
    });
    assert.equal(res.headers?.['dg-error'], 'INVALID_CREDENTIAL: unknown or revoked API key');
    assert.match(res.headers?.['www-authenticate'] ?? '', /Bearer/);
    const busy = refusalResponse({
      status: 503,
      code: 'JWKS_UNAVAILABLE',
      message: 'm',
      retryAfterSeconds: 5,
    });
    assert.equal(busy.headers?.['retry-after'], '5');
    assert.equal(busy.headers?.['www-authenticate'], undefined);
  });
});

describe('Authenticator with auth off', () => {
  const off = Authenticator.fromConfig({});

  test('anonymous from loopback only, unless allow-anonymous', async () => {
    assert.equal(off.enabled, false);
    assert.match(off.describe(), /auth is OFF/);
    accepted(await off.authenticate(request({ remoteAddress: '127.0.0.1' })), '');
    accepted(await off.authenticate(request({ remoteAddress: '::1' })), '');
    refused(await off.authenticate(request({ remoteAddress: '192.168.1.20' })), 403, 'ANONYMOUS_NOT_ALLOWED');
    const open = Authenticator.fromConfig({ allowAnonymous: true });
    accepted(await open.authenticate(request({ remoteAddress: '192.168.1.20' })), '');
  });

  test('the token subprotocol is still answered', async () => {
    const r = await off.authenticate(
      request({ remoteAddress: '127.0.0.1', headers: { 'sec-websocket-protocol': 'token, whatever' } }),
    );
    assert.equal(accepted(r, '').protocol, 'token');
  });
});

test('requiresAuth: health, readiness and the page are public; the rest needs a credential whatever the method', () => {
  for (const p of ['/healthz', '/readyz', '/', '/index.html']) assert.equal(requiresAuth(p), false, p);
  for (const p of ['/v1/listen', '/metrics', '/v1/sessions/x', '/v1/audio/transcriptions']) {
    assert.equal(requiresAuth(p), true, p);
  }
});

test('isLoopback', () => {
  assert.ok(isLoopback('127.0.0.1') && isLoopback('127.3.2.1') && isLoopback('::1'));
  assert.ok(!isLoopback('10.0.0.1') && !isLoopback('::ffff:1.2.3.4') && !isLoopback(''));
});

test('extractCredential: a bearer subprotocol is echoed as offered', () => {
  const c = extractCredential(request({ headers: { 'sec-websocket-protocol': 'bearer, abc.def.ghi' } }));
  assert.deepEqual(c, { value: 'abc.def.ghi', accepts: 'any', via: 'subprotocol', protocol: 'bearer' });
});

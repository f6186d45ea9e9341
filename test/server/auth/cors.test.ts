import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CorsPolicy } from '../../../server/auth/cors.js';

const req = (headers: Record<string, string>, method = 'GET') => ({ method, headers });
const host = { host: 'earshot.local:8080' };

describe('CorsPolicy: the WebSocket upgrade', () => {
  const none = new CorsPolicy();

  test('by default only the page’s own origin and clients without Origin', () => {
    assert.equal(none.checkUpgrade(req(host)), undefined, 'no Origin: not a browser');
    assert.equal(none.checkUpgrade(req({ ...host, origin: 'http://earshot.local:8080' })), undefined);
    for (const origin of ['https://evil.example', 'http://earshot.local:9999', 'null', 'file://']) {
      const r = none.checkUpgrade(req({ ...host, origin }));
      assert.equal(r?.status, 403, origin);
      assert.equal(r?.code, 'ORIGIN_NOT_ALLOWED');
    }
    assert.equal(
      none.checkUpgrade(req({ origin: 'http://earshot.local:8080' }))?.status,
      403,
      'no Host to match',
    );
  });

  test('an allow-list and *', () => {
    const some = CorsPolicy.fromOption('https://app.example.com, http://localhost:3000');
    assert.equal(some.checkUpgrade(req({ ...host, origin: 'https://app.example.com' })), undefined);
    assert.equal(some.checkUpgrade(req({ ...host, origin: 'http://localhost:3000' })), undefined);
    assert.equal(some.checkUpgrade(req({ ...host, origin: 'http://app.example.com' }))?.status, 403);
    assert.equal(some.checkUpgrade(req({ ...host, origin: 'https://app.example.com.evil' }))?.status, 403);
    assert.equal(new CorsPolicy(['*']).checkUpgrade(req({ ...host, origin: 'https://x.test' })), undefined);
  });

  test('bad allow-list entries are refused at start-up', () => {
    assert.throws(() => CorsPolicy.fromOption('app.example.com'), /not a URL/);
    assert.throws(() => CorsPolicy.fromOption('https://app.example.com/path'), /no path/);
    assert.doesNotThrow(() => CorsPolicy.fromOption('https://app.example.com/'));
  });
});

describe('CorsPolicy: HTTP routes', () => {
  const policy = CorsPolicy.fromOption('https://app.example.com');
  const preflight = (origin: string) =>
    policy.preflight(
      req(
        {
          ...host,
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization',
        },
        'OPTIONS',
      ),
    );

  test('a preflight from an allowed origin: 204 with methods, headers and max-age', () => {
    const res = preflight('https://app.example.com');
    assert.equal(res?.status, 204);
    assert.equal(res?.headers?.['access-control-allow-origin'], 'https://app.example.com');
    assert.match(res?.headers?.['access-control-allow-methods'] ?? '', /POST/);
    assert.match(res?.headers?.['access-control-allow-headers'] ?? '', /authorization/);
    assert.ok(Number(res?.headers?.['access-control-max-age']) > 0);
  });

  test('a preflight from another origin: 403 without any allow header', () => {
    const res = preflight('https://evil.example');
    assert.equal(res?.status, 403);
    assert.equal(res?.headers?.['access-control-allow-origin'], undefined);
  });

  test('not a preflight: undefined (the router goes on)', () => {
    assert.equal(policy.preflight(req({ origin: 'https://app.example.com' }, 'OPTIONS')), undefined);
    assert.equal(policy.preflight(req({ 'access-control-request-method': 'POST' }, 'OPTIONS')), undefined);
    assert.equal(
      policy.preflight(req({ origin: 'https://app.example.com', 'access-control-request-method': 'POST' })),
      undefined,
    );
  });

  test('response headers: allow and expose for an allowed origin, none otherwise', () => {
    const ok = policy.headers(req({ ...host, origin: 'https://app.example.com' }));
    assert.equal(ok['access-control-allow-origin'], 'https://app.example.com');
    assert.match(ok['access-control-expose-headers'], /dg-error/);
    assert.equal(ok.vary, 'origin');
    assert.deepEqual(policy.headers(req({ ...host, origin: 'https://evil.example' })), { vary: 'origin' });
    assert.deepEqual(policy.headers(req(host)), {});
  });
});

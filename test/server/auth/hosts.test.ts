import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Authenticator, type AuthConfig } from '../../../server/auth/authenticator.js';
import { Guard } from '../../../server/auth/guard.js';
import { CorsPolicy } from '../../../server/auth/cors.js';
import { HostPolicy } from '../../../server/auth/hosts.js';
import { Limiter } from '../../../server/limits/limiter.js';
import type { HttpRequest } from '../../../server/transport/types.js';

test('HostPolicy: localhost names, IP addresses, the bound name and --allowed-hosts; nothing rebindable', () => {
  const p = HostPolicy.fromOption('earshot.example.com, Other.Test', 'box.lan');
  for (const host of [
    'localhost:8080',
    'LOCALHOST',
    'localhost.:80',
    'app.localhost:3000',
    '127.0.0.1:8080',
    '10.1.2.3',
    '[::1]:8080',
    '[fe80::1]',
    'earshot.example.com',
    'other.test:443',
    'box.lan:8080',
    undefined,
  ]) {
    assert.ok(p.allows(host), String(host));
  }
  for (const host of [
    'evil.example:8080',
    'earshot.example.com.evil.example',
    'localhost.evil.example',
    'evil@127.0.0.1',
    '127.0.0.1/x',
    '',
    '[::1',
    'a b',
  ]) {
    assert.equal(p.allows(host), false, host);
  }
  assert.deepEqual(new HostPolicy().check({ headers: { host: 'evil.example:8080' } }), {
    status: 403,
    code: 'HOST_NOT_ALLOWED',
    message:
      "this Host name is not one of this server's: use localhost or its address, or add the name to --allowed-hosts",
  });
  assert.ok(HostPolicy.fromOption('*').allows('anything.example'));
  assert.equal(new HostPolicy().configured, false);
  assert.equal(HostPolicy.fromOption('a.test').configured, true);
});

test('HostPolicy: a bad --allowed-hosts entry is refused at start-up', () => {
  for (const bad of ['https://a.test', 'a.test:8080', 'a.test/x']) {
    assert.throws(() => HostPolicy.fromOption(bad), /must be a bare host name/, bad);
  }
});

test('Guard: the Host is checked on a loopback-only server and whenever --allowed-hosts is given', async () => {
  const req = (host: string) =>
    ({
      method: 'GET',
      path: '/healthz',
      query: new URLSearchParams(),
      headers: { host },
      remoteAddress: '127.0.0.1',
    }) as unknown as HttpRequest;
  const status = async (auth: AuthConfig, allowedHosts?: string) => {
    const guard = new Guard({
      auth: Authenticator.fromConfig(auth),
      limiter: new Limiter({}),
      cors: new CorsPolicy(),
      hosts: HostPolicy.fromOption(allowedHosts),
    });
    const a = await guard.http(req('evil.example:8080'));
    return a.ok ? 200 : a.response.status;
  };
  assert.equal(await status({}), 403, 'auth off: loopback only');
  assert.equal(await status({}, 'evil.example'), 200, 'a name the operator listed');
  // Anyone may connect by any name (Prometheus scraping earshot-1:8080), and a reverse proxy forwards its public
  // name to a server with auth on: no check unless names are given.
  assert.equal(await status({ allowAnonymous: true }), 200);
  assert.equal(await status({ apiKeys: 'a:secret-key' }), 200);
  assert.equal(await status({ apiKeys: 'a:secret-key' }, 'earshot.example.com'), 403);
});

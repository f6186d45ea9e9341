import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { synthModel } from '../helpers/models.js';
import { connect, startTestServer } from '../helpers/server.js';

/**
 * Findings of a security review, probed as it probed them, against a loopback server with auth off (its default):
 * DNS rebinding through the Host header, methods a route does not take (OPTIONS /metrics), and client text echoed
 * into the dg-error header. Both transports.
 */

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request with exactly these headers (fetch would not let a test choose the Host). */
function send(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A /v1/listen upgrade: 101, or the refusal's status, code and headers. */
async function upgrade(ws: string, query: string, headers: Record<string, string> = {}): Promise<Answer> {
  try {
    (await connect(`${ws}/v1/listen${query}`, undefined, headers)).close();
    return { status: 101, headers: {}, body: '' };
  } catch (err) {
    const e = err as { status?: number; body?: string; headers?: Answer['headers'] };
    if (e.status === undefined) throw err;
    return { status: e.status, headers: e.headers!, body: e.body! };
  }
}

const code = (a: Answer) => (JSON.parse(a.body) as { error: { code: string } }).error.code;

let model: string;
before(async () => (model = await synthModel()));

for (const transport of ['uws', 'ws'] as const) {
  describe(`${transport}: auth off`, () => {
    let server: Awaited<ReturnType<typeof startTestServer>>;
    before(async () => {
      server = await startTestServer({ model, transport, admissionTarget: 0, allowedHosts: 'earshot.test' });
    });
    after(() => server.stop());

    test('DNS rebinding: a rebound Host is refused (403 HOST_NOT_ALLOWED) on HTTP routes and on the upgrade', async () => {
      const evil = `evil.example:${server.port}`;
      const rebound = { host: evil, origin: `http://${evil}` };
      for (const path of ['/metrics', '/v1/usage', '/v1/sessions/x/transcript', '/']) {
        const a = await send(server.url, 'GET', path, rebound);
        assert.deepEqual([a.status, code(a)], [403, 'HOST_NOT_ALLOWED'], path);
        assert.equal(a.headers['access-control-allow-origin'], undefined, path);
        assert.match(String(a.headers['dg-error']), /^HOST_NOT_ALLOWED: /);
      }
      const u = await upgrade(server.ws, '?encoding=linear16&sample_rate=16000', rebound);
      assert.deepEqual([u.status, code(u)], [403, 'HOST_NOT_ALLOWED']);
      // Without an Origin too (a rebound page's same-origin GET may send none).
      assert.equal((await send(server.url, 'GET', '/v1/usage', { host: evil })).status, 403);
    });

    test('the names of this server pass: localhost, loopback addresses, --allowed-hosts; the page’s own origin gets CORS', async () => {
      for (const name of ['localhost', '127.0.0.1', '[::1]', 'earshot.test']) {
        const host = `${name}:${server.port}`;
        const a = await send(server.url, 'GET', '/v1/usage', { host, origin: `http://${host}` });
        assert.equal(a.status, 200, host);
        assert.equal(a.headers['access-control-allow-origin'], `http://${host}`);
        assert.equal((await upgrade(server.ws, '?sample_rate=16000', { host })).status, 101, host);
      }
    });

    test('OPTIONS is answered by the router (204 + Allow, no data); a method a route does not take is 405', async () => {
      const options = await send(server.url, 'OPTIONS', '/metrics');
      assert.equal(options.status, 204);
      assert.equal(options.body, '');
      assert.equal(options.headers['allow'], 'GET, HEAD, OPTIONS');
      for (const [method, path] of [
        ['POST', '/metrics'],
        ['DELETE', '/healthz'],
        ['PUT', '/readyz'],
        ['POST', '/'],
        ['PUT', '/v1/usage'],
        ['GET', '/v1/audio/transcriptions'],
        ['PUT', '/v1/listen'],
        ['POST', '/v1/sessions/x'],
        ['DELETE', '/v1/sessions/x/transcript'],
      ]) {
        const a = await send(server.url, method, path);
        assert.deepEqual([a.status, code(a)], [405, 'METHOD'], `${method} ${path}`);
        assert.match(String(a.headers['allow']), /OPTIONS$/);
      }
      assert.equal((await send(server.url, 'GET', '/metrics')).status, 200);
      assert.equal((await send(server.url, 'HEAD', '/healthz')).status, 200);
      assert.equal((await send(server.url, 'GET', '/v1/listen')).status, 426);
    });

    test('a query value with CR/LF or non-Latin-1 text: 400 with a printable dg-error, never a 500', async () => {
      const values = ['%0D%0Aset-cookie:%20x=1', '%E2%9C%93%F0%9F%98%80', '%C3%A9%00'];
      for (const v of values) {
        for (const a of [
          await send(server.url, 'POST', `/v1/listen?encoding=${v}`, { 'content-type': 'audio/wav' }, 'x'),
          await upgrade(server.ws, `?encoding=${v}`),
          await upgrade(server.ws, `?language=${v}`),
          await upgrade(server.ws, `?interim_results=${v}`),
        ]) {
          assert.deepEqual([a.status, code(a)], [400, 'INVALID_QUERY_PARAMETER'], v);
          assert.match(String(a.headers['dg-error']), /^[\x20-\x7e]+$/, v);
          assert.equal(a.headers['set-cookie'], undefined);
        }
      }
    });
  });
}

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { once } from 'node:events';
import { KINDS, request, withServer, Server } from './harness.js';
import { ListenError } from '../../../server/transport/index.js';

const json = (b: Buffer) => JSON.parse(b.toString('utf8')) as Record<string, unknown>;

for (const kind of KINDS) {
  describe(`http over ${kind}`, { timeout: 20000 }, () => {
    test('GET parses method, path, query, headers and remote address; response headers pass through', () =>
      withServer(kind, async (s) => {
        const r = await request(s.port, {
          path: '/meta?a=1&b=x%20y&a=2&empty=',
          headers: { 'X-Custom': 'Value', Authorization: 'Token abc' },
        });
        assert.equal(r.status, 200);
        assert.equal(r.headers['x-test'], 'yes');
        assert.equal(r.headers['content-type'], 'application/json');
        assert.equal(Number(r.headers['content-length']), r.body.length);
        const meta = json(r.body);
        assert.equal(meta.method, 'GET');
        assert.equal(meta.path, '/meta');
        assert.deepEqual(meta.query, [
          ['a', '1'],
          ['b', 'x y'],
          ['a', '2'],
          ['empty', ''],
        ]);
        const headers = meta.headers as Record<string, string>;
        assert.equal(headers['x-custom'], 'Value');
        assert.equal(headers['authorization'], 'Token abc');
        assert.equal(meta.remoteAddress, '127.0.0.1');
      }));

    test('any method reaches the handler', () =>
      withServer(kind, async (s) => {
        const r = await request(s.port, { method: 'DELETE', path: '/meta' });
        assert.equal(r.status, 200);
        assert.equal(json(r.body).method, 'DELETE');
        const missing = await request(s.port, { method: 'PATCH', path: '/nope' });
        assert.equal(missing.status, 404);
        assert.deepEqual(json(missing.body), { error: { code: 'not_found', message: 'PATCH /nope' } });
      }));

    test('POST echoes a 2 MB body sent in chunks, with and without content-length', () =>
      withServer(kind, async (s) => {
        const body = randomBytes(2 * 1024 * 1024);
        const chunks = Array.from({ length: 32 }, (_, i) => body.subarray(i * 65536, (i + 1) * 65536));
        const chunked = await request(s.port, { method: 'POST', path: '/echo', chunks });
        assert.equal(chunked.status, 200);
        assert.equal(chunked.headers['x-body-length'], String(body.length));
        assert.ok(chunked.body.equals(body));
        const sized = await request(s.port, {
          method: 'POST',
          path: '/echo',
          headers: { 'content-length': String(body.length) },
          chunks,
        });
        assert.equal(sized.status, 200);
        assert.ok(sized.body.equals(body));
      }));

    test('a body read after an await is complete', () =>
      withServer(kind, async (s) => {
        const body = randomBytes(2 * 1024 * 1024 + 17);
        const r = await request(s.port, { method: 'POST', path: '/late-echo', body });
        assert.equal(r.status, 200);
        assert.ok(r.body.equals(body));
      }));

    test('a body over the limit gives 413 and the server keeps serving', () =>
      withServer(kind, async (s) => {
        const declared = await request(s.port, {
          method: 'POST',
          path: '/small',
          body: Buffer.alloc(4096, 1),
        });
        assert.equal(declared.status, 413);
        const err = json(declared.body).error as Record<string, string>;
        assert.equal(err.code, 'body_too_large');
        assert.match(err.message, /1024 bytes/);
        const streamed = await request(s.port, {
          method: 'POST',
          path: '/small',
          chunks: [Buffer.alloc(800), Buffer.alloc(800)],
        });
        assert.equal(streamed.status, 413);
        const within = await request(s.port, { method: 'POST', path: '/small', body: Buffer.alloc(1024) });
        assert.equal(within.status, 200);
      }));

    test('a throwing handler gives a JSON 500, is logged, and is not fatal', () =>
      withServer(kind, async (s) => {
        const r = await request(s.port, { path: '/throw' });
        assert.equal(r.status, 500);
        assert.deepEqual(json(r.body), { error: { code: 'internal', message: 'boom' } });
        assert.ok(s.warnings.some((w) => w.includes('boom')));
        assert.equal((await request(s.port, { path: '/meta' })).status, 200);
      }));

    test('HEAD sends the length of the GET body and no body; 204 has neither', () =>
      withServer(kind, async (s) => {
        const get = await request(s.port, { path: '/text' });
        assert.equal(get.body.toString(), 'hello world');
        const head = await request(s.port, { method: 'HEAD', path: '/text' });
        assert.equal(head.status, 200);
        assert.equal(head.headers['content-length'], '11');
        assert.equal(head.headers['content-type'], 'text/plain');
        assert.equal(head.body.length, 0);
        const empty = await request(s.port, { path: '/empty' });
        assert.equal(empty.status, 204);
        assert.equal(empty.headers['content-length'], undefined);
      }));

    test('keep-alive: several requests on one connection, including HEAD', () =>
      withServer(kind, async (s) => {
        const socket = net.connect(s.port, '127.0.0.1');
        let received = '';
        socket.setEncoding('latin1');
        socket.on('data', (d: string) => (received += d));
        const ask = async (raw: string, until: (text: string) => boolean) => {
          received = '';
          socket.write(raw);
          const end = Date.now() + 5000;
          while (!until(received)) {
            if (Date.now() > end)
              throw new Error(`no complete answer to ${raw.split('\r\n')[0]}: ${received}`);
            await new Promise((r) => setTimeout(r, 5));
          }
          return received;
        };
        const head = await ask('HEAD /text HTTP/1.1\r\nHost: x\r\n\r\n', (t) => t.includes('\r\n\r\n'));
        assert.match(head, /^HTTP\/1.1 200 /);
        assert.match(head, /content-length: 11\r\n/i);
        const get = await ask('GET /text HTTP/1.1\r\nHost: x\r\n\r\n', (t) => t.endsWith('hello world'));
        assert.match(get, /^HTTP\/1.1 200 /);
        const again = await ask('GET /empty HTTP/1.1\r\nHost: x\r\n\r\n', (t) => t.includes('\r\n\r\n'));
        assert.match(again, /^HTTP\/1.1 204 /);
        socket.destroy();
      }));

    test('close() also ends idle keep-alive HTTP connections', async () => {
      const s = await new Server(kind).start();
      const socket = net.connect(s.port, '127.0.0.1');
      let received = '';
      socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
      socket.write('GET /text HTTP/1.1\r\nHost: x\r\n\r\n');
      const end = Date.now() + 5000;
      while (!received.endsWith('hello world') && Date.now() < end)
        await new Promise((r) => setTimeout(r, 5));
      assert.ok(received.endsWith('hello world'));
      const closed = once(socket, 'close');
      await s.close();
      await closed;
    });

    test('a plain GET on the WebSocket path goes to the HTTP handler', () =>
      withServer(kind, async (s) => {
        const r = await request(s.port, { path: '/v1/listen?encoding=linear16' });
        assert.equal(r.status, 426);
      }));

    test('listening on a port in use fails with ListenError', () =>
      withServer(kind, async (s) => {
        const second = new Server(kind);
        await assert.rejects(second.start(s.port), ListenError);
      }));
  });
}

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { closeOf, connect, KINDS, request, waitFor, withServer } from './harness.js';

/** Streamed request bodies and the documented answers to oversized or malformed input, on both transports. */

/** Raw HTTP exchange: whatever the server answers before it closes (empty on a reset). */
function rawExchange(port: number, head: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(head));
    let got = '';
    socket.on('data', (d) => (got += String(d)));
    socket.on('error', () => {});
    socket.on('close', () => resolve(got));
  });
}

function jsonBody(raw: string): { error: { code: string; message: string } } {
  return JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as { error: { code: string; message: string } };
}

// uWebSockets.js (this build) drops the TCP connection itself, with no close frame or response and no hook to
// answer first, on frames over its maxPayloadLength ceiling, invalid UTF-8 in text frames, and request heads over
// ~128 KiB. The ws transport gives the documented answers; these stay todo on uWS until the binding allows it.
const UWS_DROPS = 'uWS drops the connection itself (no close frame or response)';

for (const kind of KINDS) {
  const uwsTodo = kind === 'uws' ? UWS_DROPS : undefined;

  describe(`limits over ${kind}`, { timeout: 90000 }, () => {
    test('stream(): chunks reach the handler while the upload is still arriving', () =>
      withServer(kind, async (s) => {
        const chunk = (n: number) => `${n.toString(16)}\r\n${'a'.repeat(n)}\r\n`;
        const socket = net.connect(s.port, '127.0.0.1');
        await new Promise((r) => socket.once('connect', r));
        let got = '';
        socket.on('data', (d) => (got += String(d)));
        socket.write(
          `POST /stream HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n${chunk(100_000)}`,
        );
        // The rest is sent only once the handler has the first part: a buffered body would never get there.
        await waitFor('the first chunk at the handler', () => s.streamed.at(-1) === 100_000);
        socket.write(`${chunk(50_000)}0\r\n\r\n`);
        await waitFor('the answer', () => got.includes('}'));
        assert.match(got, /^HTTP\/1.1 200/);
        assert.match(got, /\{"total":150000\}/);
        socket.destroy();
      }));

    test('stream(): 413 as soon as the limit is passed, before the rest of the body is sent', () =>
      withServer(kind, async (s) => {
        // Chunked (no content-length): the limit can only be seen while reading. The client offers far more.
        const chunks = Array.from({ length: 400 }, () => Buffer.alloc(64 * 1024, 3));
        const res = await request(s.port, {
          method: 'POST',
          path: '/stream?limit=200000',
          headers: { 'transfer-encoding': 'chunked' },
          chunks,
        });
        assert.equal(res.status, 413);
        assert.match(String(res.body), /exceeds 200000 bytes/);
        assert.ok(s.streamed.at(-1)! <= 200_000, 'no chunk past the limit reached the handler');
        // A declared length over the limit is refused without reading anything.
        const declared = await rawExchange(
          s.port,
          'POST /stream?limit=1000 HTTP/1.1\r\nhost: x\r\ncontent-length: 300000000\r\n\r\n',
        );
        assert.match(declared, /^HTTP\/1.1 413/);
      }));

    test('an answer that takes longer than 10 s after a large upload still arrives', { timeout: 30000 }, () =>
      withServer(kind, async (s) => {
        // uWS cuts a connection 10 s after its body ended if its socket was resumed after a pause (flow control).
        const res = await request(s.port, {
          method: 'POST',
          path: '/slow?ms=11000',
          body: Buffer.alloc(4 * 1024 * 1024, 5),
        });
        assert.equal(res.status, 200);
        assert.deepEqual(JSON.parse(String(res.body)), { total: 4 * 1024 * 1024 });
      }),
    );

    test('a 32 KiB query string gets 431 with a JSON body', () =>
      withServer(kind, async (s) => {
        const raw = await rawExchange(
          s.port,
          `GET /meta?q=${'a'.repeat(32 * 1024)} HTTP/1.1\r\nhost: x\r\n\r\n`,
        );
        assert.match(raw, /^HTTP\/1.1 431/);
        assert.equal(jsonBody(raw).error.code, 'headers_too_large');
        const upgrade = await rawExchange(
          s.port,
          `GET /v1/listen?q=${'a'.repeat(32 * 1024)} HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
        );
        assert.match(upgrade, /^HTTP\/1.1 431/);
      }));

    test('a 1 MB query string gets 431 with a JSON body, not a reset', { todo: uwsTodo }, () =>
      withServer(kind, async (s) => {
        const raw = await rawExchange(
          s.port,
          `GET /meta?q=${'a'.repeat(1 << 20)} HTTP/1.1\r\nhost: x\r\n\r\n`,
        );
        assert.match(raw, /^HTTP\/1.1 431/);
        assert.equal(jsonBody(raw).error.code, 'headers_too_large');
      }),
    );

    test('invalid UTF-8 in a text frame closes 1007', { todo: uwsTodo }, () =>
      withServer(kind, async (s) => {
        const client = await connect(s.url);
        const closed = closeOf(client);
        client.send(Buffer.from([0x41, 0xff, 0xfe]), { binary: false });
        assert.equal((await closed).code, 1007);
        await waitFor('close handler', () => s.closed.length === 1);
        assert.equal(s.closed[0].code, 1007, 'the app is told why too');
      }),
    );

    test('a frame over 16 MiB closes 1009', { todo: uwsTodo }, () =>
      withServer(kind, async (s) => {
        const client = await connect(s.url);
        const closed = closeOf(client);
        client.send(Buffer.alloc(17 * 1024 * 1024));
        assert.equal((await closed).code, 1009);
        await waitFor('close handler', () => s.closed.length === 1);
        assert.equal(s.closed[0].code, 1009);
      }),
    );
  });
}

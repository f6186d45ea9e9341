import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import {
  closeOf,
  connect,
  delay,
  KINDS,
  MAX_PAYLOAD,
  inbox,
  refusal,
  waitFor,
  withServer,
  type Ctx,
} from './harness.js';

for (const kind of KINDS) {
  describe(`websocket over ${kind}`, { timeout: 20000 }, () => {
    test('upgrade accepted with context and the chosen subprotocol', () =>
      withServer(kind, async (s) => {
        const client = await connect(`${s.url}?user=alice&encoding=linear16`, [
          'token',
          'eyJhbGciOi.jwt.sig',
        ]);
        assert.equal(client.protocol, 'token');
        await waitFor('open', () => s.opened.length === 1);
        const { conn, context } = s.opened[0];
        assert.deepEqual(context, { user: 'alice', offered: 'token,eyJhbGciOi.jwt.sig' } satisfies Ctx);
        assert.equal(conn.remoteAddress, '127.0.0.1');
        assert.equal(s.transport.connectionCount(), 1);
        const req = s.upgradeRequests[0];
        assert.equal(req.method, 'GET');
        assert.equal(req.path, '/v1/listen');
        assert.equal(req.query.get('encoding'), 'linear16');
        assert.equal(req.headers['sec-websocket-protocol'], 'token,eyJhbGciOi.jwt.sig');
        assert.equal((await req.body(10)).length, 0);
        const plain = await connect(s.url);
        assert.equal(plain.protocol, '');
        client.close();
        plain.close();
        await waitFor('closes', () => s.closed.length === 2);
      }));

    test('upgrade refused with 400, a JSON body and dg-error; 503 with Retry-After; 500 on throw', () =>
      withServer(kind, async (s) => {
        const bad = await refusal(`${s.url}?mode=refuse`);
        assert.equal(bad.status, 400);
        assert.equal(bad.headers['dg-error'], 'invalid sample_rate');
        assert.equal(bad.headers['content-type'], 'application/json');
        assert.deepEqual(JSON.parse(bad.body), {
          error: { code: 'bad_request', message: 'sample_rate must be 8000..48000' },
        });
        const busy = await refusal(`${s.url}?mode=busy`);
        assert.equal(busy.status, 503);
        assert.equal(busy.headers['retry-after'], '5');
        assert.equal(JSON.parse(busy.body).error.code, 'overloaded');
        const boom = await refusal(`${s.url}?mode=throw`);
        assert.equal(boom.status, 500);
        assert.deepEqual(JSON.parse(boom.body), { error: { code: 'internal', message: 'upgrade exploded' } });
        assert.ok(s.warnings.some((w) => w.includes('upgrade exploded')));
        const injected = await refusal(`${s.url}?mode=badheader`);
        assert.equal(injected.status, 500);
        assert.equal(injected.headers['x-injected'], undefined);
        assert.equal(s.opened.length, 0);
        assert.equal(s.transport.connectionCount(), 0);
      }));

    test('an upgrade on another path is answered by the HTTP handler', () =>
      withServer(kind, async (s) => {
        const r = await refusal(`ws://127.0.0.1:${s.port}/elsewhere`);
        assert.equal(r.status, 404);
        assert.equal(JSON.parse(r.body).error.code, 'not_found');
        assert.equal(s.upgradeRequests.length, 0);
      }));

    test('a client that leaves before the upgrade decision causes no open or close', () =>
      withServer(kind, async (s) => {
        const client = new WebSocket(`${s.url}?mode=hold`);
        client.on('error', () => {}); // "closed before the connection was established"
        await waitFor('upgrade request', () => s.upgradeRequests.length === 1);
        const { signal } = s.upgradeRequests[0];
        const aborted = new Promise((r) => signal.addEventListener('abort', r));
        client.terminate();
        await aborted;
        s.hold.resolve({ accept: true, context: { user: 'late', offered: '' } });
        await delay(20);
        assert.equal(s.opened.length, 0);
        assert.equal(s.closed.length, 0);
        assert.equal(s.transport.connectionCount(), 0);
        const next = await connect(s.url);
        next.close();
        await waitFor('close', () => s.closed.length === 1);
      }));

    test('text and binary messages both ways; received binary data stays valid', () =>
      withServer(kind, async (s) => {
        const client = await connect(s.url);
        const messages = inbox(client);
        const text = 'KeepAlive ✓ ' + 'x'.repeat(1000);
        client.send(text);
        const echoedText = await messages.next();
        assert.equal(echoedText.isBinary, false);
        assert.equal(echoedText.data.toString('utf8'), text);
        const blobs = Array.from({ length: 20 }, (_, i) => randomBytes(1000 + i * 997));
        for (const b of blobs) client.send(b);
        for (const b of blobs) {
          const m = await messages.next();
          assert.equal(m.isBinary, true);
          assert.ok(m.data.equals(b));
        }
        // The handler kept every ArrayBuffer; none may have been reused or neutered by the transport.
        const kept = s.messages.filter((m) => m.isBinary).map((m) => Buffer.from(m.data as ArrayBuffer));
        assert.equal(kept.length, blobs.length);
        kept.forEach((k, i) => assert.ok(k.equals(blobs[i]), `message ${i} intact`));
        assert.equal(s.messages[0].data, text);
        client.close();
        await waitFor('close', () => s.closed.length === 1);
      }));

    for (const [code, reason] of [
      [1000, ''],
      [1001, 'server going away'],
      [1011, 'NET-0001'],
    ] as const) {
      test(`server close ${code} reaches the client; close() is safe to repeat`, () =>
        withServer(kind, async (s) => {
          const client = await connect(s.url);
          const closed = closeOf(client);
          await waitFor('open', () => s.opened.length === 1);
          const { conn } = s.opened[0];
          conn.close(code, reason);
          conn.close(1000); // second call: no-op
          assert.equal(conn.send('late'), 'dropped');
          assert.equal(s.closed.length, 0, 'close handler is not run inside close()');
          assert.deepEqual(await closed, { code, reason });
          await waitFor('close handler', () => s.closed.length === 1);
          assert.equal(s.closed[0].code, code);
          assert.equal(s.closed[0].reason, reason);
          await delay(20);
          assert.equal(s.closed.length, 1);
          assert.equal(s.transport.connectionCount(), 0);
          conn.close(1000);
          conn.terminate();
        }));
    }

    test('a long close reason is cut to 123 bytes; an invalid close code throws', () =>
      withServer(kind, async (s) => {
        const client = await connect(s.url);
        const closed = closeOf(client);
        await waitFor('open', () => s.opened.length === 1);
        const { conn } = s.opened[0];
        assert.throws(() => conn.close(1006), RangeError);
        conn.close(1011, 'é'.repeat(100));
        const { code, reason } = await closed;
        assert.equal(code, 1011);
        assert.equal(reason, 'é'.repeat(61));
      }));

    test('client close is seen once with its code and reason', () =>
      withServer(kind, async (s) => {
        const client = await connect(s.url);
        await waitFor('open', () => s.opened.length === 1);
        client.close(4001, 'bye');
        await waitFor('close handler', () => s.closed.length === 1);
        assert.equal(s.closed[0].code, 4001);
        assert.equal(s.closed[0].reason, 'bye');
        assert.equal(s.closed[0].conn, s.opened[0].conn);
        await delay(20);
        assert.equal(s.closed.length, 1);
        assert.equal(s.opened[0].conn.send('after'), 'dropped');
      }));

    test('a throwing message handler closes that connection with 1011, logged, not fatal', () =>
      withServer(kind, async (s) => {
        const client = await connect(s.url);
        const closed = closeOf(client);
        client.send('throw');
        assert.deepEqual(await closed, { code: 1011, reason: 'internal error' });
        assert.ok(s.warnings.some((w) => w.includes('message handler exploded')));
        await waitFor('close handler', () => s.closed.length === 1);
        assert.equal(s.closed[0].code, 1011);
        const other = await connect(s.url);
        other.close();
      }));

    test('terminate() drops the connection: client and handler see 1006', () =>
      withServer(kind, async (s) => {
        const client = await connect(s.url);
        const closed = closeOf(client);
        await waitFor('open', () => s.opened.length === 1);
        s.opened[0].conn.terminate();
        assert.equal((await closed).code, 1006);
        await waitFor('close handler', () => s.closed.length === 1);
        assert.equal(s.closed[0].code, 1006);
      }));

    test('a message over maxPayloadBytes closes with 1009; one at the limit passes', () =>
      withServer(kind, async (s) => {
        const client = await connect(s.url);
        const messages = inbox(client);
        const closed = closeOf(client);
        client.send(Buffer.alloc(MAX_PAYLOAD, 7));
        const echo = await messages.next();
        assert.equal(echo.data.length, MAX_PAYLOAD);
        client.send(Buffer.alloc(MAX_PAYLOAD + 1));
        assert.equal((await closed).code, 1009);
        await waitFor('close handler', () => s.closed.length === 1);
        assert.equal(s.closed[0].code, 1009);
        assert.equal(s.messages.length, 1);
      }));

    test('stopAccepting() refuses new connections while open ones go on', () =>
      withServer(kind, async (s) => {
        const client = await connect(s.url);
        const messages = inbox(client);
        s.transport.stopAccepting();
        await assert.rejects(connect(s.url), /ECONNREFUSED/);
        client.send('still here');
        assert.equal((await messages.next()).data.toString(), 'still here');
        assert.equal(s.transport.connectionCount(), 1);
        client.close();
        await waitFor('close', () => s.closed.length === 1);
      }));

    test('close() ends every connection and the listener', () =>
      withServer(kind, async (s) => {
        const clients = await Promise.all([connect(s.url), connect(s.url), connect(s.url)]);
        const closes = clients.map(closeOf);
        await s.transport.close();
        assert.equal(s.transport.connectionCount(), 0);
        assert.equal(s.closed.length, 3);
        assert.ok(s.closed.every((c) => c.code === 1006));
        for (const c of await Promise.all(closes)) assert.equal(c.code, 1006);
        await assert.rejects(connect(s.url), /ECONNREFUSED/);
        await s.transport.close(); // idempotent
      }));

    test('200 concurrent connections open, talk and close cleanly', () =>
      withServer(kind, async (s) => {
        const clients = await Promise.all(
          Array.from({ length: 200 }, (_, i) => connect(`${s.url}?user=u${i}`)),
        );
        await waitFor('opens', () => s.opened.length === 200);
        assert.equal(s.transport.connectionCount(), 200);
        assert.equal(new Set(s.opened.map((o) => o.conn.id)).size, 200);
        const replies = await Promise.all(
          clients.map((c, i) => {
            const reply = inbox(c).next();
            c.send(`hello ${i}`);
            return reply;
          }),
        );
        replies.forEach((r, i) => assert.equal(r.data.toString(), `hello ${i}`));
        for (const c of clients) c.close(1000);
        await waitFor('closes', () => s.closed.length === 200);
        assert.equal(s.transport.connectionCount(), 0);
        assert.ok(s.closed.every((c) => c.code === 1000));
      }));

    test('a client that does not read causes backpressure, then drain after it resumes', () =>
      withServer(
        kind,
        async (s) => {
          s.echo = false;
          const client = await connect(s.url);
          let received = 0;
          client.on('message', () => received++);
          await waitFor('open', () => s.opened.length === 1);
          const { conn } = s.opened[0];
          client.pause();
          const chunk = new Uint8Array(64 * 1024);
          let accepted = 0;
          let result = conn.send(chunk);
          // Loopback socket buffers hold a few MB; 1 GB is a generous ceiling.
          while (result === 'ok' && accepted < 16384) {
            accepted++;
            result = conn.send(chunk);
          }
          assert.equal(result, 'backpressure');
          accepted++;
          assert.ok(conn.bufferedAmount() > 256 * 1024);
          assert.equal(conn.send(chunk), 'dropped');
          assert.equal(s.drains.length, 0);
          client.resume();
          await waitFor('drain', () => s.drains.length === 1);
          assert.equal(s.drains[0], conn);
          assert.ok(conn.bufferedAmount() <= 256 * 1024);
          await waitFor('all accepted messages', () => received === accepted);
          await waitFor('empty queue', () => conn.bufferedAmount() === 0);
          assert.equal(conn.send('done'), 'ok');
          await waitFor('last message', () => received === accepted + 1);
          assert.equal(s.drains.length, 1);
        },
        { maxBackpressureBytes: 256 * 1024 },
      ));
  });
}

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createTransport } from '../../../server/transport/index.js';
import type { HttpRequest, HttpResponse, Transport } from '../../../server/transport/index.js';
import { KINDS, deferred, waitFor } from './harness.js';

/** A handler whose body is an async iterable: the second chunk is produced only once the client saw the first. */
async function withStreamingServer(
  kind: (typeof KINDS)[number],
  fn: (
    port: number,
    state: { firstSeen: ReturnType<typeof deferred<void>>; stopped: boolean; aborted: boolean },
  ) => Promise<void>,
) {
  const state = { firstSeen: deferred<void>(), stopped: false, aborted: false };
  const handler = async (req: HttpRequest): Promise<HttpResponse> => {
    req.signal.addEventListener('abort', () => (state.aborted = true));
    async function* body() {
      try {
        yield new TextEncoder().encode('data: one\n\n');
        await state.firstSeen.promise;
        yield new TextEncoder().encode('data: two\n\n');
      } finally {
        state.stopped = true;
      }
    }
    return { status: 200, headers: { 'content-type': 'text/event-stream' }, body: body() };
  };
  const transport: Transport = await createTransport(
    kind,
    {
      host: '127.0.0.1',
      port: 0,
      http: handler,
      ws: {
        path: '/ws',
        maxPayloadBytes: 1024,
        handlers: {
          upgrade: async () => ({ accept: false, response: { status: 404 } }),
          open() {},
          message() {},
          close() {},
        },
      },
    },
    { warn: () => {} },
  );
  const { port } = await transport.listen();
  try {
    await fn(port, state);
  } finally {
    await transport.close();
  }
}

for (const kind of KINDS) {
  describe(`streamed response bodies over ${kind}`, { timeout: 20000 }, () => {
    test('chunks reach the client as they are produced, then the response ends', () =>
      withStreamingServer(kind, async (port, state) => {
        const text = await new Promise<string>((resolve, reject) => {
          http
            .get({ port, host: '127.0.0.1', path: '/events' }, (res) => {
              assert.equal(res.headers['content-type'], 'text/event-stream');
              assert.equal(res.headers['content-length'], undefined);
              let got = '';
              res.setEncoding('utf8');
              res.on('data', (c: string) => {
                got += c;
                // The server holds the second chunk until this: the first arrived before the body was complete.
                if (got.includes('one')) state.firstSeen.resolve();
              });
              res.on('end', () => resolve(got));
            })
            .on('error', reject);
        });
        assert.equal(text, 'data: one\n\ndata: two\n\n');
        assert.equal(state.stopped, true);
      }));

    test('a client that leaves mid-stream aborts the request and stops the iteration', () =>
      withStreamingServer(kind, async (port, state) => {
        await new Promise<void>((resolve, reject) => {
          const req = http.get({ port, host: '127.0.0.1', path: '/events' }, (res) => {
            res.once('data', () => {
              req.destroy();
              resolve();
            });
          });
          req.on('error', () => {});
          req.on('timeout', reject);
        });
        await waitFor('the abort', () => state.aborted);
        // The generator waits for firstSeen; once released it must not go on producing.
        state.firstSeen.resolve();
        await waitFor('the iteration to stop', () => state.stopped);
      }));
  });
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createTransport,
  resolveTransportKind,
  TransportUnavailableError,
} from '../../../server/transport/index.js';

const broken = () => {
  throw new TransportUnavailableError('no binary for this platform');
};

test("'auto' falls back to ws with one warning when the uWS binding does not load", () => {
  const warnings: string[] = [];
  assert.equal(resolveTransportKind('auto', { warn: (m) => warnings.push(m) }, broken), 'ws');
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /no binary for this platform.*ws transport/);
});

test("an explicit 'uws' with a broken binding fails with a message naming --transport ws", () => {
  assert.throws(
    () => resolveTransportKind('uws', { warn: () => {} }, broken),
    (err: Error) => {
      assert.ok(err instanceof TransportUnavailableError);
      assert.match(err.message, /--transport ws/);
      return true;
    },
  );
});

test("'auto' picks uws when the binding loads here, and 'ws' never touches it", async () => {
  const warnings: string[] = [];
  const log = { warn: (m: string) => warnings.push(m) };
  assert.equal(resolveTransportKind('ws', log, broken), 'ws');
  const options = {
    host: '127.0.0.1',
    port: 0,
    http: async () => ({ status: 204 }),
    ws: {
      path: '/v1/listen',
      maxPayloadBytes: 1024,
      handlers: {
        upgrade: async () => ({ accept: false as const, response: { status: 404 } }),
        open: () => {},
        message: () => {},
        drain: () => {},
        close: () => {},
      },
    },
  };
  const auto = await createTransport('auto', options, log);
  assert.equal(auto.kind, 'uws');
  const ws = await createTransport('ws', options, log);
  assert.equal(ws.kind, 'ws');
  assert.deepEqual(warnings, []);
  await Promise.all([auto.close(), ws.close()]);
});

test('idle timeouts uWS cannot take are refused by both transports', async () => {
  for (const kind of ['uws', 'ws'] as const) {
    await assert.rejects(
      createTransport(kind, {
        host: '127.0.0.1',
        port: 0,
        http: async () => ({ status: 204 }),
        ws: {
          path: '/',
          maxPayloadBytes: 1024,
          idleTimeoutSec: 3,
          handlers: {
            upgrade: async () => ({ accept: false, response: { status: 404 } }),
            open: () => {},
            message: () => {},
            drain: () => {},
            close: () => {},
          },
        },
      }),
      RangeError,
    );
  }
});

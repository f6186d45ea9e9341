import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { APIStatusError } from '@livekit/agents';
import WebSocket, { WebSocketServer } from 'ws';
import { STT } from '../src/index.js';
import {
  collect,
  finals,
  fixture,
  names,
  pushPaced,
  SCRIPT,
  earshotForThisFile,
  toFrames,
} from './helpers.js';
import { startFront } from './proxy.js';

const fx = fixture();
const server = earshotForThisFile();

const connOptions = { maxRetry: 3, retryIntervalMs: 100, timeoutMs: 5000 };
const firstUtterance = () => toFrames(fx.samples.subarray(0, 16000 * 4.6), 16000);

describe('refusals', () => {
  test('401 surfaces once as a non-retryable APIStatusError, with no retry and no secret in it', async () => {
    const front = await startFront(server.port, () => ({ status: 401 }));
    const stt = new STT({ url: front.url, apiKey: 'sk-secret-key' });
    const errors: { error: Error; recoverable: boolean }[] = [];
    stt.on('error', (e) => errors.push(e as never));
    const stream = stt.stream({ connOptions });
    const events = collect(stream);
    await pushPaced(stream, firstUtterance().slice(0, 10), 10);
    const evs = await events; // the stream ends on its own
    assert.equal(front.connections, 1, 'one attempt');
    assert.equal(evs.length, 0);
    assert.equal(errors.length, 1);
    assert.equal(errors[0].recoverable, false);
    assert.ok(errors[0].error instanceof APIStatusError);
    assert.equal((errors[0].error as APIStatusError).statusCode, 401);
    assert.equal((errors[0].error as APIStatusError).retryable, false);
    assert.doesNotMatch(String(errors[0].error) + JSON.stringify(errors[0].error), /sk-secret-key/);
    stream.close();
    await front.close();
  });

  test('503 then a 1013 close are retried, and the stream then transcribes normally', async () => {
    // 1: HTTP 503 (at capacity); 2: the upgrade is accepted and closed with 1013; then the real server.
    const overloaded = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => overloaded.once('listening', r));
    overloaded.on('connection', (ws: WebSocket) => ws.close(1013, 'overloaded'));
    const overloadedPort = (overloaded.address() as { port: number }).port;
    const front = await startFront(server.port, (n) =>
      n === 1 ? { status: 503 } : n === 2 ? { to: overloadedPort } : 'pipe',
    );
    const stt = new STT({ url: front.url });
    const errors: unknown[] = [];
    stt.on('error', (e) => errors.push(e));
    const stream = stt.stream({ connOptions });
    const events = collect(stream);
    await pushPaced(stream, firstUtterance(), 10);
    stream.endInput();
    const evs = await events;
    assert.deepEqual(errors, [], 'no error reached the application');
    assert.equal(front.connections, 3);
    assert.deepEqual(
      finals(evs).map((f) => f.text),
      [SCRIPT],
      names(evs),
    );
    overloaded.close();
    await front.close();
  });
});

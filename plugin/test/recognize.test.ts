import assert from 'node:assert/strict';
import { test } from 'node:test';
import { APIStatusError } from '@livekit/agents';
import { STT } from '../src/index.js';
import { fixture, SCRIPT, earshotForThisFile, T, toFrames } from './helpers.js';
import { startFront } from './proxy.js';

const fx = fixture();
const server = earshotForThisFile();

test('recognize() on a buffered utterance (24 kHz frames) returns its text and words', async () => {
  const stt = new STT({ url: server.ws, language: 'en' }); // a ws:// URL works for the POST too
  const metrics: { streamed: boolean; audioDurationMs: number }[] = [];
  stt.on('metrics_collected', (m) => metrics.push(m as never));
  const utterance = fx.samples.subarray(0, Math.round(16000 * 4.6));
  const ev = await stt.recognize(toFrames(utterance, 24000));
  assert.equal(ev.type, T.FINAL_TRANSCRIPT);
  const alt = ev.alternatives![0];
  assert.equal(alt.text, SCRIPT);
  assert.deepEqual(
    alt.words!.map((w) => w.text),
    ['hello', 'world'],
  );
  for (const w of alt.words!) {
    assert.ok(w.startTime! >= fx.segments[0].start - 0.3 && w.endTime! <= 4.6, `${w.startTime}-${w.endTime}`);
  }
  assert.ok(ev.requestId);
  assert.equal(metrics.length, 1);
  assert.equal(metrics[0].streamed, false);
  assert.equal(metrics[0].audioDurationMs, 4600);
});

test('recognize(): a refusal is an APIStatusError with the status', async () => {
  const front = await startFront(server.port, () => ({ status: 403 }));
  const stt = new STT({ url: front.url });
  await assert.rejects(
    stt.recognize(toFrames(fx.samples.subarray(0, 16000), 16000)),
    (err: unknown) => err instanceof APIStatusError && err.statusCode === 403 && !err.retryable,
  );
  await front.close();
});

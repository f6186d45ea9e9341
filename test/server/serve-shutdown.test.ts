import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { before, test } from 'node:test';
import { concat, speechFixture, wav16 } from '../helpers/audio.js';
import { synthModel } from '../helpers/models.js';

/** SIGTERM with inference still queued: the process exits within --drain-timeout (plus a margin), code 0. */

const BIN = new URL('../../bin/earshot.js', import.meta.url).pathname;
const DRAIN_MS = 2000;
/** Generous: one window already on the engine finishes, then sockets close and the process exits. */
const MARGIN_MS = 6000;

let model: string;
before(async () => {
  // Random weights: every window decodes to the token limit and through the temperature fallback (slow).
  model = await synthModel({});
});

test('SIGTERM during a long file transcription: exit 0 within the drain limit, queued work abandoned', async () => {
  const proc = spawn(
    process.execPath,
    [BIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--model', model, '--max-batch', '1'].concat([
      '--drain-timeout',
      String(DRAIN_MS),
    ]),
    { env: { ...process.env, EARSHOT_MODEL: '' } },
  );
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d));
  const exit = new Promise<number>((r) => proc.on('exit', (code) => r(code ?? -1)));
  const port = await new Promise<number>((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      const m = /listening on [\d.]+:(\d+)/.exec(String(d));
      if (m) resolve(Number(m[1]));
    });
    void exit.then(() => reject(new Error(`exited early: ${stderr}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  // Four minutes of conversation: about ten windows, each seconds of work for this model.
  const fx = speechFixture();
  const upload = fetch(`${base}/v1/listen`, {
    method: 'POST',
    body: new Uint8Array(wav16(concat(Array.from({ length: 24 }, () => fx.samples)))),
    headers: { 'content-type': 'audio/wav' },
  }).catch((e: Error) => e);
  // Wait until the engine has finished a window of it: the rest is queued behind.
  for (;;) {
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const batches = /^earshot_batch_size_count\S* (\d+)/m.exec(metrics);
    if (batches && Number(batches[1]) >= 1) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const t0 = Date.now();
  proc.kill('SIGTERM');
  const code = await exit;
  const elapsed = Date.now() - t0;
  assert.equal(code, 0, stderr);
  assert.ok(elapsed < DRAIN_MS + MARGIN_MS, `exited ${elapsed} ms after SIGTERM (limit ${DRAIN_MS} ms)`);
  assert.ok((await upload) instanceof Error, 'the unfinished transcription was not answered');
});

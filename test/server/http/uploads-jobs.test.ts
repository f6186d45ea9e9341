import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TranscribeJob } from '../../../server/scheduling/scheduler.js';
import { concat, encode, speechFixture } from '../../helpers/audio.js';
import { synthModel } from '../../helpers/models.js';
import { startTestServer } from '../../helpers/server.js';
import { wavHeader } from '../../helpers/audio.js';

/** File jobs: admitted like streams, bounded, and cancelled when their client goes away. */

const fx = speechFixture();
// Three minutes of conversation: many speech windows.
const pcm = encode(concat(Array.from({ length: 18 }, () => fx.samples)), 'linear16');
const longWav = Buffer.concat([wavHeader(pcm.length), pcm]);

let server: Awaited<ReturnType<typeof startTestServer>>;
before(async () => {
  const model = await synthModel({ script: '<|0.00|> hello<|1.00|>' });
  server = await startTestServer({ model, admissionTarget: 0, maxBatch: 1 });
});
after(() => server.stop());

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('file jobs', () => {
  test('a client that goes away stops its transcription: the rest of its windows are never submitted', async () => {
    const scheduler = server.scheduler;
    const submit = scheduler.submit.bind(scheduler);
    const client = new AbortController();
    let submitted = 0;
    scheduler.submit = async (job: TranscribeJob) => {
      submitted++;
      if (submitted === 1) client.abort();
      await delay(100); // an engine slow enough for the server to notice the client left meanwhile
      return submit(job);
    };
    try {
      const res = await fetch(`${server.url}/v1/listen`, {
        method: 'POST',
        body: longWav,
        headers: { 'content-type': 'audio/wav' },
        signal: client.signal,
      }).catch((e: Error) => e);
      assert.ok(res instanceof Error && res.name === 'AbortError');
      await delay(1500);
      await scheduler.idle();
    } finally {
      scheduler.submit = submit;
    }
    // The same file, transcribed to the end, for the number of windows it has.
    let all = 0;
    scheduler.submit = (job: TranscribeJob) => (all++, submit(job));
    try {
      const res = await fetch(`${server.url}/v1/listen`, {
        method: 'POST',
        body: longWav,
        headers: { 'content-type': 'audio/wav' },
      });
      assert.equal(res.status, 200);
    } finally {
      scheduler.submit = submit;
    }
    assert.ok(all >= 6, `the file has ${all} windows`);
    assert.ok(submitted <= 3, `${submitted} of ${all} windows submitted after the client left`);
  });
});

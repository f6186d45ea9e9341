import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sharedVad } from '../../helpers/models.js';
import { MemoryStore } from '../../../server/store/memory.js';
import { TranscriptFullError, type RecordPatch, type StoredFinal } from '../../../server/store/types.js';
import { encode, randomFrames, speechFixture } from '../../helpers/audio.js';
import { finals, sessionHarness, sleep } from '../../helpers/session-harness.js';

/** What a live session writes to its store, and how it ends when the store or the client push too hard. */

const vad = sharedVad();

const fx = speechFixture();

/** A memory store that counts writes, and can refuse them as a full transcript file does. */
class CountingStore extends MemoryStore {
  writes = 0;
  full: 'append' | 'update' | null = null;
  override async append(session: string, final: StoredFinal): Promise<void> {
    this.writes++;
    if (this.full === 'append') throw new TranscriptFullError('transcript of session x is full (1 MiB)');
    return super.append(session, final);
  }
  override async update(session: string, patch: RecordPatch): Promise<void> {
    this.writes++;
    if (this.full === 'update' && patch.status === undefined) throw new TranscriptFullError('full');
    return super.update(session, patch);
  }
}

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await sleep(10);
  assert.ok(cond(), `timed out waiting for ${what}`);
}

test('2,000 empty Finalize messages write nothing to the store (each is still answered)', async () => {
  const store = new CountingStore();
  // The rate and backlog limits would stop this stream: the point here is what each empty final writes.
  const h = sessionHarness(vad(), '', {
    store,
    config: { controlMessageBurst: 10_000, maxPendingFinals: 10_000 },
  });
  await sleep(0);
  for (let i = 0; i < 2000; i++) h.session.onText('{"type":"Finalize"}');
  await until('2,000 empty finals', () => finals(h.messages).length === 2000);
  assert.equal(store.writes, 0);
  assert.deepEqual(
    finals(h.messages)
      .map((f) => f.seq)
      .slice(-2),
    [1999, 2000],
    'empty finals still take their seq',
  );
  h.session.onText('{"type":"CloseStream"}');
  await h.session.whenDone();
  assert.equal((await store.get(h.id))?.lastSeq, 2000, 'the session summary records the last seq');
});

test('control messages past the rate limit: an Error, then 1008 saying how to resume', async () => {
  const store = new CountingStore();
  const h = sessionHarness(vad(), '', {
    store,
    config: { controlMessagesPerSecond: 1, controlMessageBurst: 10 },
  });
  for (let i = 0; i < 2000 && !h.closed(); i++) h.session.onText('{"type":"KeepAlive"}');
  const closed = h.closed();
  assert.equal(closed?.code, 1008);
  assert.match(
    closed!.reason,
    /^too many control messages \(over 10 at once or 1\/s\); resume with session=sess-1&resume_from=0$/,
  );
  const err = h.messages.find((m) => m.type === 'Error');
  assert.equal(err?.err_code, 'TOO_MANY_MESSAGES');
  await h.session.whenDone();
});

test('the store refuses a final because the transcript is full: an Error and 1008, not an internal error', async () => {
  const store = new CountingStore();
  store.full = 'append';
  const h = sessionHarness(vad(), '', { store });
  for (const f of randomFrames(encode(fx.samples, 'linear16'), 3)) h.session.onAudio(f);
  await h.closedP;
  assert.deepEqual(h.closed(), { code: 1008, reason: 'transcript size limit reached; start a new session' });
  assert.equal(h.messages.find((m) => m.type === 'Error')?.err_code, 'TRANSCRIPT_FULL');
  assert.equal(finals(h.messages).length, 0, 'the final the store refused was not sent');
  await h.session.whenDone();
  assert.ok(!h.logs.some((l) => l.level === 'error'), JSON.stringify(h.logs));
});

test('a record update refused as full (a long silence) ends the stream too', async () => {
  const store = new CountingStore();
  store.full = 'update';
  const h = sessionHarness(vad(), '', { store });
  for (const f of randomFrames(encode(new Float32Array(16000 * 3), 'linear16'), 3)) h.session.onAudio(f);
  await h.closedP;
  assert.equal(h.closed()?.code, 1008);
  await h.session.whenDone();
});

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { loadSileroVad, type SileroVad } from '../../../models/vad/silero.js';
import type { EarshotApp } from '../../../server/app.js';
import { FileStore } from '../../../server/store/file.js';
import { encode, randomFrames, speechFixture } from '../../helpers/audio.js';
import { FakeEngine } from '../../helpers/fake-engine.js';
import { sendPaced, startAppWithEngine } from '../../helpers/server.js';
import { sleep } from '../../helpers/session-harness.js';

/**
 * The file store under the real server and transport, on the engine double (the test decides when decoding
 * finishes): clients that drop mid-speech leave finals to decode after their sessions were marked closed.
 */

const fx = speechFixture();
const pcm = encode(fx.samples, 'linear16');

let vad: SileroVad;
let engine: FakeEngine;
let app: EarshotApp;
let store: FileStore;
let base: string;
const dataDir = mkdtempSync(join(tmpdir(), 'earshot-fd-'));

before(async () => {
  vad = await loadSileroVad();
  engine = new FakeEngine();
  store = new FileStore({ dir: dataDir, retentionHours: 0 });
  ({ app, base } = await startAppWithEngine({ vad, engine, store }));
});
after(async () => {
  await app.close();
  await store.close();
  await vad.release();
});

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await sleep(10);
  assert.ok(cond(), `timed out waiting for ${what}`);
}

/** This process's open descriptors on files of the data directory. */
function openDataFiles(): string[] {
  const open: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(dataDir)) open.push(target);
    } catch {
      // closed between readdir and readlink (the readdir's own descriptor)
    }
  }
  return open;
}

test('clients dropped mid-speech: once their sessions end, no session file is left open', async () => {
  const N = 6;
  const ids = Array.from({ length: N }, (_, i) => `drop-${i}`);
  const clients = await Promise.all(
    ids.map(
      (id) =>
        new Promise<WebSocket>((resolve, reject) => {
          const ws = new WebSocket(`${base}?session=${id}`);
          ws.once('open', () => resolve(ws));
          ws.once('error', reject);
        }),
    ),
  );
  // 3 s of speech each: the first utterance (0.8 s to 4.05 s) is still being spoken when the client drops.
  await Promise.all(
    clients.map((ws) => sendPaced(ws, randomFrames(pcm.subarray(0, 3 * 32000), 2, 3200, 3201), 32000, 40)),
  );
  await until('the server to receive 3 s from each', () =>
    ids.every((id) => (app.sessions.get(id)?.receivedSeconds ?? 0) >= 2.99),
  );
  // A slow engine: the cut utterances are decoded after the sessions were marked closed.
  const release = engine.hold();
  const ended = ids.map((id) => app.sessions.get(id)!.whenDone());
  for (const ws of clients) ws.terminate();
  await until('every session to say closed', () => ids.every((id) => app.sessions.get(id)?.flushing ?? true));
  await sleep(100);
  release();
  await Promise.all(ended);
  for (const id of ids) {
    const r = await store.get(id);
    assert.equal(r?.status, 'closed');
    assert.ok((await store.finals(id)).length >= 1, `${id}: the cut utterance was stored`);
  }
  assert.deepEqual(openDataFiles(), [], 'no descriptor left on the data directory');
});

test('a resume after a crash that lost the seq of empty finals continues after the client resume_from', async () => {
  // What a crash leaves: the client saw three empty finals (seq 1-3) whose seq was never written.
  await store.open({
    id: 'crashed',
    subject: '',
    created: new Date().toISOString(),
    status: 'live',
    duration: 0,
    committed: 0,
    lastSeq: 0,
    params: {},
  });
  const messages: { type: string; is_final?: boolean; seq?: number; last_seq?: number }[] = [];
  const ws = new WebSocket(`${base}?session=crashed&resume_from=3`);
  ws.on('message', (data) => messages.push(JSON.parse(String(data)) as (typeof messages)[number]));
  const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
  await new Promise((r, j) => ws.once('open', r).once('error', j));
  await sendPaced(ws, randomFrames(pcm.subarray(0, 5 * 32000), 2, 3200, 3201), 32000, 40);
  ws.send(JSON.stringify({ type: 'CloseStream' }));
  assert.equal(await closed, 1000);
  assert.equal(messages[0].last_seq, 3);
  const seqs = messages.filter((m) => m.type === 'Results' && m.is_final).map((m) => m.seq);
  assert.equal(seqs[0], 4, `seqs ${JSON.stringify(seqs)}`);
});

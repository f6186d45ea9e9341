import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { stt as agents } from '@livekit/agents';
import { STT } from '../src/index.js';
import {
  collect,
  finals,
  fixture,
  names,
  pushPaced,
  SCRIPT,
  earshotForThisFile,
  T,
  toFrames,
} from './helpers.js';
import { startFront, type Front } from './proxy.js';

/**
 * A TCP proxy between the plugin and earshot drops the connection twice mid-speech. The plugin resumes the
 * session each time: the finals must be those of an uncut run (every utterance covered, in order), none twice.
 */

const fx = fixture();
const server = earshotForThisFile();

const connOptions = { maxRetry: 5, retryIntervalMs: 100, timeoutMs: 5000 };
const FRAME_S = 0.02;

async function run(front: Front, cutAtSeconds: number[]) {
  const stt = new STT({ url: front.url, language: 'en' });
  const errors: unknown[] = [];
  stt.on('error', (e) => errors.push(e));
  const stream = stt.stream({ connOptions });
  const events = collect(stream);
  const cuts: number[] = [];
  await pushPaced(stream, toFrames(fx.samples, 16000, FRAME_S * 1000), 4, (i) => {
    if (cutAtSeconds.includes(Math.round(i * FRAME_S * 100) / 100)) cuts.push(front.cut());
  });
  stream.endInput();
  const evs = await events;
  return { evs, errors, cuts };
}

/** The ground-truth utterance each final belongs to (the one it overlaps most). */
function utteranceOf(f: agents.SpeechData): number {
  const overlap = (s: { start: number; end: number }) =>
    Math.min(f.endTime, s.end) - Math.max(f.startTime, s.start);
  let best = 0;
  fx.segments.forEach((s, i) => {
    if (overlap(s) > overlap(fx.segments[best])) best = i;
  });
  return best;
}

test('two dropped connections: finals complete, in order, none duplicated', async (t) => {
  const uncutFront = await startFront(server.port);
  const uncut = await run(uncutFront, []);
  await uncutFront.close();

  const front = await startFront(server.port);
  const cut = await run(front, [2.5, 6.4]); // inside the first and the second utterance
  await front.close();

  const ref = finals(uncut.evs);
  const got = finals(cut.evs);
  t.diagnostic(`uncut: ${ref.length} finals, ${names(uncut.evs)}`);
  t.diagnostic(`cuts dropped ${cut.cuts.join(', ')} connection(s)`);
  t.diagnostic(`cut: ${got.length} finals over ${front.connections} connections, ${names(cut.evs)}`);
  t.diagnostic(
    `cut finals: ${got.map((f) => `${f.startTime.toFixed(2)}-${f.endTime.toFixed(2)}`).join(' ')}`,
  );

  assert.deepEqual(cut.cuts, [1, 1], 'each cut dropped the live connection');
  assert.ok(front.connections >= 3, `reconnected twice (${front.connections} connections)`);
  assert.deepEqual(cut.errors, [], 'the application saw no error');
  assert.ok(got.every((f) => f.text === SCRIPT));

  // In order and never overlapping: a final delivered twice (a replay not dropped) would overlap its twin.
  for (let i = 1; i < got.length; i++) {
    assert.ok(got[i].startTime >= got[i - 1].endTime - 0.05, `final ${i} overlaps final ${i - 1}`);
  }
  // Complete: the same utterances as the uncut run, each covered from its start to its end. A cut inside an
  // utterance may split it in two finals (the server finalizes what it has when a connection drops).
  assert.deepEqual([...new Set(ref.map(utteranceOf))], [0, 1, 2]);
  assert.deepEqual([...new Set(got.map(utteranceOf))], [0, 1, 2]);
  for (const [u, seg] of fx.segments.entries()) {
    const mine = got.filter((f) => utteranceOf(f) === u);
    assert.ok(mine.length <= 2, `utterance ${u}: ${mine.length} finals`);
    assert.ok(
      mine[0].startTime <= seg.start + 0.3 && mine.at(-1)!.endTime >= seg.end - 0.3,
      `utterance ${u} covered`,
    );
  }
  // START and END alternate, one END per utterance: the server marks the final it flushes at a drop
  // speech_final, but the speaker had not stopped, so the plugin holds that END back. The audio is billed once
  // however often it was re-sent.
  const turns = cut.evs.filter((e) => e.type === T.START_OF_SPEECH || e.type === T.END_OF_SPEECH);
  turns.forEach((e, i) => assert.equal(e.type, i % 2 ? T.END_OF_SPEECH : T.START_OF_SPEECH, names(cut.evs)));
  assert.equal(turns.length, 2 * fx.segments.length, names(cut.evs));
  const usage = cut.evs
    .filter((e) => e.type === T.RECOGNITION_USAGE)
    .reduce((s, e) => s + e.recognitionUsage!.audioDuration, 0);
  assert.ok(Math.abs(usage - fx.duration) < 0.01, `usage ${usage}`);
});

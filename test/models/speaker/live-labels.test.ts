/**
 * Live labels on the worker thread the server uses: the same labels and clustering as on the event loop, a thread
 * that went away replaced with the session's speakers kept, and an embedder that cannot load named in the error.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { loadAudioFile } from '../../../audio/load.js';
import { BuiltinEmbedder } from '../../../models/speaker/builtin.js';
import { inProcessLabels, LabelThread, type LiveLabels } from '../../../models/speaker/live-labels.js';

const FIXTURE = fileURLToPath(new URL('../../fixtures/speaker/librispeech-two-men.wav', import.meta.url));
const SR = 16000;
/** 4 s of one reader, then 4 s of another: finals of 2 s, words of 0.5 s. */
const FINALS = [0, 2, 4, 6].map((start) => ({ start, end: start + 2 }));

/** `at`: finals say where their audio lies in the stream; `heard`: the stream's audio, heard in 20 ms packets. */
async function labelAll(
  labels: LiveLabels,
  audio: Float32Array,
  finals = FINALS,
  at = false,
  heard?: Float32Array,
) {
  const out = [];
  let fed = 0;
  for (const f of finals) {
    for (; heard && fed < f.end * SR; fed += 320) labels.hear(heard.subarray(fed, fed + 320), fed);
    const words = [0, 0.5, 1, 1.5].map((o) => ({ start: f.start + o, end: f.start + o + 0.5 }));
    const clip = audio.subarray(f.start * SR, f.end * SR);
    out.push(await labels.labelFinal(clip, f.start, words, at ? f.start * SR : undefined));
  }
  return out;
}

describe('live labels on a worker thread', () => {
  test('the same labels and clustering as in-process, final by final', async () => {
    const audio = (await loadAudioFile(FIXTURE)).samples16k;
    const here = inProcessLabels(new BuiltinEmbedder()).open({ maxSpeakers: 4 });
    const thread = new LabelThread({ kind: 'builtin' });
    try {
      const there = thread.open({ maxSpeakers: 4 });
      assert.equal(there.state, undefined, 'nothing to store before the first final');
      const expected = await labelAll(here, audio);
      assert.deepEqual(await labelAll(there, audio), expected);
      assert.deepEqual(there.state, here.state);
      // A new voice opens a speaker once its speech is evidence enough: the second reader's first 2 s final is not
      // yet (it goes to the voice heard most), its second is.
      assert.deepEqual(
        expected.map((f) => f.speaker),
        [0, 0, 0, 1],
        'the two readers are told apart',
      );
      there.close();
    } finally {
      await thread.release();
    }
  });

  test("a final's speech regions go to the thread: the labels in-process with them, not those without", async () => {
    const audio = (await loadAudioFile(FIXTURE)).samples16k;
    const speech = [
      { start: 0, end: 3.9 },
      { start: 4.1, end: 8 },
    ];
    const label = (l: LiveLabels, regions?: typeof speech) =>
      l.labelFinal(audio, 0, [{ start: 0, end: 8 }], undefined, regions);
    const thread = new LabelThread({ kind: 'builtin' });
    try {
      const there = await label(thread.open({}), speech);
      assert.deepEqual(there, await label(inProcessLabels(new BuiltinEmbedder()).open({}), speech));
      assert.notDeepEqual(there, await label(inProcessLabels(new BuiltinEmbedder()).open({})));
    } finally {
      await thread.release();
    }
  });

  test('each session counts the time its labels took to compute, not the wait for the shared thread', async () => {
    const audio = (await loadAudioFile(FIXTURE)).samples16k;
    const thread = new LabelThread({ kind: 'builtin' });
    try {
      const a = thread.open({});
      const b = thread.open({});
      await labelAll(a, audio, FINALS.slice(0, 1)); // the thread is up
      const workBefore = a.workMs;
      // Both at once: b's final waits while the thread computes a's eight seconds.
      const t0 = performance.now();
      const first = a.labelFinal(audio, 0, []);
      const second = b.labelFinal(audio.subarray(0, 2 * SR), 0, []);
      await second;
      const wallB = performance.now() - t0;
      await first;
      const workA = a.workMs - workBefore;
      assert.ok(workA > 0 && b.workMs > 0, `work a ${workA} ms, b ${b.workMs} ms`);
      assert.ok(
        b.workMs + workA <= wallB + 1,
        `b waited for a: ${b.workMs} + ${workA} ms of work in ${wallB} ms`,
      );
    } finally {
      await thread.release();
    }
  });

  test('a thread that went away: the next final starts another, and the session keeps its speakers', async () => {
    const audio = (await loadAudioFile(FIXTURE)).samples16k;
    const thread = new LabelThread({ kind: 'builtin' });
    try {
      const session = thread.open({});
      const first = await labelAll(session, audio);
      assert.deepEqual(
        first.map((f) => f.speaker),
        [0, 0, 0, 1],
      );
      await thread.release(); // as if it had crashed
      // The second reader's audio again: a session started afresh would call its first voice 0.
      const [again] = await labelAll(session, audio, FINALS.slice(3, 4));
      assert.equal(again.speaker, 1, 'the second reader keeps its number');
      assert.equal(session.state!.speakers.length, 2);
    } finally {
      await thread.release();
    }
  });

  test("the session's audio heard on the thread serves its finals: the same labels, made from what it heard", async () => {
    const audio = (await loadAudioFile(FIXTURE)).samples16k;
    const here = inProcessLabels(new BuiltinEmbedder()).open({ maxSpeakers: 4 });
    const expected = await labelAll(here, audio, FINALS, true);
    const thread = new LabelThread({ kind: 'builtin' });
    try {
      // Heard in 20 ms packets (batched to the thread), each final's audio after it, as a stream's.
      const heard = async (sound: Float32Array) => {
        const session = thread.open({ maxSpeakers: 4 });
        const finals = await labelAll(session, audio, FINALS, true, sound);
        session.close();
        return { finals, state: session.state };
      };
      assert.deepEqual(await heard(audio), { finals: expected, state: here.state });
      // Heard slightly otherwise than the finals' audio: the labels show that the thread used what it heard.
      const other = await heard(audio.map((x, i) => x + (i % 7 === 0 ? 0.01 : 0)));
      assert.notDeepEqual(other.state, here.state, 'the heard audio reached the thread');
    } finally {
      await thread.release();
    }
  });

  test('an embedder that cannot load fails each final with its reason', async () => {
    const thread = new LabelThread({ kind: 'onnx', path: '/nonexistent/speaker.onnx' });
    try {
      const session = thread.open({});
      await assert.rejects(
        session.labelFinal(new Float32Array(SR), 0, [{ start: 0, end: 1 }]),
        /\/nonexistent\/speaker\.onnx/,
      );
    } finally {
      await thread.release();
    }
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadSileroVad, type SileroVad } from '../../../models/vad/silero.js';
import type { DgWord } from '../../../server/protocol.js';
import { clampWords } from '../../../server/stream/words.js';
import { encode, randomFrames, speechFixture } from '../../helpers/audio.js';
import { FakeEngine } from '../../helpers/fake-engine.js';
import { sessionHarness, sleep, wordsOf } from '../../helpers/session-harness.js';

/** Every word of a Results lies inside the result's span, lasts a positive time, and follows the previous one. */

const w = (word: string, start: number, end: number): DgWord => ({
  word,
  start,
  end,
  confidence: 0.9,
  punctuated_word: word,
});

function assertFitted(words: readonly { start: number; end: number }[], start: number, end: number) {
  for (const [i, x] of words.entries()) {
    assert.ok(
      x.start >= start - 1e-9 && x.end <= end + 1e-9,
      `word ${i} [${x.start}, ${x.end}] outside [${start}, ${end}]`,
    );
    assert.ok(x.end > x.start, `word ${i} [${x.start}, ${x.end}] has no duration`);
    if (i > 0) assert.ok(x.start >= words[i - 1].end - 1e-9, `word ${i} overlaps word ${i - 1}`);
  }
}

describe('clampWords', () => {
  test('words overhanging the span are pulled in, keeping their order and a positive length', () => {
    const out = clampWords([w('a', 0.5, 1.2), w('b', 3.9, 4.2), w('c', 4.2, 4.29)], 0.8, 4.1);
    assertFitted(out, 0.8, 4.1);
    assert.deepEqual(
      out.map((x) => x.word),
      ['a', 'b', 'c'],
    );
    assert.equal(out[0].start, 0.8);
    assert.equal(out[0].end, 1.2, 'a word inside keeps its end');
  });

  test('zero-length words get room of their own', () => {
    const out = clampWords([w('a', 1, 1), w('b', 1, 1), w('c', 1, 1.5), w('d', 2, 2)], 0, 3);
    assertFitted(out, 0, 3);
    assert.equal(out[3].start, 2, 'a zero-length word keeps its place');
  });

  test('all words past the end are squeezed in before it', () => {
    const out = clampWords([w('a', 5, 5.2), w('b', 5.2, 5.4), w('c', 5.4, 5.4)], 1, 2);
    assertFitted(out, 1, 2);
    assert.equal(out[2].end, 2);
  });

  test('words before the floor (what earlier finals cover) move after it', () => {
    const out = clampWords([w('a', 0.9, 1.1), w('b', 1.1, 1.6)], 0.8, 3, 1.3);
    assertFitted(out, 1.3, 3);
  });

  test('times are whole milliseconds', () => {
    const out = clampWords([w('a', 0.12345, 0.67891)], 0, 1);
    assert.deepEqual([out[0].start, out[0].end], [0.123, 0.679]);
  });
});

describe('stream session: words inside their results', () => {
  let vad: SileroVad;
  before(async () => {
    vad = await loadSileroVad();
  });
  after(async () => {
    await vad.release();
  });

  test('an engine whose words overhang the window and have no length: finals and interims still fit', async () => {
    const engine = new FakeEngine();
    // Words past the window's end (into the VAD pad and beyond) and every other one without duration.
    engine.words = (offset, duration) =>
      Array.from({ length: Math.floor(duration / 0.4) + 2 }, (_, i) => {
        const start = offset + i * 0.4;
        return { word: ` w${i}`, start, end: i % 2 ? start : start + 0.4, probability: 0.9 };
      });
    const h = sessionHarness(vad, 'interim_results=true', { engine, config: { interimIntervalMs: 300 } });
    const fx = speechFixture();
    for (const f of randomFrames(encode(fx.samples, 'linear16'), 5, 3200, 3201)) {
      h.session.onAudio(f);
      await sleep(2);
    }
    h.session.onText('{"type":"CloseStream"}');
    await h.closedP;
    const results = h.messages.filter((m) => m.type === 'Results');
    assert.ok(results.filter((r) => r.is_final).length === 3);
    assert.ok(
      results.some((r) => !r.is_final),
      'interims were sent',
    );
    for (const r of results) {
      assert.ok(wordsOf(r).length > 0);
      assertFitted(wordsOf(r), r.start!, r.start! + r.duration!);
    }
  });
});

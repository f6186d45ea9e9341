import assert from 'node:assert/strict';
import { test } from 'node:test';
import { speechWindows } from '../../../models/vad/speech-windows.js';

const F = 0.032;
/** Probabilities for a timeline of [speech?, seconds] pieces. */
function timeline(pieces: [boolean, number][]): Float32Array {
  const out: number[] = [];
  for (const [speech, s] of pieces) for (let i = 0; i < Math.round(s / F); i++) out.push(speech ? 0.9 : 0.05);
  return Float32Array.from(out);
}

test('speech regions are packed into windows of at most 30 s, cut only in silence', () => {
  // 10 utterances of 4 s with 1 s pauses: 50 s in all.
  const probs = timeline(
    Array.from({ length: 10 }, () => [
      [true, 4] as [boolean, number],
      [false, 1] as [boolean, number],
    ]).flat(),
  );
  const w = speechWindows(probs, F);
  assert.ok(w.length >= 2 && w.length <= 3, JSON.stringify(w));
  for (const x of w) assert.ok(x.end - x.start <= 30 + 1e-9);
  for (let i = 1; i < w.length; i++) assert.ok(w[i].start >= w[i - 1].end, 'windows do not overlap');
  // Every cut lies in a pause: between k*5+4 and k*5+5 seconds (with the 200 ms pad on either side).
  for (const x of w.slice(0, -1)) {
    const inPause = x.end % 5;
    assert.ok(inPause >= 3.95 && inPause <= 4.45, `cut at ${x.end}`);
  }
});

test('silence gives no window; one long utterance is split under the limit', () => {
  assert.deepEqual(speechWindows(timeline([[false, 20]]), F), []);
  const w = speechWindows(timeline([[true, 70]]), F);
  assert.ok(w.length >= 3);
  for (const x of w) assert.ok(x.end - x.start <= 30);
});

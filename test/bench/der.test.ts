import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  diarizationError,
  judgedTurns,
  maxAssignment,
  parseRttm,
  toRttm,
  type Turn,
  wrongRankedBelow,
} from '../../bench/lib/der.js';

const REF = `SPEAKER f 1 0.000 4.000 <NA> <NA> A <NA> <NA>
SPEAKER f 1 5.000 3.000 <NA> <NA> B <NA> <NA>
SPEAKER f 1 9.000 2.000 <NA> <NA> A <NA> <NA>
`;
const ref = parseRttm(REF); // 9 s of reference speech

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-9, `${a} != ${b}`);

describe('DER', () => {
  test('RTTM round trip', () => {
    assert.deepEqual(ref[1], { start: 5, end: 8, speaker: 'B' });
    assert.deepEqual(parseRttm(toRttm(ref, 'f')), ref);
    assert.throws(() => parseRttm('SPEAKER f 1 x 1 <NA> <NA> A'), /line 1/);
  });

  test('a perfect hypothesis scores 0', () => {
    const r = diarizationError(ref, ref, { collar: 0 });
    assert.equal(r.der, 0);
    close(r.total, 9);
  });

  test('swapped labels score 0 under the optimal mapping', () => {
    const hyp = ref.map((t) => ({ ...t, speaker: t.speaker === 'A' ? 'spk1' : 'spk0' }));
    const r = diarizationError(ref, hyp, { collar: 0 });
    assert.equal(r.der, 0);
    assert.deepEqual(r.mapping, { spk1: 'A', spk0: 'B' });
  });

  test('a missed segment counts as missed speech', () => {
    const r = diarizationError(ref, ref.slice(0, 2), { collar: 0 });
    close(r.missed, 2);
    close(r.der, 2 / 9);
  });

  test('hypothesised speech in silence is a false alarm', () => {
    const r = diarizationError(ref, [...ref, { start: 4, end: 5, speaker: 'A' }], { collar: 0 });
    close(r.falseAlarm, 1);
    close(r.der, 1 / 9);
  });

  test('a wrongly labelled segment is confusion, one speaker too many is counted', () => {
    const hyp: Turn[] = [ref[0], ref[1], { ...ref[2], speaker: 'C' }];
    const r = diarizationError(ref, hyp, { collar: 0 });
    close(r.confusion, 2);
    close(r.der, 2 / 9);
    assert.equal(r.hypSpeakers, 3);
  });

  test('collar: boundary errors within ±0.25 s are not scored, and the collar shrinks the total', () => {
    const late = ref.map((t) => ({ ...t, start: t.start + 0.2, end: t.end - 0.2 }));
    assert.ok(diarizationError(ref, late, { collar: 0 }).der > 0);
    const r = diarizationError(ref, late, { collar: 0.25 });
    assert.equal(r.der, 0);
    close(r.total, 9 - 6 * 0.25); // each of the 6 boundaries loses 0.25 s of speech
  });

  test('overlapped reference speech counts once per speaker', () => {
    const overlapRef: Turn[] = [
      { start: 0, end: 2, speaker: 'A' },
      { start: 1, end: 3, speaker: 'B' },
    ];
    const hyp: Turn[] = [{ start: 0, end: 3, speaker: 'x' }];
    const r = diarizationError(overlapRef, hyp, { collar: 0 });
    close(r.total, 4);
    close(r.missed, 1); // 1..2 has two reference speakers, one hypothesis speaker
    close(r.confusion, 1); // x maps to A (2 s) or B (2 s); the other second is confusion
  });

  test('the Hungarian assignment is optimal where greedy is not', () => {
    // Greedy takes 10 (row 0 → col 0) and is left with 1; optimal is 9 + 8.
    assert.deepEqual(
      maxAssignment([
        [10, 9],
        [8, 1],
      ]),
      [1, 0],
    );
    assert.deepEqual(maxAssignment([[1, 5, 2]]), [1]);
    assert.deepEqual(maxAssignment([[1], [3], [2]]), [-1, 0, -1]);
  });

  test('speaker confidence: which turns were labelled right, and how well confidences rank the wrong ones lower', () => {
    const ref: Turn[] = [
      { start: 0, end: 4, speaker: 'A' },
      { start: 4, end: 8, speaker: 'B' },
    ];
    const hyp: Turn[] = [
      { start: 0, end: 3, speaker: 'x', confidence: 0.9 },
      { start: 3, end: 4.2, speaker: 'y', confidence: 0.4 }, // mostly A's time, labelled as B's speaker
      { start: 4.2, end: 8, speaker: 'y', confidence: 0.8 },
      { start: 9, end: 10, speaker: 'x', confidence: 0.1 }, // no reference speech: not judged
      { start: 1, end: 2, speaker: 'x' }, // no confidence: not judged
    ];
    const judged = judgedTurns(ref, hyp, { x: 'A', y: 'B' });
    assert.deepEqual(judged, [
      { confidence: 0.9, right: true },
      { confidence: 0.4, right: false },
      { confidence: 0.8, right: true },
    ]);
    assert.equal(wrongRankedBelow(judged), 1);
    // 0.85 is below 0.9 but above 0.8.
    assert.equal(wrongRankedBelow([...judged, { confidence: 0.85, right: false }]), 3 / 4);
    assert.equal(
      wrongRankedBelow([
        { confidence: 0.3, right: false },
        { confidence: 0.3, right: true },
      ]),
      0.5,
    );
    assert.ok(Number.isNaN(wrongRankedBelow(judged.filter((t) => t.right))));
  });
});

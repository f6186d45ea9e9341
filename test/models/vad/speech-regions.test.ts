/**
 * A live session's speech regions (SpeechRegions): its VAD probabilities split at pauses of REGION_SEGMENTER's
 * 300 ms (shorter than a final's endpointing), in session time, the region in progress included.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { REGION_SEGMENTER, SpeechRegions } from '../../../models/vad/speech-regions.js';

// Silero's 32 ms frames.
const FS = 0.032;

/** A probability sequence from runs: [[prob, seconds], ...], whole frames. */
function seq(...runs: [number, number][]): Float32Array {
  return Float32Array.from(runs.flatMap(([p, s]) => Array<number>(Math.round(s / FS)).fill(p)));
}

const r2 = (spans: { start: number; end: number }[]) =>
  spans.map((s) => [Math.round(s.start * 100) / 100, Math.round(s.end * 100) / 100]);

describe('SpeechRegions', () => {
  test("a pause longer than the regions' endpointing splits; a shorter one does not", () => {
    const pad = REGION_SEGMENTER.speechPadMs / 1000;
    const regions = new SpeechRegions({ frameSeconds: FS });
    // Speech 1.6-3.2 s, a 0.48 s pause, speech 3.68-5.6 s, a 0.16 s pause, speech 5.76-7.36 s, silence.
    regions.push(seq([0, 1.6], [0.9, 1.6], [0, 0.48], [0.9, 1.92], [0, 0.16], [0.9, 1.6], [0, 1.6]));
    const got = r2(regions.within(0, 10));
    assert.equal(got.length, 2, `regions ${JSON.stringify(got)}`);
    assert.ok(Math.abs(got[0][0] - (1.6 - pad)) < 0.04 && Math.abs(got[0][1] - (3.2 + pad)) < 0.04);
    assert.ok(Math.abs(got[1][0] - (3.68 - pad)) < 0.04 && Math.abs(got[1][1] - (7.36 + pad)) < 0.04);
  });

  test('session time: the offset is added; within() clips to the span asked for', () => {
    const regions = new SpeechRegions({ frameSeconds: FS }, 100);
    regions.push(seq([0, 1.6], [0.9, 1.6], [0, 1.6]));
    const [r] = regions.within(0, 1000);
    assert.ok(r.start > 101 && r.end < 103.5, `region ${JSON.stringify(r)}`);
    assert.deepEqual(regions.within(102, 102.5), [{ start: 102, end: 102.5 }]);
    assert.deepEqual(regions.within(0, 100), []);
  });

  test('the region in progress is given up to the end asked for, then closes on flush', () => {
    const regions = new SpeechRegions({ frameSeconds: FS });
    regions.push(seq([0, 0.96], [0.9, 1.6]));
    const open = regions.within(0, 2.56);
    assert.equal(open.length, 1);
    assert.equal(open[0].end, 2.56);
    regions.flush();
    const [closed] = regions.within(0, 10);
    assert.ok(closed.end <= 2.56 + 1e-9, `closed at ${closed.end}`);
  });
});

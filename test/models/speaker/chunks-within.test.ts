/** chunksWithin: a span's clustering chunks cut within its speech regions (segment.ts). */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chunks, chunksWithin } from '../../../models/speaker/segment.js';

const span = { start: 0, end: 10 };

describe('chunksWithin', () => {
  test('no chunk straddles a pause between regions', () => {
    const regions = [
      { start: 0.2, end: 3.1 },
      { start: 3.5, end: 9.8 },
    ];
    const got = chunksWithin(span, regions, 2.5, 1);
    for (const c of got)
      assert.ok(c.end <= 3.1 + 1e-9 || c.start >= 3.5 - 1e-9, `chunk ${JSON.stringify(c)}`);
    assert.equal(got[0].start, 0, 'the first region reaches back to the span start');
    assert.equal(got.at(-1)!.end, 10, 'the last region reaches on to the span end');
  });

  test('a span without a pause inside is chunked as chunks() would', () => {
    assert.deepEqual(chunksWithin(span, [{ start: 0.3, end: 9.7 }], 2.5, 1), chunks(span, 2.5));
    assert.deepEqual(chunksWithin(span, [], 2.5, 1), chunks(span, 2.5));
  });

  test('a region shorter than minSeconds joins the neighbour across the shorter pause', () => {
    const regions = [
      { start: 0, end: 3 },
      { start: 3.6, end: 4.2 },
      { start: 4.4, end: 10 },
    ];
    const got = chunksWithin(span, regions, 2.5, 1);
    // The 0.6 s region joins the last one (0.2 s pause, not 0.6 s): 0-3 and 3.6-10 are chunked.
    assert.deepEqual(got, [...chunks({ start: 0, end: 3 }, 2.5), ...chunks({ start: 3.6, end: 10 }, 2.5)]);
    // Kept alone without a minimum.
    assert.equal(
      chunksWithin(span, regions, 2.5, 0).filter((c) => c.start === 3.6 && c.end === 4.2).length,
      1,
    );
  });
});

/**
 * cutAtChanges: a live final between its pauses, cut again at the changes of speaker its first round showed
 * (segment.ts), for the re-cut round's chunks: the pauses' edges are kept, a stretch across a change is cut at it.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cutAtChanges } from '../../../models/speaker/segment.js';

// A final between its pauses (one at 2.4-2.8, one at 5.2) and its re-segmentation: one voice to 4.1 s, another from
// there.
const units = [
  { start: 0, end: 2.4 },
  { start: 2.8, end: 5.2 },
  { start: 5.2, end: 7.6 },
];
const runs = [
  { start: 0, end: 4.1, k: 0 },
  { start: 4.1, end: 7.6, k: 1 },
];

describe('cutAtChanges', () => {
  test('a stretch within one run keeps its edges; one across a change is cut at it', () => {
    assert.deepEqual(cutAtChanges(units, runs, 0.3), [
      { start: 0, end: 2.4 },
      { start: 2.8, end: 4.1 },
      { start: 4.1, end: 5.2 },
      { start: 5.2, end: 7.6 },
    ]);
  });

  test('no change inside any stretch: the stretches as they were', () => {
    const atPause = [
      { start: 0, end: 2.6, k: 0 },
      { start: 2.6, end: 7.6, k: 1 },
    ];
    assert.deepEqual(cutAtChanges(units, atPause, 0.3), units);
  });

  test('a sliver under minSeconds joins the shorter neighbour of its own run', () => {
    const late = [
      { start: 0, end: 5.0, k: 0 },
      { start: 5.0, end: 7.6, k: 1 },
    ];
    // 2.8-5.0 | 5.0-5.2 (0.2 s of the second voice) | 5.2-7.6: the sliver joins 5.2-7.6, the same run.
    assert.deepEqual(cutAtChanges(units, late, 0.3), [
      { start: 0, end: 2.4 },
      { start: 2.8, end: 5.0 },
      { start: 5.0, end: 7.6 },
    ]);
  });

  test('a run shorter than minSeconds stays a piece of its own', () => {
    const brief = [
      { start: 0, end: 3.5, k: 0 },
      { start: 3.5, end: 3.7, k: 1 },
      { start: 3.7, end: 7.6, k: 0 },
    ];
    const got = cutAtChanges(units, brief, 0.3);
    assert.ok(got.some((p) => Math.abs(p.start - 3.5) < 1e-9 && Math.abs(p.end - 3.7) < 1e-9));
    // Every second of the stretches is in exactly one piece.
    const total = (xs: { start: number; end: number }[]) => xs.reduce((s, x) => s + x.end - x.start, 0);
    assert.ok(Math.abs(total(got) - total(units)) < 1e-9);
  });
});

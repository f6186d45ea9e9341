import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyFilters, argmax, sample, rng } from '../../../models/whisper/logits.js';
import type { SpecialIds } from '../../../models/whisper/model-dir.js';
import { splitSegments, compressionRatio } from '../../../models/whisper/transcribe.js';

// A toy layout: text 0..9, EOT 10, SOT 11, notimestamps 12, timestamps 13..(13+1500).
const ids: SpecialIds = {
  sot: 11,
  eot: 10,
  prevSot: 9,
  noTimestamps: 12,
  timestampBegin: 13,
  languages: new Map(),
  isMultilingual: false,
  suppressTokens: [5, 11],
  beginSuppressTokens: [0, 10],
  alignmentHeads: [],
  maxInitialTimestampIndex: 50,
};
const V = 13 + 1501;
const flat = () => new Float32Array(V).fill(0);
const allowed = (l: Float32Array) => [...l.keys()].filter((i) => l[i] !== -Infinity);

describe('logit filters (openai rules)', () => {
  test('suppress_tokens always, begin_suppress only at the first sampled position', () => {
    const first = flat();
    applyFilters(first, ids, { sampled: [], timestamps: false });
    assert.equal(first[5], -Infinity);
    assert.equal(first[0], -Infinity);
    assert.equal(first[10], -Infinity);
    const later = flat();
    applyFilters(later, ids, { sampled: [3], timestamps: false });
    assert.equal(later[5], -Infinity);
    assert.notEqual(later[0], -Infinity);
    assert.notEqual(later[10], -Infinity);
  });

  test('first timestamped position: only timestamps up to max_initial_timestamp', () => {
    const l = flat();
    applyFilters(l, ids, { sampled: [], timestamps: true });
    const ok = allowed(l);
    assert.equal(ok[0], 13);
    assert.equal(ok[ok.length - 1], 13 + 50);
    assert.equal(l[12], -Infinity);
  });

  test('after an opening timestamp comes text (no timestamps)', () => {
    const l = flat();
    l[1] = 5; // make text likely, so rule (e) does not force a timestamp
    applyFilters(l, ids, { sampled: [13 + 10], timestamps: true });
    assert.ok(allowed(l).every((i) => i < 13));
  });

  test('after text then timestamp (a closed segment): EOT or a later opening timestamp, never text', () => {
    const l = flat();
    l[10] = 20; // EOT likely enough to survive rule (e)
    applyFilters(l, ids, { sampled: [13, 2, 13 + 40], timestamps: true });
    const ok = allowed(l);
    assert.ok(ok.includes(10));
    assert.ok(
      ok.every((i) => i === 10 || i >= 13 + 40),
      `got ${ok.slice(0, 5)}`,
    );
    assert.ok(ok.includes(13 + 40), 'the next segment may start where this one ended');
  });

  test('monotonic: inside a segment no timestamp at or before the last', () => {
    const l = flat();
    l[13 + 60] = 30; // a strong timestamp after text
    applyFilters(l, ids, { sampled: [13 + 20, 3], timestamps: true });
    const ok = allowed(l).filter((i) => i >= 13);
    assert.ok(ok.every((i) => i > 13 + 20));
  });

  test('timestamp mass above the best text token forces a timestamp', () => {
    const l = flat();
    l[3] = 1;
    for (let i = 13 + 21; i < V; i++) l[i] = 0.5; // many timestamps, each below the text token
    applyFilters(l, ids, { sampled: [13 + 20, 3], timestamps: true });
    assert.ok(allowed(l).every((i) => i >= 13 + 21));
  });
});

describe('token choice', () => {
  test('argmax and seeded sampling are deterministic', () => {
    const l = new Float32Array([0, 3, 1, 2]);
    assert.equal(argmax(l), 1);
    const a = rng(7);
    const b = rng(7);
    const xs = Array.from({ length: 20 }, () => sample(l, 1, a()));
    assert.deepEqual(
      xs,
      Array.from({ length: 20 }, () => sample(l, 1, b())),
    );
    assert.ok(new Set(xs).size > 1, 'temperature 1 explores');
  });
});

describe('segments from timestamp tokens', () => {
  const T = (s: number) => 13 + Math.round(s / 0.02);
  test('consecutive pairs split segments; a single ending consumes the window', () => {
    const r = splitSegments([T(0), 1, 2, T(1), T(1), 3, T(2.5)], 13, 10);
    assert.deepEqual(
      r.slices.map((s) => [s.start, s.end]),
      [
        [0, 1],
        [1, 2.5],
      ],
    );
    assert.equal(r.consumed, 10);
  });
  test('an unfinished last segment is left for the next seek', () => {
    const r = splitSegments([T(0), 1, T(1), T(1), 3, 4], 13, 10);
    assert.equal(r.slices.length, 1);
    assert.equal(r.consumed, 1);
  });
  test('no pairs: one segment from the window start to the last timestamp (openai), else the whole window', () => {
    assert.deepEqual(
      splitSegments([T(0), 1, 2, T(3)], 13, 7).slices.map((s) => [s.start, s.end]),
      [[0, 3]],
    );
    assert.deepEqual(
      splitSegments([1, 2], 13, 7).slices.map((s) => [s.start, s.end]),
      [[0, 7]],
    );
  });
  test('compression ratio flags repetition', () => {
    assert.ok(compressionRatio('thank you '.repeat(30)) > 2.4);
    assert.ok(compressionRatio('the quick brown fox jumps over the lazy dog') < 2.4);
  });
});

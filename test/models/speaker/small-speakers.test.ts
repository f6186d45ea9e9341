/**
 * The minimum-speaker rule (segment.ts): a voice with under 2 s of speech folds into the voice it resembles most,
 * unless it is unlike every voice of the recording (a reader with one short turn), which stays a speaker.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { absorbSmallClusters, distinctBelow } from '../../../models/speaker/segment.js';
import { l2normalize } from '../../../models/speaker/embedding.js';

const DIM = 8;
const axis = (k: number, wobble = 0): Float32Array => {
  const v = new Float32Array(DIM);
  v[k] = 1;
  v[(k + 4) % DIM] = wobble;
  return l2normalize(v);
};
const spread = { within: 0.3, between: 0.6 };

/** Two long voices (axes 0 and 1, 10 s each), then one 1.3 s piece. */
function recording(short: Float32Array): {
  embeddings: Float32Array[];
  durations: number[];
  labels: number[];
} {
  const embeddings = [0, 0.1, 0.2, 0.3, 0.2].map((w) => axis(0, w));
  embeddings.push(...[0, 0.1, 0.2, 0.3].map((w) => axis(1, w)), short);
  return {
    embeddings,
    durations: [2.5, 2.5, 2.5, 2.5, 0.1, 2.5, 2.5, 2.5, 2.5, 1.3],
    labels: [0, 0, 0, 0, 0, 1, 1, 1, 1, 2],
  };
}

describe('speakers with little speech', () => {
  test('a short voice unlike every other stays a speaker of its own', () => {
    const r = recording(axis(2));
    const out = absorbSmallClusters(r.embeddings, r.labels, r.durations, 1, distinctBelow(spread));
    assert.deepEqual(out.labels, r.labels);
    assert.deepEqual([...out.distinct], [2]);
  });

  test('a short piece near one voice (a piece that straddled a change) folds into it', () => {
    const near = l2normalize(Float32Array.from(axis(1), (v, i) => v + (i === 0 ? 0.15 : 0)));
    const r = recording(near);
    const out = absorbSmallClusters(r.embeddings, r.labels, r.durations, 1, distinctBelow(spread));
    assert.equal(out.labels[9], 1);
    assert.equal(out.distinct.size, 0);
  });

  test('without the exemption every short voice folds, as before', () => {
    const r = recording(axis(2));
    const out = absorbSmallClusters(r.embeddings, r.labels, r.durations, 1);
    assert.notEqual(out.labels[9], 2);
  });
});

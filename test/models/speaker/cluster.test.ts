import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OnlineClusterer, agglomerative, nameClusters } from '../../../models/speaker/cluster.js';
import { l2normalize } from '../../../models/speaker/embedding.js';

/** A unit vector near axis `axis` (jitter in the other dims). */
function near(axis: number, jitter = 0.1, seed = 1, dim = 6): Float32Array {
  const v = new Float32Array(dim);
  for (let i = 0; i < dim; i++) {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    v[i] = (seed / 2 ** 32 - 0.5) * jitter;
  }
  v[axis] += 1;
  return l2normalize(v);
}

/** The live path's use of the clusterer: match a clip, then add it to the speaker it matched. */
function assign(c: OnlineClusterer, e: Float32Array): number {
  const id = c.match(e);
  c.add(id, e, 1);
  return id;
}

describe('speaker clustering', () => {
  test('online: a speaker keeps its number; a new voice gets the next one', () => {
    const c = new OnlineClusterer({ threshold: 0.7 });
    const seq = [0, 1, 0, 2, 1, 0].map((a, i) => assign(c, near(a, 0.1, i + 1)));
    assert.deepEqual(seq, [0, 1, 0, 2, 1, 0]);
    assert.equal(c.count, 3);
  });

  test('online: max_speakers caps new speakers (the extra voice joins the nearest)', () => {
    const c = new OnlineClusterer({ threshold: 0.7, maxSpeakers: 2 });
    assign(c, near(0));
    assign(c, near(1));
    const r = assign(c, near(2));
    assert.ok(r === 0 || r === 1);
    assert.equal(c.count, 2);
  });

  test('online: the state survives JSON (a resumed session keeps its labels)', () => {
    const c = new OnlineClusterer({ threshold: 0.7 });
    for (const a of [2, 0, 1]) assign(c, near(a));
    const resumed = OnlineClusterer.fromJSON(JSON.parse(JSON.stringify(c.toJSON())));
    assert.equal(assign(resumed, near(1, 0.1, 9)), 2);
    assert.equal(assign(resumed, near(2, 0.1, 9)), 0);
    assert.equal(assign(resumed, near(3, 0.1, 9)), 3);
    assert.throws(() => OnlineClusterer.fromJSON({ version: 2 } as never), /version 1/);
  });

  test('online: a clip with no voice (the zero vector) takes the main speaker and changes nothing', () => {
    const c = new OnlineClusterer({ threshold: 0.7 });
    assert.equal(c.match(new Float32Array(6)), 0);
    assign(c, near(1));
    assign(c, near(1, 0.1, 5));
    assign(c, near(2));
    const before = JSON.stringify(c.toJSON());
    assert.equal(assign(c, new Float32Array(6)), 0);
    assert.equal(JSON.stringify(c.toJSON()), before);
  });

  test('offline: average linkage finds the speakers; min/max speakers override the threshold', () => {
    const xs = [0, 0, 1, 1, 0, 2, 2, 1].map((a, i) => near(a, 0.2, i + 3));
    assert.deepEqual(agglomerative(xs, { threshold: 0.7 }), [0, 0, 1, 1, 0, 2, 2, 1]);
    assert.equal(new Set(agglomerative(xs, { threshold: 0.7, maxSpeakers: 2 })).size, 2);
    assert.equal(new Set(agglomerative(xs, { threshold: -1, minSpeakers: 3 })).size, 3);
    assert.deepEqual(agglomerative([], { threshold: 0.5 }), []);
  });

  test('offline: a cluster averages its clips by weight (seconds)', () => {
    // p and q merge first (0.95); m then resembles {p, q} by 0.9 (p) and 0.72 (q) averaged by their weights.
    const p = Float32Array.from([1, 0, 0]);
    const q = l2normalize(Float32Array.from([0.95, Math.sqrt(1 - 0.95 ** 2), 0]));
    const mq = (0.72 - 0.9 * q[0]) / q[1];
    const m = Float32Array.from([0.9, mq, Math.sqrt(1 - 0.81 - mq * mq)]);
    // Weighted 5:1 the average is 0.87, 1:5 it is 0.75: a 0.8 threshold tells them apart.
    assert.deepEqual(agglomerative([p, q, m], { threshold: 0.8, weights: [5, 1, 1] }), [0, 0, 0]);
    assert.deepEqual(agglomerative([p, q, m], { threshold: 0.8, weights: [1, 5, 1] }), [0, 0, 1]);
  });

  test('offline: groups keep settled speakers apart', () => {
    // Two clips of one voice merge unless each carries a different settled label; unlabelled clips still join.
    const same = [near(0, 0.1, 1), near(0, 0.1, 2), near(0, 0.1, 3)];
    assert.deepEqual(agglomerative(same, { threshold: 0.7 }), [0, 0, 0]);
    const kept = agglomerative(same, { threshold: 0.7, groups: [4, 7, -1] });
    assert.notEqual(kept[0], kept[1]);
    assert.ok(kept[2] === kept[0] || kept[2] === kept[1]);
    // The same label twice is no conflict.
    assert.deepEqual(agglomerative(same, { threshold: 0.7, groups: [4, 4, -1] }), [0, 0, 0]);
  });

  test('known speakers: a cluster takes a name only when similar enough, each name once', () => {
    const names = nameClusters(
      [near(0), near(1), near(2)],
      [
        { name: 'ada', embedding: near(1, 0.1, 5) },
        { name: 'bob', embedding: near(0, 0.1, 6) },
        { name: 'cy', embedding: near(4, 0.1, 7) },
      ],
      0.7,
    );
    assert.deepEqual(names, ['bob', 'ada', undefined]);
  });
});

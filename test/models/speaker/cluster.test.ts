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

  test('online: a speaker removed frees its number; a renamed one answers to its new number', () => {
    const c = new OnlineClusterer({ threshold: 0.7 });
    [0, 1, 2].forEach((a) => assign(c, near(a)));
    c.remove(1);
    c.rename(2, 1);
    assert.equal(c.count, 2);
    assert.equal(c.match(near(2, 0.1, 9)), 1);
    assert.equal(c.seconds(2), 0);
    assert.equal(c.match(near(3)), 2);
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

  // Pieces of one voice (near(axis, 0.2, seed, 32)) lie ~0.08 apart (1 - cosine), two voices ~1.
  const spread = { within: 0.08, between: 0.9 };
  const piece = (axis: number, seed: number): Float32Array => near(axis, 0.2, seed, 32);

  test('offline: the speakers follow from the spread of the pieces; min/max speakers bind', () => {
    const xs = [0, 0, 1, 1, 0, 2, 2, 1].map((a, i) => piece(a, i + 3));
    assert.deepEqual(agglomerative(xs, { spread }), [0, 0, 1, 1, 0, 2, 2, 1]);
    assert.equal(new Set(agglomerative(xs, { spread, maxSpeakers: 2 })).size, 2);
    assert.equal(new Set(agglomerative(xs, { spread, minSpeakers: 5 })).size, 5);
    // One voice stays one however many pieces it has.
    const one = Array.from({ length: 20 }, (_, i) => piece(0, i + 1));
    assert.deepEqual(new Set(agglomerative(one, { spread })), new Set([0]));
    assert.deepEqual(agglomerative([], { spread }), []);
  });

  test('offline: evidence grows with seconds: two close voices split when heard long, not when heard briefly', () => {
    // Two voices 0.05 apart (1 - cosine of their centres), pieces ~0.08 around each: a second of each may be one
    // voice; half a minute of each is not.
    const turn = (x: Float32Array, angle: number): Float32Array => {
      const [c, s] = [Math.cos(angle), Math.sin(angle)];
      return Float32Array.from(x, (v, i) => (i === 0 ? c * v - s * x[1] : i === 1 ? s * x[0] + c * v : v));
    };
    const voices = (n: number): Float32Array[] =>
      Array.from({ length: n }, (_, i) => turn(piece(0, i + 1), i % 2 ? Math.acos(0.95) : 0));
    const close = { within: 0.08, between: 0.1 };
    const brief = agglomerative(voices(4), { spread: close, weights: [0.5, 0.5, 0.5, 0.5] });
    assert.equal(new Set(brief).size, 1);
    const long = agglomerative(voices(24), { spread: close });
    const of = (v: number): Set<number> => new Set(long.filter((_, i) => i % 2 === v));
    assert.equal([...of(0)].filter((l) => of(1).has(l)).length, 0, `${long}`);
  });

  test('offline: one sentence heard again and again is one piece of evidence, not a voice of its own', () => {
    // One voice's pieces (~0.08 around it), and one of its sentences said 8 times over (a synthetic monologue
    // repeats sentences) lying 0.05 off: the same audio each time. Distinct pieces that far off are a second
    // voice; the repeats are the first voice.
    const turn = (x: Float32Array, angle: number): Float32Array => {
      const [c, s] = [Math.cos(angle), Math.sin(angle)];
      return Float32Array.from(x, (v, i) => (i === 0 ? c * v - s * x[1] : i === 1 ? s * x[0] + c * v : v));
    };
    const close = { within: 0.08, between: 0.1 };
    const voice = Array.from({ length: 24 }, (_, i) => piece(0, i + 1));
    const off = Math.acos(0.95);
    const repeated = Array.from({ length: 8 }, () => turn(piece(0, 100), off));
    assert.equal(new Set(agglomerative([...voice, ...repeated], { spread: close })).size, 1);
    const distinct = Array.from({ length: 8 }, (_, i) => turn(piece(0, 100 + i), off));
    const labels = agglomerative([...voice, ...distinct], { spread: close });
    assert.equal(new Set(labels.slice(24)).size, 1);
    assert.ok(!labels.slice(0, 24).includes(labels[24]), `${labels}`);
  });

  test("offline: voices the embedder crowds together are told apart on the recording's own scale", () => {
    // Three voices and their pieces three times closer than the spread says (a shared direction dominates).
    const crowd = (axis: number, seed: number): Float32Array =>
      l2normalize(Float32Array.from(piece(axis, seed), (x, i) => (i === 31 ? 1.2 : 0) + x * 0.55));
    const xs = [0, 1, 2, 0, 1, 2, 0, 1, 2].map((a, i) => crowd(a, i + 1));
    assert.deepEqual(agglomerative(xs, { spread }), [0, 1, 2, 0, 1, 2, 0, 1, 2]);
  });

  test('offline: groups keep settled speakers apart; a piece with no voice joins without a say', () => {
    // Two clips of one voice merge unless each carries a different settled label; unlabelled clips still join.
    const same = [piece(0, 1), piece(0, 2), piece(0, 3)];
    assert.deepEqual(agglomerative(same, { spread }), [0, 0, 0]);
    const kept = agglomerative(same, { spread, groups: [4, 7, -1] });
    assert.notEqual(kept[0], kept[1]);
    assert.ok(kept[2] === kept[0] || kept[2] === kept[1]);
    // The same label twice is no conflict.
    assert.deepEqual(agglomerative(same, { spread, groups: [4, 4, -1] }), [0, 0, 0]);
    const withSilence = agglomerative(
      [near(0), new Float32Array(6), near(1), near(0, 0.1, 4), near(1, 0.1, 5)],
      {
        spread,
      },
    );
    assert.equal(new Set(withSilence).size, 2);
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

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BuiltinEmbedder } from '../../../models/speaker/builtin.js';
import { diarizeFile } from '../../../models/speaker/diarize.js';
import { LiveDiarizer } from '../../../models/speaker/live.js';
import { chunks } from '../../../models/speaker/segment.js';
import { cosine } from '../../../models/speaker/embedding.js';
import { concat, voice } from '../../helpers/audio.js';

const SR = 16000;

const A = (s: number, p = 0) => voice(100, [600, 1200], s, p);
const B = (s: number, p = 0) => voice(230, [850, 2300], s, p);
const C = (s: number, p = 0) => voice(150, [450, 1700], s, p);

describe('diarization', () => {
  const e = new BuiltinEmbedder();

  test('the built-in embedding: same voice similar, different voices apart (by its own threshold)', async () => {
    const [a1, a2, b1] = await e.embed([A(2), A(2, 1), B(2)]);
    assert.ok(cosine(a1, a2) > e.sameSpeakerThreshold);
    assert.ok(cosine(a1, b1) < e.sameSpeakerThreshold);
  });

  test('chunks tile the span in equal pieces of about 2.5 s, one when short', () => {
    assert.deepEqual(chunks({ start: 0, end: 3.5 }), [{ start: 0, end: 3.5 }]);
    const c = chunks({ start: 1, end: 11.2 });
    assert.equal(c.length, 4);
    assert.equal(c[0].start, 1);
    assert.equal(c.at(-1)!.end, 11.2);
    for (const [i, x] of c.entries()) {
      assert.ok(Math.abs(x.end - x.start - 2.55) < 1e-9);
      if (i > 0) assert.equal(x.start, c[i - 1].end);
    }
  });

  test('spans of an analysed recording embed as their clips do', async () => {
    const audio = concat([A(3), B(3)]);
    const spans = e.analyze(audio);
    const [whole, a, b] = await spans.embedSpans([
      { start: 0, end: 6 },
      { start: 0.2, end: 2.8 },
      { start: 3.2, end: 5.8 },
    ]);
    const [clipA, clipB] = await e.embed([
      audio.subarray(0.2 * SR, 2.8 * SR),
      audio.subarray(3.2 * SR, 5.8 * SR),
    ]);
    // Same frames up to the clip's own loudness floor: nearly identical vectors.
    assert.ok(cosine(a, clipA) > 0.95, `A span vs clip ${cosine(a, clipA)}`);
    assert.ok(cosine(b, clipB) > 0.95, `B span vs clip ${cosine(b, clipB)}`);
    assert.ok(cosine(a, b) < e.sameSpeakerThreshold);
    assert.ok(whole.some((x) => x !== 0));
  });

  test('a one-speaker recording gives one speaker', async () => {
    const audio = concat([A(3), new Float32Array(SR), A(4, 2), new Float32Array(SR), A(2.5, 1)]);
    const speech = [
      { start: 0, end: 3 },
      { start: 4, end: 8 },
      { start: 9, end: 11.5 },
    ];
    const d = await diarizeFile(e, audio, speech);
    assert.equal(d.speakers.length, 1);
    assert.ok(d.turns.every((t) => t.speaker === 0));
  });

  test('two alternating voices: two speakers, turns labelled, names from reference clips', async () => {
    const gap = new Float32Array(SR / 2);
    const audio = concat([A(2.5), gap, B(2.5), gap, A(2.5, 1), gap, B(2.5, 1)]);
    const speech = [0, 3, 6, 9].map((s) => ({ start: s, end: s + 2.5 }));
    const d = await diarizeFile(e, audio, speech, {
      known: [
        { name: 'bea', audio: B(2, 2) },
        { name: 'al', audio: A(2, 2) },
      ],
    });
    assert.equal(d.speakers.length, 2);
    const at = (t: number) => d.turns.find((x) => x.start <= t && t < x.end)!;
    assert.deepEqual(
      [1, 4, 7, 10].map((t) => at(t).name),
      ['al', 'bea', 'al', 'bea'],
    );
    assert.deepEqual(
      [1, 4, 7, 10].map((t) => at(t).speaker),
      [0, 1, 0, 1],
    );
    const forced = await diarizeFile(e, audio, speech, { maxSpeakers: 1 });
    assert.equal(forced.speakers.length, 1);
  });

  test('file: the event loop runs between speech regions (a long upload does not stall live streams)', async () => {
    const parts: Float32Array[] = [];
    const speech: { start: number; end: number }[] = [];
    for (let i = 0; i < 12; i++) {
      speech.push({ start: i * 3, end: i * 3 + 2.5 });
      parts.push((i % 2 ? B : A)(2.5, i), new Float32Array(SR / 2));
    }
    // A probe that re-arms itself each turn of the event loop counts the turns the diarizer left to others.
    let turns = 0;
    let armed = true;
    const probe = (): void => {
      turns++;
      if (armed) setImmediate(probe);
    };
    setImmediate(probe);
    const d = await diarizeFile(e, concat(parts), speech);
    armed = false;
    assert.equal(d.speakers.length, 2);
    assert.ok(turns >= 2 * speech.length, `${turns} event-loop turns for ${speech.length} regions`);
  });

  test('file: a change of speaker inside one speech region is found where it happens', async () => {
    // One 10 s region, the voice changing at 4.2 s: no chunk boundary there (chunks fall at 2.5, 5, 7.5 s).
    const audio = concat([A(4.2), B(5.8)]);
    const d = await diarizeFile(e, audio, [{ start: 0, end: 10 }]);
    assert.equal(d.speakers.length, 2);
    assert.equal(d.turns.length, 2);
    assert.ok(Math.abs(d.turns[0].end - 4.2) <= 0.3, `change found at ${d.turns[0].end}`);
    assert.deepEqual(
      d.turns.map((t) => t.speaker),
      [0, 1],
    );
  });

  test('live: a final with a speaker change and no pause splits its words at the change', async () => {
    const live = new LiveDiarizer(e);
    const first = await live.labelFinal(A(2.5), 0);
    assert.equal(first.speaker, 0);
    // Stream time 10 s: 3 s of A then 3 s of B, back to back. The change is located to about ±0.3 s (1.5 s
    // windows every 0.1 s), so words within 0.5 s of it are not asserted.
    const words = [10.2, 11, 11.8, 12.2, 13.5, 14.2, 15, 15.6].map((s) => ({ start: s, end: s + 0.3 }));
    const r = await live.labelFinal(concat([A(3, 1), B(3)]), 10, words);
    assert.deepEqual(
      r.words.map((w) => w.speaker),
      [0, 0, 0, 0, 1, 1, 1, 1],
    );
    assert.ok(r.turns.length === 2 && Math.abs(r.turns[1].start - 13) < 0.3, JSON.stringify(r.turns));
    for (const w of r.words) assert.ok(w.confidence >= 0 && w.confidence <= 1);
  });

  test('live: three voices in one long final (fast turns) are told apart, later finals keep their numbers', async () => {
    const live = new LiveDiarizer(e);
    const r = await live.labelFinal(concat([A(4), B(4), C(4), A(4, 1)]), 0);
    const at = (t: number) => r.turns.find((x) => x.start <= t && t < x.end)!.speaker;
    const [a, b, c, a2] = [2, 6, 10, 14].map(at);
    // A chunk straddling two voices may briefly hold a number of its own, so only the voices' middles are asserted.
    assert.equal(new Set([a, b, c]).size, 3, JSON.stringify(r.turns));
    assert.equal(a2, a);
    assert.equal((await live.labelFinal(C(3, 2), 20)).speaker, c);
    assert.equal((await live.labelFinal(B(3, 2), 24)).speaker, b);
  });

  test('live: random finals of three voices: turns tile each final in order, labels are valid numbers', async () => {
    const live = new LiveDiarizer(e, { maxSpeakers: 3 });
    let seed = 7;
    const rand = (): number => (seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32;
    const voices = [A, B, C];
    let t = 0;
    for (let f = 0; f < 25; f++) {
      // One to three turns, 0.4-5 s each, back to back.
      const parts = Array.from({ length: 1 + Math.floor(rand() * 3) }, (_, i) =>
        voices[Math.floor(rand() * 3)](0.4 + rand() * 4.6, f * 3 + i),
      );
      const audio = concat(parts);
      const end = t + audio.length / SR;
      const r = await live.labelFinal(audio, t, [{ start: t, end }]);
      assert.ok(Math.abs(r.turns[0].start - t) < 1e-9 && Math.abs(r.turns.at(-1)!.end - end) < 1e-9);
      for (const [i, turn] of r.turns.entries()) {
        assert.ok(
          Number.isInteger(turn.speaker) && turn.speaker >= 0 && turn.speaker < 3,
          `speaker ${turn.speaker}`,
        );
        assert.ok(turn.start < turn.end && turn.confidence >= 0 && turn.confidence <= 1);
        if (i > 0) assert.ok(Math.abs(turn.start - r.turns[i - 1].end) < 1e-9);
      }
      assert.ok(r.words[0].speaker >= 0 && r.turns.some((x) => x.speaker === r.speaker));
      t = end + 0.5;
    }
  });

  test('live: labels survive a resume through the JSON state', async () => {
    const live = new LiveDiarizer(e);
    await live.labelFinal(B(2), 0);
    await live.labelFinal(A(2), 3);
    const resumed = new LiveDiarizer(e, {}, JSON.parse(JSON.stringify(live.state)));
    assert.equal((await resumed.labelFinal(A(2, 1), 6)).speaker, 1);
    assert.equal((await resumed.labelFinal(B(2, 1), 9)).speaker, 0);
  });
});

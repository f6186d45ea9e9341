/**
 * A live final chunked within its speech regions (LiveDiarizer.labelFinal's `speech`): two real readers
 * (LibriSpeech 587, a woman, and 8838, a man; test/fixtures/speaker/README.md), one heard for 4 s, then in one
 * final 3 s of them, a 0.4 s pause, 1.2 s of the other, a 0.4 s pause, 3 s of the first. Chunked as a whole, the
 * final's chunks each hold part of the short turn and part of the first reader's (measured: the other reader was
 * not heard at all, in both orders); cut at the pauses, the short turn is a chunk of its own and opens a speaker.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadAudioFile } from '../../../audio/load.js';
import { BuiltinEmbedder } from '../../../models/speaker/builtin.js';
import { LiveDiarizer } from '../../../models/speaker/live.js';
import { turnAt } from '../../../models/speaker/turns.js';

const FIXTURES = new URL('../../fixtures/speaker/', import.meta.url).pathname;
const SR = 16000;
const PAUSE = 0.4;
const SHORT = 1.2;

describe('a short turn between pauses inside a live final', async () => {
  const readers = await Promise.all(
    ['librispeech-587-41611-0000.wav', 'librispeech-8838-298545-0000.wav'].map(
      async (f) => (await loadAudioFile(`${FIXTURES}${f}`)).samples16k,
    ),
  );
  const cut = (reader: number, from: number, secs: number) =>
    readers[reader].subarray(Math.round(from * SR), Math.round((from + secs) * SR));

  for (const first of [0, 1]) {
    test(`reader ${first === 0 ? '587 then 8838' : '8838 then 587'}: the short turn gets a speaker of its own`, async () => {
      const live = new LiveDiarizer(new BuiltinEmbedder());
      const opening = cut(first, 0, 4);
      const before = await live.labelFinal(opening, 0, [], undefined, [{ start: 0, end: 4 }]);
      const parts = [cut(first, 4, 3), cut(1 - first, 0, SHORT), cut(first, 7, 3)];
      const audio = new Float32Array(parts.reduce((s, p) => s + p.length, 0) + 2 * Math.round(PAUSE * SR));
      const speech: { start: number; end: number }[] = [];
      const start = 5;
      let at = 0;
      for (const p of parts) {
        audio.set(p, at);
        speech.push({ start: start + at / SR, end: start + (at + p.length) / SR });
        at += p.length + Math.round(PAUSE * SR);
      }
      const final = await live.labelFinal(audio, start, [], undefined, speech);
      const firstReader = before.speaker;
      const mid = (s: { start: number; end: number }) => (s.start + s.end) / 2;
      const label = (s: { start: number; end: number }) =>
        turnAt(final.turns, mid(s) - 0.3, mid(s) + 0.3)!.speaker;
      assert.equal(label(speech[0]), firstReader);
      assert.equal(label(speech[2]), firstReader);
      assert.notEqual(label(speech[1]), firstReader, `turns ${JSON.stringify(final.turns)}`);
    });
  }
});

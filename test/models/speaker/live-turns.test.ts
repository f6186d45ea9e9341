/**
 * A live session of two real readers (LibriSpeech 587, a woman, and 8838, a man; test/fixtures/speaker/README.md)
 * who take turns inside finals, as a VAD with 500 ms endpointing leaves them when the pauses between turns are
 * shorter: a final's 2.5 s chunk across a change of speaker resembles neither reader, and used to open a third
 * speaker who won only the change.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadAudioFile } from '../../../audio/load.js';
import { BuiltinEmbedder } from '../../../models/speaker/builtin.js';
import { LiveDiarizer } from '../../../models/speaker/live.js';
import { turnAt } from '../../../models/speaker/turns.js';

const FIXTURES = new URL('../../fixtures/speaker/', import.meta.url).pathname;
const SR = 16000;
/** Silence between two turns of one final, seconds. */
const GAP = 0.3;

/** Finals, each a list of turns: [reader (0: 587, 1: 8838), seconds]. */
type Conversation = [number, number][][];

const CONVERSATIONS: Record<string, Conversation> = {
  'changes in the middle of finals': [
    [
      [0, 2.2],
      [1, 2.8],
    ],
    [
      [0, 3.2],
      [1, 2.8],
      [0, 3.7],
    ],
    [
      [1, 1.7],
      [0, 4],
      [1, 2.1],
    ],
    [[0, 4]],
  ],
  'one reader per final, then both in one': [
    [[0, 3.2]],
    [[1, 3.7]],
    [
      [0, 3],
      [1, 4],
    ],
    [[0, 1.8]],
  ],
};

/** Each reader's turns cut from their recording one after another (from its start again when it runs out). */
function makeFinals(readers: Float32Array[], conversation: Conversation) {
  const next = readers.map(() => 0);
  return conversation.map((turns) => {
    const parts: Float32Array[] = [];
    const truth: { reader: number; start: number; end: number }[] = [];
    let t = 0;
    for (const [i, [reader, secs]] of turns.entries()) {
      if (i > 0) {
        parts.push(new Float32Array(Math.round(GAP * SR)));
        t += GAP;
      }
      const n = Math.round(secs * SR);
      if (next[reader] + n > readers[reader].length) next[reader] = 0;
      parts.push(readers[reader].subarray(next[reader], next[reader] + n));
      next[reader] += n;
      truth.push({ reader, start: t, end: t + secs });
      t += secs;
    }
    const audio = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
    parts.reduce((at, p) => (audio.set(p, at), at + p.length), 0);
    return { audio, truth };
  });
}

describe('live labels of two real readers taking turns inside finals', async () => {
  const readers = await Promise.all(
    ['librispeech-587-41611-0000.wav', 'librispeech-8838-298545-0000.wav'].map(
      async (f) => (await loadAudioFile(`${FIXTURES}${f}`)).samples16k,
    ),
  );
  for (const [name, conversation] of Object.entries(CONVERSATIONS)) {
    test(`${name}: two speakers, each reader's turns under their own number`, async () => {
      const live = new LiveDiarizer(new BuiltinEmbedder());
      const heard = new Set<number>();
      const numberOf = [new Set<number>(), new Set<number>()];
      let start = 0;
      for (const { audio, truth } of makeFinals(readers, conversation)) {
        const final = await live.labelFinal(audio, start);
        for (const t of final.turns) heard.add(t.speaker);
        // The middle second of each true turn: its label, away from where the change is placed.
        for (const turn of truth) {
          const mid = start + (turn.start + turn.end) / 2;
          numberOf[turn.reader].add(turnAt(final.turns, mid - 0.5, mid + 0.5)!.speaker);
        }
        start += audio.length / SR + 1;
      }
      assert.equal(heard.size, 2, `speakers ${[...heard]}`);
      assert.equal(numberOf[0].size, 1, `587's turns labelled ${[...numberOf[0]]}`);
      assert.equal(numberOf[1].size, 1, `8838's turns labelled ${[...numberOf[1]]}`);
      assert.notEqual([...numberOf[0]][0], [...numberOf[1]][0]);
    });
  }
});

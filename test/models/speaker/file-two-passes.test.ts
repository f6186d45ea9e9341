/**
 * Files cluster twice: once from fixed ~2.5 s chunks, then from pieces cut along the runs found. Three real readers
 * (test/fixtures/speaker/README.md): one pass made a fourth speaker of a chunk across a change of speaker.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadAudioFile } from '../../../audio/load.js';
import { BuiltinEmbedder } from '../../../models/speaker/builtin.js';
import { fileDiarizer } from '../../../models/speaker/diarize.js';
import { loadSileroVad } from '../../../models/vad/silero.js';

const FIXTURE = fileURLToPath(
  new URL('../../fixtures/speaker/librispeech-three-readers.wav', import.meta.url),
);

/** Who reads when: [start, end, reader] (the conversation's own script). */
const TRUTH: [number, number, string][] = [
  [0.8, 1.74, '6836'],
  [2.14, 3.74, '6836'],
  [3.837, 7.277, '1069'],
  [7.724, 8.744, '1069'],
  [8.922, 10.322, '3440'],
  [10.831, 11.911, '3440'],
  [12.476, 15.296, '3440'],
  [15.375, 18.235, '1069'],
  [18.576, 20.996, '1069'],
  [21.209, 24.389, '6836'],
  [24.626, 26.286, '3440'],
];

describe('file diarization, two passes', () => {
  test('three real readers: three speakers, each reader under one label of its own', async () => {
    const audio = (await loadAudioFile(FIXTURE)).samples16k;
    const result = await fileDiarizer(await loadSileroVad(), new BuiltinEmbedder())(audio, {});
    assert.equal(result.speakers.length, 3, JSON.stringify(result.speakers));
    // Seconds of each reader's speech under each label.
    const overlap = new Map<string, Map<number, number>>();
    for (const [start, end, reader] of TRUTH) {
      const mine = overlap.get(reader) ?? new Map<number, number>();
      for (const t of result.turns) {
        const s = Math.min(end, t.end) - Math.max(start, t.start);
        if (s > 0) mine.set(t.speaker, (mine.get(t.speaker) ?? 0) + s);
      }
      overlap.set(reader, mine);
    }
    const labelOf = [...overlap].map(([reader, m]) => {
      const [label, s] = [...m].sort((a, b) => b[1] - a[1])[0];
      const all = [...m.values()].reduce((a, b) => a + b, 0);
      assert.ok(s / all >= 0.9, `reader ${reader}: ${((100 * s) / all).toFixed(0)} % under label ${label}`);
      return label;
    });
    assert.equal(new Set(labelOf).size, 3, `labels per reader ${labelOf.join(', ')}`);
  });
});

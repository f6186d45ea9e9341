/**
 * A recording's spans are embedded once each (spansOf -> embeddedOnce): a live final's re-cut rounds and a file's
 * re-segmentation after a dropped speaker score the same sliding windows again, against other speakers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BuiltinEmbedder } from '../../../models/speaker/builtin.js';
import { type SpeakerEmbedder, embeddedOnce } from '../../../models/speaker/embedding.js';
import { LiveDiarizer } from '../../../models/speaker/live.js';
import { concat, voice } from '../../helpers/audio.js';

test('embeddedOnce asks for each distinct span once and gives the same vectors', async () => {
  const asked: string[] = [];
  const inner = {
    embedSpans: (list: readonly { start: number; end: number }[]) => {
      asked.push(...list.map((s) => `${s.start}-${s.end}`));
      return Promise.resolve(list.map((s) => Float32Array.of(s.start, s.end)));
    },
    keepSpans: (list: readonly { start: number; end: number }[]) =>
      list.map((s) => () => Float32Array.of(s.end)),
  };
  const once = embeddedOnce(inner);
  const a = { start: 0, end: 1.5 };
  const b = { start: 0.1, end: 1.6 };
  const first = await once.embedSpans([a, b, a]);
  const again = await once.embedSpans([b, { start: 0.2, end: 1.7 }, a]);
  assert.deepEqual(asked, ['0-1.5', '0.1-1.6', '0.2-1.7']);
  const f = (...x: number[]) => x.map(Math.fround);
  assert.deepEqual(
    first.map((e) => [...e]),
    [f(0, 1.5), f(0.1, 1.6), f(0, 1.5)],
  );
  assert.deepEqual(
    again.map((e) => [...e]),
    [f(0.1, 1.6), f(0.2, 1.7), f(0, 1.5)],
  );
  // What a live session keeps of a span is the inner embedder's own.
  assert.deepEqual([...once.keepSpans!([a])[0]()], [1.5]);
});

test('a live final with two voices: no window of its audio is embedded twice (the re-cut rounds reuse them)', async () => {
  const builtin = new BuiltinEmbedder();
  const windows: string[] = [];
  const counting: SpeakerEmbedder = Object.assign(Object.create(builtin) as SpeakerEmbedder, {
    analyze: (...args: Parameters<NonNullable<SpeakerEmbedder['analyze']>>) => {
      const spans = builtin.analyze!(...args);
      return {
        ...spans,
        embedSpans: (list: readonly { start: number; end: number }[]) => {
          windows.push(...list.map((s) => `${s.start}-${s.end}`));
          return spans.embedSpans(list);
        },
      };
    },
  });
  const live = new LiveDiarizer(counting);
  const final = concat([voice(110, [700, 1200], 4), voice(220, [900, 2500], 4)]);
  const labelled = await live.labelFinal(final, 0);
  assert.ok(windows.length > 20, `${windows.length} windows`);
  assert.equal(new Set(windows).size, windows.length, 'each window embedded once');
  // Counting changed nothing: the labels are those of the embedder itself.
  const plain = await new LiveDiarizer(builtin).labelFinal(final, 0);
  assert.deepEqual(labelled.turns, plain.turns);
});

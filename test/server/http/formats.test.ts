import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatTranscript, toSrt, toVtt } from '../../../server/http/formats.js';
import { bareWord, transcriptOf, toDgWords } from '../../../server/protocol.js';
import { agreedPrefix, clampWords, collapseRepeats } from '../../../server/stream/words.js';

const segs = [
  { start: 0, end: 1.5, text: ' Hello world.' },
  { start: 3661.25, end: 3662.004, text: ' Second line', speaker: 1 },
];

describe('subtitle formats', () => {
  test('SRT numbers cues and uses HH:MM:SS,mmm', () => {
    assert.equal(
      toSrt(segs),
      '1\n00:00:00,000 --> 00:00:01,500\nHello world.\n\n2\n01:01:01,250 --> 01:01:02,004\n[Speaker 1] Second line\n',
    );
  });
  test('VTT has a header, HH:MM:SS.mmm and voice spans for speakers', () => {
    assert.equal(
      toVtt(segs),
      'WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello world.\n\n01:01:01.250 --> 01:01:02.004\n<v Speaker 1>Second line\n',
    );
  });
  test('OpenAI response shapes', () => {
    const t = { text: ' Hello world. Second line', language: 'en', duration: 3663, segments: segs };
    assert.deepEqual(JSON.parse(formatTranscript(t, 'json').body), { text: 'Hello world. Second line' });
    const v = JSON.parse(formatTranscript(t, 'verbose_json', ['segment', 'word']).body);
    assert.equal(v.task, 'transcribe');
    assert.equal(v.segments.length, 2);
    assert.deepEqual(v.words, []);
    assert.equal(formatTranscript(t, 'text').body, 'Hello world. Second line\n');
  });
});

describe('Deepgram words', () => {
  const words = toDgWords([
    { word: ' Hello,', start: 0, end: 0.4, probability: 0.9 },
    { word: ' World!', start: 0.4, end: 0.9, probability: 0.8, estimated: true },
  ]);
  test('word is bare lower case, punctuated_word keeps the text', () => {
    assert.equal(words[0].word, 'hello');
    assert.equal(words[0].punctuated_word, 'Hello,');
    assert.equal(words[1].estimated, true);
    assert.equal(transcriptOf(words, true), 'Hello, World!');
    assert.equal(transcriptOf(words, false), 'hello world');
    assert.equal(bareWord('¿Qué?'), 'qué');
  });
  test('repeat loops collapse, agreement and clamping', () => {
    const w = (s: string) =>
      toDgWords(s.split(' ').map((x, i) => ({ word: x, start: i, end: i + 1, probability: 1 })));
    assert.equal(
      collapseRepeats(w('so thank you thank you thank you thank you bye'))
        .map((x) => x.word)
        .join(' '),
      'so thank you thank you bye',
    );
    assert.equal(agreedPrefix(w('a b c d'), w('a b x d')), 2);
    // A word squeezed to nothing by the floor keeps a positive duration (20 ms) and the next one starts after it.
    const c = clampWords(w('a b c'), 0.5, 2.2, 1);
    assert.deepEqual(
      c.map((x) => [x.start, x.end]),
      [
        [1, 1.02],
        [1.02, 2],
        [2, 2.2],
      ],
    );
  });
});

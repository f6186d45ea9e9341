import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  captionsFromFinals,
  formatTranscript,
  inTimeOrder,
  toSrt,
  toText,
  toVtt,
} from '../../../server/http/formats.js';
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
    // With a speaker on any segment, text is one line per speaker turn.
    assert.equal(formatTranscript(t, 'text').body, 'Hello world.\nSpeaker 1: Second line\n');
    const plain = { ...t, segments: segs.map((x) => ({ ...x, speaker: undefined })) };
    assert.equal(formatTranscript(plain, 'text').body, 'Hello world. Second line\n');
  });

  test('a known name replaces "Speaker N" and cannot inject markup', () => {
    const named = [{ start: 0, end: 1, text: ' Hi', speaker: 0, speaker_name: 'Al <b>\nx' }];
    assert.equal(toVtt(named), 'WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n<v Al  b  x>Hi\n');
    assert.match(toSrt(named), /\n\[Al  b  x\] Hi\n/);
  });

  test('cue text cannot end a cue or forge one: line breaks, -->, and VTT markup are escaped', () => {
    const forged = ' a <b>&amp; b\n\n99\n00:00:05,000 --> 00:00:06,000\nforged\r\n\r\nc ';
    const cues = [{ start: 0, end: 1, text: forged }];
    assert.equal(
      toSrt(cues),
      '1\n00:00:00,000 --> 00:00:01,000\na <b>&amp; b 99 00:00:05,000 -> 00:00:06,000 forged c\n',
    );
    assert.equal(
      toVtt(cues),
      'WEBVTT\n\n00:00:00.000 --> 00:00:01.000\na &lt;b&gt;&amp;amp; b 99 00:00:05,000 --&gt; 00:00:06,000 forged c\n',
    );
    // Session exports go through the same functions (captionsFromFinals -> toSrt/toVtt).
    const finals = [{ start: 0, end: 1, transcript: 'x\n\ny --> z', words: [] }];
    assert.equal((toSrt(captionsFromFinals(finals)).match(/-->/g) ?? []).length, 1);
    assert.doesNotMatch(toVtt(captionsFromFinals(finals)), /\n\ny/);
  });

  test('live finals: a final whose words change speaker becomes two cues', () => {
    const w = (word: string, start: number, speaker?: number) => ({
      start,
      end: start + 0.4,
      punctuated_word: word,
      speaker,
    });
    const cues = captionsFromFinals([
      {
        start: 0,
        end: 2,
        transcript: 'Hi there. Hello!',
        words: [w('Hi', 0.1, 0), w('there.', 0.5, 0), w('Hello!', 1.2, 1)],
      },
      { start: 3, end: 4, transcript: 'Bye.', words: [w('Bye.', 3.2, 1)] },
      { start: 5, end: 6, transcript: 'no labels', words: [w('no', 5.1), w('labels', 5.5)] },
    ]);
    assert.deepEqual(cues, [
      { start: 0, end: 0.9, text: 'Hi there.', speaker: 0 },
      { start: 1.2, end: 2, text: 'Hello!', speaker: 1 },
      { start: 3, end: 4, text: 'Bye.', speaker: 1 },
      { start: 5, end: 6, text: 'no labels' },
    ]);
    assert.match(
      toSrt(cues),
      /\[Speaker 0\] Hi there\.\n\n2\n00:00:01,200 --> 00:00:02,000\n\[Speaker 1\] Hello!/,
    );
  });

  test('multichannel finals interleave in time, labelled by channel (and speaker within one)', () => {
    const final = (channel: number, start: number, transcript: string, speaker?: number) => ({
      start,
      end: start + 1,
      transcript,
      channel,
      words: [{ start, end: start + 1, punctuated_word: transcript, speaker }],
    });
    // Stored in the order they were decided: channel 1's first final came out before channel 0's.
    const stored = [final(1, 2, 'right one'), final(0, 0.5, 'left one'), final(0, 4, 'left two')];
    const cues = captionsFromFinals(inTimeOrder(stored));
    assert.deepEqual(
      cues.map((c) => [c.channel, c.text]),
      [
        [0, 'left one'],
        [1, 'right one'],
        [0, 'left two'],
      ],
    );
    assert.match(toSrt(cues), /^1\n00:00:00,500 --> 00:00:01,500\n\[Channel 0\] left one\n/);
    assert.match(toVtt(cues), /<v Channel 1>right one/);
    assert.equal(toText(cues), 'Channel 0: left one\nChannel 1: right one\nChannel 0: left two\n');
    const diarized = captionsFromFinals([final(0, 0, 'hi', 1), final(1, 0.5, 'yo', 0)]);
    assert.match(toSrt(diarized), /\[Channel 0 Speaker 1\] hi[^]*\[Channel 1 Speaker 0\] yo/);
    // One channel's finals are left as they are.
    const single = [{ start: 3 }, { start: 1 }];
    assert.deepEqual(inTimeOrder(single), single);
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

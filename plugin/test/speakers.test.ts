import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toSpeechData } from '../src/events.js';
import { commonParams, resolveOptions } from '../src/options.js';

/** knownSpeakers: the voiceprint names asked for, and carried as speakerId instead of S<n>. */

test('knownSpeakers becomes known_speakers, with diarize only', () => {
  const q = (o: Parameters<typeof resolveOptions>[0]) =>
    commonParams(resolveOptions(o)).get('known_speakers');
  assert.equal(q({ diarize: true, knownSpeakers: ['Ann', 'Bo'] }), 'Ann,Bo');
  assert.equal(q({ diarize: true, knownSpeakers: 'all' }), 'all');
  assert.equal(q({ diarize: false, knownSpeakers: 'all' }), null);
});

test('a named speaker is its name in speakerId; an unnamed one stays S<n>', () => {
  const w = (word: string, start: number, speaker: number, speaker_name?: string) => ({
    word,
    start,
    end: start + 0.4,
    confidence: 0.9,
    speaker,
    ...(speaker_name ? { speaker_name } : {}),
  });
  const data = toSpeechData(
    {
      transcript: 'hi there you',
      confidence: 0.9,
      words: [w('hi', 0, 0, 'Ann'), w('there', 0.4, 0, 'Ann'), w('you', 0.8, 1)],
    },
    { start: 0, duration: 1.2 },
    0,
    'en',
  );
  assert.equal(data.speakerId, 'Ann');
  assert.deepEqual(
    data.words?.map((x) => x.speakerId),
    ['Ann', 'Ann', 'S1'],
  );
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { STT } from '../src/index.js';
import { noisySpeechFixture } from '../../test/helpers/audio.js';
import { earshotForThisFile, finals, streamTurns, T } from './helpers.js';

// Issue 21: under stationary background noise Silero v4 kept utterances open, so an agent never heard the user
// stop. The server's default VAD must end every utterance in noise as it does in silence.
const fx = noisySpeechFixture(20);
const server = earshotForThisFile();

test('stream(): six utterances under pink noise at 20 dB SNR give six END_OF_SPEECH, one per utterance', async () => {
  const stt = new STT({ url: server.url, language: 'en' });
  const stream = stt.stream();
  const { evs, seq, turns } = await streamTurns(stream, fx.samples);
  const ends = turns.filter((e) => e.type === T.END_OF_SPEECH).length;
  assert.equal(ends, fx.segments.length, `one END per utterance: ${seq}`);
  // Each final covers exactly one true utterance: none merged across a pause.
  const fs = finals(evs);
  assert.equal(fs.length, fx.segments.length, seq);
  for (const [i, f] of fs.entries()) {
    const truth = fx.segments[i];
    const next = fx.segments[i + 1];
    assert.ok(
      f.startTime >= truth.start - 0.6 && f.endTime <= (next?.start ?? Infinity),
      `final ${i} ${f.startTime}-${f.endTime} against ${truth.start}-${truth.end}`,
    );
  }
});

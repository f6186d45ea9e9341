import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { loadAudioFile } from '../../../audio/load.js';
import { BuiltinEmbedder } from '../../../models/speaker/builtin.js';
import { VoiceAnalyzer } from '../../../models/speaker/voice-stats.js';

const FIXTURE = fileURLToPath(new URL('../../fixtures/speaker/librispeech-two-men.wav', import.meta.url));

test('prepare() analyses audio ahead: analyze() of the same samples reuses it and embeds alike', async (t) => {
  const audio = (await loadAudioFile(FIXTURE)).samples16k.subarray(0, 3 * 16000);
  const spans = [{ start: 0.2, end: 2.7 }];
  const expected = await new BuiltinEmbedder().analyze(audio).embedSpans(spans);
  let analyses = 0;
  const frames = VoiceAnalyzer.prototype.frames;
  t.mock.method(VoiceAnalyzer.prototype, 'frames', function (this: VoiceAnalyzer, clip: Float32Array) {
    analyses++;
    return frames.call(this, clip);
  });
  const e = new BuiltinEmbedder();
  e.prepare(audio.slice());
  e.prepare(audio.slice()); // the same samples again: nothing more to do
  assert.equal(analyses, 1);
  assert.deepEqual(await e.analyze(audio.slice()).embedSpans(spans), expected);
  assert.equal(analyses, 1, 'analyze() reused the prepared analysis');
  // Taken once: other samples, or the same ones again, are analysed afresh.
  await e.analyze(audio.slice()).embedSpans(spans);
  await e.analyze(audio.subarray(16000)).embedSpans([{ start: 0, end: 1.5 }]);
  assert.equal(analyses, 3);
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { VadModel } from '../../../models/vad/silero.js';
import { encode } from '../../helpers/audio.js';
import { finals, sessionHarness } from '../../helpers/session-harness.js';

/**
 * The longest-utterance safety net through a whole session: a VAD fooled by noise must not hold one utterance open
 * for minutes. The VAD doubles score every frame by its index alone (the audio does not matter).
 */
function scriptedVad(prob: (frame: number) => number): VadModel {
  return {
    frameSamples: 512,
    createStream() {
      let frames = 0;
      let rest = 0;
      return {
        push(samples: Float32Array) {
          const n = Math.floor((rest + samples.length) / 512);
          rest = (rest + samples.length) % 512;
          const out = Float32Array.from({ length: n }, (_, i) => prob(frames + i));
          frames += n;
          return Promise.resolve(out);
        },
        reset() {
          frames = rest = 0;
        },
      };
    },
  };
}

async function run(vad: VadModel, seconds: number) {
  const h = sessionHarness(vad, '', { config: { maxUtteranceSeconds: 5 } });
  const pcm = encode(new Float32Array(16000 * seconds).fill(0.01), 'linear16');
  for (let i = 0; i < pcm.length; i += 3200) h.session.onAudio(pcm.subarray(i, i + 3200));
  h.session.onText('{"type":"CloseStream"}');
  await h.closedP;
  return finals(h.messages);
}

describe('longest utterance (--max-utterance)', () => {
  test('endless "speech" is cut into finals of at most the limit, each saying why, none speech_final', async () => {
    const f = await run(
      scriptedVad(() => 0.9),
      23,
    );
    assert.ok(f.length >= 5, `finals ${f.length}`);
    for (const x of f.slice(0, -1)) {
      assert.ok(x.duration! <= 5 + 1e-6, `a final of ${x.duration} s`);
      assert.equal(x.speech_final, false);
      assert.equal(x.end_reason, 'max_utterance');
    }
    const last = f.at(-1)!;
    assert.equal(last.end_reason, undefined, 'the end of input is no cut');
  });

  test('a VAD hovering under threshold after one onset ends that utterance at the limit and starts none', async () => {
    // 0.9 for the first 20 frames (0.64 s), then 0.4: speech by hysteresis (>= 0.35) but never a new onset (< 0.5).
    const f = await run(
      scriptedVad((i) => (i < 20 ? 0.9 : 0.4)),
      30,
    );
    assert.equal(f.length, 1, `finals: ${JSON.stringify(f.map((x) => [x.start, x.duration]))}`);
    assert.equal(f[0].end_reason, 'max_utterance');
    assert.equal(f[0].speech_final, false);
    assert.ok(f[0].start! + f[0].duration! <= 5 + 1e-6);
  });
});

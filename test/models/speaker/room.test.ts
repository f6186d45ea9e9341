/**
 * The room of a recording (steady noise per band, the level speech must reach), measured over the whole recording
 * rather than within each speech region, whose quietest frames are still speech.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadAudioFile } from '../../../audio/load.js';
import { BuiltinEmbedder } from '../../../models/speaker/builtin.js';
import { fileDiarizer } from '../../../models/speaker/diarize.js';
import { RoomMeter } from '../../../models/speaker/room.js';
import { loadSileroVad } from '../../../models/vad/silero.js';
import { whiteNoise } from '../../helpers/audio.js';

const SR = 16000;

/** `seconds` of quiet white noise with a loud 440 Hz tone in every other half second. */
function noiseWithBursts(seconds: number): Float32Array {
  const noise = whiteNoise(seconds * SR, 7);
  return Float32Array.from(noise, (n, i) => {
    const burst = Math.floor(i / (SR / 2)) % 2 === 1 ? 0.3 * Math.sin((2 * Math.PI * 440 * i) / SR) : 0;
    return 0.01 * n + burst;
  });
}

describe('room levels', () => {
  test('measured in blocks, the levels are those of the whole recording at once (to a 1 % power step)', () => {
    const audio = noiseWithBursts(12);
    const whole = new RoomMeter();
    whole.add(audio);
    const blocks = new RoomMeter();
    for (let at = 0; at < audio.length; at += 3 * SR) blocks.add(audio.subarray(at, at + 3 * SR));
    const [a, b] = [whole.levels!, blocks.levels!];
    assert.ok(Math.abs(a.speechFloor - b.speechFloor) < 0.02, `${a.speechFloor} vs ${b.speechFloor}`);
    assert.ok(Math.abs(a.voiceFloor - b.voiceFloor) < 0.02, `${a.voiceFloor} vs ${b.voiceFloor}`);
    a.noise!.forEach((n, i) => assert.ok(Math.abs(Math.log(n / b.noise![i])) < 0.02, `band ${i}`));
  });

  test("the noise is the pauses' level, the speech floor lies between the noise and the bursts", () => {
    const room = new RoomMeter();
    room.add(noiseWithBursts(12));
    const pauses = new RoomMeter();
    pauses.add(Float32Array.from(whiteNoise(6 * SR, 8), (n) => 0.01 * n));
    const [noisy, quiet] = [room.levels!, pauses.levels!];
    // Half the frames are a tone 30 dB above the noise: each band's 10th percentile is still the noise between the
    // bursts (a higher percentile of it: within a factor of 4 of the noise alone, where the tone is 1000 times).
    const off = noisy.noise!.map((n, i) => Math.abs(Math.log(n / quiet.noise![i])));
    assert.ok(
      Math.max(...off) < Math.log(4),
      `noise estimate off by up to ${Math.max(...off).toFixed(2)} (log)`,
    );
    const burst = new RoomMeter();
    burst.add(Float32Array.from({ length: SR }, (_, i) => 0.3 * Math.sin((2 * Math.PI * 440 * i) / SR)));
    assert.ok(noisy.speechFloor > quiet.speechFloor - 1e-9, 'the floor rises with the loud frames');
    assert.ok(noisy.speechFloor < burst.levels!.speechFloor + Math.log(1000), 'a burst is speech');
  });

  test('nothing but digital silence: no levels', () => {
    const room = new RoomMeter();
    room.add(new Float32Array(SR));
    assert.equal(room.levels, undefined);
  });

  test('two men under 15 dB noise (5.7 s, real voices): two speakers, each under a label of its own', async () => {
    const audio = (
      await loadAudioFile(
        fileURLToPath(new URL('../../fixtures/speaker/librispeech-two-men-noisy.wav', import.meta.url)),
      )
    ).samples16k;
    // Each region analysed by its own levels took the quieter man for the louder one's noise: one speaker.
    const result = await fileDiarizer(await loadSileroVad(), new BuiltinEmbedder())(audio, {});
    assert.equal(result.speakers.length, 2, JSON.stringify(result.turns));
    const labelAt = (t: number) => result.turns.find((x) => x.start <= t && t < x.end)?.speaker;
    const first = [1.0, 1.5, 1.9].map(labelAt);
    const second = [2.6, 3.3, 4.1].map(labelAt);
    assert.equal(new Set(first).size, 1, `reader 5456: ${first.join()}`);
    assert.equal(new Set(second).size, 1, `reader 4018: ${second.join()}`);
    assert.notEqual(first[0], second[0]);
  });
});

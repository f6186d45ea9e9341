import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { boundaryErrors, trueUtterances } from '../../bench/lib/boundaries.js';
import { mix, noise, speechPower } from '../../bench/lib/noise.js';

describe('bench noise and boundary helpers', () => {
  test('mix() sets the SNR measured on the speech spans, whatever the noise kind', () => {
    const n = 16000 * 3;
    const speech = new Float32Array(n);
    const spans = [{ start: 0.5, end: 1.5 }];
    for (let i = 8000; i < 24000; i++) speech[i] = 0.1 * Math.sin(i / 7);
    const voice = Float32Array.from({ length: 16000 }, (_, i) => Math.sin(i / 3) * (1 + (i % 100) / 100));
    for (const kind of ['white', 'pink', 'hum', 'babble', 'stationary'] as const) {
      const nz = noise(kind, n, 3, [voice, voice]);
      assert.deepEqual(nz, noise(kind, n, 3, [voice, voice]), `${kind} is deterministic`);
      for (const snr of [30, 10, 0]) {
        const added = mix(speech, spans, nz, snr).map((v, i) => v - speech[i]);
        const measured =
          10 * Math.log10(speechPower(speech, spans) / speechPower(added, [{ start: 0, end: 3 }]));
        assert.ok(Math.abs(measured - snr) < 0.01, `${kind} at ${snr} dB measured ${measured}`);
      }
    }
  });

  test('true utterances join pauses shorter than the endpointing; errors go to the nearest boundary', () => {
    const truth = trueUtterances(
      [
        { start: 3.5, end: 4 },
        { start: 1, end: 2 },
        { start: 2.3, end: 2.8 },
      ],
      0.5,
    );
    assert.deepEqual(truth, [
      { start: 1, end: 2.8 },
      { start: 3.5, end: 4 },
    ]);
    // One utterance found for both: its start matches the first, its end the second.
    const e = boundaryErrors(truth, [{ start: 1.1, end: 4.2 }]);
    assert.deepEqual(
      e.map((x) => Math.round(x * 1000)),
      [100, 2400, 1400, 200],
    );
    assert.deepEqual(boundaryErrors(truth, []), [Infinity, Infinity, Infinity, Infinity]);
  });
});

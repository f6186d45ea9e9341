import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pitchFrameLength, pitchTrack, yin } from '../../audio/pitch.js';

const SR = 16000;

/** Harmonics of f0 with a strong second harmonic (the case that fools peak-picking into an octave error). */
function tone(f0: number, seconds: number): Float32Array {
  return Float32Array.from({ length: Math.round(seconds * SR) }, (_, i) => {
    const p = (2 * Math.PI * f0 * i) / SR;
    return 0.2 * Math.sin(p) + 0.5 * Math.sin(2 * p) + 0.1 * Math.sin(3 * p);
  });
}

describe('pitch (YIN)', () => {
  for (const f0 of [85, 110, 240, 380]) {
    test(`${f0} Hz with a dominant second harmonic is ${f0} Hz, not an octave off`, () => {
      const p = yin(tone(f0, 0.1), 0);
      assert.ok(Math.abs(p.f0 - f0) < 0.01 * f0, String(p.f0));
      assert.ok(p.aperiodicity < 0.05);
    });
  }

  test('noise is unvoiced', () => {
    let seed = 7;
    const x = Float32Array.from({ length: pitchFrameLength() }, () => {
      seed = (seed * 1664525 + 1013904223) >>> 0;
      return seed / 2 ** 32 - 0.5;
    });
    assert.equal(yin(x, 0).f0, 0);
  });

  test('the track drops frames more than half an octave from its median', () => {
    // 0.6 s at 100 Hz, then 0.2 s at 300 Hz (1.6 octaves up): the stray frames are rejected.
    const a = tone(100, 0.6);
    const b = tone(300, 0.2);
    const x = new Float32Array(a.length + b.length);
    x.set(a);
    x.set(b, a.length);
    const { logF0 } = pitchTrack(x, 320);
    assert.ok(logF0.length > 10);
    for (const l of logF0) assert.ok(Math.abs(2 ** l - 100) < 2, String(2 ** l));
  });
});

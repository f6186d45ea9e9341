import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { concat } from '../helpers/audio.js';
import { StreamingResampler, resample } from '../../audio/resample.js';

function rng(seed: number): () => number {
  return () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
}

function sine(rate: number, freq: number, seconds: number, amp = 0.5, phase = 0): Float32Array {
  return Float32Array.from(
    { length: Math.round(rate * seconds) },
    (_, i) => amp * Math.sin((2 * Math.PI * freq * i) / rate + phase),
  );
}

/** Amplitude of the component at `freq` (single-bin DFT over the middle of the signal, away from edges). */
function amplitudeAt(x: Float32Array, rate: number, freq: number): number {
  const from = Math.floor(x.length * 0.2);
  const to = Math.floor(x.length * 0.8);
  let re = 0;
  let im = 0;
  for (let i = from; i < to; i++) {
    const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * (i - from)) / (to - from)); // Hann: no leakage from far bins
    re += x[i] * w * Math.cos((2 * Math.PI * freq * i) / rate);
    im += x[i] * w * Math.sin((2 * Math.PI * freq * i) / rate);
  }
  return (2 * Math.hypot(re, im)) / ((to - from) / 2);
}

const db = (ratio: number) => 20 * Math.log10(ratio);

describe('StreamingResampler: streamed equals whole-buffer', () => {
  // 44101 exercises the interpolated-table path (16000 phases).
  for (const rate of [8000, 11025, 22050, 44100, 48000, 44101, 16000]) {
    test(`${rate} → 16000 in random-sized chunks`, () => {
      const input = concat([sine(rate, 440, 0.7), sine(rate, 2500, 0.6, 0.3, 1)]);
      const whole = resample(input, rate, 16000);
      assert.equal(whole.length, Math.ceil((input.length * 16000) / rate));

      const rand = rng(rate);
      const r = new StreamingResampler(rate, 16000);
      const parts: Float32Array[] = [];
      for (let i = 0; i < input.length;) {
        const size = rand() < 0.1 ? 0 : Math.floor(rand() * 2000) + 1; // includes empty and 1-sample pushes
        parts.push(r.push(input.subarray(i, i + size)));
        i += size;
      }
      parts.push(r.flush());
      const streamed = concat(parts);
      assert.equal(streamed.length, whole.length);
      let maxDiff = 0;
      for (let i = 0; i < whole.length; i++) maxDiff = Math.max(maxDiff, Math.abs(streamed[i] - whole[i]));
      assert.equal(maxDiff, 0, 'streaming must be bit-identical to whole-buffer resampling');
    });
  }

  test('flush() resets: the resampler can be reused for a new stream', () => {
    const a = sine(44100, 300, 0.3);
    const r = new StreamingResampler(44100);
    const first = concat([r.push(a), r.flush()]);
    const second = concat([r.push(a), r.flush()]);
    assert.deepEqual(second, first);
  });

  test('push() holds back only the filter half-width', () => {
    const r = new StreamingResampler(48000);
    const out = r.push(new Float32Array(48000));
    const expectedAll = 16000;
    assert.ok(
      expectedAll - out.length <= Math.ceil(r.filterHalfWidth / 3) + 1,
      `held back ${expectedAll - out.length}`,
    );
    assert.equal(out.length + r.flush().length, expectedAll);
  });
});

describe('StreamingResampler: frequency response', () => {
  for (const rate of [8000, 22050, 44100, 48000]) {
    test(`${rate} → 16000 keeps 1 kHz and 3 kHz tones at their amplitude and phase`, () => {
      for (const freq of [1000, 3000]) {
        const out = resample(sine(rate, freq, 1), rate);
        const ideal = sine(16000, freq, 1);
        assert.ok(Math.abs(db(amplitudeAt(out, 16000, freq) / 0.5)) < 0.01, `${freq} Hz gain`);
        // Zero-phase filter: the output is the ideal 16 kHz sine, no delay (checked away from the edges).
        let maxErr = 0;
        for (let i = 2000; i < 14000; i++) maxErr = Math.max(maxErr, Math.abs(out[i] - ideal[i]));
        assert.ok(maxErr < 1e-3, `${freq} Hz waveform error ${maxErr}`);
      }
    });
  }

  for (const rate of [22050, 44100, 48000]) {
    test(`${rate} → 16000 passes 7 kHz and removes everything above 8 kHz (no aliasing)`, () => {
      const pass = resample(sine(rate, 7000, 1), rate);
      assert.ok(Math.abs(db(amplitudeAt(pass, 16000, 7000) / 0.5)) < 0.1, '7 kHz must pass');
      for (const freq of [8100, 9000, 10000, rate / 2 - 100]) {
        const out = resample(sine(rate, freq, 1), rate);
        // A tone above the new Nyquist folds to 16000 - freq (or lower); whatever survives must be tiny.
        let peak = 0;
        for (let i = 1000; i < out.length - 1000; i++) peak = Math.max(peak, Math.abs(out[i]));
        assert.ok(db(peak / 0.5) < -70, `${freq} Hz leaks at ${db(peak / 0.5).toFixed(1)} dB`);
      }
    });
  }

  test('8000 → 16000 upsampling leaves no spectral image above 4 kHz', () => {
    const out = resample(sine(8000, 3000, 1), 8000);
    assert.ok(Math.abs(db(amplitudeAt(out, 16000, 3000) / 0.5)) < 0.05);
    assert.ok(db(amplitudeAt(out, 16000, 5000) / 0.5) < -70, 'image of 3 kHz at 5 kHz');
  });

  test('a constant stays constant (unity DC gain on every phase)', () => {
    for (const rate of [8000, 44100, 48000, 44101]) {
      const out = resample(new Float32Array(rate).fill(0.25), rate);
      for (let i = 500; i < out.length - 500; i++)
        assert.ok(Math.abs(out[i] - 0.25) < 1e-6, `${rate}: ${out[i]}`);
    }
  });

  test('other targets work (16000 → 8000 and 16000 → 48000)', () => {
    const down = resample(sine(16000, 1000, 1), 16000, 8000);
    assert.equal(down.length, 8000);
    assert.ok(Math.abs(db(amplitudeAt(down, 8000, 1000) / 0.5)) < 0.05);
    const up = resample(sine(16000, 1000, 1), 16000, 48000);
    assert.equal(up.length, 48000);
    assert.ok(Math.abs(db(amplitudeAt(up, 48000, 1000) / 0.5)) < 0.05);
  });

  test('identity when the rates are equal (a copy)', () => {
    const x = sine(16000, 500, 0.1);
    const y = resample(x, 16000);
    assert.deepEqual(y, x);
    assert.notEqual(y, x);
  });

  test('rejects non-integer or absurd rates', () => {
    assert.throws(() => new StreamingResampler(0), RangeError);
    assert.throws(() => new StreamingResampler(44100.5), RangeError);
    assert.throws(() => new StreamingResampler(NaN), RangeError);
  });
});

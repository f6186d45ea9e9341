import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { linearResample } from '../../audio/linear-resample.js';

function tone(hz: number, rate: number, seconds: number): Float32Array {
  const out = new Float32Array(Math.round(rate * seconds));
  for (let i = 0; i < out.length; i++) out[i] = 0.5 * Math.sin((2 * Math.PI * hz * i) / rate);
  return out;
}

function rms(x: Float32Array, from = 0, to = x.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i] * x[i];
  return Math.sqrt(s / (to - from));
}

describe("Kaldi's LinearResample (sherpa-onnx's resampler)", () => {
  test('output length: the unflushed tail (window width, 6 zeros at 99% of the lower Nyquist) is left out', () => {
    // 8 kHz → 16 kHz: window 6 / (2·3960) s = 0.758 ms, 12.1 output samples; 1 s in gives 16000 - 12 samples.
    assert.equal(linearResample(new Float32Array(8000), 8000, 16000).length, 15988);
    // 44.1 kHz → 16 kHz: the lower rate is 16 kHz, window 6 / (2·7920) s = 0.379 ms, 6 output samples.
    assert.equal(linearResample(new Float32Array(44100), 44100, 16000).length, 15994);
    assert.equal(linearResample(new Float32Array(5), 8000, 16000).length, 0);
    const same = new Float32Array([1, 2, 3]);
    assert.equal(linearResample(same, 16000, 16000), same);
  });

  test('a tone in the pass band keeps its level and frequency; above the new Nyquist it is removed', () => {
    for (const [from, to] of [
      [8000, 16000],
      [44100, 16000],
      [48000, 16000],
    ]) {
      const y = linearResample(tone(1000, from, 1), from, to);
      const mid = y.subarray(2000, 14000);
      assert.ok(Math.abs(rms(mid) - 0.5 / Math.SQRT2) < 0.005, `${from}->${to}: rms ${rms(mid)}`);
      let crossings = 0;
      for (let i = 1; i < mid.length; i++) if (mid[i - 1] < 0 !== mid[i] < 0) crossings++;
      assert.ok(Math.abs(crossings - 1500) <= 2, `${from}->${to}: ${crossings} zero crossings in 0.75 s`);
    }
    const alias = linearResample(tone(12000, 44100, 1), 44100, 16000);
    assert.ok(rms(alias, 2000, 14000) < 0.5 * 0.01, `12 kHz at 16 kHz: rms ${rms(alias, 2000, 14000)}`);
  });

  test('refuses rates that are not positive integers', () => {
    assert.throws(() => linearResample(new Float32Array(10), 0, 16000), RangeError);
    assert.throws(() => linearResample(new Float32Array(10), 22050.5, 16000), RangeError);
  });
});

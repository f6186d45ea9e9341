import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  KaldiFbank,
  LOG_FLOOR,
  fbank,
  frameCount,
  frameStart,
  frameWindow,
  kaldiMelBanks,
  librosaMelBanks,
  melScale,
  normalizeFeatures,
  poveyWindow,
  slaneyMel,
} from '../../audio/fbank.js';

function tone(hz: number, seconds: number, amp = 0.5): Float32Array {
  const out = new Float32Array(Math.round(seconds * 16000));
  for (let i = 0; i < out.length; i++) out[i] = amp * Math.sin((2 * Math.PI * hz * i) / 16000);
  return out;
}

function noise(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    out[i] = seed / 2 ** 32 - 0.5;
  }
  return out;
}

describe('Kaldi fbank', () => {
  test('frame count with snip edges: 1 + floor((n - 400) / 160), none below one frame', () => {
    assert.equal(frameCount(399, 400, 160), 0);
    assert.equal(frameCount(400, 400, 160), 1);
    assert.equal(frameCount(559, 400, 160), 1);
    assert.equal(frameCount(560, 400, 160), 2);
    assert.equal(frameCount(16000, 400, 160), 98);
    const f = fbank(new Float32Array(16000));
    assert.equal(f.frames, 98);
    assert.equal(f.bins, 80);
    assert.equal(f.data.length, 98 * 80);
    assert.equal(fbank(new Float32Array(100)).frames, 0);
  });

  test('Povey window: (0.5 - 0.5 cos(2πi/(N-1)))^0.85, zero at both ends, symmetric', () => {
    const w = poveyWindow(400);
    assert.equal(w[0], 0);
    assert.ok(Math.abs(w[399]) < 1e-12);
    // i = (N-1)/4: the Hann value is 0.5 - 0.5·cos(π/2) = 0.5.
    const w5 = poveyWindow(5);
    assert.ok(Math.abs(w5[1] - Math.pow(0.5, 0.85)) < 1e-12);
    assert.ok(Math.abs(w5[2] - 1) < 1e-12);
    for (let i = 0; i < 400; i++) assert.ok(Math.abs(w[i] - w[399 - i]) < 1e-12);
  });

  test('a DC signal is removed entirely: every bin sits at the log floor', () => {
    const f = fbank(new Float32Array(4000).fill(0.3));
    for (const v of f.data) assert.equal(v, Math.fround(LOG_FLOOR));
  });

  test('a pure tone peaks in the mel bin whose centre is nearest its frequency', () => {
    // Kaldi's 80 bins over 20..8000 Hz on the 1127·ln(1 + f/700) scale.
    const lo = melScale(20);
    const delta = (melScale(8000) - lo) / 81;
    for (const hz of [300, 1000, 3000, 6000]) {
      const f = fbank(tone(hz, 0.5));
      const mid = Math.floor(f.frames / 2) * 80;
      let best = 0;
      for (let b = 1; b < 80; b++) if (f.data[mid + b] > f.data[mid + best]) best = b;
      const expected = Math.round((melScale(hz) - lo) / delta) - 1;
      assert.ok(Math.abs(best - expected) <= 1, `${hz} Hz peaked in bin ${best}, expected ~${expected}`);
    }
  });

  test('scaling the samples by s adds 2·ln(s) to every bin (power spectrum, natural log)', () => {
    const x = noise(8000);
    const a = fbank(x);
    const b = fbank(x, 32768);
    for (let i = 0; i < a.data.length; i++) {
      assert.ok(Math.abs(b.data[i] - a.data[i] - 2 * Math.log(32768)) < 1e-3);
    }
  });

  test('mel filters are triangles peaking at 1, in ascending order, inside 20 Hz..Nyquist', () => {
    const banks = kaldiMelBanks(80, 512, 16000, 20, 0);
    assert.equal(banks.length, 80);
    let prev = -1;
    for (const { first, weights } of banks) {
      assert.ok(weights.length > 0);
      assert.ok(first >= 1, 'bin 0 (0 Hz) is below 20 Hz');
      assert.ok(first + weights.length <= 256, 'the Nyquist bin is never used');
      const peak = first + weights.indexOf(Math.max(...weights));
      assert.ok(peak >= prev, 'low filters are narrower than an FFT bin and may share a peak');
      prev = peak;
      for (const w of weights) assert.ok(w >= 0 && w <= 1);
    }
    assert.throws(() => kaldiMelBanks(80, 512, 16000, 20, 9000), /highFreq/);
  });

  test('other geometries: 8 kHz audio, 40 bins', () => {
    const fb = new KaldiFbank({ sampleRate: 8000, numBins: 40 });
    assert.equal(fb.frameLength, 200);
    assert.equal(fb.frameShift, 80);
    const f = fb.compute(noise(8000));
    assert.equal(f.frames, 1 + Math.floor((8000 - 200) / 80));
    assert.equal(f.bins, 40);
  });

  test('global-mean leaves every bin with zero mean; per-feature also unit spread (floored)', () => {
    const f = normalizeFeatures(fbank(noise(16000, 7)), 'global-mean');
    for (let b = 0; b < 80; b++) {
      let s = 0;
      for (let t = 0; t < f.frames; t++) s += f.data[t * 80 + b];
      assert.ok(Math.abs(s / f.frames) < 1e-4);
    }
    const g = normalizeFeatures(fbank(noise(16000, 8)), 'per-feature');
    for (let b = 0; b < 80; b++) {
      let s = 0;
      let sq = 0;
      for (let t = 0; t < g.frames; t++) {
        s += g.data[t * 80 + b];
        sq += g.data[t * 80 + b] ** 2;
      }
      assert.ok(Math.abs(s / g.frames) < 1e-4);
      assert.ok(Math.abs(Math.sqrt(sq / g.frames) - 1) < 1e-3, `bin ${b}`);
    }
    // A constant bin (DC input: every bin at the floor) has no spread: the floor keeps it finite, at zero.
    const dc = normalizeFeatures(fbank(new Float32Array(4000).fill(0.3)), 'per-feature');
    assert.ok(dc.data.every((v) => v === 0));
    const none = fbank(noise(4000, 9));
    assert.deepEqual(normalizeFeatures(fbank(noise(4000, 9)), 'none').data, none.data);
  });

  test('without snipped edges: round(n / shift) frames centred on k·shift + shift/2, the ends reflected', () => {
    assert.equal(frameCount(16000, 400, 160, false), 100);
    assert.equal(frameCount(16079, 400, 160, false), 100);
    assert.equal(frameCount(16080, 400, 160, false), 101);
    assert.equal(frameCount(79, 400, 160, false), 0);
    assert.equal(frameStart(0, 400, 160, false), -120);
    assert.equal(frameStart(3, 400, 160, false), 360);
    const x = noise(16000, 3);
    const loose = new KaldiFbank({ snipEdges: false });
    const snipped = new KaldiFbank();
    const a = loose.compute(x);
    assert.equal(a.frames, 100);
    // Frame k of the snipped grid starts at 160k; frame k+1 of the loose grid at 160k + 40: a whole frame inside
    // the signal shifted by 40 samples is a different frame, but the reflected first frame equals the fbank of the
    // reflected signal.
    const reflected = new Float32Array(400);
    for (let i = 0; i < 400; i++) reflected[i] = x[Math.abs(i - 120) - (i < 120 ? 1 : 0)];
    const first = snipped.compute(reflected);
    for (let b = 0; b < 80; b++) assert.ok(Math.abs(first.data[b] - a.data[b]) < 1e-4, `bin ${b}`);
    const inner = snipped.compute(x.subarray(360, 760));
    for (let b = 0; b < 80; b++) assert.ok(Math.abs(inner.data[b] - a.data[3 * 80 + b]) < 1e-4);
  });

  test('windows: hann is periodic (kaldi-native-fbank), hamming and povey symmetric', () => {
    const hann = frameWindow('hann', 8);
    assert.ok(Math.abs(hann[4] - 1) < 1e-12, 'periodic: the peak at N/2');
    assert.ok(hann[7] > 0.1, 'periodic: the last sample is not zero');
    const hamming = frameWindow('hamming', 9);
    assert.ok(Math.abs(hamming[0] - 0.08) < 1e-12 && Math.abs(hamming[8] - 0.08) < 1e-12);
    assert.deepEqual(frameWindow('povey', 400), poveyWindow(400));
    assert.ok(frameWindow('rectangular', 5).every((v) => v === 1));
  });

  test("librosa mel banks: Slaney's scale, area-normalised triangles, the Nyquist bin included", () => {
    assert.equal(slaneyMel(1000), 15);
    assert.ok(Math.abs(slaneyMel(6400) - 42) < 1e-9);
    const banks = librosaMelBanks(80, 512, 16000, 0, 8000);
    assert.equal(banks.length, 80);
    // norm="slaney": each triangle has area 1 in Hz; summed over FFT bins that holds to the sampling error, which
    // is small once a triangle spans many bins.
    banks.forEach(({ weights }, b) => {
      const area = weights.reduce((a, w) => a + w, 0) * (16000 / 512);
      assert.ok(Math.abs(area - 1) < (b < 40 ? 0.15 : 0.03), `bin ${b}: area ${area}`);
    });
    assert.ok(banks[79].first + banks[79].weights.length - 1 <= 256);
    const top = librosaMelBanks(80, 512, 16000, 0, -400);
    assert.ok((top[79].first + top[79].weights.length - 1) * (16000 / 512) < 7600);
  });
});

import { readFileSync } from 'node:fs';
import { decodeWav } from '../../audio/wav.js';
import { resample } from '../../audio/resample.js';
import { linearToMulaw } from '../../audio/pcm.js';

export const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;

export interface SpeechFixture {
  samples: Float32Array;
  segments: { start: number; end: number; text: string; speaker: string }[];
  duration: number;
}

/** The first 10.6 s of the corpus' two-speaker conversation (3 utterances) with exact ground truth. */
export function speechFixture(): SpeechFixture {
  const audio = decodeWav(readFileSync(`${FIXTURES}vad/two-speakers-10s.wav`));
  const truth = JSON.parse(readFileSync(`${FIXTURES}vad/two-speakers-10s.json`, 'utf8')) as SpeechFixture;
  return { samples: audio.samples, segments: truth.segments, duration: audio.duration };
}

/**
 * The speech fixture twice (1 s apart, 6 utterances) under stationary pink noise at `snrDb` below the speech's
 * level: the background that made Silero v4 hold utterances open (issue 21). Pink (1/f) noise, not white: v4
 * ignores white noise but scores a third of pink-noise frames as possible speech. Deterministic for a seed.
 */
export function noisySpeechFixture(snrDb = 20, seed = 2): SpeechFixture {
  const fx = speechFixture();
  const gap = 16000;
  const samples = concat([fx.samples, new Float32Array(gap), fx.samples]);
  const shift = (fx.samples.length + gap) / 16000;
  let energy = 0;
  let n = 0;
  for (const s of fx.segments) {
    for (let i = Math.round(s.start * 16000); i < Math.round(s.end * 16000); i++) {
      energy += fx.samples[i] ** 2;
      n++;
    }
  }
  const noise = pinkNoise(samples.length, seed);
  const noiseRms = Math.sqrt(noise.reduce((e, v) => e + v * v, 0) / noise.length);
  const gain = Math.sqrt(energy / n) / noiseRms / 10 ** (snrDb / 20);
  for (let i = 0; i < samples.length; i++) samples[i] += gain * noise[i];
  const segments = [
    ...fx.segments,
    ...fx.segments.map((s) => ({ ...s, start: s.start + shift, end: s.end + shift })),
  ];
  return { samples, segments, duration: samples.length / 16000 };
}

/** Pink noise (Paul Kellet's filter over a seeded uniform source), unscaled. */
function pinkNoise(length: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const white = () => {
    a = (a * 1664525 + 1013904223) >>> 0;
    return (a / 2 ** 32) * 2 - 1;
  };
  const b = [0, 0, 0, 0, 0, 0, 0];
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    const w = white();
    b[0] = 0.99886 * b[0] + w * 0.0555179;
    b[1] = 0.99332 * b[1] + w * 0.0750759;
    b[2] = 0.969 * b[2] + w * 0.153852;
    b[3] = 0.8665 * b[3] + w * 0.3104856;
    b[4] = 0.55 * b[4] + w * 0.5329522;
    b[5] = -0.7616 * b[5] - w * 0.016898;
    out[i] = b[0] + b[1] + b[2] + b[3] + b[4] + b[5] + b[6] + w * 0.5362;
    b[6] = w * 0.115926;
  }
  return out;
}

export type Enc = 'linear16' | 'float32' | 'mulaw';

/** Encodes 16 kHz mono audio as a client would send it: any rate, 1-2 channels, any encoding. */
export function encode(samples16k: Float32Array, enc: Enc, rate = 16000, channels: 1 | 2 = 1): Uint8Array {
  const s = rate === 16000 ? samples16k : resample(samples16k, 16000, rate);
  const bps = enc === 'linear16' ? 2 : enc === 'float32' ? 4 : 1;
  const out = new Uint8Array(s.length * channels * bps);
  const view = new DataView(out.buffer);
  for (let i = 0; i < s.length; i++) {
    for (let c = 0; c < channels; c++) {
      const off = (i * channels + c) * bps;
      const v = Math.max(-1, Math.min(1, s[i]));
      if (enc === 'linear16') view.setInt16(off, Math.round(v * 32767), true);
      else if (enc === 'float32') view.setFloat32(off, v, true);
      else out[off] = linearToMulaw(Math.round(v * 32767));
    }
  }
  return out;
}

/** Deterministic white noise, uniform in [-1, 1). */
export function whiteNoise(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return (s / 2147483648) * 2 - 1;
  });
}

/** Splits bytes into random-sized frames (deterministic for a seed), odd sizes included. */
export function randomFrames(bytes: Uint8Array, seed = 1, min = 1, max = 9000): Uint8Array[] {
  let a = seed;
  const rand = () => {
    a = (a * 1103515245 + 12345) & 0x7fffffff;
    return a / 0x7fffffff;
  };
  const frames: Uint8Array[] = [];
  for (let i = 0; i < bytes.length;) {
    const n = Math.floor(min + rand() * (max - min));
    frames.push(bytes.subarray(i, Math.min(bytes.length, i + n)));
    i += n;
  }
  return frames;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The 44-byte header of a 16-bit PCM WAV holding `dataBytes` of samples. */
export function wavHeader(dataBytes: number, rate = 16000, channels = 1): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * channels * 2, 28);
  h.writeUInt16LE(channels * 2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

/**
 * Two channels holding different utterances of the speech fixture: left the first ("It snowed, ..."), right the
 * second ("The salt breeze ..."), each silent where the other speaks; cut after the second (8 s).
 */
export function stereoFixture(): {
  channels: [Float32Array, Float32Array];
  segments: SpeechFixture['segments'];
} {
  const fx = speechFixture();
  const length = Math.round((fx.segments[1].end + 0.55) * 16000);
  const only = (k: number) => {
    const out = new Float32Array(length);
    const [a, b] = [fx.segments[k].start - 0.15, fx.segments[k].end + 0.15].map((t) => Math.round(t * 16000));
    out.set(fx.samples.subarray(a, b), a);
    return out;
  };
  return { channels: [only(0), only(1)], segments: fx.segments.slice(0, 2) };
}

/** 16 kHz channels as interleaved PCM, as a multichannel client sends it. */
export function interleave(channels: readonly Float32Array[], enc: Enc = 'linear16'): Uint8Array {
  const parts = channels.map((c) => encode(c, enc));
  const bps = parts[0].length / channels[0].length;
  const out = new Uint8Array(parts[0].length * channels.length);
  for (let i = 0; i < channels[0].length; i++) {
    parts.forEach((p, c) => out.set(p.subarray(i * bps, (i + 1) * bps), (i * channels.length + c) * bps));
  }
  return out;
}

/** 16-bit 16 kHz WAV of these channels. */
export function wavChannels(channels: readonly Float32Array[]): Buffer {
  const pcm = interleave(channels);
  return Buffer.concat([wavHeader(pcm.length, 16000, channels.length), pcm]);
}

/** 16-bit mono 16 kHz WAV of these samples. */
export function wav16(samples: Float32Array): Buffer {
  const pcm = encode(samples, 'linear16');
  return Buffer.concat([wavHeader(pcm.length), pcm]);
}

/** A synthetic vowel-like voice for speaker tests: harmonics of f0 (slight vibrato) under two formant peaks, 4 Hz syllable envelope. */
export function voice(f0: number, formants: [number, number], seconds: number, phase = 0): Float32Array {
  const out = new Float32Array(Math.round(seconds * 16000));
  const amps: number[] = [];
  for (let h = 1; h * f0 < 7000; h++) {
    const f = h * f0;
    amps.push(
      Math.exp(-(((f - formants[0]) / 150) ** 2)) + 0.6 * Math.exp(-(((f - formants[1]) / 250) ** 2)) + 0.02,
    );
  }
  let ph = 0;
  for (let i = 0; i < out.length; i++) {
    const t = i / 16000;
    ph += (2 * Math.PI * f0 * (1 + 0.01 * Math.sin(2 * Math.PI * 5 * t))) / 16000;
    let s = 0;
    for (let h = 0; h < amps.length; h++) s += amps[h] * Math.sin((h + 1) * ph);
    out[i] = 0.1 * s * (0.6 + 0.4 * Math.sin(2 * Math.PI * 4 * t + phase));
  }
  return out;
}

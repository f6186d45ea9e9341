import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import wavefile from 'wavefile';
import { AudioDecodeError } from '../../audio/errors.js';
import { decodeWithFfmpeg, ffmpegAvailable } from '../../audio/ffmpeg.js';
import {
  decodeAudio,
  decodeAudioStream,
  loadAudioFile,
  sniffContainer,
  type Container,
} from '../../audio/load.js';

const SKIP_REASON =
  'ffmpeg is NOT installed, so the compressed-audio path is untested: apt-get install ffmpeg';
const hasFfmpeg = await ffmpegAvailable();
if (!hasFfmpeg) console.warn(`\n!!! ${SKIP_REASON}\n`);

const RATE = 16000;
const SECONDS = 2.5;

/** Speech-like test signal: a gliding harmonic tone with a syllable-rate envelope, plus a little noise. */
function testSignal(rate: number, seconds: number): Float32Array {
  let seed = 5;
  const n = Math.round(rate * seconds);
  const out = new Float32Array(n);
  let phase = 0;
  for (let i = 0; i < n; i++) {
    const t = i / rate;
    const f0 = 140 + 60 * Math.sin(2 * Math.PI * 0.7 * t);
    phase += (2 * Math.PI * f0) / rate;
    const env = 0.5 + 0.5 * Math.sin(2 * Math.PI * 4 * t);
    let v = 0;
    for (let h = 1; h <= 8; h++) v += Math.sin(h * phase) / h;
    seed = (seed * 1664525 + 1013904223) >>> 0;
    out[i] = 0.25 * env * v + 0.01 * (seed / 2 ** 32 - 0.5);
  }
  return out;
}

function wavBytes(samples: Float32Array, rate: number, channels = 1): Uint8Array {
  const wav = new wavefile.WaveFile();
  const ints = Array.from(samples, (v) => Math.round(v * 32767));
  wav.fromScratch(channels, rate, '16', channels === 1 ? ints : [ints, ints.map((v) => -v >> 1)]);
  return wav.toBuffer();
}

/** Best normalized cross-correlation of b against a within ±maxLag samples. */
function bestCorrelation(a: Float32Array, b: Float32Array, maxLag: number): { corr: number; lag: number } {
  let best = { corr: -1, lag: 0 };
  for (let lag = -maxLag; lag <= maxLag; lag += 1) {
    let ab = 0;
    let aa = 0;
    let bb = 0;
    for (let i = Math.max(0, -lag); i < a.length && i + lag < b.length; i += 2) {
      const x = a[i];
      const y = b[i + lag];
      ab += x * y;
      aa += x * x;
      bb += y * y;
    }
    const corr = ab / Math.sqrt(aa * bb);
    if (corr > best.corr) best = { corr, lag };
  }
  return best;
}

describe('ffmpeg decoding', { skip: hasFfmpeg ? false : SKIP_REASON }, () => {
  let dir: string;
  const source = testSignal(RATE, SECONDS);
  const files: Record<string, string> = {};

  // [file, container, encoder args, duration tolerance in s]
  const FORMATS: [name: string, container: Container, args: string[], tolerance: number][] = [
    ['clip.mp3', 'mp3', ['-c:a', 'libmp3lame', '-b:a', '64k'], 0.05],
    ['clip.ogg', 'ogg', ['-c:a', 'libvorbis', '-q:a', '4'], 0.05],
    ['clip.flac', 'flac', ['-c:a', 'flac'], 0.05],
    ['clip.webm', 'webm', ['-c:a', 'libopus', '-b:a', '48k'], 0.05],
    // moov at the end, so this needs the temp-file path; ffmpeg keeps AAC's last partial frame (1024 samples).
    ['clip.m4a', 'mp4', ['-c:a', 'aac', '-b:a', '64k'], 1024 / 16000 + 0.005],
  ];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'earshot-ffmpeg-test-'));
    const wav = join(dir, 'source.wav');
    writeFileSync(wav, wavBytes(source, RATE));
    for (const [name, , args] of FORMATS) {
      files[name] = join(dir, name);
      execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', wav, ...args, files[name]]);
    }
    // 44.1 kHz stereo source, to check downmix + resampling inside ffmpeg.
    const wav44 = join(dir, 'source44.wav');
    writeFileSync(wav44, wavBytes(testSignal(44100, SECONDS), 44100, 2));
    files['stereo44.mp3'] = join(dir, 'stereo44.mp3');
    execFileSync('ffmpeg', [
      '-hide_banner',
      '-loglevel',
      'error',
      '-y',
      '-i',
      wav44,
      '-c:a',
      'libmp3lame',
      files['stereo44.mp3'],
    ]);
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [name, container, , tolerance] of FORMATS) {
    test(`${name}: sniffed as ${container}, right duration, audio matches the source`, async () => {
      const bytes = new Uint8Array(readFileSync(files[name]));
      assert.equal(sniffContainer(bytes), container);
      const decoded = await loadAudioFile(files[name]);
      assert.equal(decoded.sampleRate, 16000);
      assert.equal(decoded.samples16k, decoded.samples);
      assert.ok(Math.abs(decoded.duration - SECONDS) <= tolerance, `duration ${decoded.duration}`);
      const { corr, lag } = bestCorrelation(source, decoded.samples, 400);
      assert.ok(corr > 0.95, `correlation ${corr.toFixed(3)} at lag ${lag}`);
      assert.ok(Math.abs(lag) <= 0.05 * RATE, `offset ${lag} samples`);
    });
  }

  test('streamed uploads of every container are spooled to a file, equal the whole-buffer decode, leave nothing', async () => {
    const before = readdirSync(tmpdir()).filter((f) => f.startsWith('earshot-upload-')).length;
    for (const [name, , , tolerance] of FORMATS) {
      const bytes = new Uint8Array(readFileSync(files[name]));
      async function* chunks() {
        for (let i = 0; i < bytes.length; i += 777) yield bytes.subarray(i, i + 777);
      }
      // From a file ffmpeg also honours the encoder-delay/padding headers a pipe cannot seek back to (mp3: exact).
      const streamed = await decodeAudioStream(chunks());
      assert.ok(Math.abs(streamed.duration - SECONDS) <= tolerance, `${name}: duration ${streamed.duration}`);
      const { corr } = bestCorrelation(source, streamed.samples16k, 400);
      assert.ok(corr > 0.95, `${name}: correlation ${corr}`);
    }
    const garbage = async function* () {
      yield new Uint8Array(4096).fill(7);
    };
    await assert.rejects(
      decodeAudioStream(garbage()),
      (e: unknown) => (e as AudioDecodeError).code === 'not_audio',
    );
    assert.equal(readdirSync(tmpdir()).filter((f) => f.startsWith('earshot-upload-')).length, before);
  });

  test('44.1 kHz stereo mp3 → 16 kHz mono with the right duration', async () => {
    const decoded = await decodeAudio(new Uint8Array(readFileSync(files['stereo44.mp3'])));
    assert.equal(decoded.sampleRate, 16000);
    assert.ok(Math.abs(decoded.duration - SECONDS) <= 0.05, `duration ${decoded.duration}`);
    // Channels were x and -x/2: their average is x/4, still the source shape.
    const { corr } = bestCorrelation(source, decoded.samples, 400);
    assert.ok(corr > 0.95, `correlation ${corr}`);
  });

  test('a WAV ffmpeg writes to a pipe (size 0xFFFFFFFF) decodes in process', async () => {
    const piped = execFileSync('ffmpeg', [
      '-hide_banner',
      '-loglevel',
      'error',
      '-i',
      files['clip.flac'],
      '-f',
      'wav',
      'pipe:1',
    ]);
    const decoded = await decodeAudio(new Uint8Array(piped));
    assert.equal(decoded.samples.length, Math.round(RATE * SECONDS));
  });

  test('WAV encodings we do not convert in process fall back to ffmpeg (96 kHz)', async () => {
    const decoded = await decodeAudio(wavBytes(testSignal(96000, 0.5), 96000));
    assert.equal(decoded.sampleRate, 16000);
    assert.ok(Math.abs(decoded.duration - 0.5) <= 0.05);
  });

  test('garbage is not_audio', async () => {
    let seed = 3;
    const junk = Uint8Array.from({ length: 4000 }, () => (seed = (seed * 1664525 + 1013904223) >>> 0) >>> 24);
    await assert.rejects(
      decodeWithFfmpeg(junk),
      (err: unknown) => err instanceof AudioDecodeError && err.code === 'not_audio',
    );
    const pdf = new Uint8Array(Buffer.from('%PDF-1.4\n%âãÏÓ\n1 0 obj <<>> endobj\n'.repeat(50)));
    await assert.rejects(
      decodeAudio(pdf),
      (err: unknown) => err instanceof AudioDecodeError && err.code === 'not_audio',
    );
  });

  test('the timeout kills ffmpeg', async () => {
    const bytes = new Uint8Array(readFileSync(files['clip.ogg']));
    await assert.rejects(
      decodeWithFfmpeg(bytes, { timeoutMs: 1 }),
      (err: unknown) =>
        err instanceof AudioDecodeError && err.code === 'ffmpeg_failed' && /within/.test(err.message),
    );
  });

  test('the output limit stops long audio', async () => {
    const bytes = new Uint8Array(readFileSync(files['clip.flac']));
    await assert.rejects(
      decodeWithFfmpeg(bytes, { maxSeconds: 0.5 }),
      (err: unknown) =>
        err instanceof AudioDecodeError && err.code === 'too_long' && /longer than/.test(err.message),
    );
  });
});

describe('ffmpeg missing', () => {
  test('compressed input gives ffmpeg_missing with the install hint', async () => {
    const saved = process.env.EARSHOT_FFMPEG;
    process.env.EARSHOT_FFMPEG = '/nonexistent/earshot-test/ffmpeg';
    try {
      assert.equal(await ffmpegAvailable(), false);
      const ogg = new Uint8Array(Buffer.concat([Buffer.from('OggS'), Buffer.alloc(100)]));
      for (const attempt of [decodeAudio(ogg), decodeWithFfmpeg(ogg)]) {
        await assert.rejects(
          attempt,
          (err: unknown) =>
            err instanceof AudioDecodeError &&
            err.code === 'ffmpeg_missing' &&
            err.message.includes('apt-get install ffmpeg') &&
            err.message.includes('send WAV'),
        );
      }
      // Unrecognised bytes without ffmpeg: not audio, and the message says what would work.
      await assert.rejects(
        decodeAudio(new Uint8Array(100).fill(7)),
        (err: unknown) => err instanceof AudioDecodeError && err.code === 'not_audio',
      );
    } finally {
      if (saved === undefined) delete process.env.EARSHOT_FFMPEG;
      else process.env.EARSHOT_FFMPEG = saved;
    }
  });
});

describe('ffmpeg is looked up when needed', () => {
  test('a PATH that gains an ffmpeg is noticed after the 30-s cache, without a restart', async (t) => {
    const bin = mkdtempSync(join(tmpdir(), 'earshot-path-'));
    const saved = { PATH: process.env.PATH, EARSHOT_FFMPEG: process.env.EARSHOT_FFMPEG };
    delete process.env.EARSHOT_FFMPEG;
    process.env.PATH = bin;
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    try {
      t.mock.timers.tick(31_000); // what earlier tests found has expired
      assert.equal(await ffmpegAvailable(), false);
      writeFileSync(join(bin, 'ffmpeg'), '#!/bin/sh\necho "ffmpeg version 0-fake"\n', { mode: 0o755 });
      t.mock.timers.tick(1_000);
      assert.equal(await ffmpegAvailable(), false, 'the answer is kept briefly');
      t.mock.timers.tick(30_000);
      assert.equal(await ffmpegAvailable(), true, 'found once the cache expired');
    } finally {
      t.mock.timers.reset();
      process.env.PATH = saved.PATH;
      if (saved.EARSHOT_FFMPEG === undefined) delete process.env.EARSHOT_FFMPEG;
      else process.env.EARSHOT_FFMPEG = saved.EARSHOT_FFMPEG;
      rmSync(bin, { recursive: true, force: true });
    }
  });
});

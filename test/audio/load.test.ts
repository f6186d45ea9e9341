import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import wavefile from 'wavefile';
import { AudioDecodeError, type AudioDecodeErrorCode } from '../../audio/errors.js';
import { decodeAudio, decodeAudioStream, loadAudioFile, sniffContainer } from '../../audio/load.js';
import { resample } from '../../audio/resample.js';

const MALFORMED = fileURLToPath(new URL('../fixtures/audio/malformed/', import.meta.url));

function rejectsWith(code: AudioDecodeErrorCode, pattern?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof AudioDecodeError, `expected AudioDecodeError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (pattern) assert.match(err.message, pattern);
    return true;
  };
}

function wav16(samples: number[], rate: number): Uint8Array {
  const wav = new wavefile.WaveFile();
  wav.fromScratch(
    1,
    rate,
    '16',
    samples.map((v) => Math.round(v * 32767)),
  );
  return wav.toBuffer();
}

const tone = (rate: number, seconds: number) =>
  Array.from(
    { length: Math.round(rate * seconds) },
    (_, i) => 0.5 * Math.sin((2 * Math.PI * 440 * i) / rate),
  );

describe('sniffContainer', () => {
  const cases: [string, number[] | string, string][] = [
    ['RIFF WAVE', 'RIFF\x24\x00\x00\x00WAVEfmt ', 'wav'],
    ['RIFX WAVE', 'RIFX\x00\x00\x00\x24WAVE', 'wav'],
    ['RF64 WAVE', 'RF64\xff\xff\xff\xffWAVE', 'wav'],
    ['RIFF too short to tell', 'RIFF\x24', 'wav'],
    ['RIFF AVI', 'RIFF\x24\x00\x00\x00AVI LIST', 'unknown'],
    ['ID3 tag', 'ID3\x04\x00', 'mp3'],
    ['MPEG-1 layer III frame', [0xff, 0xfb, 0x90, 0x64], 'mp3'],
    ['MPEG-2 layer III frame', [0xff, 0xf3, 0x64, 0xc4], 'mp3'],
    ['AAC ADTS is not mp3', [0xff, 0xf1, 0x50, 0x80], 'unknown'],
    ['Ogg', 'OggS\x00\x02', 'ogg'],
    ['FLAC', 'fLaC\x00\x00\x00\x22', 'flac'],
    ['WebM/Matroska EBML', [0x1a, 0x45, 0xdf, 0xa3, 0x9f], 'webm'],
    ['MP4 ftyp', '\x00\x00\x00\x20ftypM4A \x00\x00', 'mp4'],
    ['PDF', '%PDF-1.4', 'unknown'],
    ['empty', '', 'unknown'],
  ];
  for (const [name, head, want] of cases) {
    test(`${name} → ${want}`, () => {
      const bytes =
        typeof head === 'string' ? new Uint8Array(Buffer.from(head, 'latin1')) : Uint8Array.from(head);
      assert.equal(sniffContainer(bytes), want);
    });
  }
});

describe('decodeAudio', () => {
  test('16 kHz WAV: samples16k is the same signal', async () => {
    const d = await decodeAudio(wav16(tone(16000, 0.5), 16000));
    assert.equal(d.sampleRate, 16000);
    assert.equal(d.samples16k, d.samples);
    assert.equal(d.duration, 0.5);
  });

  test('8 kHz WAV: samples16k is the resampled signal', async () => {
    const d = await decodeAudio(wav16(tone(8000, 0.5), 8000));
    assert.equal(d.sampleRate, 8000);
    assert.equal(d.samples.length, 4000);
    assert.equal(d.samples16k.length, 8000);
    assert.deepEqual(d.samples16k, resample(d.samples, 8000, 16000));
  });

  test('headerless PCM with rawEncoding/rawSampleRate/rawChannels', async () => {
    const pcm = Buffer.alloc(4 * 2 * 2);
    [1000, 3000, -2000, -4000].forEach((v, i) => pcm.writeInt16LE(v, 2 * i));
    const d = await decodeAudio(new Uint8Array(pcm.subarray(0, 8)), {
      rawEncoding: 'linear16',
      rawSampleRate: 16000,
      rawChannels: 2,
    });
    assert.deepEqual(Array.from(d.samples), [2000 / 32768, -3000 / 32768]);
    assert.equal(d.channels, 2);
    await assert.rejects(
      decodeAudio(new Uint8Array(pcm.subarray(0, 8)), { rawEncoding: 'linear16' }),
      rejectsWith('unsupported', /sample rate/),
    );
    await assert.rejects(
      decodeAudio(new Uint8Array(8), { rawEncoding: 'linear16', rawSampleRate: 96000 }),
      rejectsWith('unsupported', /8000\.\.48000/),
    );
  });

  test('empty input', async () => {
    await assert.rejects(decodeAudio(new Uint8Array(0)), rejectsWith('empty'));
  });
});

describe('loadAudioFile', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'earshot-load-test-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test('raw files need their rate (and for .raw their encoding)', async () => {
    const s16 = join(dir, 'clip.s16le');
    const f32 = join(dir, 'clip.f32le');
    const raw = join(dir, 'clip.raw');
    const samples = Float32Array.from(tone(16000, 0.1));
    const int16 = Int16Array.from(samples, (v) => Math.round(v * 32767));
    writeFileSync(s16, int16);
    writeFileSync(f32, samples);
    writeFileSync(raw, samples);

    await assert.rejects(
      loadAudioFile(s16),
      rejectsWith('unsupported', /clip\.s16le is headerless.*sample rate/),
    );
    await assert.rejects(
      loadAudioFile(raw, { rawSampleRate: 16000 }),
      rejectsWith('unsupported', /encoding/),
    );

    const a = await loadAudioFile(s16, { rawSampleRate: 16000 });
    assert.equal(a.samples.length, 1600);
    const b = await loadAudioFile(f32, { rawSampleRate: 16000 });
    assert.deepEqual(b.samples, samples);
    const c = await loadAudioFile(raw, { rawEncoding: 'float32', rawSampleRate: 8000 });
    assert.equal(c.sampleRate, 8000);
    assert.equal(c.samples16k.length, 3200);
  });

  test('a WAV file by path', async () => {
    const path = join(dir, 'tone.wav');
    writeFileSync(path, wav16(tone(22050, 0.2), 22050));
    const d = await loadAudioFile(path);
    assert.equal(d.sampleRate, 22050);
    assert.equal(d.samples16k.length, Math.ceil((d.samples.length * 16000) / 22050));
  });

  test('every malformed fixture gives an AudioDecodeError', async () => {
    const expected: Record<string, AudioDecodeErrorCode> = {
      'empty.wav': 'empty',
      'huge-declared-size.wav': 'truncated',
      'not-audio.wav': 'not_audio',
      'odd-length.s16le': 'unsupported', // no rate given: says so
      'truncated-data.wav': 'truncated',
      'truncated-header.wav': 'truncated',
      'zero-channels.wav': 'bad_header',
      'zero-sample-rate.wav': 'bad_header',
    };
    assert.deepEqual(readdirSync(MALFORMED).sort(), Object.keys(expected).sort());
    for (const [name, code] of Object.entries(expected)) {
      await assert.rejects(loadAudioFile(MALFORMED + name), rejectsWith(code), name);
    }
    await assert.rejects(
      loadAudioFile(MALFORMED + 'odd-length.s16le', { rawSampleRate: 16000 }),
      rejectsWith('odd_length', /multiple of 2 bytes, got 3201/),
    );
  });
});

/** Splits bytes into chunks of 1..maxChunk bytes (deterministic), as an async source. */
async function* chunked(bytes: Uint8Array, maxChunk: number, seed = 7): AsyncGenerator<Uint8Array> {
  let a = seed;
  for (let i = 0; i < bytes.length;) {
    a = (a * 1103515245 + 12345) & 0x7fffffff;
    const n = 1 + (a % maxChunk);
    yield bytes.slice(i, i + n);
    i += n;
  }
}

function stereo24(rate: number, seconds: number): Uint8Array {
  const wav = new wavefile.WaveFile();
  const left = tone(rate, seconds).map((v) => Math.round(v * 8388607));
  const right = left.map((v) => -Math.round(v / 2));
  wav.fromScratch(2, rate, '24', [left, right]);
  return wav.toBuffer();
}

describe('decodeAudioStream: uploads decoded as they arrive', () => {
  const cases: [string, Uint8Array][] = [
    ['16 kHz mono 16-bit', wav16(tone(16000, 1.3), 16000)],
    ['44.1 kHz stereo 24-bit', stereo24(44100, 1.1)],
    ['8 kHz mono 16-bit', wav16(tone(8000, 0.7), 8000)],
  ];
  for (const [name, bytes] of cases) {
    for (const maxChunk of [1, 7, 4099]) {
      test(`${name} in chunks of up to ${maxChunk} bytes equals the whole-buffer decode`, async () => {
        const whole = await decodeAudio(bytes);
        const streamed = await decodeAudioStream(chunked(bytes, maxChunk));
        assert.equal(streamed.samples16k.length, whole.samples16k.length);
        assert.deepEqual(streamed.samples16k, whole.samples16k);
        assert.equal(streamed.duration, whole.duration);
      });
    }
  }

  test('headerless linear16 with its rate, streamed in odd chunks, equals the whole-buffer decode', async () => {
    const pcm = wav16(tone(24000, 0.9), 24000).subarray(44);
    const opts = { rawEncoding: 'linear16' as const, rawSampleRate: 24000 };
    const whole = await decodeAudio(pcm, opts);
    assert.deepEqual((await decodeAudioStream(chunked(pcm, 5), opts)).samples16k, whole.samples16k);
  });

  test('malformed WAVs fail as they do whole', async () => {
    for (const name of readdirSync(MALFORMED).filter((f) => f.endsWith('.wav'))) {
      const bytes = new Uint8Array(readFileSync(join(MALFORMED, name)));
      const whole = await decodeAudio(bytes).then(
        () => 'ok',
        (e: AudioDecodeError) => e.code,
      );
      const streamed = await decodeAudioStream(chunked(bytes, 3)).then(
        () => 'ok',
        (e: AudioDecodeError) => e.code,
      );
      assert.equal(streamed, whole, name);
    }
  });

  test('a WAV cut short is refused as truncated; an empty source as empty', async () => {
    const bytes = wav16(tone(16000, 1), 16000);
    await assert.rejects(
      decodeAudioStream(chunked(bytes.subarray(0, 20000), 999)),
      rejectsWith('truncated', /cut short/),
    );
    await assert.rejects(decodeAudioStream(chunked(new Uint8Array(0), 1)), rejectsWith('empty'));
  });

  test("the source's own error (client gone, body too large) comes through unchanged", async () => {
    const gone = new Error('client went away');
    async function* failing() {
      yield wav16(tone(16000, 0.5), 16000).subarray(0, 5000);
      throw gone;
    }
    await assert.rejects(decodeAudioStream(failing()), (e) => e === gone);
  });
});

test('a WAV whose header leaves its size open is decoded into one buffer sized from the upload, not doubled', async () => {
  const { spoolUpload, decodeUpload } = await import('../../audio/upload.js');
  // 91% of a power of two: growing by doubling would end in a buffer of 2^17 samples and keep it.
  const n = 119_276;
  const bytes = Buffer.alloc(44 + n * 2);
  const header = bytes.subarray(0, 44);
  header.write('RIFF', 0);
  header.writeUInt32LE(0xffffffff, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(16000, 24);
  header.writeUInt32LE(32000, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(0xffffffff, 40); // what ffmpeg/sox/arecord write to a pipe
  async function* chunks() {
    for (let i = 0; i < bytes.length; i += 4096) yield bytes.subarray(i, i + 4096);
  }
  const upload = await spoolUpload(chunks());
  try {
    const audio = await decodeUpload(upload);
    assert.equal(audio.samples16k.length, n);
    assert.ok(
      audio.samples16k.buffer.byteLength <= (n + 64) * 4,
      `${audio.samples16k.buffer.byteLength / 4} samples allocated for ${n}`,
    );
  } finally {
    await upload.remove();
  }
});

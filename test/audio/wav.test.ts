import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import wavefile from 'wavefile';
import { AudioDecodeError, type AudioDecodeErrorCode } from '../../audio/errors.js';
import { decodeWav } from '../../audio/wav.js';

const MALFORMED = fileURLToPath(new URL('../fixtures/audio/malformed/', import.meta.url));

function rng(seed: number): () => number {
  return () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
}

function isDecodeError(code: AudioDecodeErrorCode) {
  return (err: unknown) => {
    assert.ok(err instanceof AudioDecodeError, `expected AudioDecodeError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.ok(err.message.length > 10 && !err.message.includes('\n'), 'one clear line');
    return true;
  };
}

/** Float test signal per channel, in [-0.9, 0.9]. */
function signal(channels: number, frames: number, seed: number): number[][] {
  const rand = rng(seed);
  return Array.from({ length: channels }, (_, c) =>
    Array.from(
      { length: frames },
      (_, i) => 0.6 * Math.sin((2 * Math.PI * (3 + c) * i) / frames) + 0.3 * (rand() - 0.5),
    ),
  );
}

const INT_BITS = { '8': 8, '16': 16, '24': 24, '32': 32 } as const;

/** Quantizes a float to wavefile's integer representation for the bit depth. */
function toInt(v: number, bits: number): number {
  if (bits === 8) return Math.round(v * 127) + 128;
  return Math.round(v * (2 ** (bits - 1) - 1));
}

interface WavSpec {
  format: number;
  channels: number;
  rate: number;
  bits: number;
  data: Uint8Array;
  extensibleSubformat?: number;
  dataSize?: number; // declared size override
  chunksBeforeData?: Uint8Array[];
}

function chunk(id: string, body: Uint8Array, declared = body.length): Uint8Array {
  const pad = body.length & 1;
  const b = Buffer.alloc(8 + body.length + pad);
  b.write(id, 0, 'latin1');
  b.writeUInt32LE(declared, 4);
  b.set(body, 8);
  return new Uint8Array(b);
}

/** Hand-built WAV, for layouts wavefile does not write (EXTENSIBLE, placeholders, odd chunks, lies). */
function buildWav(spec: WavSpec): Uint8Array {
  const blockAlign = (spec.channels * spec.bits) / 8;
  const ext = spec.extensibleSubformat !== undefined;
  const fmt = Buffer.alloc(ext ? 40 : 16);
  fmt.writeUInt16LE(ext ? 0xfffe : spec.format, 0);
  fmt.writeUInt16LE(spec.channels, 2);
  fmt.writeUInt32LE(spec.rate, 4);
  fmt.writeUInt32LE(spec.rate * blockAlign, 8);
  fmt.writeUInt16LE(blockAlign, 12);
  fmt.writeUInt16LE(spec.bits, 14);
  if (ext) {
    fmt.writeUInt16LE(22, 16); // cbSize
    fmt.writeUInt16LE(spec.bits, 18); // valid bits
    fmt.writeUInt32LE(spec.channels === 2 ? 3 : 4, 20); // channel mask
    // KSDATAFORMAT_SUBTYPE_{PCM,IEEE_FLOAT}: {0000000X-0000-0010-8000-00aa00389b71}
    fmt.writeUInt32LE(spec.extensibleSubformat!, 24);
    Buffer.from('000000001000800000aa00389b71', 'hex').copy(fmt, 28);
  }
  const parts = [
    chunk('fmt ', new Uint8Array(fmt)),
    ...(spec.chunksBeforeData ?? []),
    chunk('data', spec.data, spec.dataSize),
  ];
  const body = Buffer.concat([Buffer.from('WAVE', 'latin1'), ...parts]);
  const riff = Buffer.alloc(8);
  riff.write('RIFF', 0, 'latin1');
  riff.writeUInt32LE(body.length, 4);
  return new Uint8Array(Buffer.concat([riff, body]));
}

function pcm16(values: number[]): Uint8Array {
  const b = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => b.writeInt16LE(Math.round(v * 32767), 2 * i));
  return new Uint8Array(b);
}

function float32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

describe('decodeWav: good files written by wavefile', () => {
  const rates = [8000, 11025, 16000, 22050, 44100, 48000];
  const depths = ['8', '16', '24', '32', '32f', '64'] as const;
  let seed = 1;
  for (const depth of depths) {
    for (const channels of [1, 2]) {
      const rate = rates[seed++ % rates.length];
      test(`${depth}-bit ${channels}ch ${rate} Hz`, () => {
        const frames = 1234;
        const chans = signal(channels, frames, seed);
        const isFloat = depth === '32f' || depth === '64';
        const bits = isFloat ? 0 : INT_BITS[depth];
        const stored = chans.map((c) => (isFloat ? c : c.map((v) => toInt(v, bits))));
        const wav = new wavefile.WaveFile();
        wav.fromScratch(channels, rate, depth, channels === 1 ? stored[0] : stored);
        const decoded = decodeWav(wav.toBuffer());

        assert.equal(decoded.sampleRate, rate);
        assert.equal(decoded.channels, channels);
        assert.equal(decoded.samples.length, frames);
        assert.ok(Math.abs(decoded.duration - frames / rate) < 1e-12);
        // Quantization step of the format, but never below float32 rounding of the output.
        const tol = Math.max(1.2e-7, isFloat ? 0 : bits === 8 ? 1.5 / 128 : 1.5 / 2 ** (bits - 1));
        for (let i = 0; i < frames; i++) {
          let want = 0;
          for (let c = 0; c < channels; c++) want += chans[c][i];
          want /= channels;
          assert.ok(
            Math.abs(decoded.samples[i] - want) < tol,
            `frame ${i}: ${decoded.samples[i]} vs ${want}`,
          );
        }
      });
    }
  }

  test('RIFX (big-endian) files', () => {
    const values = [0, 1000, -1000, 32767, -32768];
    const wav = new wavefile.WaveFile();
    wav.fromScratch(1, 16000, '16', values, { container: 'RIFX' });
    const decoded = decodeWav(wav.toBuffer());
    assert.deepEqual(
      Array.from(decoded.samples),
      values.map((v) => v / 32768),
    );
  });
});

describe('decodeWav: layouts and encodings', () => {
  const values = [0, 0.5, -0.5, 0.25, -0.125, 0.9];

  test('WAVE_FORMAT_EXTENSIBLE with PCM 24-bit', () => {
    const data = Buffer.alloc(values.length * 3);
    values.forEach((v, i) => data.writeIntLE(Math.round(v * 8388607), 3 * i, 3));
    const d = decodeWav(
      buildWav({ format: 1, channels: 1, rate: 16000, bits: 24, data, extensibleSubformat: 1 }),
    );
    values.forEach((v, i) => assert.ok(Math.abs(d.samples[i] - v) < 1e-6));
  });

  test('WAVE_FORMAT_EXTENSIBLE with IEEE float 32-bit stereo', () => {
    const inter = values.flatMap((v) => [v, -v / 2]);
    const d = decodeWav(
      buildWav({
        format: 3,
        channels: 2,
        rate: 48000,
        bits: 32,
        data: float32Bytes(inter),
        extensibleSubformat: 3,
      }),
    );
    assert.equal(d.channels, 2);
    values.forEach((v, i) => assert.ok(Math.abs(d.samples[i] - v / 4) < 1e-7, `${d.samples[i]} vs ${v / 4}`));
  });

  test('G.711 µ-law and A-law WAV', () => {
    const mu = decodeWav(
      buildWav({ format: 7, channels: 1, rate: 8000, bits: 8, data: Uint8Array.of(0xff, 0x80, 0x00) }),
    );
    assert.deepEqual(Array.from(mu.samples), [0, 32124 / 32768, -32124 / 32768]);
    // A-law 0xd5 is the smallest positive step (+8), 0xaa is +32256 (largest), 0x2a is -32256.
    const a = decodeWav(
      buildWav({ format: 6, channels: 1, rate: 8000, bits: 8, data: Uint8Array.of(0xd5, 0xaa, 0x2a) }),
    );
    assert.deepEqual(Array.from(a.samples), [8 / 32768, 32256 / 32768, -32256 / 32768]);
  });

  test('extra chunks (odd-sized, padded) before data are skipped', () => {
    const list = chunk('LIST', new Uint8Array(Buffer.from('INFOISFT\x05\x00\x00\x00abcde', 'latin1')));
    const junk = chunk('junk', new Uint8Array(7));
    const d = decodeWav(
      buildWav({
        format: 1,
        channels: 1,
        rate: 16000,
        bits: 16,
        data: pcm16(values),
        chunksBeforeData: [junk, list],
      }),
    );
    values.forEach((v, i) => assert.ok(Math.abs(d.samples[i] - v) < 1e-4));
  });

  test('streaming placeholders (data size 0xFFFFFFFF or 0) decode the bytes present', () => {
    for (const dataSize of [0xffffffff, 0]) {
      const d = decodeWav(
        buildWav({ format: 1, channels: 1, rate: 16000, bits: 16, data: pcm16(values), dataSize }),
      );
      assert.equal(d.samples.length, values.length, `declared ${dataSize}`);
    }
  });

  test('data shorter than declared by at most one frame is decoded; by more is truncated', () => {
    const data = pcm16(values); // 12 bytes
    const ok = decodeWav(buildWav({ format: 1, channels: 1, rate: 16000, bits: 16, data, dataSize: 14 }));
    assert.equal(ok.samples.length, values.length);
    assert.throws(
      () => decodeWav(buildWav({ format: 1, channels: 1, rate: 16000, bits: 16, data, dataSize: 15 })),
      isDecodeError('truncated'),
    );
  });

  test('a partial last frame is dropped', () => {
    const data = new Uint8Array([...pcm16(values), 0x12]); // 13 bytes, declared 13
    const d = decodeWav(buildWav({ format: 1, channels: 1, rate: 16000, bits: 16, data }));
    assert.equal(d.samples.length, values.length);
  });

  test('rates outside 8000..48000 are refused clearly', () => {
    for (const rate of [4000, 7999, 48001, 96000]) {
      assert.throws(
        () => decodeWav(buildWav({ format: 1, channels: 1, rate, bits: 16, data: pcm16(values) })),
        (err: unknown) => isDecodeError('unsupported')(err) && /8000\.\.48000/.test((err as Error).message),
      );
    }
  });

  test('unsupported encodings are refused clearly', () => {
    const cases: [number, number, RegExp][] = [
      [2, 4, /ADPCM/],
      [0x55, 16, /MP3/],
      [1, 12, /12-bit PCM/],
      [3, 16, /16-bit float/],
    ];
    for (const [format, bits, pattern] of cases) {
      assert.throws(
        () => decodeWav(buildWav({ format, channels: 1, rate: 16000, bits, data: new Uint8Array(64) })),
        (err: unknown) => isDecodeError('unsupported')(err) && pattern.test((err as Error).message),
      );
    }
  });

  test('NaN in a float WAV is refused', () => {
    assert.throws(
      () =>
        decodeWav(buildWav({ format: 3, channels: 1, rate: 16000, bits: 32, data: float32Bytes([0, NaN]) })),
      isDecodeError('not_audio'),
    );
  });

  test('a WAV with no samples is empty', () => {
    assert.throws(
      () => decodeWav(buildWav({ format: 1, channels: 1, rate: 16000, bits: 16, data: new Uint8Array(0) })),
      isDecodeError('empty'),
    );
  });
});

describe('decodeWav: malformed corpus files (test/fixtures/audio/malformed)', () => {
  const expected: Record<string, AudioDecodeErrorCode> = {
    'empty.wav': 'empty',
    'huge-declared-size.wav': 'truncated', // 2 GB declared, 72 KB present: refused, never allocated
    'not-audio.wav': 'not_audio', // a PDF
    'odd-length.s16le': 'not_audio', // raw PCM is not a WAV (see load.test.ts for the raw path)
    'truncated-data.wav': 'truncated',
    'truncated-header.wav': 'truncated',
    'zero-channels.wav': 'bad_header',
    'zero-sample-rate.wav': 'bad_header',
  };
  for (const [name, code] of Object.entries(expected)) {
    test(`${name} → ${code}`, () => {
      assert.throws(() => decodeWav(readFileSync(MALFORMED + name)), isDecodeError(code));
    });
  }

  test('random header corruption never escapes as anything but AudioDecodeError', () => {
    const rand = rng(99);
    const good = buildWav({
      format: 1,
      channels: 2,
      rate: 16000,
      bits: 16,
      data: pcm16(signal(1, 400, 3)[0]),
    });
    for (let round = 0; round < 2000; round++) {
      const bytes = good.slice(0, rand() < 0.2 ? Math.floor(rand() * good.length) : good.length);
      const flips = 1 + Math.floor(rand() * 4);
      for (let f = 0; f < flips; f++)
        bytes[Math.floor(rand() * Math.min(48, bytes.length))] = Math.floor(rand() * 256);
      try {
        const d = decodeWav(bytes);
        assert.ok(d.samples.length > 0 && d.samples.length <= bytes.length);
        assert.ok(d.sampleRate >= 8000 && d.sampleRate <= 48000);
      } catch (err) {
        assert.ok(err instanceof AudioDecodeError, `round ${round}: ${String(err)}`);
        assert.ok(!/[\n\r]/.test(err.message), `round ${round}: multi-line message`);
      }
    }
  });
});

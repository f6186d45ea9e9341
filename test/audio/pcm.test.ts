import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { concat } from '../helpers/audio.js';
import { AudioDecodeError } from '../../audio/errors.js';
import {
  MULAW_TABLE,
  PcmDecoder,
  decodePcm,
  linearToMulaw,
  mulawToLinear,
  type Encoding,
} from '../../audio/pcm.js';

function rng(seed: number): () => number {
  return () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
}

/** Encodes interleaved samples in [-1, 1) the way a client would. */
function encode(samples: number[], encoding: Encoding): Uint8Array {
  if (encoding === 'linear16') {
    const b = Buffer.alloc(samples.length * 2);
    samples.forEach((s, i) => b.writeInt16LE(Math.round(s * 32767), 2 * i));
    return new Uint8Array(b);
  }
  if (encoding === 'float32') {
    const b = Buffer.alloc(samples.length * 4);
    samples.forEach((s, i) => b.writeFloatLE(s, 4 * i));
    return new Uint8Array(b);
  }
  return Uint8Array.from(samples, (s) => linearToMulaw(s * 32767));
}

const ENCODINGS: Encoding[] = ['linear16', 'float32', 'mulaw'];

describe('PcmDecoder', () => {
  test('linear16 little-endian values', () => {
    const bytes = new Uint8Array([0x00, 0x00, 0xff, 0x7f, 0x00, 0x80, 0x01, 0x00, 0xff, 0xff]);
    const out = new PcmDecoder({ encoding: 'linear16', channels: 1 }).push(bytes);
    assert.deepEqual(Array.from(out), [0, 32767 / 32768, -1, 1 / 32768, -1 / 32768]);
  });

  test('float32 little-endian values', () => {
    const values = [0, 0.5, -0.25, 1, -1, 1e-8];
    const out = new PcmDecoder({ encoding: 'float32', channels: 1 }).push(encode(values, 'float32'));
    assert.deepEqual(Array.from(out), Array.from(Float32Array.from(values)));
  });

  test('mulaw values come from the G.711 table', () => {
    const out = new PcmDecoder({ encoding: 'mulaw', channels: 1 }).push(
      new Uint8Array([0xff, 0x7f, 0x80, 0x00]),
    );
    assert.deepEqual(Array.from(out), [0, 0, 32124 / 32768, -32124 / 32768]);
  });

  for (const encoding of ENCODINGS) {
    for (const channels of [1, 2] as const) {
      test(`${encoding} ${channels}ch: random chunk splits equal one-shot decoding`, () => {
        const rand = rng(channels * 31 + encoding.length);
        const interleaved = Array.from({ length: 3001 * channels }, () => rand() * 1.8 - 0.9);
        const bytes = encode(interleaved, encoding);
        const oneShot = new PcmDecoder({ encoding, channels }).push(bytes);
        assert.equal(oneShot.length, 3001);

        const decoder = new PcmDecoder({ encoding, channels });
        const parts: Float32Array[] = [];
        let consumed = 0;
        for (let i = 0; i < bytes.length;) {
          const size = Math.floor(rand() * 13); // 0..12 bytes: splits samples and stereo frames everywhere
          parts.push(decoder.push(bytes.subarray(i, i + size)));
          i += size;
          consumed = Math.min(i, bytes.length);
          const frameBytes = (encoding === 'linear16' ? 2 : encoding === 'float32' ? 4 : 1) * channels;
          assert.equal(decoder.pendingBytes, consumed % frameBytes);
        }
        assert.deepEqual(concat(parts), oneShot);
      });
    }
  }

  test('stereo is downmixed by averaging', () => {
    for (const encoding of ENCODINGS) {
      const out = new PcmDecoder({ encoding, channels: 2 }).push(encode([0.5, -0.25, 0.75, 0.75], encoding));
      const mono1 = new PcmDecoder({ encoding, channels: 1 }).push(
        encode([0.5, -0.25, 0.75, 0.75], encoding),
      );
      assert.equal(out.length, 2);
      assert.ok(Math.abs(out[0] - (mono1[0] + mono1[1]) / 2) < 1e-7, encoding);
      assert.ok(Math.abs(out[1] - mono1[2]) < 1e-7, encoding);
    }
  });

  test('NaN or Infinity float32 is rejected and the decoder state is kept', () => {
    const d = new PcmDecoder({ encoding: 'float32', channels: 1 });
    d.push(new Uint8Array([0, 0])); // half a sample held: with the next bytes c0 7f it is a NaN (7fc00000)
    const bad = new Uint8Array([0xc0, 0x7f, 0, 0, 0, 0]);
    assert.throws(
      () => d.push(bad),
      (err: unknown) =>
        err instanceof AudioDecodeError && err.code === 'not_audio' && /NaN/.test(err.message),
    );
    assert.equal(d.pendingBytes, 2);
    assert.deepEqual(Array.from(d.push(new Uint8Array([0, 0]))), [0]); // still the held half, now completed
    assert.throws(() => d.push(encode([0.5, Infinity], 'float32')), AudioDecodeError);
  });

  test('bad options are refused clearly', () => {
    assert.throws(
      () => new PcmDecoder({ encoding: 'opus' as Encoding, channels: 1 }),
      /unsupported encoding "opus"/,
    );
    assert.throws(() => new PcmDecoder({ encoding: 'linear16', channels: 3 as 1 }), /channel count 3/);
  });
});

describe('µ-law', () => {
  test('known G.711 values', () => {
    assert.equal(mulawToLinear(0xff), 0);
    assert.equal(mulawToLinear(0x7f), 0);
    assert.equal(mulawToLinear(0x80), 32124);
    assert.equal(mulawToLinear(0x00), -32124);
    assert.equal(mulawToLinear(0xf0), 120);
    assert.equal(mulawToLinear(0x70), -120);
    assert.equal(linearToMulaw(0), 0xff);
    assert.equal(linearToMulaw(32767), 0x80);
    assert.equal(linearToMulaw(-32768), 0x00);
  });

  test('every code round-trips through linear (0x7f is the negative zero → 0xff)', () => {
    for (let b = 0; b < 256; b++) {
      assert.equal(linearToMulaw(mulawToLinear(b)), b === 0x7f ? 0xff : b, `byte 0x${b.toString(16)}`);
    }
  });

  test('table is monotonic in each half and symmetric', () => {
    for (let b = 0; b < 127; b++) assert.ok(MULAW_TABLE[b] < MULAW_TABLE[b + 1]); // negative half rises to 0
    for (let b = 128; b < 255; b++) assert.ok(MULAW_TABLE[b] > MULAW_TABLE[b + 1]); // positive half falls to 0
    for (let b = 0; b < 128; b++) assert.ok(MULAW_TABLE[b] === -MULAW_TABLE[b + 128], `byte ${b}`);
  });

  test('encoding is accurate to the µ-law step size', () => {
    for (let v = -32000; v <= 32000; v += 97) {
      const back = mulawToLinear(linearToMulaw(v));
      assert.ok(Math.abs(back - v) <= Math.max(8, Math.abs(v) / 16), `${v} → ${back}`);
    }
  });
});

describe('decodePcm (whole raw buffers)', () => {
  test('decodes complete buffers', () => {
    assert.deepEqual(
      Array.from(decodePcm(new Uint8Array([0x00, 0x40, 0x00, 0xc0]), { encoding: 'linear16', channels: 1 })),
      [0.5, -0.5],
    );
  });

  test('a partial trailing frame is odd_length, empty input is empty', () => {
    assert.throws(
      () => decodePcm(new Uint8Array(3201), { encoding: 'linear16', channels: 1 }),
      (err: unknown) => err instanceof AudioDecodeError && err.code === 'odd_length',
    );
    assert.throws(
      () => decodePcm(new Uint8Array(6), { encoding: 'float32', channels: 2 }),
      (err: unknown) => err instanceof AudioDecodeError && err.code === 'odd_length',
    );
    assert.throws(
      () => decodePcm(new Uint8Array(0), { encoding: 'mulaw', channels: 1 }),
      (err: unknown) => err instanceof AudioDecodeError && err.code === 'empty',
    );
  });
});

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSileroVad, type SileroVad } from '../../../models/vad/silero.js';
import { SILERO_NAMES, sileroModelPath } from '../../../models/vad/silero-files.js';
import { ModelLoadError } from '../../../models/errors.js';
import { UtteranceSegmenter, type SegmentEvent } from '../../../models/vad/segmenter.js';

const FIXTURES = new URL('../../fixtures/vad/', import.meta.url);

/** 16-bit PCM mono WAV to floats in [-1, 1). */
function readWav16(path: URL): Float32Array {
  const buf = readFileSync(path);
  assert.equal(buf.toString('ascii', 0, 4), 'RIFF');
  let off = 12;
  while (off + 8 <= buf.length) {
    const id = buf.toString('ascii', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    if (id === 'data') {
      const n = size / 2;
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = buf.readInt16LE(off + 8 + 2 * i) / 32768;
      return out;
    }
    off += 8 + size + (size & 1);
  }
  throw new Error(`${path} has no data chunk`);
}

/** Deterministic PRNG so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function synth(seconds: number, f: (i: number) => number): Float32Array {
  const x = new Float32Array(Math.round(seconds * 16000));
  for (let i = 0; i < x.length; i++) x[i] = f(i);
  return x;
}

async function pushInChunks(vad: SileroVad, audio: Float32Array, sizes: () => number): Promise<Float32Array> {
  const stream = vad.createStream();
  const parts: number[] = [];
  for (let pos = 0; pos < audio.length;) {
    const n = Math.min(sizes(), audio.length - pos);
    parts.push(...(await stream.push(audio.subarray(pos, pos + n))));
    pos += n;
  }
  return Float32Array.from(parts);
}

/** Minimal protobuf writer, enough for a one-node ONNX graph. */
function pb(fields: [number, number | string | Buffer][]): Buffer {
  const varint = (n: number): number[] => {
    const out: number[] = [];
    while (n > 0x7f) {
      out.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    out.push(n);
    return out;
  };
  const parts: Buffer[] = [];
  for (const [num, v] of fields) {
    if (typeof v === 'number') {
      parts.push(Buffer.from([...varint(num << 3), ...varint(v)]));
    } else {
      const bytes = typeof v === 'string' ? Buffer.from(v) : v;
      parts.push(Buffer.from([...varint((num << 3) | 2), ...varint(bytes.length)]), bytes);
    }
  }
  return Buffer.concat(parts);
}

/** A valid ONNX model that is not Silero: y = Identity(x), float [1]. */
function identityModel(): Buffer {
  const valueInfo = (name: string) =>
    pb([
      [1, name],
      [
        2,
        pb([
          [
            1,
            pb([
              [1, 1],
              [2, pb([[1, pb([[1, 1]])]])],
            ]),
          ],
        ]),
      ],
    ]);
  const graph = pb([
    [
      1,
      pb([
        [1, 'x'],
        [2, 'y'],
        [4, 'Identity'],
      ]),
    ],
    [2, 'g'],
    [11, valueInfo('x')],
    [12, valueInfo('y')],
  ]);
  return pb([
    [1, 8],
    [7, graph],
    [
      8,
      pb([
        [1, ''],
        [2, 13],
      ]),
    ],
  ]);
}

function utterances(events: SegmentEvent[]): { start: number; end: number }[] {
  return events.flatMap((e) => (e.type === 'speech_end' ? [{ start: e.start, end: e.time }] : []));
}

for (const name of SILERO_NAMES)
  describe(`Silero ${name} VAD on onnxruntime-node`, () => {
    let vad: SileroVad;
    let speech: Float32Array;
    let whole: Float32Array;

    before(async () => {
      vad = await loadSileroVad({ model: name });
      speech = readWav16(new URL('two-speakers-10s.wav', FIXTURES));
      whole = await vad.createStream().push(speech);
    });
    after(async () => {
      await vad.release();
    });

    test(`the shipped ${name} model runs in 512-sample (32 ms) frames`, () => {
      assert.equal(vad.version, name);
      assert.equal(vad.label, `silero ${name}`);
      assert.equal(vad.frameSamples, 512);
      assert.equal(vad.frameSeconds, 0.032);
      assert.equal(whole.length, Math.floor(speech.length / 512));
      for (const p of whole) assert.ok(p >= 0 && p <= 1);
    });

    test('finds the speech in a two-speaker excerpt with boundaries near the truth', () => {
      const truth = JSON.parse(readFileSync(new URL('two-speakers-10s.json', FIXTURES), 'utf8')).segments as {
        start: number;
        end: number;
      }[];
      // No pad so boundaries are the detector's own; 300 ms endpointing is below every gap in the excerpt (>= 0.63 s).
      const seg = new UtteranceSegmenter({
        frameSeconds: vad.frameSeconds,
        speechPadMs: 0,
        endpointingMs: 300,
      });
      const utts = utterances([...seg.push(whole), ...seg.flush()]);
      assert.equal(utts.length, truth.length, JSON.stringify(utts));
      const errors = truth.flatMap((t, i) => [
        Math.abs(utts[i].start - t.start),
        Math.abs(utts[i].end - t.end),
      ]);
      errors.sort((a, b) => a - b);
      const median = (errors[2] + errors[3]) / 2;
      assert.ok(median < 0.15, `median boundary error ${median.toFixed(3)} s, errors ${errors.join(', ')}`);
      assert.ok(errors.at(-1)! < 0.3, `worst boundary error ${errors.at(-1)} s`);
    });

    test('silence, white noise and pure tones give no speech', async () => {
      const r = rng(7);
      const tone = (hz: number, amp: number) => (i: number) => amp * Math.sin((2 * Math.PI * hz * i) / 16000);
      const signals: Record<string, Float32Array> = {
        silence: synth(3, () => 0),
        'white noise 0.1': synth(3, () => (r() * 2 - 1) * 0.1),
        'white noise 0.8': synth(3, () => (r() * 2 - 1) * 0.8),
        'tone 200 Hz': synth(3, tone(200, 0.5)),
        'tone 440 Hz': synth(3, tone(440, 0.5)),
        'tone 1 kHz': synth(3, tone(1000, 0.5)),
        'tone 3 kHz': synth(3, tone(3000, 0.5)),
        'C major chord': synth(3, (i) => tone(261.6, 0.2)(i) + tone(329.6, 0.2)(i) + tone(392, 0.2)(i)),
      };
      for (const [name, audio] of Object.entries(signals)) {
        const probs = await vad.createStream().push(audio);
        assert.equal(probs.length, Math.floor(audio.length / 512));
        const seg = new UtteranceSegmenter({ frameSeconds: vad.frameSeconds });
        const events = [...seg.push(probs), ...seg.flush()];
        assert.deepEqual(events, [], `${name}: max prob ${Math.max(...probs)}`);
      }
    });

    test('any chunking gives the same probabilities as one push', async () => {
      const r = rng(42);
      // The last one includes zero-length pushes, which must be harmless.
      const sizes = [
        () => 1 + Math.floor(r() * 2000),
        () => 320,
        () => 511,
        () => 513,
        () => Math.floor(r() * 40),
      ];
      for (const size of sizes) assert.deepEqual(await pushInChunks(vad, speech, size), whole);
    });

    test('pushes issued without awaiting are processed in order', async () => {
      const stream = vad.createStream();
      const buf = new Float32Array(4000);
      const pending: Promise<Float32Array>[] = [];
      for (let pos = 0; pos < speech.length; pos += buf.length) {
        // Reusing one buffer also checks that push copies its input before returning.
        buf.fill(0);
        buf.set(speech.subarray(pos, pos + buf.length));
        const n = Math.min(buf.length, speech.length - pos);
        pending.push(stream.push(buf.subarray(0, n)));
      }
      const parts = await Promise.all(pending);
      assert.deepEqual(Float32Array.from(parts.flatMap((p) => [...p])), whole);
    });

    test('state is per stream: interleaved streams match each run alone', async () => {
      const a = speech.subarray(0, 16000 * 5);
      const b = speech.subarray(16000 * 5);
      const aloneA = await vad.createStream().push(a);
      const aloneB = await vad.createStream().push(b);
      const sa = vad.createStream();
      const sb = vad.createStream();
      const outA: number[] = [];
      const outB: number[] = [];
      for (let pos = 0; pos < Math.max(a.length, b.length); pos += 1000) {
        outA.push(...(await sa.push(a.subarray(pos, pos + 1000))));
        outB.push(...(await sb.push(b.subarray(pos, pos + 1000))));
      }
      assert.deepEqual(Float32Array.from(outA), aloneA);
      assert.deepEqual(Float32Array.from(outB), aloneB);
    });

    test('concurrent streams share batched runs without mixing their state', async () => {
      const r = rng(3);
      // Very different inputs, so a state row landing in the wrong stream would change probabilities a lot.
      const inputs = [
        speech.subarray(0, 16000 * 5),
        synth(5, () => 0),
        speech.subarray(16000 * 5, 16000 * 10),
        synth(5, () => (r() * 2 - 1) * 0.3),
      ];
      const alone: Float32Array[] = [];
      for (const x of inputs) alone.push(await vad.createStream().push(x));
      const streams = inputs.map(() => vad.createStream());
      const out: number[][] = inputs.map(() => []);
      const before = { ...vad.stats };
      for (let pos = 0; pos < 16000 * 5; pos += 1600) {
        const got = await Promise.all(streams.map((s, k) => s.push(inputs[k].subarray(pos, pos + 1600))));
        got.forEach((p, k) => out[k].push(...p));
      }
      const runs = vad.stats.runs - before.runs;
      const frames = vad.stats.frames - before.frames;
      assert.ok(frames > 2 * runs, `frames shared runs: ${frames} frames in ${runs} runs`);
      inputs.forEach((_, k) => {
        assert.equal(out[k].length, alone[k].length);
        if (name === 'v4') {
          // v4's batched GEMMs round differently (~1e-6); anything bigger is a real difference.
          const diff = Math.max(...out[k].map((p, i) => Math.abs(p - alone[k][i])));
          assert.ok(diff < 1e-4, `stream ${k} differs by ${diff}`);
        } else {
          // v5 and v6 batch bit-identically: cross-stream batching must not change a single decision.
          assert.deepEqual(Float32Array.from(out[k]), alone[k], `stream ${k}`);
        }
      });
    });

    test('reset forgets state and leftover samples', async () => {
      const stream = vad.createStream();
      await stream.push(speech.subarray(0, 16000 * 3 + 100));
      stream.reset();
      assert.deepEqual(await stream.push(speech), whole);
    });

    test('non-finite samples do not poison the stream', async () => {
      const stream = vad.createStream();
      const bad = new Float32Array(2048).fill(NaN);
      bad[5] = Infinity;
      const p1 = await stream.push(bad);
      for (const p of p1) assert.ok(Number.isFinite(p));
      const p2 = await stream.push(speech);
      assert.ok(
        p2.some((p) => p > 0.9),
        'speech still detected after NaN input',
      );
    });
  });

describe('Silero model choice', () => {
  test('v6 is the default; a shipped file passed as a path loads by its interface', async () => {
    const def = await loadSileroVad();
    const file = await loadSileroVad({ model: sileroModelPath('v4') });
    try {
      assert.equal(def.version, 'v6');
      assert.equal(file.version, 'v4');
      assert.equal(file.label, `silero v4 (${sileroModelPath('v4')})`);
    } finally {
      await def.release();
      await file.release();
    }
  });

  test('bad model path or frame size fail with a ModelLoadError', async () => {
    await assert.rejects(loadSileroVad({ model: '/nonexistent/silero.onnx' }), ModelLoadError);
    await assert.rejects(loadSileroVad({ model: 'v4', frameSamples: 700 }), /must be 512 or 1024 or 1536/);
    await assert.rejects(loadSileroVad({ model: 'v6', frameSamples: 1536 }), /v6 VAD frames must be 512/);
    const dir = mkdtempSync(join(tmpdir(), 'vad-'));
    try {
      const junk = join(dir, 'junk.onnx');
      writeFileSync(junk, 'not a model');
      await assert.rejects(loadSileroVad({ model: junk }), ModelLoadError);
      const other = join(dir, 'identity.onnx');
      writeFileSync(other, identityModel());
      await assert.rejects(
        loadSileroVad({ model: other }),
        /is not a Silero VAD model \(inputs: x;.*: pass a Silero VAD ONNX file, or --vad-model v4\|v5\|v6$/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('v4: 1536-sample frames also work and find the same speech', async () => {
    const speech = readWav16(new URL('two-speakers-10s.wav', FIXTURES));
    const big = await loadSileroVad({ model: 'v4', frameSamples: 1536 });
    try {
      const probs = await big.createStream().push(speech);
      assert.equal(probs.length, Math.floor(speech.length / 1536));
      const seg = new UtteranceSegmenter({
        frameSeconds: big.frameSeconds,
        speechPadMs: 0,
        endpointingMs: 300,
      });
      assert.equal(utterances([...seg.push(probs), ...seg.flush()]).length, 3);
    } finally {
      await big.release();
    }
  });
});

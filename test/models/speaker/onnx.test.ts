import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cosine } from '../../../models/speaker/embedding.js';
import { loadOnnxEmbedder, readModelMetadata } from '../../../models/speaker/onnx.js';
import { speakerModelMetadata, writeSpeakerModel } from '../../helpers/speaker-model.js';

function noise(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    out[i] = (seed / 2 ** 32 - 0.5) * 0.2;
  }
  return out;
}

describe('ONNX speaker embeddings (generated random-weight models)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'earshot-spk-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a WeSpeaker-layout model loads with its metadata and gives unit embeddings of output_dim', async () => {
    const path = join(dir, 'wespeaker.onnx');
    writeSpeakerModel(path, { kind: 'wespeaker', channels: 32, dim: 64 });
    const meta = readModelMetadata(readFileSync(path));
    assert.deepEqual(meta, speakerModelMetadata({ kind: 'wespeaker', dim: 64 }));
    const e = await loadOnnxEmbedder(path);
    try {
      assert.equal(e.dim, 64);
      const [v] = await e.embed([noise(16000, 1)]);
      assert.equal(v.length, 64);
      assert.ok(Math.abs(cosine(v, v) - 1) < 1e-5);
      let norm = 0;
      for (const x of v) norm += x * x;
      assert.ok(Math.abs(norm - 1) < 1e-4);
    } finally {
      await e.release();
    }
  });

  test('a batch of N clips equals N single runs (equal and mixed lengths)', async () => {
    const path = join(dir, 'batch.onnx');
    writeSpeakerModel(path, { kind: '3d-speaker', channels: 32, dim: 48 });
    const e = await loadOnnxEmbedder(path);
    try {
      const clips = [noise(16000, 2), noise(16000, 3), noise(24000, 4), noise(16000, 5)];
      const batched = await e.embed(clips);
      for (let i = 0; i < clips.length; i++) {
        const [single] = await e.embed([clips[i]]);
        for (let d = 0; d < 48; d++) assert.ok(Math.abs(single[d] - batched[i][d]) < 1e-5);
      }
      assert.ok(cosine(batched[0], batched[1]) < 0.99999, 'different clips, different embeddings');
    } finally {
      await e.release();
    }
  });

  test('IO variants: another input name, and no metadata (dim learnt from a run)', async () => {
    const path = join(dir, 'bare.onnx');
    writeSpeakerModel(path, { inputName: 'x', outputName: 'out', channels: 16, dim: 40, metadata: false });
    assert.deepEqual(readModelMetadata(readFileSync(path)), {});
    const e = await loadOnnxEmbedder(path);
    try {
      assert.equal(e.dim, 40);
      assert.equal((await e.embed([noise(8000, 6)]))[0].length, 40);
    } finally {
      await e.release();
    }
  });

  test('bad input is refused with a clear error', async () => {
    const path = join(dir, 'short.onnx');
    writeSpeakerModel(path, { channels: 16, dim: 32 });
    const e = await loadOnnxEmbedder(path);
    try {
      await assert.rejects(e.embed([new Float32Array(800)]), /too short/);
    } finally {
      await e.release();
    }
    assert.throws(() => readModelMetadata(Uint8Array.from([0x0a, 0xff])), /truncated/);
  });

  test('a NeMo-layout model: features [B, 80, T] with frame counts, the embedding is the second output', async () => {
    const path = join(dir, 'nemo.onnx');
    writeSpeakerModel(path, { kind: 'nemo', channels: 16, dim: 24 });
    const e = await loadOnnxEmbedder(path);
    try {
      assert.equal(e.dim, 24, 'the logits (first output) are 8 wide; the embedding is output_dim');
      assert.equal(e.frontEnd.normalization, 'per-feature');
      const clips = [noise(16000, 11), noise(16000, 12), noise(12000, 13)];
      const batched = await e.embed(clips);
      for (let i = 0; i < clips.length; i++) {
        const [single] = await e.embed([clips[i]]);
        for (let d = 0; d < 24; d++) assert.ok(Math.abs(single[d] - batched[i][d]) < 1e-5);
      }
      assert.ok(cosine(batched[0], batched[1]) < 0.99999);
    } finally {
      await e.release();
    }
  });

  test("the front end follows the metadata as sherpa-onnx reads it; no framework: WeSpeaker's own recipe", async () => {
    const cases: [string, Parameters<typeof writeSpeakerModel>[1], object][] = [
      [
        'ws.onnx',
        { kind: 'wespeaker' },
        { sampleScale: 32768, normalization: 'none', snipEdges: false, highFreq: -400 },
      ],
      [
        '3d.onnx',
        { kind: '3d-speaker' },
        { sampleScale: 1, normalization: 'global-mean', snipEdges: false, highFreq: -400 },
      ],
      [
        'bare.onnx',
        { metadata: false },
        { sampleScale: 32768, normalization: 'global-mean', snipEdges: undefined, highFreq: undefined },
      ],
    ];
    for (const [file, opts, expected] of cases) {
      const path = join(dir, file);
      writeSpeakerModel(path, { ...opts, channels: 8, dim: 16 });
      const e = await loadOnnxEmbedder(path);
      const { sampleScale, normalization, fbank } = e.frontEnd;
      assert.deepEqual(
        { sampleScale, normalization, snipEdges: fbank.snipEdges, highFreq: fbank.highFreq },
        expected,
        file,
      );
      await e.release();
    }
  });

  test('metadata sherpa-onnx would refuse is refused, naming the key', async () => {
    const cases: [Record<string, string>, RegExp, ('wespeaker' | 'nemo')?][] = [
      [{ framework: 'pyannote' }, /framework="pyannote" is not a speaker-embedding framework/],
      [{ feature_normalize_type: 'per_feature' }, /feature_normalize_type "per_feature" is not supported/],
      [{ window_type: 'kaiser' }, /window_type "kaiser"/, 'nemo'],
      [{ window_stride_ms: 'ten' }, /window_stride_ms="ten" is not a positive integer/, 'nemo'],
      [{ sample_rate: '8000' }, /expects 8000 Hz audio/],
    ];
    for (const [metadata, message, kind] of cases) {
      const path = join(dir, 'refused.onnx');
      writeSpeakerModel(path, { kind, channels: 8, dim: 16, metadata });
      await assert.rejects(loadOnnxEmbedder(path), message);
    }
  });
});

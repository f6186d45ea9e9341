import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import ort from 'onnxruntime-node';
import { decodeBatch } from '../../models/decode.js';
import { decodeWindows } from '../../models/transcribe.js';
import { WhisperModel } from '../../models/whisper.js';
import { synthModel } from '../helpers/models.js';

/**
 * Exports that declare extra decoder inputs: the runtime reads them from the graph's metadata and feeds them
 * (onnxruntime refuses a run with a declared input missing), and positions taken from cache_position must be right.
 */
describe('decoder graphs with cache_position and encoder_attention_mask', () => {
  const audio = Float32Array.from({ length: 16000 * 4 }, (_, i) => 0.2 * Math.sin(i / 11));

  test('greedy tokens equal the plain layout on a random model, batched and not', async () => {
    const plain = await WhisperModel.load(await synthModel({ seed: 21 }));
    const dir = await synthModel({ seed: 21, extraInputs: ['cache_position', 'encoder_attention_mask'] });
    const extra = await WhisperModel.load(dir);
    const session = await ort.InferenceSession.create(`${dir}/onnx/decoder_model_merged.onnx`);
    assert.ok(
      session.inputNames.includes('cache_position') && session.inputNames.includes('encoder_attention_mask'),
    );
    await session.release();
    const req = { language: 'en', timestamps: false, maxNewTokens: 20 };
    const inputs = [audio, audio.subarray(0, 16000 * 2)];
    const a = await decodeBatch(plain, await plain.encode(inputs.map((x) => plain.features(x))), [req, req]);
    const b = await decodeBatch(extra, await extra.encode(inputs.map((x) => extra.features(x))), [req, req]);
    assert.deepEqual(
      b.map((r) => r.tokens),
      a.map((r) => r.tokens),
    );
    assert.ok(a[0].tokens.length > 5);
    await plain.release();
    await extra.release();
  });

  test('a scripted model says its script with timestamps', async () => {
    const m = await WhisperModel.load(
      await synthModel({ script: '<|0.00|> hello world<|1.00|>', extraInputs: ['cache_position'] }),
    );
    const [r] = await decodeWindows(m, [{ audio, offset: 0 }], { language: 'en', temperatures: [0] });
    assert.deepEqual(
      r.segments.map((s) => [s.text, s.start, s.end]),
      [[' hello world', 0, 1]],
    );
    await m.release();
  });
});

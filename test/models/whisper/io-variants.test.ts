import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import ort from 'onnxruntime-node';
import { decodeBatch } from '../../../models/whisper/decode.js';
import { decodeWindows } from '../../../models/whisper/transcribe.js';
import { WhisperModel } from '../../../models/whisper/runtime.js';
import { synthModel } from '../../helpers/models.js';

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

describe('float16 graph IO (exports without keep_io_types)', () => {
  const audio = Float32Array.from({ length: 16000 * 4 }, (_, i) => 0.2 * Math.sin(i / 11));

  test('IO is declared float16; a scripted model says its script, batched too', async () => {
    const dir = await synthModel({ script: '<|0.00|> hello world<|1.00|>', float16Io: true });
    for (const [file, name] of [
      ['encoder_model', 'input_features'],
      ['decoder_model_merged', 'past_key_values.0.decoder.key'],
      ['decoder_model_merged', 'encoder_hidden_states'],
    ]) {
      const s = await ort.InferenceSession.create(`${dir}/onnx/${file}.onnx`);
      assert.equal((s.inputMetadata.find((m) => m.name === name) as { type: string }).type, 'float16', name);
      assert.ok(s.outputMetadata.every((m) => (m as { type: string }).type === 'float16'));
      await s.release();
    }
    const m = await WhisperModel.load(dir);
    const results = await decodeWindows(
      m,
      [
        { audio, offset: 0 },
        { audio: audio.subarray(0, 32000), offset: 5 },
      ],
      {
        language: 'en',
        temperatures: [0],
      },
    );
    assert.deepEqual(
      results.map((r) => r.segments.map((s) => [s.text, s.start, s.end])),
      [[[' hello world', 0, 1]], [[' hello world', 5, 6]]],
    );
    await m.release();
  });

  test('logits agree with the float32 file within float16 rounding, same greedy choice', async () => {
    const plain = await WhisperModel.load(await synthModel({ seed: 5 }));
    const half = await WhisperModel.load(await synthModel({ seed: 5, float16Io: true }));
    const prompt = [
      plain.ids.sot,
      plain.ids.languages.get('en')!,
      plain.ids.transcribe!,
      plain.ids.noTimestamps,
    ];
    const run = async (m: WhisperModel) => {
      const batch = m.startDecoding(await m.encode([m.features(audio)]));
      const first = await batch.run([prompt]);
      const second = await batch.run([[prompt[0] + 7]]);
      return [first.logits.slice(-m.dims.vocabSize), second.logits];
    };
    const [a, b] = [await run(plain), await run(half)];
    for (let k = 0; k < 2; k++) {
      let worst = 0;
      for (let i = 0; i < a[k].length; i++) worst = Math.max(worst, Math.abs(a[k][i] - b[k][i]));
      assert.ok(worst < 0.05, `step ${k}: max |diff| ${worst}`);
      assert.equal(b[k].indexOf(Math.max(...b[k])), a[k].indexOf(Math.max(...a[k])));
    }
    await plain.release();
    await half.release();
  });
});

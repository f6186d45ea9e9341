import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthesizeWhisper } from '../../../models/synth/index.js';
import {
  argmax,
  correlation,
  decoderStep,
  encode,
  features,
  loadSessions,
  nextPast,
  readConfig,
  readGeneration,
} from './helpers.js';
import { modelSummary } from './protoreader.js';

/** Logits of a 6-token prompt plus two cached steps, and the encoder output, for one dtype variant. */
async function run(
  dir: string,
  suffix: string,
  prompt: number[],
): Promise<{ logits: Float32Array[]; enc: Float32Array }> {
  const s = await loadSessions(dir, suffix);
  try {
    for (const m of [...s.decoder.inputMetadata, ...s.decoder.outputMetadata]) {
      if (m.isTensor && m.name !== 'input_ids' && m.name !== 'use_cache_branch') {
        assert.equal(m.type, 'float32', `${suffix}: ${m.name} keeps float32 IO`);
      }
    }
    const enc = await encode(s, features());
    const first = await decoderStep(s, enc, prompt);
    const second = await decoderStep(s, enc, [prompt[1]], nextPast(first));
    return {
      logits: [first.logits.data as Float32Array, second.logits.data as Float32Array],
      enc: enc.data as Float32Array,
    };
  } finally {
    await s.release();
  }
}

function rowsArgmax(data: Float32Array, V: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < data.length / V; r++) out.push(argmax(data.subarray(r * V, (r + 1) * V)));
  return out;
}

describe('q8 and fp16 variants', () => {
  let root: string;
  let V: number;
  let prompt: number[];
  let ref: { logits: Float32Array[]; enc: Float32Array };
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'earshot-synth-variants-'));
    await synthesizeWhisper(root, { size: 'micro', seed: 5, dtypes: ['fp32', 'q8', 'fp16'] });
    const gen = readGeneration(root);
    V = readConfig(root).vocab_size;
    prompt = [gen.decoder_start_token_id, gen.lang_to_id['<|en|>'], gen.task_to_id.transcribe, 300, 500, 700];
    ref = await run(root, '', prompt);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const size = (f: string): number => statSync(join(root, 'onnx', f)).size;

  test('q8: int8 MatMul weights with dynamic activation quantization, outputs close to fp32', async () => {
    const dec = modelSummary(readFileSync(join(root, 'onnx', 'decoder_model_merged_quantized.onnx')));
    for (const op of ['DynamicQuantizeLinear', 'MatMulInteger', 'Cast']) assert.ok(dec.opTypes.has(op), op);
    assert.ok(!dec.initializers.includes('proj_out.weight_T'), 'the fp32 LM head is replaced');
    assert.ok(dec.initializers.includes('proj_out.weight_T_quantized'));
    // Only the MatMul weights shrink (4x); positions, convs, embeddings and norms stay float32.
    assert.ok(size('encoder_model_quantized.onnx') < 0.75 * size('encoder_model.onnx'));
    assert.ok(size('decoder_model_merged_quantized.onnx') < 0.65 * size('decoder_model_merged.onnx'));
    const q8 = await run(root, '_quantized', prompt);
    assert.ok(correlation(ref.enc, q8.enc) > 0.99, 'encoder output');
    for (let i = 0; i < 2; i++) {
      const c = correlation(ref.logits[i], q8.logits[i]);
      assert.ok(c > 0.99 && c < 1 - 1e-9, `decoder logits correlation ${c}`);
    }
    const a = [...rowsArgmax(ref.logits[0], V), ...rowsArgmax(ref.logits[1], V)];
    const b = [...rowsArgmax(q8.logits[0], V), ...rowsArgmax(q8.logits[1], V)];
    const agree = a.filter((x, i) => x === b[i]).length;
    assert.ok(agree >= a.length - 1, `argmax agreement ${agree}/${a.length}`);
  });

  test('fp16: float16 initializers behind Cast nodes, float32 IO, outputs close to fp32', async () => {
    assert.ok(size('decoder_model_merged_fp16.onnx') < 0.55 * size('decoder_model_merged.onnx'));
    const dec = modelSummary(readFileSync(join(root, 'onnx', 'decoder_model_merged_fp16.onnx')));
    assert.ok(dec.opTypes.has('Cast'));
    assert.ok(dec.initializers.includes('proj_out.weight_T_fp16'));
    const fp16 = await run(root, '_fp16', prompt);
    for (let i = 0; i < 2; i++) {
      const c = correlation(ref.logits[i], fp16.logits[i]);
      assert.ok(c > 0.9999 && c < 1 - 1e-12, `decoder logits correlation ${c}`);
      let maxDiff = 0;
      for (let j = 0; j < ref.logits[i].length; j++) {
        maxDiff = Math.max(maxDiff, Math.abs(ref.logits[i][j] - fp16.logits[i][j]));
      }
      assert.ok(maxDiff < 0.05, `max |Δ| ${maxDiff}`);
    }
    assert.deepEqual(rowsArgmax(fp16.logits[0], V), rowsArgmax(ref.logits[0], V));
  });
});

test('a scripted model still says its script in the q8 and fp16 variants (transformers.js dtypes)', async (t) => {
  const { env, pipeline } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  const dir = mkdtempSync(join(tmpdir(), 'earshot-synth-variants-script-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await synthesizeWhisper(dir, {
    size: 'micro',
    script: ' good morning speaker one',
    dtypes: ['q8', 'fp16'],
  });
  const audio = new Float32Array(16000);
  for (const dtype of ['q8', 'fp16'] as const) {
    const asr = await pipeline('automatic-speech-recognition', dir, {
      dtype,
      device: 'cpu',
      local_files_only: true,
    });
    const out = (await asr(audio, { language: 'en' })) as { text: string };
    assert.equal(out.text, ' good morning speaker one', dtype);
    await asr.dispose();
  }
});

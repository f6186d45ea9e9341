import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor, type InferenceSession } from 'onnxruntime-node';
import { SYNTH_DIMS, synthesizeWhisper } from '../../../models/synth/index.js';
import {
  decoderStep,
  encode,
  features,
  flag,
  lastRow,
  loadSessions,
  nextPast,
  type Sessions,
} from './helpers.js';
import { modelSummary } from './protoreader.js';

type Json = Record<string, unknown>;
const readJson = (dir: string, f: string): Json => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Json;

const { dModel: D, heads: H, decoderLayers: L } = SYNTH_DIMS.micro;
const DH = D / H;

describe('micro model: files, side-file ids and ONNX I/O', () => {
  let dir: string;
  let plainDir: string;
  let s: Sessions;
  let root: string;
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'earshot-synth-files-'));
    dir = join(root, 'ts');
    plainDir = join(root, 'plain');
    await synthesizeWhisper(dir, { size: 'micro', timestamped: true });
    await synthesizeWhisper(plainDir, { size: 'micro' });
    s = await loadSessions(dir);
  });
  after(async () => {
    await s?.release();
    rmSync(root, { recursive: true, force: true });
  });

  test('every file of the onnx-community layout is present', () => {
    assert.deepEqual(readdirSync(dir).sort(), [
      'config.json',
      'generation_config.json',
      'onnx',
      'preprocessor_config.json',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    assert.deepEqual(readdirSync(join(dir, 'onnx')).sort(), [
      'decoder_model_merged.onnx',
      'encoder_model.onnx',
    ]);
  });

  test('config and generation ids are the ones tokenizer.json assigns', () => {
    const tok = readJson(dir, 'tokenizer.json') as {
      added_tokens: { id: number; content: string; special: boolean }[];
      model: { vocab: Record<string, number>; merges: string[] };
    };
    const id = (content: string): number => {
      const t = tok.added_tokens.find((a) => a.content === content);
      assert.ok(t, `${content} in added_tokens`);
      return t.id;
    };
    const cfg = readJson(dir, 'config.json');
    const gen = readJson(dir, 'generation_config.json');
    const eot = id('<|endoftext|>');
    assert.equal(gen.eos_token_id, eot);
    assert.equal(gen.bos_token_id, eot);
    assert.equal(gen.pad_token_id, eot);
    assert.equal(cfg.eos_token_id, eot);
    assert.equal(gen.decoder_start_token_id, id('<|startoftranscript|>'));
    assert.equal(cfg.decoder_start_token_id, id('<|startoftranscript|>'));
    assert.equal(gen.no_timestamps_token_id, id('<|notimestamps|>'));
    assert.equal(gen.prev_sot_token_id, id('<|startofprev|>'));
    assert.deepEqual(gen.task_to_id, { translate: id('<|translate|>'), transcribe: id('<|transcribe|>') });
    const langs = gen.lang_to_id as Record<string, number>;
    assert.equal(Object.keys(langs).length, 99);
    for (const [k, v] of Object.entries(langs)) assert.equal(v, id(k));
    assert.equal(langs['<|en|>'], id('<|startoftranscript|>') + 1);
    assert.equal(gen.is_multilingual, true);
    assert.equal(gen.max_initial_timestamp_index, 50);
    assert.equal(gen.max_length, 448);
    assert.deepEqual(gen.begin_suppress_tokens, [220, eot]);
    assert.equal(tok.model.vocab['Ġ'], 220);

    // added_tokens: contiguous, specials first (special: true), then 1501 timestamps (special: false).
    const added = tok.added_tokens;
    added.forEach((t, i) => assert.equal(t.id, eot + i));
    const tsBegin = id('<|notimestamps|>') + 1;
    assert.equal(id('<|0.00|>'), tsBegin);
    assert.equal(id('<|30.00|>'), tsBegin + 1500);
    assert.equal(id('<|1.00|>'), tsBegin + 50);
    for (const t of added) assert.equal(t.special, t.id < tsBegin, t.content);
    assert.equal(cfg.vocab_size, tsBegin + 1501);
    assert.equal(added.length, (cfg.vocab_size as number) - eot);

    const suppress = gen.suppress_tokens as number[];
    assert.ok(suppress.length > 10);
    assert.ok(suppress.every((t) => t >= 0 && t < (cfg.vocab_size as number)));
    for (const special of ['<|startoftranscript|>', '<|translate|>', '<|transcribe|>', '<|startofprev|>']) {
      assert.ok(suppress.includes(id(special)), special);
    }
    assert.ok(!suppress.includes(220), 'the space token is never suppressed');
    assert.ok(suppress.includes(tok.model.vocab['"']), '" is a non-speech token');

    const heads = gen.alignment_heads as number[][];
    assert.ok(heads.length > 0);
    for (const [l, h] of heads) assert.ok(l >= 0 && l < L && h >= 0 && h < H);

    assert.equal(cfg.d_model, D);
    assert.equal(cfg.decoder_layers, L);
    assert.equal(cfg.decoder_attention_heads, H);
    assert.equal(cfg.is_encoder_decoder, true);
    assert.equal(cfg.model_type, 'whisper');
    assert.equal(cfg.num_mel_bins, 80);
    assert.equal(cfg.max_source_positions, 1500);
    assert.equal(cfg.max_target_positions, 448);
    const pre = readJson(dir, 'preprocessor_config.json');
    assert.equal(pre.feature_size, 80);
    assert.equal(pre.feature_extractor_type, 'WhisperFeatureExtractor');
    const tcfg = readJson(dir, 'tokenizer_config.json');
    assert.equal(tcfg.tokenizer_class, 'WhisperTokenizer');
    assert.equal(tcfg.eos_token, '<|endoftext|>');
  });

  test('encoder I/O names, types and dims', () => {
    const meta = (m: readonly InferenceSession.ValueMetadata[]): unknown[] =>
      m.map((x) => (x.isTensor ? [x.name, x.type, x.shape] : [x.name]));
    assert.deepEqual(meta(s.encoder.inputMetadata), [
      ['input_features', 'float32', ['batch_size', 80, 3000]],
    ]);
    const out = s.encoder.outputMetadata[0];
    assert.ok(out.isTensor);
    assert.equal(out.name, 'last_hidden_state');
    assert.equal(out.shape[0], 'batch_size');
    assert.ok(out.shape[1] === 1500 || out.shape[1] === 'encoder_sequence_length / 2');
    assert.equal(out.shape[2], D);
  });

  test('merged decoder inputs and outputs: names, order, types, dims', () => {
    const meta = (m: readonly InferenceSession.ValueMetadata[]): unknown[] =>
      m.map((x) => (x.isTensor ? [x.name, x.type, x.shape] : [x.name]));
    const inputs: unknown[] = [
      ['input_ids', 'int64', ['batch_size', 'decoder_sequence_length']],
      ['encoder_hidden_states', 'float32', ['batch_size', 'encoder_sequence_length / 2', D]],
    ];
    const V = readJson(dir, 'config.json').vocab_size as number;
    const outputs: unknown[] = [['logits', 'float32', ['batch_size', 'decoder_sequence_length', V]]];
    const cross: unknown[] = [];
    for (let i = 0; i < L; i++) {
      for (const kv of ['key', 'value']) {
        inputs.push([
          `past_key_values.${i}.decoder.${kv}`,
          'float32',
          ['batch_size', H, 'past_decoder_sequence_length', DH],
        ]);
        outputs.push([
          `present.${i}.decoder.${kv}`,
          'float32',
          ['batch_size', H, 'past_decoder_sequence_length + 1', DH],
        ]);
      }
      for (const kv of ['key', 'value']) {
        inputs.push([
          `past_key_values.${i}.encoder.${kv}`,
          'float32',
          ['batch_size', H, 'encoder_sequence_length_out', DH],
        ]);
        outputs.push([
          `present.${i}.encoder.${kv}`,
          'float32',
          ['batch_size', H, 'encoder_sequence_length_out', DH],
        ]);
      }
      cross.push([
        `cross_attentions.${i}`,
        'float32',
        ['batch_size', H, 'decoder_sequence_length', 'encoder_sequence_length_out'],
      ]);
    }
    inputs.push(['use_cache_branch', 'bool', [1]]);
    assert.deepEqual(meta(s.decoder.inputMetadata), inputs);
    assert.deepEqual(meta(s.decoder.outputMetadata), [...outputs, ...cross]);
  });

  test('a model built without timestamped has no cross_attentions outputs', async () => {
    const p = await loadSessions(plainDir);
    try {
      const names = p.decoder.outputMetadata.map((m) => m.name);
      assert.equal(names.length, 1 + 4 * L);
      assert.ok(!names.some((n) => n.startsWith('cross_attentions')));
    } finally {
      await p.release();
    }
  });

  test('step shapes: full prompt without cache, then one token with cache and empty encoder presents', async () => {
    const enc = await encode(s, features());
    assert.deepEqual(enc.dims, [1, 1500, D]);
    const gen = readJson(dir, 'generation_config.json');
    const sot = gen.decoder_start_token_id as number;
    const prompt = [
      sot,
      sot + 1,
      (gen.task_to_id as Json).transcribe as number,
      gen.no_timestamps_token_id as number,
    ];
    const first = await decoderStep(s, enc, prompt);
    const V = readJson(dir, 'config.json').vocab_size as number;
    assert.deepEqual(first.logits.dims, [1, 4, V]);
    for (let i = 0; i < L; i++) {
      assert.deepEqual(first[`present.${i}.decoder.key`].dims, [1, H, 4, DH]);
      assert.deepEqual(first[`present.${i}.encoder.value`].dims, [1, H, 1500, DH]);
      assert.deepEqual(first[`cross_attentions.${i}`].dims, [1, H, 4, 1500]);
    }
    const past = nextPast(first);
    const second = await decoderStep(s, enc, [300], past);
    assert.deepEqual(second.logits.dims, [1, 1, V]);
    for (let i = 0; i < L; i++) {
      assert.deepEqual(second[`present.${i}.decoder.value`].dims, [1, H, 5, DH]);
      assert.deepEqual(second[`present.${i}.encoder.key`].dims, [0, H, 1, DH]);
      assert.deepEqual(second[`cross_attentions.${i}`].dims, [1, H, 1, 1500]);
      // Cross-attention rows are probability distributions over the 1500 frames.
      const row = (second[`cross_attentions.${i}`].data as Float32Array).subarray(0, 1500);
      assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-4);
    }
  });

  test('batches: two windows decoded together equal each decoded alone', async () => {
    const f1 = features(80, 1);
    const f2 = features(80, 2);
    const both = new Float32Array(2 * 80 * 3000);
    both.set(f1.data as Float32Array);
    both.set(f2.data as Float32Array, 80 * 3000);
    const enc2 = await encode(s, new Tensor('float32', both, [2, 80, 3000]));
    assert.deepEqual(enc2.dims, [2, 1500, D]);
    const V = readJson(dir, 'config.json').vocab_size as number;
    const prompts = [
      [300, 301, 302],
      [400, 401, 402],
    ];
    const past: Record<string, Tensor> = {};
    for (const m of s.decoder.inputMetadata) {
      if (m.name.startsWith('past_key_values.'))
        past[m.name] = new Tensor('float32', new Float32Array(0), [2, H, 0, DH]);
    }
    const first = await s.decoder.run({
      ...past,
      input_ids: new Tensor('int64', BigInt64Array.from(prompts.flat().map(BigInt)), [2, 3]),
      encoder_hidden_states: enc2,
      use_cache_branch: flag(false),
    });
    const second = await s.decoder.run({
      ...nextPast(first),
      input_ids: new Tensor('int64', BigInt64Array.of(7n, 8n), [2, 1]),
      encoder_hidden_states: enc2,
      use_cache_branch: flag(true),
    });
    assert.deepEqual(second.logits.dims, [2, 1, V]);
    for (const [b, f] of [f1, f2].entries()) {
      const enc = await encode(s, f);
      const alone = await decoderStep(s, enc, [...prompts[b], b === 0 ? 7 : 8]);
      const want = lastRow(alone.logits as Tensor);
      const got = (second.logits.data as Float32Array).subarray(b * V, (b + 1) * V);
      let maxDiff = 0;
      for (let i = 0; i < V; i++) maxDiff = Math.max(maxDiff, Math.abs(want[i] - got[i]));
      assert.ok(maxDiff < 1e-4, `batch row ${b}: max |Δ| ${maxDiff}`);
    }
  });

  test('opset 17, IR 8, standard ops only, and no unused initializers', () => {
    for (const f of ['encoder_model.onnx', 'decoder_model_merged.onnx']) {
      const m = modelSummary(readFileSync(join(dir, 'onnx', f)));
      assert.equal(m.irVersion, 8n);
      assert.deepEqual(m.opsets, [{ domain: '', version: 17n }]);
      for (const init of m.initializers) assert.ok(m.nodeInputs.has(init), `${f}: ${init} is read by a node`);
      assert.ok(m.opTypes.has('LayerNormalization') && m.opTypes.has('Erf') && m.opTypes.has('MatMul'), f);
    }
    const dec = modelSummary(readFileSync(join(dir, 'onnx', 'decoder_model_merged.onnx')));
    assert.ok(dec.opTypes.has('If'));
    assert.ok(dec.initializers.includes('proj_out.weight_T'), 'the LM head is untied');
    assert.ok(dec.initializers.includes('model.decoder.embed_tokens.weight'));
  });
});

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type * as ort from 'onnxruntime-node';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthesizeWhisper } from '../../../models/synth/index.js';
import {
  argmax,
  decoderStep,
  encode,
  features,
  greedy,
  lastRow,
  loadSessions,
  nextPast,
  readGeneration,
  type Sessions,
} from './helpers.js';

describe('random micro model: KV cache and logits', () => {
  let root: string;
  let s: Sessions;
  let enc: ort.Tensor;
  let prompt: number[];
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'earshot-synth-kv-'));
    await synthesizeWhisper(root, { size: 'micro', seed: 3 });
    const gen = readGeneration(root);
    prompt = [
      gen.decoder_start_token_id,
      gen.lang_to_id['<|en|>'],
      gen.task_to_id.transcribe,
      gen.no_timestamps_token_id,
    ];
    s = await loadSessions(root);
    enc = await encode(s, features());
  });
  after(async () => {
    await s?.release();
    rmSync(root, { recursive: true, force: true });
  });

  test('cached step logits equal the last row of an uncached re-run', async () => {
    const tokens = [...prompt, 300, 420, 999];
    let out = await decoderStep(s, enc, tokens.slice(0, 4));
    let past = nextPast(out);
    for (let n = 4; n < tokens.length; n++) {
      out = await decoderStep(s, enc, [tokens[n]], past);
      past = nextPast(out, past);
      const cached = lastRow(out.logits as ort.Tensor);
      const full = lastRow((await decoderStep(s, enc, tokens.slice(0, n + 1))).logits as ort.Tensor);
      let maxDiff = 0;
      for (let i = 0; i < full.length; i++) maxDiff = Math.max(maxDiff, Math.abs(full[i] - cached[i]));
      assert.ok(maxDiff < 1e-5, `step ${n}: max |Δ| ${maxDiff}`);
      assert.deepEqual(past['past_key_values.0.decoder.key'].dims, [1, 4, n + 1, 16]);
      assert.deepEqual(past['past_key_values.1.encoder.value'].dims, [1, 4, 1500, 16]);
    }
  });

  test('20 greedy steps with and without the cache give the same tokens', async () => {
    const withCache = await greedy(s, enc, prompt, { maxNew: 20, eot: -1 });
    const noCache: number[] = [];
    const seq = [...prompt];
    for (let i = 0; i < 20; i++) {
      const next = argmax(lastRow((await decoderStep(s, enc, seq)).logits as ort.Tensor));
      noCache.push(next);
      seq.push(next);
    }
    assert.deepEqual(withCache, noCache);
    assert.ok(
      new Set(withCache).size > 5,
      `a random model does not just repeat itself: ${withCache.join(' ')}`,
    );
  });

  test('logits are spread out and depend on the audio and on the input tokens (no echo, no ties)', async () => {
    const a = (await decoderStep(s, enc, prompt)).logits as ort.Tensor;
    const [, T, V] = a.dims;
    const data = a.data as Float32Array;
    for (let t = 0; t < T; t++) {
      const row = [...data.subarray(t * V, (t + 1) * V)].sort((x, y) => y - x);
      assert.ok(row[0] - row[1] > 1e-4, `row ${t}: top two logits tie`);
      const mean = row.reduce((p, q) => p + q, 0) / V;
      const std = Math.sqrt(row.reduce((p, q) => p + (q - mean) ** 2, 0) / V);
      assert.ok(std > 0.3, `row ${t}: std ${std}`);
      assert.notEqual(
        argmax(data.subarray(t * V, (t + 1) * V)),
        prompt[t],
        'the model does not echo its input',
      );
    }
    const other = await encode(s, features(80, 2));
    const b = lastRow((await decoderStep(s, other, prompt)).logits as ort.Tensor);
    const last = lastRow(a);
    let diff = 0;
    for (let i = 0; i < V; i++) diff = Math.max(diff, Math.abs(last[i] - b[i]));
    assert.ok(diff > 1e-3, 'different audio gives different logits');
  });
});

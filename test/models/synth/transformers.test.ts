// transformers.js 4.3.1 (offline) must load synthetic dirs and decode them like real onnx-community exports.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  env,
  pipeline,
  AutoProcessor,
  AutoTokenizer,
  WhisperForConditionalGeneration,
  type Tensor,
} from '@huggingface/transformers';
import * as ort from 'onnxruntime-node';
import { synthesizeWhisper } from '../../../models/synth/index.js';
import { greedy, loadSessions, readConfig, readGeneration } from './helpers.js';

env.allowRemoteModels = false;
env.useFSCache = false;

type Chunk = { text: string; timestamp: [number, number | null] };
type AsrOut = { text: string; chunks?: Chunk[] };

const SCRIPT = '<|0.00|> hello world<|1.00|><|1.00|> good morning<|2.50|>';

/** 3 s of a chirp: the scripted model must not care what it hears. */
function audio(seconds = 3): Float32Array {
  const a = new Float32Array(16000 * seconds);
  for (let i = 0; i < a.length; i++) a[i] = 0.2 * Math.sin(i * 0.02 + i * i * 1e-7);
  return a;
}

describe('transformers.js pipeline on scripted models', () => {
  let root: string;
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'earshot-synth-tjs-'));
    await synthesizeWhisper(join(root, 'ts'), { size: 'micro', timestamped: true, script: SCRIPT });
    await synthesizeWhisper(join(root, 'text'), {
      size: 'micro',
      script: ' The birch canoe slid on the smooth planks.',
    });
    await synthesizeWhisper(join(root, 'en'), {
      size: 'micro',
      multilingual: false,
      script: ' one two three',
    });
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const asrFor = (dir: string) =>
    pipeline('automatic-speech-recognition', join(root, dir), {
      dtype: 'fp32',
      device: 'cpu',
      local_files_only: true,
    });

  test('a timestamped script: text, segment timestamps and word timestamps', async () => {
    const asr = await asrFor('ts');
    try {
      const plain = (await asr(audio(), { language: 'en' })) as AsrOut;
      assert.equal(plain.text, ' hello world good morning');
      const segs = (await asr(audio(), { language: 'en', return_timestamps: true })) as AsrOut;
      assert.equal(segs.text, ' hello world good morning');
      assert.deepEqual(segs.chunks, [
        { timestamp: [0, 1], text: ' hello world' },
        { timestamp: [1, 2.5], text: ' good morning' },
      ]);
      const words = (await asr(audio(), { language: 'en', return_timestamps: 'word' })) as AsrOut;
      assert.deepEqual(
        words.chunks!.map((c) => c.text),
        [' hello', ' world', ' good', ' morning'],
      );
      // The scripted cross-attention puts every word inside its own segment (tjs reads each token's time off
      // the row where it is the input, one token later than openai's convention, so only the segment is exact).
      let prev = 0;
      words.chunks!.forEach((c, i) => {
        const [start, end] = c.timestamp;
        const [segStart, segEnd] = i < 2 ? [0, 1] : [1, 2.5];
        assert.ok(end !== null && end >= start && start >= prev, JSON.stringify(words));
        assert.ok(start >= segStart && end <= segEnd + 0.02, `${c.text}: ${start}..${end}`);
        prev = start;
      });
    } finally {
      await asr.dispose();
    }
  });

  test('a plain-text script reads the same with and without timestamps', async () => {
    const asr = await asrFor('text');
    try {
      const plain = (await asr(audio(), { language: 'en' })) as AsrOut;
      assert.equal(plain.text, ' The birch canoe slid on the smooth planks.');
      const ts = (await asr(audio(), { language: 'en', return_timestamps: true })) as AsrOut;
      assert.equal(ts.text, ' The birch canoe slid on the smooth planks.');
      assert.equal(ts.chunks![0].timestamp[0], 0);
    } finally {
      await asr.dispose();
    }
  });

  test('an English-only (.en layout) scripted model', async () => {
    const asr = await asrFor('en');
    try {
      assert.equal(((await asr(audio())) as AsrOut).text, ' one two three');
    } finally {
      await asr.dispose();
    }
  });

  test('the tokenizer encodes the script words to single merged tokens and renders timestamps', async () => {
    const tok = await AutoTokenizer.from_pretrained(join(root, 'ts'), { local_files_only: true });
    const ids = tok.encode(' hello world good morning', { add_special_tokens: false });
    assert.equal(ids.length, 4);
    const cfg = readConfig(join(root, 'ts'));
    const scripted = cfg.earshot_synth.script_tokens!;
    assert.deepEqual(scripted.slice(1, 3), ids.slice(0, 2));
    // tjs cannot render an empty run between timestamps: decode one segment, framed like a decoder output.
    const segment = [cfg.decoder_start_token_id, ...scripted.slice(0, 4), cfg.eos_token_id];
    const text = (tok as unknown as { decode(ids: number[], o: object): string }).decode(segment, {
      decode_with_timestamps: true,
    });
    assert.equal(text, '<|startoftranscript|><|0.00|> hello world<|1.00|><|endoftext|>');
  });
});

test('transformers.js generate() on a random model equals an independent ORT greedy loop, up to its end-of-text', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-synth-tjs-random-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await synthesizeWhisper(dir, { size: 'micro', seed: 11 });
  const gen = readGeneration(dir);

  const model = await WhisperForConditionalGeneration.from_pretrained(dir, {
    dtype: 'fp32',
    local_files_only: true,
  });
  const processor = await AutoProcessor.from_pretrained(dir, { local_files_only: true });
  // 4 s of audio: the random model ends the window (pacing.ts) well before the token limit.
  const { input_features } = (await processor(audio(4))) as { input_features: Tensor };
  const out = (await model.generate({
    inputs: input_features,
    max_new_tokens: 40,
    language: 'en',
    task: 'transcribe',
  } as never)) as Tensor;
  const tjsIds = (out.tolist() as bigint[][])[0].map(Number);
  await model.dispose();

  const prompt = [
    gen.decoder_start_token_id,
    gen.lang_to_id['<|en|>'],
    gen.task_to_id.transcribe,
    gen.no_timestamps_token_id,
  ];
  assert.deepEqual(tjsIds.slice(0, 4), prompt);
  const s = await loadSessions(dir);
  try {
    const feats = new ort.Tensor('float32', input_features.data as Float32Array, input_features.dims);
    const enc = (await s.encoder.run({ input_features: feats })).last_hidden_state as ort.Tensor;
    const ours = await greedy(s, enc, prompt, {
      maxNew: 40,
      eot: gen.eos_token_id,
      suppress: gen.suppress_tokens,
      beginSuppress: gen.begin_suppress_tokens,
    });
    assert.deepEqual(tjsIds.slice(4), ours);
    assert.equal(ours.at(-1), gen.eos_token_id, ours.join(' '));
    assert.ok(ours.length > 6 && ours.length < 40 && new Set(ours).size > 3, ours.join(' '));
  } finally {
    await s.release();
  }
});

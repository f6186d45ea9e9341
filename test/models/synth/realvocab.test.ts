// vocab 'real' reproduces the real models' special-token ids (openai get_encoding / HF generation configs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { env, pipeline } from '@huggingface/transformers';
import { synthesizeWhisper, type SynthOptions } from '../../../models/synth/index.js';
import { readConfig, readGeneration, tempDir } from './helpers.js';

interface Expect {
  vocab: number;
  eot: number;
  sot: number;
  en?: number;
  translate?: number;
  transcribe?: number;
  prevSot: number;
  noTimestamps: number;
  lastLanguage?: [string, number];
  noSpeech: string;
}

const CASES: [string, Partial<SynthOptions>, Expect][] = [
  [
    'multilingual',
    {},
    {
      vocab: 51865,
      eot: 50257,
      sot: 50258,
      en: 50259,
      translate: 50358,
      transcribe: 50359,
      prevSot: 50361,
      noTimestamps: 50363,
      lastLanguage: ['<|su|>', 50357],
      noSpeech: '<|nocaptions|>',
    },
  ],
  [
    'large-v3 (128 mels)',
    { mels: 128 },
    {
      vocab: 51866,
      eot: 50257,
      sot: 50258,
      en: 50259,
      translate: 50359,
      transcribe: 50360,
      prevSot: 50362,
      noTimestamps: 50364,
      lastLanguage: ['<|yue|>', 50358],
      noSpeech: '<|nospeech|>',
    },
  ],
  [
    'English-only (.en)',
    { multilingual: false },
    { vocab: 51864, eot: 50256, sot: 50257, prevSot: 50360, noTimestamps: 50362, noSpeech: '<|nocaptions|>' },
  ],
];

env.allowRemoteModels = false;

for (const [name, opts, want] of CASES) {
  test(`real vocabulary layout: ${name}`, async (t) => {
    const dir = tempDir(t);
    await synthesizeWhisper(dir, { size: 'micro', vocab: 'real', script: ' hello world', ...opts });
    const cfg = readConfig(dir);
    const gen = readGeneration(dir);
    assert.equal(cfg.vocab_size, want.vocab);
    assert.equal(gen.eos_token_id, want.eot);
    assert.equal(gen.decoder_start_token_id, want.sot);
    assert.equal(gen.prev_sot_token_id, want.prevSot);
    assert.equal(gen.no_timestamps_token_id, want.noTimestamps);
    assert.deepEqual(gen.begin_suppress_tokens, [220, want.eot]);
    assert.equal(gen.is_multilingual, want.en !== undefined);
    if (want.en !== undefined) {
      assert.equal(gen.lang_to_id['<|en|>'], want.en);
      assert.deepEqual(gen.task_to_id, { translate: want.translate, transcribe: want.transcribe });
      const [lastLang, lastId] = want.lastLanguage!;
      assert.equal(gen.lang_to_id[lastLang], lastId);
      assert.equal(Object.keys(gen.lang_to_id).length, lastId - want.sot);
    }
    // openai's suppress list ends with SOT, translate, transcribe, startoflm, startofprev, nospeech.
    const [translate, transcribe, startoflm, noSpeech] = [-3, -2, -1, 1].map((d) => want.prevSot + d);
    assert.deepEqual(gen.suppress_tokens.slice(-6), [
      want.sot,
      translate,
      transcribe,
      startoflm,
      want.prevSot,
      noSpeech,
    ]);

    const tok = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as {
      added_tokens: { id: number; content: string; special: boolean }[];
      model: { vocab: Record<string, number> };
    };
    const byId = new Map(tok.added_tokens.map((a) => [a.id, a]));
    assert.equal(byId.get(want.eot)!.content, '<|endoftext|>');
    assert.equal(byId.get(want.noTimestamps)!.content, '<|notimestamps|>');
    assert.equal(byId.get(want.noTimestamps - 1)!.content, want.noSpeech);
    assert.equal(byId.get(want.noTimestamps + 1)!.content, '<|0.00|>');
    assert.equal(byId.get(want.vocab - 1)!.content, '<|30.00|>');
    assert.equal(Object.keys(tok.model.vocab).length, want.eot + 1);

    const enc = await ort.InferenceSession.create(join(dir, 'onnx', 'encoder_model.onnx'));
    const input = enc.inputMetadata[0];
    assert.ok(input.isTensor);
    assert.deepEqual(input.shape, ['batch_size', opts.mels ?? 80, 3000]);
    await enc.release();
    const pre = JSON.parse(readFileSync(join(dir, 'preprocessor_config.json'), 'utf8')) as {
      feature_size: number;
    };
    assert.equal(pre.feature_size, opts.mels ?? 80);

    // transformers.js computes the matching log-mel, picks the prompt from these ids and decodes the script.
    const asr = await pipeline('automatic-speech-recognition', dir, {
      dtype: 'fp32',
      local_files_only: true,
    });
    const out = (await asr(new Float32Array(16000), want.en !== undefined ? { language: 'en' } : {})) as {
      text: string;
    };
    assert.equal(out.text, ' hello world');
    await asr.dispose();
  });
}

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ModelLoadError } from '../../../models/errors.js';
import { decodeWindows } from '../../../models/whisper/transcribe.js';
import { WhisperModel } from '../../../models/whisper/runtime.js';
import { brokenModel, editJson, synthModel } from '../../helpers/models.js';

/** Every way a model directory can be broken gives one clear ModelLoadError, never a crash deep in onnxruntime. */

let good: string;
const work = mkdtempSync(join(tmpdir(), 'earshot-broken-'));
before(async () => {
  good = await synthModel({ script: '<|0.00|> hello world<|1.00|>', dtypes: ['fp32', 'q8'] });
});
after(() => rmSync(work, { recursive: true, force: true }));

const broken = (edit: (dir: string) => void, from = () => good) => brokenModel(from(), edit);

const cases: [string, (dir: string) => void, RegExp][] = [
  ['missing config.json', (d) => unlinkSync(join(d, 'config.json')), /no config\.json/],
  ['missing tokenizer.json', (d) => unlinkSync(join(d, 'tokenizer.json')), /no tokenizer\.json/],
  [
    'missing generation_config.json',
    (d) => unlinkSync(join(d, 'generation_config.json')),
    /no generation_config\.json/,
  ],
  ['config.json not JSON', (d) => writeFileSync(join(d, 'config.json'), '{"d_model": 64,'), /not valid JSON/],
  [
    'missing encoder',
    (d) => unlinkSync(join(d, 'onnx/encoder_model.onnx')),
    /missing .*encoder_model\.onnx.*available dtypes: q8/,
  ],
  [
    'truncated decoder',
    (d) => truncateSync(join(d, 'onnx/decoder_model_merged.onnx'), 5000),
    /cannot load .*decoder_model_merged\.onnx/,
  ],
  ['empty encoder', (d) => truncateSync(join(d, 'onnx/encoder_model.onnx'), 0), /empty or truncated/],
  [
    'config says more decoder layers',
    (d) => editJson(join(d, 'config.json'), (j) => (j.decoder_layers = 3)),
    /lacks input past_key_values\.2/,
  ],
  [
    'config says other heads',
    (d) => editJson(join(d, 'config.json'), (j) => (j.decoder_attention_heads = 8)),
    /heads but config\.json says 8/,
  ],
  [
    'config says 128 mels',
    (d) => editJson(join(d, 'config.json'), (j) => (j.num_mel_bins = 128)),
    /mel bins/,
  ],
  ['config says 81 mels', (d) => editJson(join(d, 'config.json'), (j) => (j.num_mel_bins = 81)), /80 or 128/],
  [
    'not a whisper model',
    (d) => editJson(join(d, 'config.json'), (j) => (j.model_type = 'bert')),
    /not "whisper"/,
  ],
  [
    'tokenizer and generation config disagree',
    (d) =>
      editJson(
        join(d, 'generation_config.json'),
        (j) => (j.no_timestamps_token_id = (j.no_timestamps_token_id as number) - 1),
      ),
    /disagree on <\|notimestamps\|>/,
  ],
  [
    'no token ids',
    (d) => editJson(join(d, 'generation_config.json'), (j) => delete j.no_timestamps_token_id),
    /no_timestamps_token_id/,
  ],
  ['tokenizer.json garbage', (d) => writeFileSync(join(d, 'tokenizer.json'), '{"model": 3}'), /tokenizer/],
];

describe('broken model directories', () => {
  for (const [name, edit, message] of cases) {
    test(name, async () => {
      const dir = broken(edit);
      await assert.rejects(WhisperModel.load(dir), (e: unknown) => {
        assert.ok(e instanceof ModelLoadError, `${name}: got ${(e as Error).stack}`);
        assert.match(e.message, message);
        assert.ok(!e.message.includes('\n'), 'one line');
        return true;
      });
    });
  }

  test('a directory that does not exist', async () => {
    await assert.rejects(WhisperModel.load(join(work, 'nope')), /does not exist/);
  });

  test("a decoder whose vocabulary is not config.json's is caught", async () => {
    const dir = broken((d) =>
      editJson(join(d, 'config.json'), (j) => (j.vocab_size = (j.vocab_size as number) + 1)),
    );
    await assert.rejects(
      WhisperModel.load(dir),
      (e: unknown) => e instanceof ModelLoadError && /vocab_size/.test(e.message),
    );
  });
});

describe('variants and devices', () => {
  test('q8 (_quantized) files load by dtype and say the script', async () => {
    const m = await WhisperModel.load(good, { dtype: 'q8' });
    assert.match(m.files.encoderPath, /encoder_model_quantized\.onnx$/);
    const [r] = await decodeWindows(m, [{ audio: new Float32Array(32000), offset: 0 }], {
      temperatures: [0],
      language: 'en',
    });
    assert.equal(r.segments.map((s) => s.text).join(''), ' hello world');
    await m.release();
  });

  test('per-graph dtype: q8 encoder with fp32 decoder', async () => {
    const m = await WhisperModel.load(good, { dtype: { encoder: 'q8', decoder: 'fp32' } });
    assert.match(m.files.encoderPath, /_quantized/);
    assert.doesNotMatch(m.files.decoderPath, /_quantized/);
    await m.release();
  });

  test('cuda requested without a GPU: one warning, CPU, same result', async () => {
    const warnings: string[] = [];
    const m = await WhisperModel.load(good, { device: 'cuda', warn: (w) => warnings.push(w) });
    assert.equal(m.device, 'cpu');
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0], /CUDA requested but unavailable.*running on CPU/);
    const [r] = await decodeWindows(m, [{ audio: new Float32Array(32000), offset: 0 }], {
      temperatures: [0],
      language: 'en',
    });
    assert.equal(r.segments[0].text, ' hello world');
    await m.release();
  });
});

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dtw, medianFilter } from '../../../models/whisper/alignment.js';
import { resolveModel } from '../../../models/resolve.js';
import { decodeWindows } from '../../../models/whisper/transcribe.js';
import { WhisperModel } from '../../../models/whisper/runtime.js';
import { synthModel } from '../../helpers/models.js';

describe('alignment primitives', () => {
  test('median filter with reflect padding', () => {
    assert.deepEqual(Array.from(medianFilter(new Float32Array([5, 1, 9, 2, 7]), 3)), [1, 5, 2, 7, 2]);
  });
  test('DTW follows the cheap diagonal and is monotonic', () => {
    // 3 tokens x 6 frames, token i cheapest around frames 2i..2i+1.
    const cost = new Float32Array(18).fill(1);
    for (let i = 0; i < 3; i++) cost[i * 6 + 2 * i] = cost[i * 6 + 2 * i + 1] = 0;
    const { textIdx, timeIdx } = dtw(cost, 3, 6);
    assert.deepEqual(textIdx, [0, 0, 1, 1, 2, 2]);
    assert.deepEqual(timeIdx, [0, 1, 2, 3, 4, 5]);
  });
});

describe('openai decoding heuristics', () => {
  let model: WhisperModel;
  before(async () => {
    model = await WhisperModel.load(await synthModel({ seed: 3 }));
  });
  after(() => model.release());
  const audio = Float32Array.from({ length: 16000 * 3 }, (_, i) => 0.2 * Math.sin(i / 9));

  test('temperature fallback: a low-confidence decode is retried at the next temperatures', async () => {
    // A random model is far from confident: avg_logprob stays under any sensible threshold.
    const [strict] = await decodeWindows(model, [{ audio, offset: 0 }], {
      language: 'en',
      temperatures: [0, 0.5, 1],
      logprobThreshold: 0,
      noSpeechThreshold: 2,
      maxNewTokens: 8,
    });
    assert.equal(strict.decode.temperature, 1, 'every temperature was tried');
    const [lenient] = await decodeWindows(model, [{ audio, offset: 0 }], {
      language: 'en',
      temperatures: [0, 0.5, 1],
      logprobThreshold: -1e9,
      compressionRatioThreshold: 1e9,
      maxNewTokens: 8,
    });
    assert.equal(lenient.decode.temperature, 0, 'a decode that passes is kept at temperature 0');
  });

  test('windows of one batch keep their own temperature schedules, as if decoded alone', async () => {
    const strict = { language: 'en', logprobThreshold: 0, noSpeechThreshold: 2, maxNewTokens: 8 };
    const [fallback, single] = await decodeWindows(
      model,
      [
        { audio, offset: 0, temperatures: [0, 0.5, 1] },
        { audio, offset: 0, temperatures: [0] },
      ],
      strict,
    );
    assert.equal(fallback.decode.temperature, 1, 'the first window fell back through its schedule');
    assert.equal(single.decode.temperature, 0, 'the second window has no fallback');
    const [alone] = await decodeWindows(model, [{ audio, offset: 0 }], { ...strict, temperatures: [0] });
    assert.deepEqual(single.decode.tokens, alone.decode.tokens);
  });

  test('no_speech_prob above threshold with a low avg_logprob is silence: no segments', async () => {
    const [r] = await decodeWindows(model, [{ audio, offset: 0 }], {
      language: 'en',
      temperatures: [0],
      noSpeechThreshold: -1,
      logprobThreshold: 0,
      maxNewTokens: 8,
    });
    assert.equal(r.silent, true);
    assert.deepEqual(r.segments, []);
    assert.ok(r.decode.noSpeechProb >= 0 && r.decode.noSpeechProb <= 1);
  });

  test('language detection picks one of the model languages when none is given', async () => {
    const [r] = await decodeWindows(model, [{ audio, offset: 0 }], { temperatures: [0], maxNewTokens: 4 });
    assert.ok(model.ids.languages.has(r.language));
  });
});

describe('--model synthetic:SIZE', () => {
  test('builds once into the cache, then reuses it', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'earshot-cache-'));
    const dir = await resolveModel('synthetic:micro:timestamped', { cacheDir });
    assert.ok(existsSync(join(dir, 'onnx/decoder_model_merged.onnx')));
    const built = statSync(join(dir, 'config.json')).mtimeMs;
    assert.equal(await resolveModel('synthetic:micro:timestamped', { cacheDir }), dir);
    assert.equal(statSync(join(dir, 'config.json')).mtimeMs, built);
    const other = await resolveModel(
      `synthetic:micro:script=${encodeURIComponent('<|0.00|> hello<|1.00|>')}`,
      { cacheDir },
    );
    assert.notEqual(other, dir);
    await assert.rejects(resolveModel('synthetic:huge', { cacheDir }), /unknown synthetic model size/);
    await assert.rejects(
      resolveModel('synthetic:micro:loud', { cacheDir }),
      /unknown synthetic model option/,
    );
  });
});

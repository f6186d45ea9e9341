// Random synthetic models end their windows like a real Whisper (~3 tokens per second of audio), through their
// graph alone: the earshot decoder and an independent ORT greedy loop both see <|endoftext|> at that length.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveModel } from '../../../models/resolve.js';
import { SYNTH_GENERATOR_VERSION, synthesizeWhisper } from '../../../models/synth/index.js';
import { decodeWindows } from '../../../models/whisper/transcribe.js';
import { WhisperModel } from '../../../models/whisper/runtime.js';
import { speechFixture } from '../../helpers/audio.js';
import { synthModel } from '../../helpers/models.js';
import { greedy, loadSessions, readGeneration, tempDir } from './helpers.js';

const RATE = 16000;

describe('a random micro model ends its windows at a realistic length', () => {
  let dir: string;
  let model: WhisperModel;
  let speech: Float32Array;
  before(async () => {
    dir = await synthModel({ seed: 5 });
    model = await WhisperModel.load(dir);
    speech = speechFixture().samples;
  });
  after(() => model.release());

  const decode = async (audio: Float32Array, promptTokens?: number[]) => {
    const [r] = await decodeWindows(model, [{ audio, offset: 0, promptTokens }], {
      temperatures: [0],
      language: 'en',
    });
    return r.decode;
  };

  test('about 3 tokens per second of speech, on two lengths', async () => {
    const counts: number[] = [];
    for (const seconds of [3, 10]) {
      const r = await decode(speech.subarray(0, seconds * RATE));
      assert.ok(r.finished, `${seconds} s: ended on <|endoftext|>, not the token limit`);
      const n = r.tokens.length;
      assert.ok(n >= seconds && n <= 8 * seconds, `${seconds} s of speech gave ${n} tokens`);
      counts.push(n);
    }
    assert.ok(counts[1] > counts[0] + 10, `longer speech says more: ${counts.join(', ')}`);
  });

  test('a silent window ends at once', async () => {
    const r = await decode(new Float32Array(5 * RATE));
    assert.ok(r.finished);
    assert.ok(r.tokens.length <= 2, `silence gave ${r.tokens.length} tokens`);
  });

  test('a previous-text prompt does not count as decoded text', async () => {
    const audio = speech.subarray(0, 8 * RATE);
    const plain = await decode(audio);
    const prompt = Array.from({ length: 60 }, (_, i) => model.tokenizer.encode(' hello world')[i % 2]);
    const prompted = await decode(audio, prompt);
    assert.ok(prompted.finished);
    assert.ok(
      Math.abs(prompted.tokens.length - plain.tokens.length) <= 4,
      `${plain.tokens.length} tokens without a prompt, ${prompted.tokens.length} after 60 prompt tokens`,
    );
  });

  test('the end is in the model files: an independent ORT greedy loop ends there too', async (t) => {
    const s = await loadSessions(dir);
    t.after(() => s.release());
    const gen = readGeneration(dir);
    const hidden = await model.encode([model.features(speech.subarray(0, 6 * RATE))]);
    const prompt = [
      gen.decoder_start_token_id,
      gen.lang_to_id['<|en|>'],
      gen.task_to_id.transcribe,
      gen.no_timestamps_token_id,
    ];
    const tokens = await greedy(s, hidden, prompt, {
      maxNew: 100,
      eot: gen.eos_token_id,
      suppress: gen.suppress_tokens,
      beginSuppress: gen.begin_suppress_tokens,
    });
    assert.equal(tokens.at(-1), gen.eos_token_id, tokens.join(' '));
    assert.ok(tokens.length >= 6 && tokens.length <= 48, `6 s gave ${tokens.length} tokens`);
  });
});

test('scripted models keep their exact length (no pacing)', async (t) => {
  const dir = tempDir(t);
  // 3 s of audio, a script far longer than 3 tokens per second: it must still be said whole.
  const words = Array.from({ length: 10 }, () => 'hello world').join(' ');
  await synthesizeWhisper(dir, { size: 'micro', script: words });
  const model = await WhisperModel.load(dir);
  t.after(() => model.release());
  const [r] = await decodeWindows(
    model,
    [{ audio: speechFixture().samples.subarray(0, 3 * RATE), offset: 0 }],
    {
      temperatures: [0],
      language: 'en',
    },
  );
  const text = model.tokenizer.decode(r.decode.tokens.filter((id) => id < model.ids.eot));
  assert.equal(text.trim(), words);
});

test('a cached synthetic model built by an older generator is rebuilt', async (t) => {
  const cacheDir = tempDir(t, 'earshot-synth-cache-');
  const dir = await resolveModel('synthetic:micro', { cacheDir });
  const configPath = join(dir, 'config.json');
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as { earshot_synth: { generator?: number } };
  assert.equal(config.earshot_synth.generator, SYNTH_GENERATOR_VERSION);
  delete config.earshot_synth.generator;
  writeFileSync(configPath, JSON.stringify(config));
  const logs: string[] = [];
  assert.equal(await resolveModel('synthetic:micro', { cacheDir, log: (m) => logs.push(m) }), dir);
  assert.match(logs.join('\n'), /rebuilding synthetic micro model .* older generator/);
  const rebuilt = JSON.parse(readFileSync(configPath, 'utf8')) as typeof config;
  assert.equal(rebuilt.earshot_synth.generator, SYNTH_GENERATOR_VERSION);
  assert.deepEqual(await resolveModel('synthetic:micro', { cacheDir, log: (m) => logs.push(m) }), dir);
  assert.equal(logs.length, 1, 'a current cache is reused');
});

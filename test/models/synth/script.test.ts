// Scripted models say their script whatever the audio, with or without openai's timestamp rules.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthesizeWhisper } from '../../../models/synth/index.js';
import { SYNTH_WORDS } from '../../../models/synth/words.js';
import {
  argmax,
  decoderStep,
  emptyPast,
  encode,
  features,
  flag,
  greedy,
  ids,
  loadSessions,
  readConfig,
  readGeneration,
  type GenerationConfig,
  type GreedyOptions,
  type Sessions,
} from './helpers.js';

interface Built {
  s: Sessions;
  gen: GenerationConfig;
  tokens: number[];
  tsBegin: number;
  prompt(timestamps: boolean): number[];
  opts(rules: boolean): GreedyOptions;
}

async function build(dir: string, opts: Parameters<typeof synthesizeWhisper>[1]): Promise<Built> {
  await synthesizeWhisper(dir, opts);
  const gen = readGeneration(dir);
  const tsBegin = gen.no_timestamps_token_id + 1;
  return {
    s: await loadSessions(dir),
    gen,
    tokens: readConfig(dir).earshot_synth.script_tokens!,
    tsBegin,
    prompt(timestamps) {
      const p = gen.is_multilingual
        ? [gen.decoder_start_token_id, gen.lang_to_id['<|en|>'], gen.task_to_id.transcribe]
        : [gen.decoder_start_token_id];
      return timestamps ? p : [...p, gen.no_timestamps_token_id];
    },
    opts(rules) {
      return {
        maxNew: 100,
        eot: gen.eos_token_id,
        suppress: gen.suppress_tokens,
        beginSuppress: gen.begin_suppress_tokens,
        ...(rules ? { timestampBegin: tsBegin, maxInitialTimestamp: gen.max_initial_timestamp_index } : {}),
      };
    },
  };
}

describe('scripted models decoded by an independent greedy loop', () => {
  let root: string;
  let ts: Built;
  let text: Built;
  let en: Built;
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'earshot-synth-script-'));
    ts = await build(join(root, 'ts'), {
      size: 'micro',
      timestamped: true,
      script: '<|0.00|> Hello world.<|1.20|><|1.50|> Good morning, speaker two!<|3.00|>',
    });
    text = await build(join(root, 'text'), {
      size: 'micro',
      script: " It's easy to tell the depth of a well.",
    });
    en = await build(join(root, 'en'), {
      size: 'micro',
      multilingual: false,
      script: '<|0.00|> one two<|0.80|>',
    });
  });
  after(async () => {
    for (const b of [ts, text, en]) await b?.s.release();
    rmSync(root, { recursive: true, force: true });
  });

  test('a timestamped script comes out token for token, with and without the timestamp rules, for any audio', async () => {
    assert.equal(ts.tokens.filter((t) => t >= ts.tsBegin).length, 4);
    for (const seed of [1, 2]) {
      const enc = await encode(ts.s, features(80, seed));
      assert.deepEqual(await greedy(ts.s, enc, ts.prompt(true), ts.opts(true)), ts.tokens);
      assert.deepEqual(await greedy(ts.s, enc, ts.prompt(true), ts.opts(false)), ts.tokens);
    }
  });

  test('a timestamped script decoded with <|notimestamps|> still reads as the script text', async () => {
    const enc = await encode(ts.s, features());
    const got = await greedy(ts.s, enc, ts.prompt(false), ts.opts(false));
    const textOnly = (xs: number[]): number[] => xs.filter((t) => t < ts.tsBegin);
    assert.deepEqual(textOnly(got), textOnly(ts.tokens));
  });

  test('a plain script: exact without timestamps, opened by <|0.00|> with them', async () => {
    const enc = await encode(text.s, features());
    assert.ok(text.tokens.every((t) => t < text.tsBegin));
    assert.deepEqual(await greedy(text.s, enc, text.prompt(false), text.opts(false)), text.tokens);
    assert.deepEqual(await greedy(text.s, enc, text.prompt(true), text.opts(true)), [
      text.tsBegin,
      ...text.tokens,
    ]);
  });

  test('the English-only layout: the prompt is <|startoftranscript|> alone', async () => {
    const enc = await encode(en.s, features());
    assert.equal(en.prompt(true).length, 1);
    assert.deepEqual(await greedy(en.s, enc, en.prompt(true), en.opts(true)), en.tokens);
  });

  test('the no-speech probability at <|startoftranscript|> is low and <|en|> is the detected language', async () => {
    const enc = await encode(ts.s, features());
    const out = await ts.s.decoder.run({
      ...emptyPast(ts.s.decoder),
      input_ids: ids([ts.gen.decoder_start_token_id]),
      encoder_hidden_states: enc,
      use_cache_branch: flag(false),
    });
    const row = out.logits.data as Float32Array;
    const max = Math.max(...row);
    const sum = row.reduce((a, x) => a + Math.exp(x - max), 0);
    const noSpeech = ts.gen.no_timestamps_token_id - 1;
    assert.ok(Math.exp(row[noSpeech] - max) / sum < 0.01);
    const langIds = Object.values(ts.gen.lang_to_id);
    const best = langIds.reduce((a, b) => (row[b] > row[a] ? b : a));
    assert.equal(best, ts.gen.lang_to_id['<|en|>']);
  });
});

test('cross-attention of a timestamped scripted model peaks at the time of the token each position predicts', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-synth-script-align-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const script = '<|0.00|> hello world<|1.00|><|1.40|> The birch canoe slid on the smooth planks.<|4.20|>';
  const b = await build(dir, { size: 'micro', timestamped: true, script });
  try {
    const cfg = readConfig(dir);
    const times = cfg.earshot_synth.script_token_times!;
    // Text is spread evenly over its segment (centres); timestamps sit at their own time.
    assert.deepEqual(times.slice(0, 4), [0, 0.25, 0.75, 1]);
    assert.equal(times[times.length - 1], 4.2);
    const prompt = b.prompt(true);
    const out = await decoderStep(b.s, await encode(b.s, features()), [...prompt, ...b.tokens]);
    const heads = b.gen.alignment_heads;
    for (let j = 0; j < b.tokens.length; j++) {
      // Row p = prompt.length - 1 + j is the position that predicts script token j (openai's convention).
      const p = prompt.length - 1 + j;
      const avg = new Float32Array(1500);
      for (const [layer, head] of heads) {
        const ca = out[`cross_attentions.${layer}`];
        const [, , T, F] = ca.dims;
        const row = (ca.data as Float32Array).subarray((head * T + p) * F, (head * T + p + 1) * F);
        for (let f = 0; f < F; f++) avg[f] += row[f] / heads.length;
      }
      const want = times[j] / 0.02;
      assert.ok(Math.abs(argmax(avg) - want) <= 2, `token ${j}: peak at frame ${argmax(avg)}, want ${want}`);
      assert.ok(Math.min(...avg) > 0, 'no attention weight underflows to zero');
    }
  } finally {
    await b.s.release();
  }
});

test('a script filling the 448-position context is still said exactly by the micro model', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-synth-script-long-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const words = Array.from({ length: 440 }, (_, i) => SYNTH_WORDS[(i * 37) % SYNTH_WORDS.length]);
  const b = await build(dir, { size: 'micro', script: ` ${words.join(' ')}` });
  try {
    assert.equal(b.tokens.length, 441);
    const got = await greedy(b.s, await encode(b.s, features()), b.prompt(false), {
      ...b.opts(false),
      maxNew: 444,
    });
    assert.deepEqual(got, b.tokens);
  } finally {
    await b.s.release();
  }
});

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { env, AutoTokenizer, type PreTrainedTokenizer } from '@huggingface/transformers';
import { SynthError, synthesizeWhisper } from '../../../models/synth/index.js';
import { BpeTokenizer, buildVocab, tokenizeScript } from '../../../models/synth/vocab.js';
import { SYNTH_WORDS } from '../../../models/synth/words.js';

env.allowRemoteModels = false;

const STRINGS = [
  ' hello world',
  'hello world',
  ' Hello, world! How are you?',
  " It's the test, isn't it? We'll see; they've gone, I'm here.",
  ' one two three four five six seven eight nine ten',
  ' good morning speaker',
  ' The birch canoe slid on the smooth planks.',
  ' 12 2024 3.14159 1,000,000',
  '   leading and trailing   ',
  'line one\nline two\r\n',
  ' café über naïve',
  ' 你好，世界！',
  ' emoji 😀👍🏽',
  ' - dash, (parens) [brackets] "quotes" \'single\' ♪ la la ♪',
];

describe('synthetic byte-level BPE vocabulary', () => {
  let root: string;
  let tjs: PreTrainedTokenizer;
  const tok = new BpeTokenizer(buildVocab({ kind: 'small', multilingual: true, v3: false }));
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'earshot-synth-vocab-'));
    await synthesizeWhisper(root, { size: 'micro' });
    tjs = await AutoTokenizer.from_pretrained(root, { local_files_only: true });
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  test('our encoder and transformers.js (reading tokenizer.json) agree, and decoding round-trips', () => {
    for (const s of STRINGS) {
      const ours = tok.encode(s);
      assert.deepEqual(ours, tjs.encode(s, { add_special_tokens: false }), JSON.stringify(s));
      assert.equal(tok.decode(ours), s);
      // (tokenizer_config's clean_up_tokenization_spaces, as in the real files, would drop the space in " '".)
      assert.equal(tjs.decode(ours, { clean_up_tokenization_spaces: false }), s);
    }
  });

  test('every listed word (a few hundred, incl. the corpus words) is one token with its leading space', () => {
    assert.ok(SYNTH_WORDS.length >= 300, `${SYNTH_WORDS.length} words`);
    for (const w of SYNTH_WORDS) assert.equal(tok.encode(` ${w}`).length, 1, w);
    const counting = ' one two three four five six seven eight nine ten speaker good morning hello world';
    assert.equal(tok.encode(counting).length, 15);
    // Unknown words still encode (bytes and partial merges), just into more tokens.
    assert.ok(tok.encode(' xylophone').length > 1);
  });

  test('layout: 256 byte tokens first (space = 220), then merges, specials and 1501 timestamps', () => {
    const v = tok.vocab;
    assert.equal(v.tokens[220], 'Ġ');
    assert.equal(v.tokens[0], '!');
    assert.equal(v.eot, v.bpeCount);
    assert.equal(v.tokens[v.eot], '<|endoftext|>');
    assert.equal(v.tokens[v.sot + 1], '<|en|>');
    assert.equal(v.tokens[v.notimestamps], '<|notimestamps|>');
    assert.equal(v.tokens[v.nospeech], '<|nocaptions|>');
    assert.equal(v.tokens[v.timestampBegin], '<|0.00|>');
    assert.equal(v.tokens[v.size - 1], '<|30.00|>');
    assert.equal(v.size - v.timestampBegin, 1501);
    assert.equal(new Set(v.tokens).size, v.size, 'token strings are unique');
  });

  test('scripts tokenize with timestamps and are checked against the timestamp rules', () => {
    const v = tok.vocab;
    const s = tokenizeScript(tok, '<|0.00|> hello world<|1.00|>');
    assert.equal(s.timestamped, true);
    assert.deepEqual(s.tokens, [
      v.timestampBegin,
      ...tok.encode(' hello world'),
      v.timestampBegin + 50,
      v.eot,
    ]);
    assert.equal(tokenizeScript(tok, ' hello').timestamped, false);
    // Back-to-back timestamps between segments, and a segment starting where the last ended, are fine.
    tokenizeScript(tok, '<|0.00|> a<|1.00|><|1.00|> b<|2.00|>');
    const bad: [string, RegExp][] = [
      [' hello<|1.00|>', /must start with a timestamp/],
      ['<|2.00|> hello<|3.00|>', /at most <\|1.00\|>/],
      ['<|0.00|><|0.50|> hello', /three timestamps|segment has no text/],
      ['<|0.50|> hello<|0.50|>', /does not move forward/],
      ['<|0.00|> a<|2.00|><|1.00|> b', /does not move forward/],
      ['<|0.00|> a<|1.00|> b', /closing timestamp/],
      ['<|0.01|> hello', /0.02 s steps/],
      ['<|en|> hello', /not a timestamp/],
      ['<|0.00|><|1.00|>', /no text/],
      ['', /no text/],
    ];
    for (const [script, re] of bad) {
      assert.throws(
        () => tokenizeScript(tok, script),
        (e: unknown) => e instanceof SynthError && re.test(e.message),
        script,
      );
    }
  });

  test('invalid options are refused with a SynthError before anything is written', async () => {
    const dir = join(root, 'nothing');
    const cases: [Parameters<typeof synthesizeWhisper>[1], RegExp][] = [
      [{ size: 'huge' as never }, /unknown synthetic model size/],
      [{ size: 'micro', seed: -1 }, /seed/],
      [{ size: 'micro', dtypes: ['int4' as never] }, /dtype/],
      [{ size: 'micro', mels: 64 as never }, /mels/],
      [{ size: 'micro', script: ' word '.repeat(500) }, /shorten it/],
    ];
    for (const [opts, re] of cases) {
      await assert.rejects(
        synthesizeWhisper(dir, opts),
        (e: unknown) => e instanceof SynthError && re.test(e.message),
      );
      assert.ok(!existsSync(dir));
    }
  });
});

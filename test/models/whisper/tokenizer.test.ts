import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { env, AutoTokenizer, type PreTrainedTokenizer } from '@huggingface/transformers';
import { WhisperTokenizer, TokenizerError } from '../../../models/whisper/tokenizer.js';

const fixtureDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'tokenizer');
const fixturePath = join(fixtureDir, 'tokenizer.json');

const STRINGS = [
  ' hello world',
  'hello world',
  'Hello, world! How are you?',
  " it's the test, isn't it? We'll see; they've gone, I'm here, you'd know, she'll go.",
  "DON'T SHOUT'S 'quoted' ''",
  ' 12 2024 3.14159 1,000,000 007',
  '   leading and trailing spaces   ',
  'multiple    spaces\tand\ttabs',
  'line one\nline two\n\nline four\r\n',
  '\n\n\n',
  '  ',
  ' ',
  '',
  ' café über naïve résumé Ærøskøbing',
  ' 你好，世界！ 今日は良い天気ですね。',
  ' 안녕하세요 Привет мир',
  ' emoji 😀👍🏽 flags 🇫🇷 family 👨‍👩‍👧',
  '!!!???...---',
  '(parens) [brackets] {braces} <angles> @#$%^&*_+=|\\/~`',
  ' transcription testing speech Whisper there the and is it to of in',
  'a\u00a0b\u2003c\u3000d', // non-breaking and CJK spaces
  '\u0000\u0001\u007f control',
  '\ufeffbyte order mark at the start',
  'x'.repeat(300),
  ' tokens:<|notimestamps|> <|0.00|> are plain text to encode',
];

function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const POOL = Array.from(
  "abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789     \n\t.,!?'-\"()éüñßøÆ你好世界日本語한국어ДжЯ😀👍🚀\u00a0'sll're",
);

function randomText(rand: () => number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += POOL[Math.floor(rand() * POOL.length)];
  return s;
}

describe('WhisperTokenizer', () => {
  let tok: WhisperTokenizer;
  let hf: PreTrainedTokenizer;

  before(async () => {
    tok = WhisperTokenizer.fromFile(fixturePath);
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.useFSCache = false;
    env.localModelPath = dirname(fixtureDir) + '/';
    hf = await AutoTokenizer.from_pretrained('tokenizer', { local_files_only: true });
  });

  test('id layout follows the Whisper order', () => {
    assert.equal(tok.token(220), 'Ġ');
    assert.equal(tok.id('Ġ'), 220);
    const eot = tok.id('<|endoftext|>')!;
    const sot = tok.id('<|startoftranscript|>')!;
    const noTs = tok.id('<|notimestamps|>')!;
    assert.equal(sot, eot + 1);
    assert.equal(tok.id('<|en|>'), sot + 1);
    assert.equal(tok.id('<|0.00|>'), noTs + 1);
    assert.equal(tok.id('<|30.00|>'), noTs + 1501);
    assert.equal(tok.vocabSize, noTs + 1502);
    assert.equal(tok.token(noTs), '<|notimestamps|>');
    assert.equal(tok.token(tok.vocabSize), undefined);
    assert.equal(tok.id('no such token'), undefined);
  });

  test('specials are special, timestamps and text are not', () => {
    for (const t of [
      '<|endoftext|>',
      '<|startoftranscript|>',
      '<|en|>',
      '<|transcribe|>',
      '<|notimestamps|>',
    ]) {
      assert.equal(tok.isSpecial(tok.id(t)!), true, t);
    }
    assert.equal(tok.isSpecial(tok.id('<|0.00|>')!), false);
    assert.equal(tok.isSpecial(tok.id('<|30.00|>')!), false);
    assert.equal(tok.isSpecial(tok.id('Ġhello')!), false);
    assert.equal(tok.isSpecial(-1), false);
  });

  test('encode merges whole words', () => {
    assert.deepEqual(tok.encode(' hello world'), [tok.id('Ġhello'), tok.id('Ġworld')]);
    assert.deepEqual(tok.encode(' the'), [tok.id('Ġthe')]);
    assert.deepEqual(tok.encode(''), []);
  });

  test('encode matches transformers.js on fixed strings', () => {
    for (const s of STRINGS) {
      const expected = hf.encode(s, { add_special_tokens: false });
      // transformers.js parses added tokens in text; ours deliberately does not (prompt text only).
      if (s.includes('<|')) {
        assert.ok(!tok.encode(s).some((id) => tok.isSpecial(id) || id > tok.id('<|notimestamps|>')!));
        continue;
      }
      assert.deepEqual(tok.encode(s), expected, JSON.stringify(s));
    }
  });

  test('encode matches transformers.js on random text', () => {
    const rand = mulberry32(7);
    for (let i = 0; i < 400; i++) {
      const s = randomText(rand, 1 + Math.floor(rand() * 40));
      assert.deepEqual(tok.encode(s), hf.encode(s, { add_special_tokens: false }), JSON.stringify(s));
    }
  });

  test('decode(encode(s)) round-trips and matches transformers.js', () => {
    const rand = mulberry32(11);
    const all = [
      ...STRINGS.filter((s) => s.length > 0),
      ...Array.from({ length: 200 }, () => randomText(rand, 30)),
    ];
    for (const s of all) {
      const ids = tok.encode(s);
      assert.equal(tok.decode(ids), s, JSON.stringify(s));
      if (ids.length > 0)
        assert.equal(tok.decode(ids), hf.decode(ids, { clean_up_tokenization_spaces: false }));
    }
  });

  test('decode keeps specials and timestamps verbatim; skipSpecial drops only specials', () => {
    const ids = [
      tok.id('<|startoftranscript|>')!,
      tok.id('<|en|>')!,
      tok.id('<|transcribe|>')!,
      tok.id('<|0.00|>')!,
      ...tok.encode(' hello world'),
      tok.id('<|1.00|>')!,
      tok.id('<|endoftext|>')!,
    ];
    assert.equal(
      tok.decode(ids),
      '<|startoftranscript|><|en|><|transcribe|><|0.00|> hello world<|1.00|><|endoftext|>',
    );
    assert.equal(tok.decode(ids, { skipSpecial: true }), '<|0.00|> hello world<|1.00|>');
    const opts = { clean_up_tokenization_spaces: false };
    assert.equal(tok.decode(ids), hf.decode(ids, opts));
    assert.equal(
      tok.decode(ids, { skipSpecial: true }),
      hf.decode(ids, { ...opts, skip_special_tokens: true }),
    );
  });

  test('partial UTF-8 decodes to U+FFFD like transformers.js', () => {
    const emoji = tok.encode(' 😀'); // Ġ, (F0 9F), 98, 80
    assert.equal(emoji.length, 4);
    const half = emoji.slice(0, 2);
    assert.equal(tok.decode(half), ' \uFFFD');
    assert.equal(tok.decode(emoji.slice(2)), '\uFFFD\uFFFD');
    assert.equal(tok.decode(emoji), ' 😀');
    // An added token splits the byte stream: each side is decoded on its own.
    const split = [...half, tok.id('<|0.00|>')!, ...emoji.slice(2)];
    assert.equal(tok.decode(split), hf.decode(split, { clean_up_tokenization_spaces: false }));
    assert.equal(tok.decode(split), ' \uFFFD<|0.00|>\uFFFD\uFFFD');
    // é split in the middle: C3 then A9
    const e = [tok.id('Ã')!, tok.id('©')!];
    assert.equal(tok.decode([e[0]]), '\uFFFD');
    assert.equal(tok.decode(e), 'é');
  });

  test('decodeText holds a character split over tokens until it is whole, across timestamps too', () => {
    const emoji = tok.encode(' 😀'); // Ġ, (F0 9F), 98, 80
    assert.equal(tok.decodeText(emoji), ' 😀');
    const ts = tok.id('<|0.00|>')!;
    assert.equal(tok.decodeText([...emoji.slice(0, 2), ts, ...emoji.slice(2)]), ' 😀');
    const stream = tok.textStream();
    assert.deepEqual(
      emoji.map((t) => stream.push(t)),
      [' ', '', '', '😀'],
    );
    assert.equal(stream.end(), '');
    // An unfinished or invalid sequence is dropped, not turned into U+FFFD.
    assert.equal(tok.decodeText(emoji.slice(0, 3)), ' ');
    assert.equal(tok.decodeText([...emoji.slice(2), ...tok.encode(' ok')]), ' ok');
  });

  test('decodeText drops control characters; whitespace controls become a space', () => {
    const ids = tok.encode('\u0000\u0001a\u000eb\u007f\u0085c\nd\te\u009f');
    assert.equal(tok.decodeText(ids), 'ab c d e');
    for (const t of [0x00, 0x01, 0x0e, 0x1f, 0x7f]) {
      assert.equal(tok.decodeText(tok.encode(`x${String.fromCharCode(t)}y`)), 'xy', `U+${t.toString(16)}`);
    }
  });

  test('decodeText of random id sequences is valid text', () => {
    const rand = mulberry32(5);
    for (let i = 0; i < 300; i++) {
      const ids = Array.from({ length: 1 + Math.floor(rand() * 12) }, () => Math.floor(rand() * 344));
      const text = tok.decodeText(ids);
      assert.doesNotMatch(text, /[\p{Cc}\uFFFD]/u, JSON.stringify(ids));
      assert.doesNotMatch(text, /\p{Cs}/u, 'no lone surrogate');
      assert.equal(Buffer.from(text, 'utf8').toString('utf8'), text);
    }
  });

  test('decode of random id sequences matches transformers.js', () => {
    const rand = mulberry32(3);
    const noTs = tok.id('<|notimestamps|>')!;
    for (let i = 0; i < 300; i++) {
      const ids = Array.from({ length: 1 + Math.floor(rand() * 12) }, () =>
        // mostly text tokens (incl. single bytes that form invalid UTF-8), sometimes specials/timestamps
        rand() < 0.85 ? Math.floor(rand() * 344) : noTs - 15 + Math.floor(rand() * 30),
      );
      const opts = { clean_up_tokenization_spaces: false };
      assert.equal(tok.decode(ids), hf.decode(ids, opts), JSON.stringify(ids));
      assert.equal(
        tok.decode(ids, { skipSpecial: true }),
        hf.decode(ids, { ...opts, skip_special_tokens: true }),
        JSON.stringify(ids),
      );
    }
  });

  test('decode ignores ids outside the vocabulary', () => {
    assert.equal(tok.decode([tok.vocabSize + 5, ...tok.encode(' hello'), -1]), ' hello');
  });

  test('tokenBytes gives the raw bytes of each token', () => {
    for (const s of [' hello world', ' café 你好 😀', 'a\n\nb']) {
      const parts = tok.encode(s).map((id) => tok.tokenBytes(id));
      assert.deepEqual(Buffer.concat(parts), Buffer.from(s, 'utf8'));
    }
    assert.deepEqual([...tok.tokenBytes(220)], [0x20]);
    assert.deepEqual([...tok.tokenBytes(tok.id('ðŁ')!)], [0xf0, 0x9f]);
    assert.deepEqual(Buffer.from(tok.tokenBytes(tok.id('<|0.00|>')!)).toString(), '<|0.00|>');
    assert.equal(tok.tokenBytes(-3).length, 0);
  });

  test('merges given as [a, b] pairs behave like "a b" strings', () => {
    const json = JSON.parse(readFileSync(fixturePath, 'utf8')) as { model: { merges: string[] } };
    const pairs = json.model.merges.map((m) => m.split(' '));
    const alt = WhisperTokenizer.fromJSON({ ...json, model: { ...json.model, merges: pairs } });
    for (const s of STRINGS) assert.deepEqual(alt.encode(s), tok.encode(s));
  });

  test('merge rank order decides between competing merges', () => {
    // "ab" could merge as (a b) or (b c); the lower rank wins, as in HF.
    const vocab: Record<string, number> = { a: 0, b: 1, c: 2, ab: 3, bc: 4 };
    const first = WhisperTokenizer.fromJSON({ model: { type: 'BPE', vocab, merges: ['a b', 'b c'] } });
    const second = WhisperTokenizer.fromJSON({ model: { type: 'BPE', vocab, merges: ['b c', 'a b'] } });
    assert.deepEqual(first.encode('abc'), [3, 2]);
    assert.deepEqual(second.encode('abc'), [0, 4]);
    assert.equal(first.vocabSize, 5);
  });

  test('bad input gives a clear TokenizerError', () => {
    assert.throws(() => WhisperTokenizer.fromJSON({}), TokenizerError);
    assert.throws(
      () => WhisperTokenizer.fromJSON({ model: { type: 'WordPiece', vocab: {} } }),
      /unsupported tokenizer\.json: model\.type is WordPiece/,
    );
    assert.throws(
      () => WhisperTokenizer.fromFile('/nonexistent/tokenizer.json'),
      /cannot read tokenizer file/,
    );
  });
});

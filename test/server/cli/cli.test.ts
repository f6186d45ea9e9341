import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import wavefile from 'wavefile';
import { FIXTURES } from '../../helpers/audio.js';
import { synthModel } from '../../helpers/models.js';
import { runCli as run } from '../../helpers/cli.js';

const work = mkdtempSync(join(tmpdir(), 'earshot-cli-'));
function wav(seconds: number, rate = 16000): string {
  const path = join(work, `tone-${seconds}-${rate}.wav`);
  const w = new wavefile.WaveFile();
  const s = Int16Array.from({ length: Math.round(seconds * rate) }, (_, i) =>
    Math.round(8000 * Math.sin(i / 5)),
  );
  w.fromScratch(1, rate, '16', s);
  writeFileSync(path, w.toBuffer());
  return path;
}

describe('earshot transcribe', () => {
  let model: string;
  before(async () => {
    model = await synthModel({ script: '<|0.00|> hello world<|1.00|><|1.00|> good morning<|2.50|>' });
  });

  test('text, json, srt, vtt and verbose_json say the script with its timestamps', async () => {
    const file = wav(4);
    const text = await run(['transcribe', file, '--model', model, '--format', 'text', '--language', 'en']);
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stdout, 'hello world good morning\n');
    const json = await run(['transcribe', file, '--model', model, '--format', 'json', '--language', 'en']);
    assert.deepEqual(JSON.parse(json.stdout), { text: 'hello world good morning' });
    const srt = await run(['transcribe', file, '--model', model, '--format', 'srt', '--language', 'en']);
    assert.equal(
      srt.stdout,
      '1\n00:00:00,000 --> 00:00:01,000\nhello world\n\n2\n00:00:01,000 --> 00:00:02,500\ngood morning\n',
    );
    const vtt = await run(['transcribe', file, '--model', model, '--format', 'vtt', '--language', 'en']);
    assert.match(
      vtt.stdout,
      /^WEBVTT\n\n00:00:00\.000 --> 00:00:01\.000\nhello world\n\n00:00:01\.000 --> 00:00:02\.500\ngood morning\n$/,
    );
    const verbose = await run([
      'transcribe',
      file,
      '--model',
      model,
      '--format',
      'verbose_json',
      '--word-timestamps',
    ]);
    const v = JSON.parse(verbose.stdout) as {
      duration: number;
      segments: unknown[];
      words: { word: string }[];
    };
    assert.equal(v.duration, 4);
    assert.equal(v.segments.length, 2);
    assert.deepEqual(
      v.words.map((w) => w.word),
      ['hello', 'world', 'good', 'morning'],
    );
  });

  test('several files, other sample rates', async () => {
    const r = await run(['transcribe', wav(3, 8000), wav(3, 44100), '--model', model, '--language', 'en']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.match(/hello world good morning/g)?.length, 2);
    assert.equal(r.stdout.match(/^==> /gm)?.length, 2);
  });

  const malformed = readdirSync(join(FIXTURES, 'audio/malformed'));
  for (const name of malformed) {
    test(`malformed ${name}: exit 2 with one clear line`, async () => {
      const r = await run(['transcribe', join(FIXTURES, 'audio/malformed', name), '--model', model]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, '');
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], /^earshot: .{20,}/);
      assert.doesNotMatch(lines[0], /at .*\.ts:\d+/, 'no stack trace');
    });
  }

  const usage: [string[], RegExp][] = [
    [['transcribe'], /at least one FILE/],
    [['transcribe', 'x.wav', '--format', 'docx'], /--format must be one of/],
    [['transcribe', 'x.wav', '--bogus'], /^earshot: unknown option '--bogus' \(earshot transcribe --help\)$/],
    [['transcribe', 'x.wav', '--dtype', 'q3'], /--dtype q3/],
    [['transcribe', 'x.wav', '--device', 'tpu'], /--device must be cpu or cuda/],
    [['models', 'synth', 'huge', '--out', '/tmp/x'], /micro, tiny, base or small/],
    [['models', 'synth', 'micro'], /--out DIR/],
    [['models', 'frobnicate'], /unknown command 'frobnicate' \(earshot models --help\)/],
    [['launch'], /unknown command/],
  ];
  for (const [args, message] of usage) {
    test(`usage error: ${args.join(' ')}`, async () => {
      const r = await run(args);
      assert.equal(r.code, 2);
      assert.match(r.stderr.trim(), message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    });
  }

  test('an unknown --language: exit 2, one line naming the languages the model knows', async () => {
    const r = await run(['transcribe', wav(1), '--model', model, '--language', 'zz']);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(
      r.stderr,
      /^earshot: --language zz: not a language of this model; use en, zh, de, .* or auto\n$/,
    );
  });

  test('out-of-range numbers: one line, exit 2', async () => {
    for (const [flag, value, message] of [
      ['--batch-size', '0', /^earshot: --batch-size: 0 is outside 1\.\.64\n$/],
      ['--batch-size', '-1', /^earshot: --batch-size: -1 is outside 1\.\.64\n$/],
      ['--threads', '-2', /^earshot: --threads: -2 is outside 0\.\.256\n$/],
      ['--threads', 'many', /^earshot: --threads: expected an integer from 0 to 256, got "many"\n$/],
      [
        '--vad-model',
        'v7',
        /^earshot: --vad-model: "v7" is not v4, v5, v6 or an existing Silero ONNX file\n$/,
      ],
    ] as const) {
      const r = await run(['transcribe', wav(1), '--model', model, flag, value]);
      assert.equal(r.code, 2, `${flag} ${value}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });

  test('--diarize labels the transcript (json: a speaker on every segment)', async () => {
    const r = await run(['transcribe', wav(1), '--model', model, '--diarize', '--format', 'verbose_json']);
    assert.equal(r.code, 0, r.stderr);
    const segments = (JSON.parse(r.stdout) as { segments: { speaker?: unknown }[] }).segments;
    assert.ok(segments.length > 0 && segments.every((s) => s.speaker !== undefined), r.stdout);
  });

  test('without --model: synthetic:tiny, with the SYNTHETIC warning; models list shows the built model', async () => {
    // A micro model where the cache keeps synthetic:tiny stands in for it (building tiny takes a while).
    const cache = mkdtempSync(join(tmpdir(), 'earshot-cache-'));
    const empty = await run(['models', 'list'], { EARSHOT_CACHE_DIR: cache });
    assert.equal(empty.code, 0);
    assert.match(empty.stdout, /^no models in /);
    cpSync(model, join(cache, 'synthetic', 'tiny-fp32'), { recursive: true });
    const r = await run(['transcribe', wav(3), '--language', 'en'], { EARSHOT_CACHE_DIR: cache });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello world good morning\n');
    assert.match(
      r.stderr,
      /^earshot: warning: synthetic:tiny is a SYNTHETIC model with random weights, its transcripts are meaningless; pass --model tiny.en/m,
    );
    const list = await run(['models', 'list'], { EARSHOT_CACHE_DIR: cache });
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^synthetic:tiny\tfp32\t[\d.]+ MB\tcomplete\t.*tiny-fp32\n$/);
  });

  test('--task translate: the translation, as verbose_json says; --task dance and English-only models: exit 2', async () => {
    const file = wav(3);
    const t = await run([
      'transcribe',
      file,
      '--model',
      model,
      '--task',
      'translate',
      '--format',
      'verbose_json',
    ]);
    assert.equal(t.code, 0, t.stderr);
    const v = JSON.parse(t.stdout) as { task: string; language: string; text: string };
    assert.deepEqual([v.task, v.language, v.text], ['translate', 'en', 'hello world good morning']);
    const plain = await run(['transcribe', file, '--model', model, '--format', 'verbose_json']);
    assert.equal((JSON.parse(plain.stdout) as { task: string }).task, 'transcribe');
    const dance = await run(['transcribe', file, '--model', model, '--task', 'dance']);
    assert.equal(dance.code, 2);
    assert.equal(dance.stderr, 'earshot: task must be transcribe or translate, got "dance"\n');
    const english = await synthModel({ multilingual: false });
    const en = await run(['transcribe', file, '--model', english, '--task', 'translate']);
    assert.equal(en.code, 2, en.stderr);
    assert.equal(en.stdout, '');
    assert.match(
      en.stderr,
      new RegExp(`^earshot: the model ${english} is English-only and cannot translate`),
    );
  });

  test('a file that does not exist', async () => {
    const r = await run(['transcribe', join(work, 'missing.wav'), '--model', model]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /missing\.wav/);
  });

  test('a model that cannot be loaded: exit 1, one line saying what to do', async () => {
    const r = await run(['transcribe', wav(1), '--model', join(work, 'no-model')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr.trim(), /^earshot: model directory .* does not exist/);
  });
});

describe('every command has its own --help', () => {
  const helps: [string[], string][] = [
    [['--help'], 'earshot'],
    [['serve', '--help'], 'earshot serve'],
    [['transcribe', '--help'], 'earshot transcribe'],
    [['help', 'transcribe'], 'earshot transcribe'],
    [['models', '--help'], 'earshot models'],
    [['models', 'pull', '--help'], 'earshot models pull'],
    [['models', 'list', '--help'], 'earshot models list'],
    [['models', 'synth', '--help'], 'earshot models synth'],
  ];
  for (const [args, usage] of helps) {
    test(args.join(' '), async () => {
      const r = await run(args);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.startsWith(`Usage: ${usage} [options]`), r.stdout);
      assert.match(r.stdout, /-h, --help/);
    });
  }
  test('transcribe --help shows the defaults', async () => {
    const r = await run(['transcribe', '--help']);
    assert.match(r.stdout.replace(/\s+/g, ' '), /--batch-size <n> .*\(1\.\.64\) \(default: "1"\)/);
  });
});

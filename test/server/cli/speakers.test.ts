/**
 * `earshot speakers embed|compare` as a user runs them, with the built-in embedding, a generated ONNX model given as
 * a file, and trained models by name fetched from a local fake hub into the cache (`models pull` / `models list`).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadAudioFile } from '../../../audio/load.js';
import { BuiltinEmbedder } from '../../../models/speaker/builtin.js';
import { loadSpeakerClip } from '../../../models/speaker/clip.js';
import { cosine } from '../../../models/speaker/embedding.js';
import { SPEAKER_MODELS } from '../../../models/speaker/hub-models.js';
import { loadOnnxEmbedder } from '../../../models/speaker/onnx.js';
import { encode, wav16, wavHeader } from '../../helpers/audio.js';
import { runCli } from '../../helpers/cli.js';
import { FakeHub } from '../../helpers/fake-hub.js';
import { writeSpeakerModel } from '../../helpers/speaker-model.js';

const FIXTURE = fileURLToPath(new URL('../../fixtures/speaker/librispeech-two-men.wav', import.meta.url));
const SR = 16000;
const work = mkdtempSync(join(tmpdir(), 'earshot-speakers-'));
const cache = join(work, 'cache');
// No hub and no user cache unless a test sets them: a name must never reach the real hub from a test.
const env = { EARSHOT_CACHE_DIR: cache, HF_ENDPOINT: 'http://127.0.0.1:9', EARSHOT_SPEAKER_MODEL: '' };
const run = (args: string[], extra: NodeJS.ProcessEnv = {}) => runCli(args, { ...env, ...extra });

interface Embedded {
  file: string;
  model: string;
  dim: number;
  vector: number[];
}
const jsonLines = (stdout: string): Embedded[] =>
  stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Embedded);

let readerA1: string;
let readerA2: string;
let readerB: string;
let model: string;

before(async () => {
  // librispeech-two-men.wav: reader A for 4 s, then reader B for 4 s.
  const audio = (await loadAudioFile(FIXTURE)).samples16k;
  const save = (name: string, from: number, to: number): string => {
    const path = join(work, name);
    writeFileSync(path, wav16(audio.subarray(from * SR, to * SR)));
    return path;
  };
  readerA1 = save('a1.wav', 0, 2);
  readerA2 = save('a2.wav', 2, 4);
  readerB = save('b.wav', 4, 8);
  model = join(work, 'wespeaker.onnx');
  writeSpeakerModel(model, { kind: 'wespeaker', channels: 32, dim: 48 });
});
after(() => rmSync(work, { recursive: true, force: true }));

describe('earshot speakers embed', () => {
  test("prints each file's embedding as the library computes it: text and JSON, one line a file", async () => {
    const json = await run([
      'speakers',
      'embed',
      readerA1,
      readerB,
      '--speaker-model',
      model,
      '--format',
      'json',
    ]);
    assert.equal(json.code, 0, json.stderr);
    const rows = jsonLines(json.stdout);
    assert.deepEqual(
      rows.map((r) => [r.file, r.model, r.dim, r.vector.length]),
      [
        [readerA1, model, 48, 48],
        [readerB, model, 48, 48],
      ],
    );
    const e = await loadOnnxEmbedder(model);
    try {
      for (const r of rows) {
        const [expected] = await e.embed([await loadSpeakerClip(r.file)]);
        r.vector.forEach((x, d) => assert.ok(Math.abs(x - expected[d]) < 1e-5, `${r.file} dim ${d}`));
      }
    } finally {
      await e.release();
    }
    const text = await run(['speakers', 'embed', readerA1, '--speaker-model', model]);
    assert.equal(text.code, 0, text.stderr);
    const [file, name, dim, vector] = text.stdout.trimEnd().split('\t');
    assert.deepEqual([file, name, dim], [readerA1, model, '48']);
    assert.deepEqual(vector.split(' ').map(Number), rows[0].vector);
  });

  test('without --speaker-model: the built-in embedding, unit length', async () => {
    const r = await run(['speakers', 'embed', readerB, '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const [row] = jsonLines(r.stdout);
    assert.equal(row.model, 'builtin');
    assert.equal(row.dim, row.vector.length);
    assert.ok(Math.abs(Math.hypot(...row.vector) - 1) < 1e-3);
  });

  test('bad input: a clear error naming the file, exit 2; a model that cannot be had: exit 1', async () => {
    const notAudio = join(work, 'notes.wav');
    writeFileSync(notAudio, 'these are notes, not audio\n'.repeat(20));
    const silence = join(work, 'silence.wav');
    const pcm = encode(new Float32Array(SR), 'linear16');
    writeFileSync(silence, Buffer.concat([wavHeader(pcm.length), pcm]));
    const short = join(work, 'short.wav');
    writeFileSync(short, wav16((await loadAudioFile(readerA1)).samples16k.subarray(0, 3200)));
    const refused = join(work, 'refused.onnx');
    writeSpeakerModel(refused, { channels: 8, dim: 16, metadata: { framework: 'pyannote' } });
    const cases: [string[], number, RegExp][] = [
      [['embed', join(work, 'missing.wav')], 2, /missing\.wav: no such file/],
      [['embed', readerA1, notAudio], 2, /notes\.wav: /],
      [['embed', silence], 2, /silence\.wav is digital silence: no voice to embed/],
      [['embed', short], 2, /short\.wav holds 0\.20 s of audio; a speaker embedding needs at least 0\.3 s/],
      [['embed', readerA1, '--format', 'xml'], 2, /--format must be one of text, json/],
      [['compare', readerA1], 2, /missing required argument 'b'/],
      [
        ['embed', readerA1, '--speaker-model', 'no-such-model'],
        1,
        /unknown speaker model "no-such-model": use one of .*campplus/,
      ],
      [
        ['embed', readerA1, '--speaker-model', join(work, 'nope.onnx')],
        1,
        /nope\.onnx: no such file or directory/,
      ],
      [['embed', readerA1, '--speaker-model', refused], 1, /framework="pyannote"/],
    ];
    for (const [args, code, message] of cases) {
      const r = await run(['speakers', ...args]);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
      assert.equal(r.stdout, '');
    }
  });
});

describe('earshot speakers compare', () => {
  test("similarity is the cosine of the two embeddings; the verdict is the embedder's own threshold", async () => {
    const embed = async (file: string): Promise<number[]> =>
      jsonLines((await run(['speakers', 'embed', file, '--format', 'json'])).stdout)[0].vector;
    const [a1, a2, b] = await Promise.all([embed(readerA1), embed(readerA2), embed(readerB)]);
    const threshold = new BuiltinEmbedder().sameSpeakerThreshold;
    const results = [];
    for (const [x, y, ex, ey] of [
      [readerA1, readerA2, a1, a2],
      [readerA1, readerB, a1, b],
    ] as const) {
      const r = await run(['speakers', 'compare', x, y, '--format', 'json']);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { similarity: number; threshold: number; same_speaker: boolean };
      const expected = cosine(Float32Array.from(ex), Float32Array.from(ey));
      assert.ok(Math.abs(out.similarity - expected) < 1e-3, `${out.similarity} vs ${expected}`);
      assert.equal(out.threshold, threshold);
      assert.equal(out.same_speaker, out.similarity >= threshold);
      results.push(out.similarity);
    }
    assert.ok(results[0] > results[1], `one reader ${results[0]} vs two readers ${results[1]}`);
    const text = await run(['speakers', 'compare', readerA1, readerB, '--speaker-model', model]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(
      text.stdout,
      /^similarity\t-?\d\.\d{4}\nthreshold\t0\.5 \(.*wespeaker\.onnx: the same-speaker threshold diarization uses\)\nverdict\t(same speaker|different speakers) \(a1\.wav, b\.wav\)\n$/,
    );
  });
});

describe('speaker models by name (fake hub)', () => {
  const MAIN = 'c'.repeat(40);
  let hub: FakeHub;
  const byName = (name: string) => SPEAKER_MODELS.find((m) => m.name === name)!;
  const campplus = byName('campplus');
  const titanet = byName('titanet-small');
  before(async () => {
    const files = (kind: '3d-speaker' | 'nemo', dim: number): Buffer => {
      const path = join(work, `${kind}-${dim}.onnx`);
      writeSpeakerModel(path, { kind, channels: 16, dim });
      return readFileSync(path);
    };
    assert.equal(campplus.repo, titanet.repo, 'both in the sherpa-onnx export repo');
    hub = new FakeHub(
      new Map([
        [
          campplus.repo,
          {
            revisions: { main: MAIN },
            files: new Map([
              [campplus.file, files('3d-speaker', 40)],
              [titanet.file, files('nemo', 24)],
            ]),
          },
        ],
      ]),
    );
    await hub.start();
  });
  after(() => hub.stop());

  test('--speaker-model NAME fetches the file into the hub cache once; models pull and list know it', async () => {
    const online = { HF_ENDPOINT: hub.endpoint };
    const r = await run(
      ['speakers', 'embed', readerA1, '--speaker-model', 'campplus', '--format', 'json'],
      online,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(jsonLines(r.stdout)[0].dim, 40);
    const cached = join(
      cache,
      'hub',
      `models--${campplus.repo.replace('/', '--')}`,
      'snapshots',
      MAIN,
      campplus.file,
    );
    assert.ok(existsSync(cached));
    // Cached: offline works, and the hub sees no request.
    hub.reset();
    const offline = await run(['speakers', 'embed', readerA1, '--speaker-model', 'campplus'], {
      HF_HUB_OFFLINE: '1',
    });
    assert.equal(offline.code, 0, offline.stderr);
    assert.equal(hub.log.length, 0);
    const pulled = await run(['models', 'pull', 'titanet-small'], online);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(
      pulled.stdout.trim(),
      join(cache, 'hub', `models--${titanet.repo.replace('/', '--')}`, 'snapshots', MAIN, titanet.file),
    );
    const list = await run(['models', 'list']);
    assert.equal(list.code, 0, list.stderr);
    const rows = list.stdout
      .trim()
      .split('\n')
      .map((l) => l.split('\t'));
    for (const m of [campplus, titanet]) {
      const row = rows.find((x) => x[0] === m.name);
      assert.ok(row, `${m.name} in ${list.stdout}`);
      assert.equal(row[1], 'main');
      assert.equal(row[3], 'complete');
    }
    const nemo = await run(
      ['speakers', 'embed', readerB, '--speaker-model', 'titanet-small', '--format', 'json'],
      { HF_HUB_OFFLINE: '1' },
    );
    assert.equal(nemo.code, 0, nemo.stderr);
    assert.equal(jsonLines(nemo.stdout)[0].dim, 24);
    // Not cached and offline: one line saying what is missing; a name the hub lacks: 404 named.
    const eres = await run(['speakers', 'embed', readerA1, '--speaker-model', 'eres2net'], {
      HF_HUB_OFFLINE: '1',
    });
    assert.equal(eres.code, 1);
    assert.match(
      eres.stderr,
      /offline \(HF_HUB_OFFLINE\) and csukuangfj\/speaker-embedding-models\/3dspeaker_speech_eres2net_sv_en_voxceleb_16k\.onnx/,
    );
    const missing = await run(['models', 'pull', 'eres2net'], online);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no such model\/file: .*eres2net_sv_en_voxceleb_16k\.onnx/);
  });
});

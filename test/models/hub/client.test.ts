import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import {
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  readlink,
  realpath,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { defaultCacheDir, hubCacheDir, modelCacheDir } from '../../../models/hub/cache.js';
import { HubError, pullFile, type HubOptions } from '../../../models/hub/client.js';
import {
  filesForDtype,
  listCachedModels,
  pullModel,
  repoForModelName,
} from '../../../models/whisper/hub-files.js';
import { progressBar } from '../../../models/hub/progress.js';
import { resolveSpeakerModel } from '../../../models/resolve.js';
import { FakeHub, bytes, gitOid, isLfs, sha256, type FakeRepo } from '../../helpers/fake-hub.js';

const REPO = 'test-org/whisper-fake';
const EXT_REPO = 'test-org/whisper-external';
const MAIN = 'a'.repeat(40);
const PR1 = 'b'.repeat(40);
const SPEAKER_REPO = 'test-org/speaker-models';

function sideFiles(extraConfig: object = {}): [string, Buffer][] {
  return [
    ['config.json', Buffer.from(JSON.stringify({ model_type: 'whisper', d_model: 64, ...extraConfig }))],
    ['generation_config.json', Buffer.from('{"no_timestamps_token_id": 50363}')],
    ['preprocessor_config.json', Buffer.from('{"feature_size": 80}')],
    ['tokenizer.json', bytes(1, 20_000)],
    ['tokenizer_config.json', Buffer.from('{"tokenizer_class": "WhisperTokenizer"}')],
  ];
}

const REPO_FILES = new Map([
  ...sideFiles(),
  ['onnx/encoder_model.onnx', bytes(2, 300_000)],
  ['onnx/decoder_model_merged.onnx', bytes(3, 400_000)],
  ['onnx/encoder_model_quantized.onnx', bytes(4, 90_000)],
  ['onnx/decoder_model_merged_quantized.onnx', bytes(5, 110_000)],
]);

const REPOS = new Map<string, FakeRepo>([
  [
    REPO,
    {
      revisions: { main: MAIN, 'refs/pr/1': PR1 },
      files: REPO_FILES,
    },
  ],
  [
    EXT_REPO,
    {
      revisions: { main: MAIN },
      files: new Map([
        ...sideFiles({ 'transformers.js_config': { use_external_data_format: { 'encoder_model.onnx': 2 } } }),
        ['onnx/encoder_model.onnx', bytes(6, 1000)],
        ['onnx/encoder_model.onnx_data', bytes(7, 50_000)],
        ['onnx/encoder_model.onnx_data_1', bytes(8, 30_000)],
        ['onnx/decoder_model_merged.onnx', bytes(9, 2000)],
      ]),
    },
  ],
  ['test-org/whisper-gated', { revisions: { main: MAIN }, files: REPO_FILES, gated: true }],
  [
    SPEAKER_REPO,
    {
      revisions: { main: MAIN },
      files: new Map([
        ['README.md', Buffer.from('speaker models')],
        ['onnx/campplus.onnx', bytes(12, 40_000)],
        ['wespeaker.onnx', bytes(13, 7_000)],
      ]),
    },
  ],
]);

const FP32_FILES = filesForDtype('fp32');
const fileOf = (repo: string, path: string): Buffer => REPOS.get(repo)!.files.get(path)!;

async function assertSameFiles(dir: string, repo: string, files: string[]): Promise<void> {
  for (const f of files) assert.ok((await readFile(join(dir, f))).equals(fileOf(repo, f)), `${f} differs`);
}

/** A fetch that counts its calls, to prove that a pull made none. */
function countingFetch(): { fetchImpl: typeof fetch; calls: () => number } {
  let n = 0;
  return {
    fetchImpl: (...args) => {
      n++;
      return fetch(...args);
    },
    calls: () => n,
  };
}

async function stoppedEndpoint(): Promise<string> {
  const gone = new FakeHub(REPOS);
  await gone.start();
  await gone.stop(); // nothing listens there any more
  return gone.endpoint;
}

const ENV = [
  'HF_TOKEN',
  'HUGGING_FACE_HUB_TOKEN',
  'HF_ENDPOINT',
  'HF_HUB_OFFLINE',
  'HF_HUB_CACHE',
  'HF_HOME',
];
const ENV_CACHE = ['EARSHOT_CACHE_DIR', 'XDG_CACHE_HOME', 'HUGGINGFACE_HUB_CACHE'];

describe('hub client', () => {
  const hub = new FakeHub(REPOS);
  let cacheDir: string;
  let opts: HubOptions;
  const savedEnv = { ...process.env };

  before(async () => {
    await hub.start();
    for (const k of [...ENV, ...ENV_CACHE]) delete process.env[k];
  });
  after(async () => {
    await hub.stop();
    process.env = savedEnv;
  });
  beforeEach(async () => {
    hub.reset();
    for (const k of ENV) delete process.env[k];
    cacheDir = await mkdtemp(join(tmpdir(), 'earshot-hub-'));
    opts = { endpoint: hub.endpoint, cacheDir };
  });

  test('a pull into an empty cache writes the standard hub layout, byte-identical, quietly', async (t) => {
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    const saved = console.debug;
    let debugCalls = 0;
    const spy = (): void => void debugCalls++;
    console.debug = spy;
    t.after(() => (console.debug = saved));
    const dir = await pullModel(REPO, opts);
    const storage = join(cacheDir, 'hub', 'models--test-org--whisper-fake');
    assert.equal(modelCacheDir(REPO, cacheDir), storage);
    assert.equal(dir, join(storage, 'snapshots', MAIN));
    await assertSameFiles(dir, REPO, FP32_FILES);
    assert.equal(await readFile(join(storage, 'refs', 'main'), 'utf8'), MAIN);
    // Snapshot entries are relative symlinks into blobs/, named by LFS sha256 or git oid as Python does.
    const enc = fileOf(REPO, 'onnx/encoder_model.onnx');
    assert.equal(
      await readlink(join(dir, 'onnx', 'encoder_model.onnx')),
      relative(join(dir, 'onnx'), join(storage, 'blobs', sha256(enc))),
    );
    const tok = fileOf(REPO, 'tokenizer.json');
    assert.equal(await readlink(join(dir, 'tokenizer.json')), join('..', '..', 'blobs', gitOid(tok)));
    assert.equal((await readdir(join(storage, 'blobs'))).length, FP32_FILES.length, 'no .incomplete left');
    assert.ok(!existsSync(join(dir, 'onnx', 'encoder_model_quantized.onnx')), 'only the fp32 files');
    assert.ok(hub.log.some((l) => l.method === 'POST' && l.url.includes('/paths-info/')));
    assert.ok(hub.downloads('onnx/encoder_model.onnx').every((l) => l.url.startsWith('/cdn/')));
    assert.equal(console.debug, spy, 'console.debug is restored');
    assert.equal(debugCalls, 0, 'the library console.debug is silenced');
  });

  test('downloads at once: two repos, and the same repo twice, each byte-identical, each blob fetched once', async (t) => {
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    const saved = console.debug;
    t.after(() => (console.debug = saved));
    const [a, b, c] = await Promise.all([
      pullModel(REPO, opts),
      pullModel(EXT_REPO, opts),
      pullModel(REPO, opts),
    ]);
    await assertSameFiles(a, REPO, FP32_FILES);
    assert.equal(c, a);
    await assertSameFiles(b, EXT_REPO, [
      ...FP32_FILES,
      'onnx/encoder_model.onnx_data',
      'onnx/encoder_model.onnx_data_1',
    ]);
    for (const file of FP32_FILES) {
      assert.equal(hub.downloads(file).filter((l) => l.url.includes('whisper-fake')).length, 1, file);
    }
    assert.equal(console.debug, saved, 'nothing global was swapped');
  });

  test('a second pull with the hub stopped makes no request', async (t) => {
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    const dir = await pullModel(REPO, { ...opts, dtype: 'q8' });
    const endpoint = await stoppedEndpoint();
    const { fetchImpl, calls } = countingFetch();
    assert.equal(await pullModel(REPO, { endpoint, cacheDir, dtype: 'q8', fetchImpl }), dir);
    assert.equal(calls(), 0);
    // A different dtype is not cached: now the network is needed, and its absence is reported clearly.
    await assert.rejects(pullModel(REPO, { endpoint, cacheDir, dtype: 'fp32', fetchImpl }), (e: unknown) => {
      assert.ok(e instanceof HubError);
      assert.match(e.message, /^could not reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
      assert.match(e.message, /offline\? pass --model DIR with a local model, or --model synthetic:tiny/);
      return true;
    });
    assert.ok(calls() > 0);
  });

  test('a cache laid out by Python huggingface_hub (HF_HUB_CACHE) is used offline', async (t) => {
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    // As Python writes it: blobs named by hash, snapshots/<commit>/ of relative symlinks, refs/main.
    const storage = join(cacheDir, 'py-cache', 'models--test-org--whisper-fake');
    for (const path of filesForDtype('q8')) {
      const data = fileOf(REPO, path);
      const blob = join(storage, 'blobs', isLfs(path) ? sha256(data) : gitOid(data));
      const link = join(storage, 'snapshots', MAIN, path);
      await mkdir(dirname(blob), { recursive: true });
      await mkdir(dirname(link), { recursive: true });
      await writeFile(blob, data);
      await symlink(relative(dirname(link), blob), link);
    }
    await mkdir(join(storage, 'refs'));
    await writeFile(join(storage, 'refs', 'main'), MAIN);
    // A Python-only model of another kind in the same cache is not listed.
    await mkdir(join(cacheDir, 'py-cache', 'models--org--bert', 'snapshots', MAIN), { recursive: true });
    await writeFile(join(cacheDir, 'py-cache', 'models--org--bert', 'snapshots', MAIN, 'config.json'), '{}');

    process.env.HF_HUB_CACHE = join(cacheDir, 'py-cache');
    process.env.HF_HUB_OFFLINE = '1';
    const { fetchImpl, calls } = countingFetch();
    const dir = await pullModel(REPO, { endpoint: await stoppedEndpoint(), dtype: 'q8', fetchImpl });
    assert.equal(dir, join(storage, 'snapshots', MAIN));
    assert.equal(calls(), 0);
    assert.deepEqual(
      (await listCachedModels()).map((m) => [m.repo, m.revision, m.complete, m.dir]),
      [[REPO, 'main', true, dir]],
    );
  });

  test('HF_HUB_OFFLINE with a missing file fails in one line naming it, with no request', async (t) => {
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    await pullModel(REPO, opts);
    process.env.HF_HUB_OFFLINE = '1';
    const { fetchImpl, calls } = countingFetch();
    await assert.rejects(pullModel(REPO, { ...opts, dtype: 'q8', fetchImpl }), (e: unknown) => {
      assert.ok(e instanceof HubError);
      assert.match(e.message, /^offline \(HF_HUB_OFFLINE\) and test-org\/whisper-fake \(revision main, q8\)/);
      assert.match(
        e.message,
        /missing onnx\/encoder_model_quantized\.onnx, onnx\/decoder_model_merged_quantized/,
      );
      assert.match(e.message, /earshot models pull test-org\/whisper-fake --dtype q8/);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
    await assert.rejects(pullModel(EXT_REPO, { ...opts, fetchImpl }), /missing refs\/main/);
    assert.equal(calls(), 0);
  });

  test('HF_TOKEN is sent as Bearer; 401 and gated repos say what to do', async (t) => {
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    hub.reset({ requireToken: 'hf_secret' });
    await assert.rejects(pullModel(REPO, opts), (e: unknown) => {
      assert.ok(e instanceof HubError);
      assert.equal(e.status, 401);
      assert.match(e.message, /^access denied \(HTTP 401\) .*; set HF_TOKEN$/);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
    await assert.rejects(pullModel(REPO, { ...opts, token: 'hf_wrong' }), /HF_TOKEN was rejected/);
    await assert.rejects(pullModel(REPO, { ...opts, token: 'wrong' }), /HF_TOKEN does not look like/);

    process.env.HF_TOKEN = 'hf_secret';
    hub.log = [];
    await pullModel(REPO, opts);
    const hubRequests = hub.log.filter((l) => !l.url.startsWith('/cdn/'));
    assert.ok(hubRequests.length >= FP32_FILES.length);
    assert.ok(hubRequests.every((l) => l.auth === 'Bearer hf_secret'));

    await assert.rejects(pullModel('test-org/whisper-gated', opts), (e: unknown) => {
      assert.ok(e instanceof HubError);
      assert.equal(
        e.message,
        'test-org/whisper-gated is gated: accept its terms on the hub, then set HF_TOKEN',
      );
      return true;
    });
  });

  test('an LFS file that does not match its sha256 is refused and not kept', async (t) => {
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    const real = fileOf(REPO, 'onnx/decoder_model_merged.onnx');
    const corrupt = Buffer.from(real);
    corrupt[1234] ^= 0xff; // same size, one byte flipped
    hub.reset({ corrupt: new Map([['onnx/decoder_model_merged.onnx', corrupt]]) });
    await assert.rejects(pullModel(REPO, opts), (e: unknown) => {
      assert.ok(e instanceof HubError);
      assert.match(
        e.message,
        new RegExp(`^checksum mismatch for onnx/decoder_model_merged\\.onnx \\(expected ${sha256(real)}`),
      );
      return true;
    });
    const storage = modelCacheDir(REPO, cacheDir);
    assert.deepEqual(
      (await readdir(join(storage, 'blobs'))).filter((b) => b.startsWith(sha256(real))),
      [],
      'neither the blob nor its .incomplete',
    );
    assert.ok(!existsSync(join(storage, 'snapshots', MAIN, 'onnx', 'decoder_model_merged.onnx')));
    // A regular file is checked against its git blob id.
    hub.reset({ corrupt: new Map([['tokenizer.json', bytes(99, 20_000)]]) });
    const fresh = { ...opts, cacheDir: join(cacheDir, 'fresh') };
    await assert.rejects(pullModel(REPO, fresh), /checksum mismatch for tokenizer\.json/);
    // Served whole again, it is fetched and accepted.
    hub.reset();
    await assertSameFiles(await pullModel(REPO, opts), REPO, FP32_FILES);
  });

  test('progress is monotonic per file and ends at the file size', async (t) => {
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    const events = new Map<string, { received: number; total: number | null }[]>();
    await pullModel(REPO, {
      ...opts,
      onProgress: (p) => {
        if (!events.has(p.file)) events.set(p.file, []);
        events.get(p.file)!.push({ received: p.received, total: p.total });
      },
    });
    assert.deepEqual([...events.keys()].sort(), [...FP32_FILES].sort());
    const enc = events.get('onnx/encoder_model.onnx')!;
    assert.ok(enc.length > 1);
    for (const list of events.values()) {
      for (let i = 1; i < list.length; i++) assert.ok(list[i].received > list[i - 1].received);
    }
    for (const [file, list] of events) {
      const size = fileOf(REPO, file).length;
      assert.deepEqual(list.at(-1), { received: size, total: size }, file);
    }
  });

  test('a dropped connection is resumed with Range in the same pull', async (t) => {
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    hub.reset({ dropAfter: new Map([['onnx/encoder_model.onnx', 100_000]]) });
    const dir = await pullModel(REPO, opts);
    await assertSameFiles(dir, REPO, FP32_FILES);
    const gets = hub.downloads('onnx/encoder_model.onnx');
    assert.equal(gets.length, 2);
    assert.equal(gets[0].range, undefined);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(gets[1].range ?? '')?.[1]);
    assert.ok(resumedAt > 0 && resumedAt <= 100_000, `resumed at ${gets[1].range}`);
    assert.equal(gets[1].status, 206);
  });

  test('a download killed mid-file resumes in the next run from its .incomplete', async (t) => {
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    const boom = new Error('killed');
    await assert.rejects(
      pullModel(REPO, {
        ...opts,
        onProgress: (p) => {
          if (p.file === 'onnx/decoder_model_merged.onnx' && p.received > 150_000) throw boom;
        },
      }),
      boom,
    );
    const blob = join(
      modelCacheDir(REPO, cacheDir),
      'blobs',
      sha256(fileOf(REPO, 'onnx/decoder_model_merged.onnx')),
    );
    const partSize = (await stat(`${blob}.incomplete`)).size;
    assert.ok(partSize > 0 && partSize < 400_000, `kept ${partSize} bytes`);
    assert.equal((await listCachedModels(cacheDir))[0].complete, false);

    hub.reset();
    const dir = await pullModel(REPO, opts);
    await assertSameFiles(dir, REPO, FP32_FILES);
    assert.deepEqual(
      hub.downloads('onnx/decoder_model_merged.onnx').map((g) => g.range),
      [`bytes=${partSize}-`],
      'only the missing file is fetched, from where it stopped',
    );
    assert.equal(hub.downloads('onnx/encoder_model.onnx').length, 0);
    assert.ok(!existsSync(`${blob}.incomplete`) && !existsSync(`${blob}.resume`));
  });

  test('a server that ignores Range (200) restarts the file cleanly', async (t) => {
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    hub.reset({ ignoreRange: true, dropAfter: new Map([['onnx/decoder_model_merged.onnx', 123_457]]) });
    const dir = await pullModel(REPO, opts);
    await assertSameFiles(dir, REPO, FP32_FILES);
    const gets = hub.downloads('onnx/decoder_model_merged.onnx');
    assert.equal(gets.length, 2);
    assert.match(gets[1].range ?? '', /^bytes=\d+-$/);
    assert.equal(gets[1].status, 200);
  });

  test('404: unknown repo, revision or file, reported before anything is downloaded', async (t) => {
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    await assert.rejects(pullModel('test-org/no-such-repo', opts), (e: unknown) => {
      assert.ok(e instanceof HubError);
      assert.equal(e.status, 404);
      assert.match(e.message, /^no such model\/file: repo test-org\/no-such-repo not found/);
      return true;
    });
    await assert.rejects(
      pullModel(REPO, { ...opts, revision: 'v9' }),
      /no such model\/file: revision v9 of test-org\/whisper-fake not found$/,
    );
    await assert.rejects(pullModel(REPO, { ...opts, dtype: 'q4' }), (e: unknown) => {
      assert.ok(e instanceof HubError);
      assert.match(e.message, /^no such model\/file: test-org\/whisper-fake\/onnx\/encoder_model_q4\.onnx/);
      return true;
    });
    assert.deepEqual(
      hub.log.filter((l) => l.method === 'GET' && !l.url.startsWith('/api/')),
      [],
      'no file was fetched',
    );
    assert.deepEqual(await listCachedModels(cacheDir), []);
  });

  test('connection refused gives the offline hint', async (t) => {
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    const endpoint = await stoppedEndpoint();
    await assert.rejects(pullModel('tiny.en', { endpoint, cacheDir }), (e: unknown) => {
      assert.ok(e instanceof HubError);
      assert.equal(
        e.message,
        `could not reach ${endpoint} (ECONNREFUSED); offline? pass --model DIR with a local model, ` +
          'or --model synthetic:tiny',
      );
      return true;
    });
  });

  test('listCachedModels reports snapshots; a missing file makes one incomplete and is fetched alone', async (t) => {
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    assert.deepEqual(await listCachedModels(cacheDir), []);
    const dir = await pullModel(REPO, opts);
    const expectedBytes = FP32_FILES.reduce((n, f) => n + fileOf(REPO, f).length, 0);
    assert.deepEqual(await listCachedModels(cacheDir), [
      { repo: REPO, revision: 'main', dir, bytes: expectedBytes, complete: true },
    ]);
    // A snapshot link removed while its blob stays is linked again without a download.
    const encoder = join(dir, 'onnx', 'encoder_model.onnx');
    const blob = await realpath(encoder);
    await rm(encoder);
    assert.equal((await listCachedModels(cacheDir))[0].complete, false);
    const fileGets = (): string[] =>
      hub.log.filter((l) => l.method === 'GET' && !l.url.startsWith('/api/')).map((l) => l.url);
    hub.log = [];
    await pullModel(REPO, opts);
    assert.deepEqual(fileGets(), []);
    // With its blob gone too, only that file is fetched.
    await rm(encoder);
    await rm(blob);
    hub.log = [];
    await pullModel(REPO, opts);
    assert.deepEqual([...new Set(fileGets().map((u) => u.replace(/^.*\//, '')))], ['encoder_model.onnx']);
    assert.equal((await listCachedModels(cacheDir))[0].complete, true);
  });

  test('external data chunks named in config.json are fetched too', async (t) => {
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    const dir = await pullModel(EXT_REPO, opts);
    await assertSameFiles(dir, EXT_REPO, [
      ...FP32_FILES,
      'onnx/encoder_model.onnx_data',
      'onnx/encoder_model.onnx_data_1',
    ]);
  });

  test('revision selects the commit, its snapshot and refs/<revision>', async (t) => {
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    const dir = await pullModel(REPO, { ...opts, revision: 'refs/pr/1' });
    const storage = modelCacheDir(REPO, cacheDir);
    assert.equal(dir, join(storage, 'snapshots', PR1));
    assert.equal(await readFile(join(storage, 'refs', 'refs', 'pr', '1'), 'utf8'), PR1);
    assert.ok(
      hub.log.some((l) => l.url.startsWith('/api/models/test-org/whisper-fake/revision/refs%2Fpr%2F1')),
    );
    assert.equal((await listCachedModels(cacheDir))[0].revision, 'refs/pr/1');
    // A commit hash is its own revision: served from the cache with no request and no ref written.
    const { fetchImpl, calls } = countingFetch();
    assert.equal(await pullModel(REPO, { ...opts, revision: PR1, fetchImpl }), dir);
    assert.equal(calls(), 0);
  });
  test('pullFile: one file of a repo (a speaker model), cached, offline once cached, clear errors', async (t) => {
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    const path = await pullFile(SPEAKER_REPO, 'onnx/campplus.onnx', opts);
    assert.equal(
      path,
      join(modelCacheDir(SPEAKER_REPO, cacheDir), 'snapshots', MAIN, 'onnx', 'campplus.onnx'),
    );
    assert.ok((await readFile(path)).equals(fileOf(SPEAKER_REPO, 'onnx/campplus.onnx')));
    assert.ok(!existsSync(join(dirname(path), '..', 'wespeaker.onnx')), 'only the file asked for');
    // Cached: no request, even offline; another file of the repo still needs the hub.
    const { fetchImpl, calls } = countingFetch();
    assert.equal(
      await pullFile(SPEAKER_REPO, 'onnx/campplus.onnx', { ...opts, offline: true, fetchImpl }),
      path,
    );
    assert.equal(calls(), 0);
    await assert.rejects(
      pullFile(SPEAKER_REPO, 'wespeaker.onnx', { ...opts, offline: true }),
      /offline \(HF_HUB_OFFLINE\) and test-org\/speaker-models\/wespeaker.onnx/,
    );
    await assert.rejects(
      pullFile(SPEAKER_REPO, 'missing.onnx', opts),
      /no such model\/file: .*missing\.onnx/,
    );
    await assert.rejects(pullFile(SPEAKER_REPO, '../escape.onnx', opts), /invalid file path/);
    // --speaker-model owner/repo:file.onnx goes through it; a local path is left alone.
    process.env.HF_ENDPOINT = hub.endpoint;
    process.env.EARSHOT_CACHE_DIR = cacheDir;
    t.after(() => {
      delete process.env.HF_ENDPOINT;
      delete process.env.EARSHOT_CACHE_DIR;
    });
    const wespeaker = await resolveSpeakerModel(`${SPEAKER_REPO}:wespeaker.onnx`);
    assert.ok((await readFile(wespeaker)).equals(fileOf(SPEAKER_REPO, 'wespeaker.onnx')));
    assert.equal(await resolveSpeakerModel(path), path);
    assert.equal(await resolveSpeakerModel('./no/such/model.onnx'), './no/such/model.onnx');
  });
});

describe('model names, dtypes and cache dirs', () => {
  test('repoForModelName maps short names and passes repos through', () => {
    assert.equal(repoForModelName('tiny.en'), 'onnx-community/whisper-tiny.en');
    assert.equal(repoForModelName('base'), 'onnx-community/whisper-base');
    assert.equal(repoForModelName('large-v3-turbo'), 'onnx-community/whisper-large-v3-turbo');
    assert.equal(repoForModelName('whisper-small'), 'onnx-community/whisper-small');
    assert.equal(repoForModelName('base.en_timestamped'), 'onnx-community/whisper-base.en_timestamped');
    assert.equal(repoForModelName('Xenova/whisper-tiny'), 'Xenova/whisper-tiny');
    assert.throws(
      () => repoForModelName('huge'),
      (e: unknown) => {
        assert.ok(e instanceof HubError);
        assert.match(e.message, /^unknown model "huge": use one of tiny, tiny\.en, base, .*large-v3-turbo/);
        return true;
      },
    );
    assert.throws(() => repoForModelName('a/b/c'), HubError);
    assert.throws(() => repoForModelName('../etc'), HubError);
  });

  test('filesForDtype names the side files and the suffixed ONNX files', () => {
    const side = [
      'config.json',
      'generation_config.json',
      'preprocessor_config.json',
      'tokenizer.json',
      'tokenizer_config.json',
    ];
    assert.deepEqual(filesForDtype('fp32'), [
      ...side,
      'onnx/encoder_model.onnx',
      'onnx/decoder_model_merged.onnx',
    ]);
    assert.deepEqual(filesForDtype('q8').slice(-2), [
      'onnx/encoder_model_quantized.onnx',
      'onnx/decoder_model_merged_quantized.onnx',
    ]);
    assert.deepEqual(filesForDtype('q4f16').slice(-1), ['onnx/decoder_model_merged_q4f16.onnx']);
    assert.throws(() => filesForDtype('fp8'), /unknown dtype "fp8": use one of fp32, fp16, q8/);
  });

  test('cache dirs: EARSHOT_CACHE_DIR, else the standard hub cache (HF_HUB_CACHE, HF_HOME, ~/.cache)', (t) => {
    const keys = ['EARSHOT_CACHE_DIR', 'XDG_CACHE_HOME', 'HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'HF_HOME'];
    const saved = Object.fromEntries(keys.map((k) => [k, process.env[k]]));
    t.after(() => {
      for (const k of keys) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    });
    for (const k of keys) delete process.env[k];
    assert.match(defaultCacheDir(), /\/\.cache\/earshot$/);
    assert.match(hubCacheDir(), /\/\.cache\/huggingface\/hub$/);
    assert.equal(hubCacheDir(defaultCacheDir()), hubCacheDir(), 'the default root means the standard cache');
    process.env.HF_HOME = '/tmp/hf-home';
    assert.equal(hubCacheDir(), '/tmp/hf-home/hub');
    process.env.HF_HUB_CACHE = '/tmp/hf-hub';
    assert.equal(hubCacheDir(), '/tmp/hf-hub');
    assert.equal(hubCacheDir('/tmp/root'), '/tmp/root/hub', 'an explicit root keeps its own');
    process.env.XDG_CACHE_HOME = '/tmp/xdg';
    assert.equal(defaultCacheDir(), '/tmp/xdg/earshot');
    process.env.EARSHOT_CACHE_DIR = '/tmp/es-cache';
    assert.equal(defaultCacheDir(), '/tmp/es-cache');
    assert.equal(hubCacheDir(), '/tmp/es-cache/hub');
  });
});

describe('progressBar', () => {
  function fakeStream(isTTY: boolean): { stream: NodeJS.WriteStream; out: () => string } {
    let text = '';
    const stream = {
      isTTY,
      columns: 120,
      write: (s: string) => {
        text += s;
        return true;
      },
    } as unknown as NodeJS.WriteStream;
    return { stream, out: () => text };
  }

  test('non-TTY: one line per file at 25% steps', () => {
    const { stream, out } = fakeStream(false);
    const bar = progressBar(stream);
    for (let r = 1000; r <= 100_000; r += 1000) bar({ file: 'onnx/a.onnx', received: r, total: 100_000 });
    bar({ file: 'b.json', received: 10, total: 10 });
    const lines = out().trimEnd().split('\n');
    assert.deepEqual(
      lines.map((l) => l.replace(/ \(.*\)$/, '')),
      ['onnx/a.onnx: 25%', 'onnx/a.onnx: 50%', 'onnx/a.onnx: 75%', 'onnx/a.onnx: 100%', 'b.json: 100%'],
    );
    assert.match(lines[3], /\(100\.0 kB of 100\.0 kB\)$/);
  });

  test('TTY: redraws one line per file and ends it with a newline', () => {
    const { stream, out } = fakeStream(true);
    const bar = progressBar(stream);
    for (let r = 0; r <= 2_000_000; r += 1000) bar({ file: 'onnx/a.onnx', received: r, total: 2_000_000 });
    bar({ file: 'b.json', received: 5, total: 10 });
    const text = out();
    const firstFile = text.slice(0, text.indexOf('\n') + 1);
    assert.equal(firstFile.split('\n').length, 2, 'one finished line for the first file');
    const redraws = firstFile.split('\r\x1b[K').length - 1;
    assert.ok(redraws > 10 && redraws <= 1001, `redraws ${redraws}`);
    assert.match(firstFile, /\[#{24}\] 100\.0% 2\.0 MB \/ 2\.0 MB\n$/);
    assert.match(text, /b\.json \[#{12}-{12}\]  50\.0% 5 B \/ 10 B$/);
  });
});

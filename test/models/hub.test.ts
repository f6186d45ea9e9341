import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  HubError,
  defaultCacheDir,
  filesForDtype,
  listCachedModels,
  modelCacheDir,
  pullModel,
  repoForModelName,
  type HubOptions,
} from '../../models/hub.js';
import { progressBar } from '../../models/progress.js';

// ---- a fake hub ------------------------------------------------------------------------------------------

function bytes(seed: number, n: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const REPO = 'test-org/whisper-fake';
const EXT_REPO = 'test-org/whisper-external';

function sideFiles(extraConfig: object = {}): Map<string, Buffer> {
  return new Map([
    ['config.json', Buffer.from(JSON.stringify({ model_type: 'whisper', d_model: 64, ...extraConfig }))],
    ['generation_config.json', Buffer.from('{"no_timestamps_token_id": 50363}')],
    ['preprocessor_config.json', Buffer.from('{"feature_size": 80}')],
    ['tokenizer.json', bytes(1, 20_000)],
    ['tokenizer_config.json', Buffer.from('{"tokenizer_class": "WhisperTokenizer"}')],
  ]);
}

const REPOS = new Map<string, Map<string, Buffer>>([
  [
    REPO,
    new Map([
      ...sideFiles(),
      ['onnx/encoder_model.onnx', bytes(2, 300_000)],
      ['onnx/decoder_model_merged.onnx', bytes(3, 400_000)],
      ['onnx/encoder_model_quantized.onnx', bytes(4, 90_000)],
      ['onnx/decoder_model_merged_quantized.onnx', bytes(5, 110_000)],
    ]),
  ],
  [
    EXT_REPO,
    new Map([
      ...sideFiles({ 'transformers.js_config': { use_external_data_format: { 'encoder_model.onnx': 2 } } }),
      ['generation_config.json', Buffer.alloc(0)], // an empty file is a valid download too
      ['onnx/encoder_model.onnx', bytes(6, 1000)],
      ['onnx/encoder_model.onnx_data', bytes(7, 50_000)],
      ['onnx/encoder_model.onnx_data_1', bytes(8, 30_000)],
      ['onnx/decoder_model_merged.onnx', bytes(9, 2000)],
    ]),
  ],
]);

interface Logged {
  method: string;
  url: string;
  range?: string;
  auth?: string;
  status: number;
}

interface Behaviour {
  requireToken?: string;
  dropAfter?: Map<string, number>; // path -> bytes sent before the first GET of it is cut
  ignoreRange?: boolean;
  headSize?: Map<string, number>; // path -> size claimed by HEAD
  headEtag?: Map<string, string>; // path -> x-linked-etag claimed by HEAD
  chunked?: boolean; // no content-length on GET bodies
}

class FakeHub {
  server: Server;
  log: Logged[] = [];
  b: Behaviour = {};
  endpoint = '';
  private dropped = new Set<string>();

  constructor() {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  reset(b: Behaviour = {}): void {
    this.b = b;
    this.log = [];
    this.dropped.clear();
  }

  gets(path: string): Logged[] {
    return this.log.filter((l) => l.method === 'GET' && l.url.includes(path));
  }

  private reply(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    headers: Record<string, string>,
  ): void {
    this.log.push({
      method: req.method!,
      url: req.url!,
      range: req.headers.range,
      auth: req.headers.authorization,
      status,
    });
    res.writeHead(status, headers);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url!, 'http://x');
    const cdn = /^\/cdn\/([^/]+\/[^/]+)\/(.+)$/.exec(url.pathname);
    const m = cdn ?? /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (!m) {
      this.reply(req, res, 400, {});
      res.end();
      return;
    }
    const repo = m[1];
    const path = decodeURIComponent(cdn ? m[2] : m[3]);
    if (!cdn && this.b.requireToken && req.headers.authorization !== `Bearer ${this.b.requireToken}`) {
      this.reply(req, res, 401, { 'content-type': 'application/json' });
      res.end('{"error":"Invalid credentials"}');
      return;
    }
    const files = REPOS.get(repo);
    const data = files?.get(path);
    if (!files || !data) {
      this.reply(req, res, 404, { 'x-error-code': files ? 'EntryNotFound' : 'RepoNotFound' });
      res.end();
      return;
    }
    const sha256 = createHash('sha256').update(data).digest('hex');
    const lfs = path.startsWith('onnx/');
    if (!cdn && lfs) {
      // Like the hub: LFS files redirect to a CDN; size and sha256 ride on the redirect.
      this.reply(req, res, 302, {
        location: `/cdn/${repo}/${path}`,
        'x-linked-size': String(this.b.headSize?.get(path) ?? data.length),
        'x-linked-etag': `"${this.b.headEtag?.get(path) ?? sha256}"`,
        'x-repo-commit': 'c0ffee',
        'content-length': '0',
      });
      res.end();
      return;
    }
    const etag = `"${createHash('sha1').update(data).digest('hex')}"`;
    if (req.method === 'HEAD') {
      this.reply(req, res, 200, {
        'content-length': String(this.b.headSize?.get(path) ?? data.length),
        etag,
        'x-repo-commit': 'c0ffee',
      });
      res.end();
      return;
    }
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range && !this.b.ignoreRange) start = Number(range[1]);
    if (start > data.length) {
      this.reply(req, res, 416, { 'content-range': `bytes */${data.length}` });
      res.end();
      return;
    }
    const body = data.subarray(start);
    const headers: Record<string, string> = { etag, 'accept-ranges': 'bytes' };
    if (!this.b.chunked) headers['content-length'] = String(body.length);
    if (start > 0) headers['content-range'] = `bytes ${start}-${data.length - 1}/${data.length}`;
    this.reply(req, res, start > 0 ? 206 : 200, headers);
    const cut = this.b.dropAfter?.get(path);
    if (cut !== undefined && !this.dropped.has(path)) {
      this.dropped.add(path);
      res.write(body.subarray(0, cut), () => req.socket.destroy());
      return;
    }
    // Several writes, so progress is reported more than once per file.
    for (let i = 0; i < body.length; i += 32_768) res.write(body.subarray(i, i + 32_768));
    res.end();
  }
}

// ---- tests ---------------------------------------------------------------------------------------------------

const FP32_FILES = filesForDtype('fp32');

async function assertSameFiles(dir: string, repo: string, files: string[]): Promise<void> {
  for (const f of files) {
    const got = await readFile(join(dir, f));
    assert.ok(got.equals(REPOS.get(repo)!.get(f)!), `${f} differs`);
  }
}

describe('hub client', () => {
  const hub = new FakeHub();
  let cacheDir: string;
  let opts: HubOptions;
  const savedEnv = { ...process.env };

  before(async () => {
    await hub.start();
    delete process.env.HF_TOKEN;
    delete process.env.HUGGING_FACE_HUB_TOKEN;
    delete process.env.HF_ENDPOINT;
  });
  after(async () => {
    await hub.stop();
    process.env = savedEnv;
  });
  beforeEach(async () => {
    hub.reset();
    cacheDir = await mkdtemp(join(tmpdir(), 'earshot-hub-'));
    opts = { endpoint: hub.endpoint, cacheDir };
  });

  test('full download lands in the HF-style cache layout, byte-identical', async (t) => {
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    const dir = await pullModel(REPO, opts);
    assert.equal(dir, join(cacheDir, 'models', 'test-org--whisper-fake', 'main'));
    assert.equal(dir, modelCacheDir(REPO, 'main', cacheDir));
    await assertSameFiles(dir, REPO, FP32_FILES);
    assert.ok(!existsSync(join(dir, 'onnx', 'encoder_model_quantized.onnx')), 'only the fp32 files');
    assert.ok(!existsSync(join(dir, 'onnx', 'encoder_model.onnx.part')));
    // HEAD before GET, and the LFS files came through the redirect.
    assert.ok(hub.log.some((l) => l.method === 'HEAD' && l.status === 302));
    assert.ok(hub.log.some((l) => l.method === 'GET' && l.url.startsWith('/cdn/')));
  });

  test('a complete cache needs no network at all', async (t) => {
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    const dir = await pullModel(REPO, { ...opts, dtype: 'q8' });
    const down = new FakeHub();
    await down.start();
    const endpoint = down.endpoint;
    await down.stop(); // nothing listens there any more
    let calls = 0;
    const fetchImpl: typeof fetch = (...args) => {
      calls++;
      return fetch(...args);
    };
    assert.equal(await pullModel(REPO, { endpoint, cacheDir, dtype: 'q8', fetchImpl }), dir);
    assert.equal(calls, 0);
    // A different dtype is not cached: now the network is needed, and its absence is reported clearly.
    await assert.rejects(pullModel(REPO, { endpoint, cacheDir, dtype: 'fp32', fetchImpl }), (e: unknown) => {
      assert.ok(e instanceof HubError);
      assert.match(e.message, /^could not reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
      assert.match(e.message, /offline\? pass --model DIR with a local model, or --model synthetic:tiny/);
      return true;
    });
    assert.ok(calls > 0);
  });

  test('a dropped connection is resumed with Range and ends byte-identical', async (t) => {
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    hub.reset({ dropAfter: new Map([['onnx/encoder_model.onnx', 100_000]]) });
    const dir = await pullModel(REPO, opts);
    await assertSameFiles(dir, REPO, FP32_FILES);
    const gets = hub.gets('encoder_model.onnx').filter((l) => l.url.startsWith('/cdn/'));
    assert.equal(gets.length, 2);
    assert.equal(gets[0].range, undefined);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(gets[1].range ?? '')?.[1]);
    assert.ok(resumedAt > 0 && resumedAt <= 100_000, `resumed at ${gets[1].range}`);
    assert.equal(gets[1].status, 206);
  });

  test('a download killed mid-file resumes in the next run', async (t) => {
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
    const dir = modelCacheDir(REPO, 'main', cacheDir);
    const partSize = (await stat(join(dir, 'onnx', 'decoder_model_merged.onnx.part'))).size;
    assert.ok(partSize > 150_000 && partSize < 400_000);
    const [listed] = await listCachedModels(cacheDir);
    assert.equal(listed.complete, false);

    hub.reset();
    await pullModel(REPO, opts);
    await assertSameFiles(dir, REPO, FP32_FILES);
    const gets = hub.gets('decoder_model_merged.onnx').filter((l) => l.url.startsWith('/cdn/'));
    assert.deepEqual(
      gets.map((g) => g.range),
      [`bytes=${partSize}-`],
      'only the missing file is fetched, from where it stopped',
    );
    assert.equal(hub.gets('encoder_model.onnx').length, 0);
  });

  test('a server that ignores Range (200) restarts the file cleanly', async (t) => {
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    hub.reset({ ignoreRange: true, dropAfter: new Map([['onnx/decoder_model_merged.onnx', 123_457]]) });
    const dir = await pullModel(REPO, opts);
    await assertSameFiles(dir, REPO, FP32_FILES);
    const gets = hub.gets('decoder_model_merged.onnx').filter((l) => l.url.startsWith('/cdn/'));
    assert.equal(gets.length, 2);
    assert.match(gets[1].range ?? '', /^bytes=\d+-$/);
    assert.equal(gets[1].status, 200);
  });

  test('a size mismatch is detected and the partial file discarded', async (t) => {
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    hub.reset({ headSize: new Map([['onnx/encoder_model.onnx', 300_010]]) });
    await assert.rejects(pullModel(REPO, opts), (e: unknown) => {
      assert.ok(e instanceof HubError);
      assert.match(
        e.message,
        /size mismatch for onnx\/encoder_model\.onnx: expected 300010 bytes, got 300000/,
      );
      return true;
    });
    const dir = modelCacheDir(REPO, 'main', cacheDir);
    assert.ok(!existsSync(join(dir, 'onnx', 'encoder_model.onnx.part')));
    assert.ok(!existsSync(join(dir, 'onnx', 'encoder_model.onnx')));
    // Without content-length the mismatch is only visible at the end of the body.
    hub.reset({ chunked: true, headSize: new Map([['tokenizer.json', 25_000]]) });
    await assert.rejects(
      pullModel(REPO, { ...opts, cacheDir: join(cacheDir, 'fresh') }),
      /size mismatch for tokenizer\.json: expected 25000 bytes, got 20000/,
    );
  });

  test('a sha256 (x-linked-etag) mismatch is detected', async (t) => {
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    hub.reset({ headEtag: new Map([['onnx/decoder_model_merged.onnx', 'ab'.repeat(32)]]) });
    await assert.rejects(pullModel(REPO, opts), /checksum mismatch for onnx\/decoder_model_merged\.onnx/);
    assert.ok(!existsSync(join(modelCacheDir(REPO, 'main', cacheDir), 'onnx', 'decoder_model_merged.onnx')));
  });

  test('401 says to set HF_TOKEN; the token is sent as Bearer', async (t) => {
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    hub.reset({ requireToken: 'hf_secret' });
    await assert.rejects(pullModel(REPO, opts), (e: unknown) => {
      assert.ok(e instanceof HubError);
      assert.equal(e.status, 401);
      assert.match(e.message, /access denied \(HTTP 401\) .*; set HF_TOKEN$/);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
    await assert.rejects(pullModel(REPO, { ...opts, token: 'wrong' }), /HF_TOKEN was rejected/);

    process.env.HF_TOKEN = 'hf_secret';
    t.after(() => delete process.env.HF_TOKEN);
    hub.log = [];
    await pullModel(REPO, opts);
    const hubRequests = hub.log.filter((l) => !l.url.startsWith('/cdn/'));
    assert.ok(hubRequests.length >= FP32_FILES.length);
    assert.ok(hubRequests.every((l) => l.auth === 'Bearer hf_secret'));
  });

  test('404 says no such model/file', async (t) => {
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    await assert.rejects(pullModel('test-org/no-such-repo', opts), (e: unknown) => {
      assert.ok(e instanceof HubError);
      assert.equal(e.status, 404);
      assert.match(e.message, /^no such model\/file: repo test-org\/no-such-repo not found/);
      return true;
    });
    await assert.rejects(pullModel(REPO, { ...opts, dtype: 'q4' }), (e: unknown) => {
      assert.ok(e instanceof HubError);
      assert.match(e.message, /^no such model\/file: test-org\/whisper-fake\/onnx\/encoder_model_q4\.onnx/);
      return true;
    });
    // Every file is asked about before any is downloaded, so nothing but config.json was fetched.
    assert.deepEqual(
      hub.log.filter((l) => l.method === 'GET').map((l) => l.url),
      ['/test-org/whisper-fake/resolve/main/config.json'],
    );
    const listed = await listCachedModels(cacheDir);
    assert.deepEqual(
      listed.map((m) => [m.repo, m.complete]),
      [[REPO, false]],
    );
  });

  test('connection refused gives the offline hint', async (t) => {
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    const gone = new FakeHub();
    await gone.start();
    const endpoint = gone.endpoint;
    await gone.stop();
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

  test('progress is reported with increasing received, ending at the total', async (t) => {
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
    for (let i = 1; i < enc.length; i++) assert.ok(enc[i].received > enc[i - 1].received);
    for (const [file, list] of events) {
      const size = REPOS.get(REPO)!.get(file)!.length;
      assert.deepEqual(list.at(-1), { received: size, total: size }, file);
    }
  });

  test('listCachedModels reports a pulled repo as complete', async (t) => {
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    assert.deepEqual(await listCachedModels(cacheDir), []);
    const dir = await pullModel(REPO, opts);
    const list = await listCachedModels(cacheDir);
    const expectedBytes = FP32_FILES.reduce((n, f) => n + REPOS.get(REPO)!.get(f)!.length, 0);
    assert.deepEqual(list, [{ repo: REPO, revision: 'main', dir, bytes: expectedBytes, complete: true }]);
    // Removing a file makes it incomplete, and the next pull fetches just that file.
    await rm(join(dir, 'onnx', 'encoder_model.onnx'));
    assert.equal((await listCachedModels(cacheDir))[0].complete, false);
    hub.log = [];
    await pullModel(REPO, opts);
    assert.deepEqual(
      [...new Set(hub.log.map((l) => l.url.replace(/^.*\//, '')))],
      ['encoder_model.onnx'],
      'only the missing file is fetched',
    );
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

  test('revision selects the URL and the cache directory', async (t) => {
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    const dir = await pullModel(REPO, { ...opts, revision: 'refs/pr/1' });
    assert.equal(dir, join(cacheDir, 'models', 'test-org--whisper-fake', 'refs%2Fpr%2F1'));
    assert.ok(hub.log.some((l) => l.url === '/test-org/whisper-fake/resolve/refs%2Fpr%2F1/config.json'));
    assert.equal((await listCachedModels(cacheDir))[0].revision, 'refs/pr/1');
  });
});

describe('model names, dtypes and cache dir', () => {
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

  test('defaultCacheDir honours EARSHOT_CACHE_DIR, then XDG_CACHE_HOME', (t) => {
    const saved = { e: process.env.EARSHOT_CACHE_DIR, x: process.env.XDG_CACHE_HOME };
    t.after(() => {
      for (const [k, v] of [
        ['EARSHOT_CACHE_DIR', saved.e],
        ['XDG_CACHE_HOME', saved.x],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    });
    process.env.EARSHOT_CACHE_DIR = '/tmp/es-cache';
    process.env.XDG_CACHE_HOME = '/tmp/xdg';
    assert.equal(defaultCacheDir(), '/tmp/es-cache');
    delete process.env.EARSHOT_CACHE_DIR;
    assert.equal(defaultCacheDir(), '/tmp/xdg/earshot');
    delete process.env.XDG_CACHE_HOME;
    assert.match(defaultCacheDir(), /\/\.cache\/earshot$/);
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

// Hugging Face hub client on @huggingface/hub, using the standard hub cache (the one Python's huggingface_hub
// writes), so a model pulled by either is reused by the other. A complete cache is served with no network access.
// What the library does not do is added around it: resume, progress, checksums, refs/<revision>, clear errors.
// Over 400 lines because those additions share one fetch wrapper and one cache walk; each is a named function.
import { createHash } from 'node:crypto';
import { createReadStream, renameSync, statSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { ReadableStream } from 'node:stream/web';
import {
  downloadFileToCacheDir,
  getHFHubCachePath,
  getRepoFolderName,
  modelInfo,
  pathsInfo,
  type PathInfo,
} from '@huggingface/hub';
import { DTYPE_SUFFIX, isDtype, type Dtype } from '../whisper/model-dir.js';
import { homedir } from 'node:os';

export interface HubProgress {
  file: string;
  received: number;
  total: number | null;
}

export interface HubOptions {
  endpoint?: string;
  token?: string;
  /** earshot's cache root; hub downloads go under its `hub/` folder (see hubCacheDir). */
  cacheDir?: string;
  revision?: string;
  /** Never touch the network (default: HF_HUB_OFFLINE). */
  offline?: boolean;
  onProgress?: (p: HubProgress) => void;
  fetchImpl?: typeof fetch;
}

export class HubError extends Error {
  status?: number;
  constructor(message: string, status?: number) {
    super(message);
    this.name = 'HubError';
    if (status !== undefined) this.status = status;
  }
}

const OFFLINE_HINT = 'offline? pass --model DIR with a local model, or --model synthetic:tiny';

// Short names users type (`--model tiny.en`) and the onnx-community repos behind them.
const KNOWN_MODELS =
  'tiny tiny.en base base.en small small.en medium medium.en large-v3 large-v3-turbo'.split(' ');
// Sizes with a `_timestamped` sibling (cross-attention outputs, needed for word timestamps).
const TIMESTAMPED_MODELS = new Set(KNOWN_MODELS.filter((m) => m !== 'large-v3'));

const SIDE_FILES = [
  'config.json',
  'generation_config.json',
  'preprocessor_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
];

const COMMIT = /^[0-9a-f]{40}$/;
const MAX_ATTEMPTS = 5;
const RETRY_DELAY_MS = 200;
// A connection that delivers nothing for this long is treated as dropped and resumed.
const IDLE_TIMEOUT_MS = 60_000;

/** earshot's own cache root (synthetic models; the hub cache too when EARSHOT_CACHE_DIR is set). */
export function defaultCacheDir(): string {
  if (process.env.EARSHOT_CACHE_DIR) return resolve(process.env.EARSHOT_CACHE_DIR);
  if (process.env.XDG_CACHE_HOME) return resolve(process.env.XDG_CACHE_HOME, 'earshot');
  return join(homedir(), '.cache', 'earshot');
}

/**
 * The Hugging Face hub cache: `ROOT/hub` for an earshot root given explicitly or by EARSHOT_CACHE_DIR, otherwise
 * the standard one (HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub).
 */
export function hubCacheDir(root?: string): string {
  const explicit = root !== undefined && resolve(root) !== defaultCacheDir();
  if (explicit || process.env.EARSHOT_CACHE_DIR) return join(root ?? defaultCacheDir(), 'hub');
  return resolve(getHFHubCachePath());
}

export function repoForModelName(name: string): string {
  const trimmed = name.trim();
  if (/^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/.test(trimmed) && !/\.\.|--/.test(trimmed)) return trimmed;
  let short = trimmed.replace(/^whisper-/, '');
  let suffix = '';
  if (short.endsWith('_timestamped')) {
    short = short.slice(0, -'_timestamped'.length);
    suffix = '_timestamped';
    if (!TIMESTAMPED_MODELS.has(short)) throw unknownModel(name);
  }
  if (!KNOWN_MODELS.includes(short)) throw unknownModel(name);
  return `onnx-community/whisper-${short}${suffix}`;
}

function unknownModel(name: string): HubError {
  return new HubError(
    `unknown model "${name}": use one of ${KNOWN_MODELS.join(', ')} (optionally with _timestamped), ` +
      'a hub repo as owner/name, or a local model directory',
  );
}

export function filesForDtype(dtype: string): string[] {
  const suffix = isDtype(dtype) ? DTYPE_SUFFIX[dtype] : undefined;
  if (suffix === undefined) {
    throw new HubError(`unknown dtype "${dtype}": use one of ${Object.keys(DTYPE_SUFFIX).join(', ')}`);
  }
  return [...SIDE_FILES, `onnx/encoder_model${suffix}.onnx`, `onnx/decoder_model_merged${suffix}.onnx`];
}

/** A repo's folder in the hub cache (`models--owner--name`, holding blobs/, snapshots/ and refs/). */
export function modelCacheDir(repo: string, cacheDir?: string): string {
  return join(hubCacheDir(cacheDir), getRepoFolderName({ name: repo, type: 'model' }));
}

/** ONNX external-data chunks named by config.json (`transformers.js_config.use_external_data_format`). */
function externalDataFiles(config: unknown, suffix: string): string[] {
  const tjs = (config as Record<string, unknown> | null)?.['transformers.js_config'] as
    { use_external_data_format?: unknown } | undefined;
  const setting = tjs?.use_external_data_format;
  if (!setting) return [];
  const out: string[] = [];
  for (const base of ['encoder_model', 'decoder_model_merged']) {
    const fullName = `${base}${suffix}.onnx`;
    // Same lookup as transformers.js: per-file map keyed by full or base name, or one value for all.
    let chunks: number;
    if (typeof setting === 'object') {
      const map = setting as Record<string, unknown>;
      chunks = Number(map[fullName] ?? map[base] ?? 0);
    } else {
      chunks = Number(setting);
    }
    if (!Number.isInteger(chunks) || chunks < 0 || chunks > 100) chunks = 0;
    for (let i = 0; i < chunks; i++) out.push(`onnx/${fullName}_data${i === 0 ? '' : `_${i}`}`);
  }
  return out;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** The files of one dtype a snapshot lacks (external data chunks included once config.json is there). */
async function missingFiles(snapshot: string, dtype: string): Promise<string[]> {
  const wanted = filesForDtype(dtype);
  try {
    const config: unknown = JSON.parse(await readFile(join(snapshot, 'config.json'), 'utf8'));
    wanted.push(...externalDataFiles(config, DTYPE_SUFFIX[dtype as Dtype]));
  } catch {
    // no config.json yet (it is in `wanted`), or not JSON: the download step reports that
  }
  const present = await Promise.all(wanted.map((f) => exists(join(snapshot, f))));
  return wanted.filter((_, i) => !present[i]);
}

async function readRef(storage: string, revision: string): Promise<string | null> {
  if (COMMIT.test(revision)) return revision;
  const commit = await readFile(join(storage, 'refs', revision), 'utf8').catch(() => null);
  return commit !== null && COMMIT.test(commit.trim()) ? commit.trim() : null;
}

function isOffline(opts: HubOptions): boolean {
  return opts.offline ?? /^(1|true|yes|on)$/i.test(process.env.HF_HUB_OFFLINE ?? '');
}

/** One repo revision on one endpoint; its `fetch` turns failures into one-line HubErrors. */
class Hub {
  readonly endpoint: string;
  readonly token: string | undefined;
  private readonly fetchImpl: typeof fetch;

  constructor(
    readonly repo: string,
    readonly revision: string,
    opts: HubOptions,
  ) {
    const endpoint = opts.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co';
    this.endpoint = endpoint.replace(/\/+$/, '');
    this.token = opts.token ?? process.env.HF_TOKEN ?? process.env.HUGGING_FACE_HUB_TOKEN ?? undefined;
    this.fetchImpl = opts.fetchImpl ?? fetch;
  }

  get params(): { hubUrl: string; accessToken?: string; fetch: typeof fetch } {
    if (this.token && !this.token.startsWith('hf_')) {
      throw new HubError('HF_TOKEN does not look like a Hugging Face token (they start with hf_)');
    }
    const fetch = (input: string | URL | Request, init?: RequestInit): Promise<Response> =>
      this.fetch(input, init);
    return { hubUrl: this.endpoint, fetch, ...(this.token ? { accessToken: this.token } : {}) };
  }

  async fetch(input: string | URL | Request, init: RequestInit = {}, path?: string): Promise<Response> {
    const headers = new Headers(init.headers);
    // Plain HTTP bytes, not the xet protocol: progress, Range resume and checksums work on them.
    if (headers.get('accept')?.includes('xet')) headers.set('accept', '*/*');
    let res: Response;
    try {
      res = await this.fetchImpl(input, { ...init, headers });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new HubError(`could not reach ${this.endpoint} (${why}); ${OFFLINE_HINT}`);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw this.httpError(res.status, res.headers.get('x-error-code'), path);
    }
    return res;
  }

  httpError(status: number, code: string | null, path?: string): HubError {
    const where = `${this.repo}${path ? `/${path}` : ''} (revision ${this.revision}) on ${this.endpoint}`;
    if (code === 'GatedRepo') {
      return new HubError(`${this.repo} is gated: accept its terms on the hub, then set HF_TOKEN`, status);
    }
    if (code === 'RepoNotFound') {
      return new HubError(
        `no such model/file: repo ${this.repo} not found on ${this.endpoint} (if it is private, set HF_TOKEN)`,
        status,
      );
    }
    if (status === 401 || status === 403) {
      const hint = this.token ? 'HF_TOKEN was rejected: check it can read this repo' : 'set HF_TOKEN';
      return new HubError(`access denied (HTTP ${status}) to ${where}; ${hint}`, status);
    }
    if (code === 'RevisionNotFound') {
      return new HubError(`no such model/file: revision ${this.revision} of ${this.repo} not found`, status);
    }
    if (status === 404) {
      return new HubError(
        `no such model/file: ${where} (HTTP 404); check the model name and --dtype`,
        status,
      );
    }
    if (status === 429)
      return new HubError(`rate limited by ${this.endpoint}; wait, or set HF_TOKEN`, status);
    return new HubError(`unexpected HTTP ${status} for ${where}; try again later`, status);
  }

  async commit(): Promise<string> {
    const info = await modelInfo({
      ...this.params,
      name: this.repo,
      revision: this.revision,
      additionalFields: ['sha'],
    });
    if (!COMMIT.test(info.sha))
      throw new HubError(`${this.endpoint} gave no commit for ${this.repo}@${this.revision}`);
    return info.sha;
  }

  /** The hub's record of each file; a file the repo lacks fails here, before anything is downloaded. */
  async files(commit: string, paths: string[]): Promise<Map<string, PathInfo>> {
    const infos = await pathsInfo({ ...this.params, repo: this.repo, revision: commit, paths });
    const byPath = new Map(infos.filter((i) => i.type === 'file').map((i) => [i.path, i]));
    const absent = paths.find((p) => !byPath.has(p));
    if (absent !== undefined) throw this.httpError(404, 'EntryNotFound', absent);
    return byPath;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/**
 * Downloads one file into the cache with the library, through a fetch that resumes a `.incomplete` blob with a
 * Range request, reports progress and checks the size and the hub's hash (LFS sha256, or the git blob sha1).
 */
async function downloadOne(
  hub: Hub,
  storage: string,
  commit: string,
  info: PathInfo,
  onProgress?: (p: HubProgress) => void,
): Promise<void> {
  // The library's blob name: the LFS oid, else the git oid.
  const blob = join(storage, 'blobs', info.lfs?.oid ?? info.xetHash ?? info.oid ?? '');
  const incomplete = `${blob}.incomplete`;
  const aside = `${blob}.resume`;
  const size = info.lfs?.size ?? info.size;
  let failure: { error: unknown; retry: boolean } | null = null;
  const fail = (error: unknown, retry = false): unknown => {
    failure ??= { error, retry };
    return error;
  };

  const fetchFile = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const headers = new Headers(init.headers);
    // Only the GET of the file's bytes is ours: not the library's paths-info POST nor its Range size probe.
    if ((init.method ?? 'GET') !== 'GET' || headers.has('range')) return hub.fetch(input, init, info.path);
    // The library truncates `.incomplete` when it opens it, so keep its bytes aside first (synchronously: it
    // opens the file right after this call returns its promise).
    // A kept copy left by a failed request of this run may hold more than the library's fresh `.incomplete`.
    if (sizeOf(incomplete) > 0 && sizeOf(incomplete) >= sizeOf(aside)) renameSync(incomplete, aside);
    const resumeAt = sizeOf(aside) < size ? sizeOf(aside) : 0;
    if (resumeAt > 0) headers.set('range', `bytes=${resumeAt}-`);
    const idle = new AbortController();
    let timer = setTimeout(() => idle.abort(), IDLE_TIMEOUT_MS);
    let res: Response;
    try {
      res = await hub.fetch(input, { ...init, headers, signal: idle.signal }, info.path);
    } catch (err) {
      clearTimeout(timer);
      throw fail(err, !(err instanceof HubError) || err.status === undefined || err.status >= 500);
    }
    // 200 to a Range request: the server sends the whole file, so the kept bytes are not needed.
    const replay = res.status === 206 ? aside : null;
    const hash = createHash(info.lfs ? 'sha256' : 'sha1');
    if (!info.lfs) hash.update(`blob ${size}\0`);
    async function* body(): AsyncGenerator<Uint8Array> {
      let received = 0;
      const take = (chunk: Uint8Array): Uint8Array => {
        received += chunk.length;
        hash.update(chunk);
        onProgress?.({ file: info.path, received, total: size });
        return chunk;
      };
      try {
        if (replay) for await (const chunk of createReadStream(replay)) yield take(chunk as Buffer);
        const reader = res.body!.getReader();
        for (;;) {
          const next = await reader.read().catch((err: unknown) => {
            const why = (err as { cause?: Error }).cause?.message ?? (err as Error).message;
            const interrupted = `download of ${info.path} was interrupted (${why}); run again to resume`;
            throw fail(new HubError(interrupted), true);
          });
          if (next.done) break;
          clearTimeout(timer);
          timer = setTimeout(() => idle.abort(), IDLE_TIMEOUT_MS);
          yield take(next.value);
        }
        if (received === 0) onProgress?.({ file: info.path, received, total: size });
      } catch (err) {
        throw fail(err);
      } finally {
        clearTimeout(timer);
        await rm(aside, { force: true });
      }
      const expected = info.lfs ? info.lfs.oid : info.xetHash ? undefined : info.oid;
      const actual = hash.digest('hex');
      if (received !== size || (expected !== undefined && actual !== expected)) {
        await rm(incomplete, { force: true });
        const what =
          received !== size
            ? `size mismatch for ${info.path}: expected ${size} bytes, got ${received}`
            : `checksum mismatch for ${info.path} (expected ${expected}, got ${actual})`;
        throw fail(new HubError(`${what}; the download was discarded, run again`));
      }
    }
    return new Response(ReadableStream.from(body()) as ConstructorParameters<typeof Response>[0], {
      status: 200,
      headers: res.headers,
    });
  };

  const debug = console.debug; // the library announces every download on console.debug
  console.debug = () => undefined;
  try {
    for (let attempt = 1; ; attempt++) {
      failure = null;
      try {
        const where = { repo: hub.repo, revision: commit, path: info.path, cacheDir: dirname(storage) };
        await downloadFileToCacheDir({ ...hub.params, ...where, fetch: fetchFile });
        return;
      } catch (err) {
        const f = failure as { error: unknown; retry: boolean } | null;
        if (f?.retry && attempt < MAX_ATTEMPTS) await sleep(RETRY_DELAY_MS * attempt);
        else throw f ? f.error : asHubError(err, storage, info.path);
      }
    }
  } finally {
    console.debug = debug;
  }
}

function asHubError(err: unknown, storage: string, path: string): HubError {
  if (err instanceof HubError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === undefined) return new HubError(`download of ${path} failed: ${String(err)}`);
  return new HubError(
    `cannot write to ${storage} (${code}); check free disk space and permissions, or set EARSHOT_CACHE_DIR`,
  );
}

/**
 * Finds in the cache, or downloads, the files of a Whisper ONNX model and returns its snapshot directory.
 * A complete cached snapshot of the revision causes no network access.
 */
export async function pullModel(
  nameOrRepo: string,
  opts: HubOptions & { dtype?: string } = {},
): Promise<string> {
  const repo = repoForModelName(nameOrRepo);
  const revision = opts.revision ?? 'main';
  if (revision.split('/').includes('..')) throw new HubError(`invalid revision "${revision}"`);
  const dtype = opts.dtype ?? 'fp32';
  const storage = modelCacheDir(repo, opts.cacheDir);

  const cached = await readRef(storage, revision);
  const missing = cached
    ? await missingFiles(join(storage, 'snapshots', cached), dtype)
    : filesForDtype(dtype);
  if (cached && missing.length === 0) return join(storage, 'snapshots', cached);
  if (isOffline(opts)) {
    throw new HubError(
      `offline (HF_HUB_OFFLINE) and ${repo} (revision ${revision}, ${dtype}) is not complete in ` +
        `${dirname(storage)}: missing ${cached ? missing.join(', ') : `refs/${revision}`}; ` +
        `pull it once with network access (earshot models pull ${nameOrRepo} --dtype ${dtype})`,
    );
  }

  const hub = new Hub(repo, revision, opts);
  const commit = await hub.commit();
  const snapshot = join(storage, 'snapshots', commit);
  const infos = await hub.files(commit, filesForDtype(dtype));
  // config.json first: it says whether the ONNX files have external data chunks.
  if (!(await exists(join(snapshot, 'config.json')))) {
    await downloadOne(hub, storage, commit, infos.get('config.json')!, opts.onProgress);
  }
  const todo = await missingFiles(snapshot, dtype);
  const extra = todo.filter((f) => !infos.has(f));
  if (extra.length > 0) for (const [p, i] of await hub.files(commit, extra)) infos.set(p, i);
  for (const path of todo) await downloadOne(hub, storage, commit, infos.get(path)!, opts.onProgress);

  await writeRef(storage, revision, commit);
  return snapshot;
}

/** The library does not record refs; Python and our offline lookups need them. */
async function writeRef(storage: string, revision: string, commit: string): Promise<void> {
  if (revision === commit) return;
  await mkdir(dirname(join(storage, 'refs', revision)), { recursive: true });
  await writeFile(join(storage, 'refs', revision), commit);
}

/**
 * Finds in the cache, or downloads, one file of a hub repo (a speaker-embedding model, say) and returns its path
 * in the snapshot: the same cache, resume, checksums, progress, refs and offline rules as pullModel.
 */
export async function pullFile(repo: string, path: string, opts: HubOptions = {}): Promise<string> {
  const revision = opts.revision ?? 'main';
  if (revision.split('/').includes('..')) throw new HubError(`invalid revision "${revision}"`);
  if (path.split('/').some((p) => p === '..' || p === '')) throw new HubError(`invalid file path "${path}"`);
  const storage = modelCacheDir(repo, opts.cacheDir);
  const cached = await readRef(storage, revision);
  if (cached && (await exists(join(storage, 'snapshots', cached, path)))) {
    return join(storage, 'snapshots', cached, path);
  }
  if (isOffline(opts)) {
    throw new HubError(
      `offline (HF_HUB_OFFLINE) and ${repo}/${path} (revision ${revision}) is not in ${dirname(storage)}; ` +
        'fetch it once with network access',
    );
  }
  const hub = new Hub(repo, revision, opts);
  const commit = await hub.commit();
  const infos = await hub.files(commit, [path]);
  await downloadOne(hub, storage, commit, infos.get(path)!, opts.onProgress);
  await writeRef(storage, revision, commit);
  return join(storage, 'snapshots', commit, path);
}

/** Side files plus an encoder/decoder pair of one dtype (and its external data) are all there. */
async function isComplete(snapshot: string): Promise<boolean> {
  for (const dtype of Object.keys(DTYPE_SUFFIX)) {
    if ((await missingFiles(snapshot, dtype)).length === 0) return true;
  }
  return false;
}

/** Bytes of the files a snapshot shows (its symlinks followed into blobs/). */
async function snapshotBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir, { recursive: true })) {
    total += await stat(join(dir, name)).then(
      (s) => (s.isFile() ? s.size : 0),
      () => 0,
    );
  }
  return total;
}

/** commit -> the names of the refs pointing at it (`main`, `refs/pr/1`), comma-separated. */
async function refsByCommit(refsDir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of (await readdir(refsDir, { recursive: true }).catch(() => [])).sort()) {
    const commit = await readFile(join(refsDir, name), 'utf8').then(
      (c) => c.trim(),
      () => null,
    );
    if (commit) out.set(commit, out.has(commit) ? `${out.get(commit)},${name}` : name);
  }
  return out;
}

/**
 * The Whisper models in the hub cache (snapshots whose config.json says whisper), one row per snapshot.
 * The library's scanCacheDir is not used: it skips files in snapshot subfolders (onnx/).
 */
export async function listCachedModels(
  cacheDir?: string,
): Promise<{ repo: string; revision: string; dir: string; bytes: number; complete: boolean }[]> {
  const root = hubCacheDir(cacheDir);
  const repoDirs = (await readdir(root).catch(() => [] as string[])).filter((n) => n.startsWith('models--'));
  const out: { repo: string; revision: string; dir: string; bytes: number; complete: boolean }[] = [];
  for (const repoDir of repoDirs.sort()) {
    const storage = join(root, repoDir);
    const refs = await refsByCommit(join(storage, 'refs'));
    const commits = await readdir(join(storage, 'snapshots')).catch(() => [] as string[]);
    for (const commit of commits.sort()) {
      const dir = join(storage, 'snapshots', commit);
      const config = await readFile(join(dir, 'config.json'), 'utf8').catch(() => '');
      if (!/"model_type"\s*:\s*"whisper"/.test(config)) continue;
      out.push({
        repo: repoDir.slice('models--'.length).replace('--', '/'),
        revision: refs.get(commit) ?? commit,
        dir,
        bytes: await snapshotBytes(dir),
        complete: await isComplete(dir),
      });
    }
  }
  return out;
}

// Hugging Face hub client: fetches a Whisper ONNX export into a local cache with resumable downloads.
// A complete cache is served with no network access at all, so an offline machine keeps working.
import { createHash, type Hash } from 'node:crypto';
import { DTYPE_SUFFIX, isDtype, type Dtype } from './model-dir.js';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export interface HubProgress {
  file: string;
  received: number;
  total: number | null;
}

export interface HubOptions {
  endpoint?: string;
  token?: string;
  cacheDir?: string;
  revision?: string;
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
const KNOWN_MODELS = [
  'tiny',
  'tiny.en',
  'base',
  'base.en',
  'small',
  'small.en',
  'medium',
  'medium.en',
  'large-v3',
  'large-v3-turbo',
];
// Sizes with a `_timestamped` sibling (cross-attention outputs, needed for word timestamps).
const TIMESTAMPED_MODELS = new Set(KNOWN_MODELS.filter((m) => m !== 'large-v3'));

const SIDE_FILES = [
  'config.json',
  'generation_config.json',
  'preprocessor_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
];

const META_FILE = '.earshot-download.json';
const MAX_ATTEMPTS = 5;
const RETRY_DELAY_MS = 200;
// A connection that delivers nothing for this long is treated as dropped and resumed.
const IDLE_TIMEOUT_MS = 60_000;

export function defaultCacheDir(): string {
  if (process.env.EARSHOT_CACHE_DIR) return resolve(process.env.EARSHOT_CACHE_DIR);
  if (process.env.XDG_CACHE_HOME) return resolve(process.env.XDG_CACHE_HOME, 'earshot');
  return join(homedir(), '.cache', 'earshot');
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

/** Where a repo revision lives in the cache (whether or not it has been downloaded). */
export function modelCacheDir(repo: string, revision = 'main', cacheDir = defaultCacheDir()): string {
  return join(cacheDir, 'models', repo.replace('/', '--'), encodeURIComponent(revision));
}

interface FileMeta {
  size: number | null;
  etag: string | null;
  // sha256 of the content when the hub says so (x-linked-etag of LFS/xet files).
  sha256?: string;
  done: boolean;
}

interface RepoMeta {
  repo: string;
  revision: string;
  commit?: string;
  files: Record<string, FileMeta>;
}

async function readMeta(dir: string): Promise<RepoMeta | null> {
  try {
    const meta = JSON.parse(await readFile(join(dir, META_FILE), 'utf8')) as RepoMeta;
    return typeof meta === 'object' && meta !== null && typeof meta.files === 'object' ? meta : null;
  } catch {
    return null;
  }
}

async function writeMeta(dir: string, meta: RepoMeta): Promise<void> {
  const tmp = join(dir, `${META_FILE}.${process.pid}.tmp`);
  await writeFile(tmp, JSON.stringify(meta, null, 2) + '\n');
  await rename(tmp, join(dir, META_FILE));
}

async function fileSize(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch {
    return null;
  }
}

async function isDone(dir: string, meta: RepoMeta, path: string): Promise<boolean> {
  const f = meta.files[path];
  if (!f?.done) return false;
  const size = await fileSize(join(dir, path));
  return size !== null && (f.size === null || size === f.size);
}

function normalizeEtag(v: string | null): string | null {
  if (v === null) return null;
  return v.replace(/^W\//, '').replace(/^"|"$/g, '');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Low-level access to one repo revision on one endpoint. */
class HubRepo {
  readonly endpoint: string;
  private readonly token: string | undefined;
  private readonly fetchImpl: typeof fetch;

  constructor(
    readonly repo: string,
    readonly revision: string,
    opts: HubOptions,
  ) {
    this.endpoint = (opts.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(
      /\/+$/,
      '',
    );
    this.token = opts.token ?? process.env.HF_TOKEN ?? process.env.HUGGING_FACE_HUB_TOKEN ?? undefined;
    this.fetchImpl = opts.fetchImpl ?? fetch;
  }

  url(path: string): string {
    const enc = path.split('/').map(encodeURIComponent).join('/');
    return `${this.endpoint}/${this.repo}/resolve/${encodeURIComponent(this.revision)}/${enc}`;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    // identity: content-length must be the file size, and resumed bytes must be raw file bytes.
    const h: Record<string, string> = { 'accept-encoding': 'identity', 'user-agent': 'earshot', ...extra };
    if (this.token) h.authorization = `Bearer ${this.token}`;
    return h;
  }

  private async request(url: string, init: RequestInit): Promise<Response> {
    try {
      return await this.fetchImpl(url, init);
    } catch (err) {
      throw this.networkError(err);
    }
  }

  networkError(err: unknown): HubError {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (err as Error).message ?? String(err);
    return new HubError(`could not reach ${this.endpoint} (${why}); ${OFFLINE_HINT}`);
  }

  httpError(res: Response, path: string): HubError {
    const status = res.status;
    const code = res.headers.get('x-error-code');
    const where = `${this.repo}/${path} (revision ${this.revision}) on ${this.endpoint}`;
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
    if (status === 404) {
      if (code === 'RevisionNotFound') {
        return new HubError(
          `no such model/file: revision ${this.revision} of ${this.repo} not found`,
          status,
        );
      }
      return new HubError(
        `no such model/file: ${where} (HTTP 404); check the model name and --dtype`,
        status,
      );
    }
    if (status === 429)
      return new HubError(`rate limited by ${this.endpoint}; wait, or set HF_TOKEN`, status);
    return new HubError(`unexpected HTTP ${status} for ${where}; try again later`, status);
  }

  /** Size and etag of a file, read from the hub's redirect headers when present (no CDN round trip). */
  async head(
    path: string,
  ): Promise<{ size: number | null; etag: string | null; sha256?: string; commit?: string }> {
    let url = this.url(path);
    let headers = this.headers();
    for (let hop = 0; hop < 10; hop++) {
      const res = await this.request(url, {
        method: 'HEAD',
        headers,
        redirect: 'manual',
        signal: AbortSignal.timeout(IDLE_TIMEOUT_MS),
      });
      const linkedSize = res.headers.get('x-linked-size');
      const linkedEtag = normalizeEtag(res.headers.get('x-linked-etag'));
      const commit = res.headers.get('x-repo-commit') ?? undefined;
      const sha256 = linkedEtag && /^[0-9a-f]{64}$/.test(linkedEtag) ? linkedEtag : undefined;
      if (res.status >= 300 && res.status < 400) {
        const location = res.headers.get('location');
        if (linkedSize !== null && /^\d+$/.test(linkedSize)) {
          return { size: Number(linkedSize), etag: linkedEtag, sha256, commit };
        }
        if (!location) throw this.httpError(res, path);
        const next = new URL(location, url);
        // Credentials only go to the hub itself, never to a CDN on another origin.
        if (next.origin !== new URL(url).origin) {
          const { authorization: _dropped, ...rest } = headers;
          headers = rest;
        }
        url = next.href;
        continue;
      }
      if (!res.ok) throw this.httpError(res, path);
      const len = linkedSize ?? res.headers.get('content-length');
      const etag = linkedEtag ?? normalizeEtag(res.headers.get('etag'));
      return { size: len !== null && /^\d+$/.test(len) ? Number(len) : null, etag, sha256, commit };
    }
    throw new HubError(`too many redirects for ${this.url(path)}; check HF_ENDPOINT`);
  }

  /** Downloads into `dest` through `dest.part`, resuming a previous partial download when there is one. */
  async download(
    path: string,
    dest: string,
    meta: FileMeta,
    onProgress?: (p: HubProgress) => void,
  ): Promise<void> {
    const part = `${dest}.part`;
    const total = meta.size;
    let lastError: HubError | null = null;
    if (total === 0) await writeFile(part, new Uint8Array(0));
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (attempt > 0) await sleep(RETRY_DELAY_MS * attempt);
      let offset = (await fileSize(part)) ?? 0;
      if (total !== null && offset > total) {
        await rm(part, { force: true });
        offset = 0;
      }
      if (total !== null && offset === total) {
        lastError = null;
        break;
      }

      const idle = new AbortController();
      let timer = setTimeout(() => idle.abort(), IDLE_TIMEOUT_MS);
      const kick = (): void => {
        clearTimeout(timer);
        timer = setTimeout(() => idle.abort(), IDLE_TIMEOUT_MS);
      };
      try {
        let res: Response;
        try {
          res = await this.fetchImpl(this.url(path), {
            headers: this.headers(offset > 0 ? { range: `bytes=${offset}-` } : {}),
            redirect: 'follow',
            signal: idle.signal,
          });
        } catch (err) {
          lastError = this.networkError(err);
          continue;
        }
        if (res.status === 416) {
          // Our partial file does not fit the remote one (it changed or shrank): start over.
          await res.body?.cancel();
          await rm(part, { force: true });
          lastError = new HubError(`server refused to resume ${path}; restarting`, 416);
          continue;
        }
        if (res.status >= 500) {
          await res.body?.cancel();
          lastError = this.httpError(res, path);
          continue;
        }
        if (res.status !== 200 && res.status !== 206) {
          await res.body?.cancel();
          throw this.httpError(res, path);
        }
        if (res.status === 206) {
          const m = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
          if (!m || Number(m[1]) !== offset) {
            await res.body?.cancel();
            await rm(part, { force: true });
            lastError = new HubError(`server resumed ${path} at the wrong offset; restarting`);
            continue;
          }
        } else {
          offset = 0; // 200 to a Range request: the server ignored it and sends the whole file
        }
        const len = res.headers.get('content-length');
        if (total !== null && len !== null && offset + Number(len) !== total) {
          await res.body?.cancel();
          await rm(part, { force: true });
          throw sizeMismatch(path, total, offset + Number(len));
        }
        const interrupted = await this.writeBody(res, part, offset, path, total, kick, onProgress);
        if (interrupted) {
          lastError = new HubError(
            `download of ${path} from ${this.endpoint} was interrupted (${interrupted}); run again to resume`,
          );
          continue;
        }
        const got = (await fileSize(part)) ?? 0;
        if (total !== null && got !== total) {
          await rm(part, { force: true });
          throw sizeMismatch(path, total, got);
        }
        lastError = null;
        break;
      } finally {
        clearTimeout(timer);
      }
    }
    if (lastError) throw lastError;

    if (meta.sha256) {
      const actual = await sha256File(part);
      if (actual !== meta.sha256) {
        await rm(part, { force: true });
        throw new HubError(
          `checksum mismatch for ${path} (expected sha256 ${meta.sha256}, got ${actual}); the partial download ` +
            'was discarded, run again',
        );
      }
    }
    await rename(part, dest);
  }

  /** Streams the body to `part`; returns a reason string if the connection broke (the bytes so far are kept). */
  private async writeBody(
    res: Response,
    part: string,
    offset: number,
    path: string,
    total: number | null,
    kick: () => void,
    onProgress?: (p: HubProgress) => void,
  ): Promise<string | null> {
    if (!res.body) return 'empty response';
    const fh = await open(part, offset > 0 ? 'a' : 'w');
    const reader = res.body.getReader();
    let ended = false; // the stream finished or failed on its own; otherwise it must be cancelled
    let received = offset;
    try {
      for (;;) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (err) {
          ended = true;
          const cause = (err as { cause?: { message?: string } }).cause;
          return cause?.message ?? (err as Error).message ?? String(err);
        }
        if (chunk.done) {
          ended = true;
          return null;
        }
        kick();
        try {
          await fh.write(chunk.value);
        } catch (err) {
          throw new HubError(
            `cannot write ${part} (${(err as NodeJS.ErrnoException).code ?? String(err)}); ` +
              'check free disk space and permissions, or set EARSHOT_CACHE_DIR',
          );
        }
        received += chunk.value.length;
        onProgress?.({ file: path, received, total });
      }
    } finally {
      if (!ended) await reader.cancel().catch(() => undefined);
      await fh.close();
    }
  }
}

function sizeMismatch(path: string, expected: number, got: number): HubError {
  return new HubError(
    `size mismatch for ${path}: expected ${expected} bytes, got ${got}; the partial download was discarded, run again`,
  );
}

async function sha256File(path: string): Promise<string> {
  const hash: Hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
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

/**
 * Downloads (or finds in the cache) the files of a Whisper ONNX model and returns its local directory.
 * Files already complete in the cache cause no network access.
 */
export async function pullModel(
  nameOrRepo: string,
  opts: HubOptions & { dtype?: string } = {},
): Promise<string> {
  const repo = repoForModelName(nameOrRepo);
  const revision = opts.revision ?? 'main';
  const dir = modelCacheDir(repo, revision, opts.cacheDir ?? defaultCacheDir());
  const dtype = opts.dtype ?? 'fp32';
  const wanted = filesForDtype(dtype);
  const hub = new HubRepo(repo, revision, opts);

  const meta: RepoMeta = (await readMeta(dir)) ?? { repo, revision, files: {} };
  meta.repo = repo;
  meta.revision = revision;

  // Learns size and etag; a partial file of another version cannot be resumed, so it is dropped.
  const plan = async (path: string): Promise<void> => {
    const head = await hub.head(path);
    if (head.commit) meta.commit = head.commit;
    const prev = meta.files[path];
    const dest = join(dir, path);
    await mkdir(dirname(dest), { recursive: true });
    if (!prev || prev.etag !== head.etag || prev.size !== head.size)
      await rm(`${dest}.part`, { force: true });
    const fileMeta: FileMeta = { size: head.size, etag: head.etag, done: false };
    if (head.sha256) fileMeta.sha256 = head.sha256;
    meta.files[path] = fileMeta;
    await writeMeta(dir, meta);
  };
  const fetchPlanned = async (path: string): Promise<void> => {
    const fileMeta = meta.files[path];
    await hub.download(path, join(dir, path), fileMeta, opts.onProgress);
    fileMeta.done = true;
    await writeMeta(dir, meta);
  };

  // config.json first: it says whether the ONNX files have external data chunks.
  if (!(await isDone(dir, meta, 'config.json'))) {
    await plan('config.json');
    await fetchPlanned('config.json');
  }
  let config: unknown = null;
  try {
    config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
  } catch {
    throw new HubError(`${repo}/config.json is not valid JSON; delete ${dir} and pull again`);
  }
  const files = [
    ...wanted.filter((f) => f !== 'config.json'),
    ...externalDataFiles(config, DTYPE_SUFFIX[dtype as Dtype]),
  ];
  const missing: string[] = [];
  for (const path of files) if (!(await isDone(dir, meta, path))) missing.push(path);
  // Ask about every file before downloading any, so a missing file (e.g. a dtype the repo lacks) fails fast.
  for (const path of missing) await plan(path);
  for (const path of missing) await fetchPlanned(path);
  return dir;
}

/** Every recorded file finished, and the side files plus an encoder/decoder pair of one dtype are there. */
async function isComplete(dir: string, meta: RepoMeta): Promise<boolean> {
  for (const p of Object.keys(meta.files)) if (!(await isDone(dir, meta, p))) return false;
  for (const p of SIDE_FILES) if (!(await isDone(dir, meta, p))) return false;
  for (const dtype of Object.keys(DTYPE_SUFFIX)) {
    const [enc, dec] = filesForDtype(dtype).slice(-2);
    if ((await isDone(dir, meta, enc)) && (await isDone(dir, meta, dec))) return true;
  }
  return false;
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) total += await dirBytes(p);
    else if (entry.isFile() && entry.name !== META_FILE) total += (await stat(p)).size;
  }
  return total;
}

export async function listCachedModels(
  cacheDir: string = defaultCacheDir(),
): Promise<{ repo: string; revision: string; dir: string; bytes: number; complete: boolean }[]> {
  const root = join(cacheDir, 'models');
  let repoDirs: string[];
  try {
    repoDirs = (await readdir(root, { withFileTypes: true }))
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
  const out: { repo: string; revision: string; dir: string; bytes: number; complete: boolean }[] = [];
  for (const repoDir of repoDirs.sort()) {
    const revs = (await readdir(join(root, repoDir), { withFileTypes: true })).filter((e) => e.isDirectory());
    for (const rev of revs.map((e) => e.name).sort()) {
      const dir = join(root, repoDir, rev);
      const meta = await readMeta(dir);
      const complete = meta !== null && (await isComplete(dir, meta));
      out.push({
        repo: meta?.repo ?? repoDir.replace('--', '/'),
        revision: meta?.revision ?? decodeURIComponent(rev),
        dir,
        bytes: await dirBytes(dir),
        complete,
      });
    }
  }
  return out;
}

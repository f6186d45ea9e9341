// Hugging Face hub access on @huggingface/hub (revision lookup, paths-info) with our own file download into the
// standard hub cache (cache.ts), so a model pulled by Python's huggingface_hub is reused and the other way round.
// Our download adds what the library's lacks: Range resume of a `.incomplete` blob, progress, size and hash
// checks, retries, one-line errors; and it logs nothing (the library's announces itself on console.debug).
// What a repository holds (Whisper's file list) is the caller's business: see models/whisper/hub-files.ts.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat, symlink } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { modelInfo, pathsInfo, type PathInfo } from '@huggingface/hub';
import { exists, isCommit, modelCacheDir, readRef, writeRef } from './cache.js';
import type { Progress } from './progress.js';

export type HubProgress = Progress;

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
const MAX_ATTEMPTS = 5;
const RETRY_DELAY_MS = 200;
// A connection that delivers nothing for this long is treated as dropped and resumed.
const IDLE_TIMEOUT_MS = 60_000;

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

  /** Where a file's bytes are (the hub redirects LFS files to its CDN; fetch follows). */
  fileUrl(commit: string, path: string): string {
    return `${this.endpoint}/${this.repo}/resolve/${commit}/${path.split('/').map(encodeURIComponent).join('/')}`;
  }

  async fetch(input: string | URL | Request, init: RequestInit = {}, path?: string): Promise<Response> {
    let res: Response;
    try {
      res = await this.fetchImpl(input, init);
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
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
    if (!isCommit(info.sha))
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

const sizeOf = (path: string): Promise<number> =>
  stat(path).then(
    (s) => s.size,
    () => 0,
  );

/** A failed attempt: retried (the `.incomplete` kept, resumed with Range) or final. */
class Attempt extends Error {
  constructor(
    readonly error: unknown,
    readonly retry: boolean,
  ) {
    super('download attempt failed');
  }
}

/** Blobs being downloaded in this process: a second pull of the same blob waits for the first. */
const inFlight = new Map<string, Promise<void>>();
let linkSeq = 0;

/**
 * One file into the cache: its blob (named as Python names it), then the snapshot's relative symlink to it.
 * A `.incomplete` blob left by an earlier run or a dropped connection is resumed with a Range request.
 */
async function download(
  hub: Hub,
  storage: string,
  commit: string,
  info: PathInfo,
  onProgress?: (p: HubProgress) => void,
): Promise<void> {
  const blob = join(storage, 'blobs', info.lfs?.oid ?? info.xetHash ?? info.oid ?? '');
  const pointer = join(storage, 'snapshots', commit, info.path);
  if (!(await exists(blob))) {
    let running = inFlight.get(blob);
    if (!running) {
      running = fetchBlob(hub, commit, info, blob, onProgress).finally(() => inFlight.delete(blob));
      inFlight.set(blob, running);
    }
    await running;
  }
  // Link beside and rename over: atomic, so two pulls of one snapshot at once both end with a good link.
  await mkdir(dirname(pointer), { recursive: true });
  const link = `${pointer}.${process.pid}.${++linkSeq}.tmp`;
  await symlink(relative(dirname(pointer), blob), link);
  await rename(link, pointer);
}

async function fetchBlob(
  hub: Hub,
  commit: string,
  info: PathInfo,
  blob: string,
  onProgress?: (p: HubProgress) => void,
): Promise<void> {
  const incomplete = `${blob}.incomplete`;
  const size = info.lfs?.size ?? info.size;
  await mkdir(dirname(blob), { recursive: true });
  for (let attempt = 1; ; attempt++) {
    try {
      await fetchOnce(hub, commit, info, incomplete, size, onProgress);
      break;
    } catch (err) {
      if (!(err instanceof Attempt)) throw asHubError(err, dirname(blob), info.path);
      if (!err.retry || attempt >= MAX_ATTEMPTS) throw asHubError(err.error, dirname(blob), info.path);
      await sleep(RETRY_DELAY_MS * attempt);
    }
  }
  await checkBlob(info, incomplete, size);
  await rename(incomplete, blob);
}

/** One request: appends to `.incomplete` from where it stops (the whole file when the server ignores Range). */
async function fetchOnce(
  hub: Hub,
  commit: string,
  info: PathInfo,
  incomplete: string,
  size: number,
  onProgress?: (p: HubProgress) => void,
): Promise<void> {
  let have = await sizeOf(incomplete);
  if (have >= size) have = 0;
  const headers: Record<string, string> = have > 0 ? { range: `bytes=${have}-` } : {};
  if (hub.token) headers.authorization = `Bearer ${hub.token}`;
  const idle = new AbortController();
  let timer = setTimeout(() => idle.abort(), IDLE_TIMEOUT_MS);
  try {
    let res: Response;
    try {
      res = await hub.fetch(hub.fileUrl(commit, info.path), { headers, signal: idle.signal }, info.path);
    } catch (err) {
      const retry = !(err instanceof HubError) || err.status === undefined || err.status >= 500;
      throw new Attempt(err, retry);
    }
    // 200 to a Range request: the whole file comes again.
    if (res.status !== 206) have = 0;
    const file = await open(incomplete, have > 0 ? 'a' : 'w');
    let received = have;
    try {
      onProgress?.({ file: info.path, received, total: size });
      const reader = res.body!.getReader();
      for (;;) {
        const next = await reader.read().catch((err: unknown) => {
          const why = (err as { cause?: Error }).cause?.message ?? (err as Error).message;
          throw new Attempt(
            new HubError(`download of ${info.path} was interrupted (${why}); run again to resume`),
            true,
          );
        });
        if (next.done) break;
        clearTimeout(timer);
        timer = setTimeout(() => idle.abort(), IDLE_TIMEOUT_MS);
        await file.write(next.value);
        received += next.value.length;
        onProgress?.({ file: info.path, received, total: size });
      }
    } finally {
      await file.close();
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Size and the hub's hash (LFS sha256, or the git blob sha1; xet files have neither) of a finished file. */
async function checkBlob(info: PathInfo, incomplete: string, size: number): Promise<void> {
  const received = await sizeOf(incomplete);
  const hash = createHash(info.lfs ? 'sha256' : 'sha1');
  if (!info.lfs) hash.update(`blob ${received}\0`);
  for await (const chunk of createReadStream(incomplete)) hash.update(chunk as Buffer);
  const expected = info.lfs ? info.lfs.oid : info.xetHash ? undefined : info.oid;
  const actual = hash.digest('hex');
  if (received === size && (expected === undefined || actual === expected)) return;
  await rm(incomplete, { force: true });
  const what =
    received !== size
      ? `size mismatch for ${info.path}: expected ${size} bytes, got ${received}`
      : `checksum mismatch for ${info.path} (expected ${expected}, got ${actual})`;
  throw new HubError(`${what}; the download was discarded, run again`);
}

function asHubError(err: unknown, storage: string, path: string): unknown {
  if (err instanceof HubError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === undefined) return err instanceof Error ? err : new HubError(`download of ${path} failed`);
  return new HubError(
    `cannot write to ${storage} (${code}); check free disk space and permissions, or set EARSHOT_CACHE_DIR`,
  );
}

/** What a caller wants of a repo: the files a snapshot needs (which may depend on files already there). */
export interface RepoFiles {
  /** The files `snapshot` lacks; with no snapshot yet, the first ones to fetch. */
  missing(snapshot: string | null): Promise<string[]>;
  /** For errors: what is being pulled (`owner/repo (revision main, q8)`) and how to pull it by hand. */
  describe: string;
  pullHint: string;
}

/**
 * Finds in the cache, or downloads, the files `wanted` names and returns the snapshot directory. A complete cached
 * snapshot of the revision causes no network access. Files that become known only once others are there (ONNX
 * external data named by config.json) are fetched in a second round.
 */
export async function pullFiles(repo: string, wanted: RepoFiles, opts: HubOptions = {}): Promise<string> {
  const revision = opts.revision ?? 'main';
  if (revision.split('/').includes('..')) throw new HubError(`invalid revision "${revision}"`);
  const storage = modelCacheDir(repo, opts.cacheDir);
  const cached = await readRef(storage, revision);
  const cachedMissing = await wanted.missing(cached ? join(storage, 'snapshots', cached) : null);
  if (cached && cachedMissing.length === 0) return join(storage, 'snapshots', cached);
  if (isOffline(opts)) {
    throw new HubError(
      `offline (HF_HUB_OFFLINE) and ${wanted.describe} is not complete in ${dirname(storage)}: missing ` +
        `${cached ? cachedMissing.join(', ') : `refs/${revision}`}; ${wanted.pullHint}`,
    );
  }
  const hub = new Hub(repo, revision, opts);
  const commit = await hub.commit();
  const snapshot = join(storage, 'snapshots', commit);
  const infos = new Map<string, PathInfo>();
  for (let round = 0; round < 3; round++) {
    const todo = await wanted.missing(round === 0 && !(await exists(snapshot)) ? null : snapshot);
    if (todo.length === 0) break;
    const unknown = todo.filter((f) => !infos.has(f));
    if (unknown.length > 0) for (const [p, i] of await hub.files(commit, unknown)) infos.set(p, i);
    for (const path of todo) await download(hub, storage, commit, infos.get(path)!, opts.onProgress);
  }
  await writeRef(storage, revision, commit);
  return snapshot;
}

/**
 * Finds in the cache, or downloads, one file of a hub repo (a speaker-embedding model, say) and returns its path
 * in the snapshot: the same cache, resume, checksums, progress, refs and offline rules as any pull.
 */
export async function pullFile(repo: string, path: string, opts: HubOptions = {}): Promise<string> {
  if (path.split('/').some((p) => p === '..' || p === '')) throw new HubError(`invalid file path "${path}"`);
  const revision = opts.revision ?? 'main';
  const snapshot = await pullFiles(
    repo,
    {
      missing: async (dir) => (dir && (await exists(join(dir, path))) ? [] : [path]),
      describe: `${repo}/${path} (revision ${revision})`,
      pullHint: 'fetch it once with network access',
    },
    opts,
  );
  return join(snapshot, path);
}

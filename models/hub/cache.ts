// The standard Hugging Face hub cache (the one Python's huggingface_hub writes): models--owner--name/ holding
// blobs/ (named by LFS sha256 or git blob id), snapshots/<commit>/ (relative symlinks into blobs/) and
// refs/<revision> (the commit a branch or tag pointed at when it was pulled).
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { getHFHubCachePath, getRepoFolderName } from '@huggingface/hub';

const COMMIT = /^[0-9a-f]{40}$/;

export const isCommit = (revision: string): boolean => COMMIT.test(revision);

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

/** A repo's folder in the hub cache (`models--owner--name`, holding blobs/, snapshots/ and refs/). */
export function modelCacheDir(repo: string, cacheDir?: string): string {
  return join(hubCacheDir(cacheDir), getRepoFolderName({ name: repo, type: 'model' }));
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** The commit a revision names in this repo's cache, or null when it was never pulled. */
export async function readRef(storage: string, revision: string): Promise<string | null> {
  if (isCommit(revision)) return revision;
  const commit = await readFile(join(storage, 'refs', revision), 'utf8').catch(() => null);
  return commit !== null && isCommit(commit.trim()) ? commit.trim() : null;
}

/** @huggingface/hub does not record refs; Python and our offline lookups need them. */
export async function writeRef(storage: string, revision: string, commit: string): Promise<void> {
  if (revision === commit) return;
  await mkdir(dirname(join(storage, 'refs', revision)), { recursive: true });
  await writeFile(join(storage, 'refs', revision), commit);
}

export interface CachedSnapshot {
  repo: string;
  /** The refs pointing at it (`main`, `refs/pr/1`, comma-separated), else the commit. */
  revision: string;
  dir: string;
  bytes: number;
}

/**
 * Every snapshot in the hub cache that `accept` takes, one row each. The library's scanCacheDir is not used: it
 * skips files in snapshot subfolders (onnx/).
 */
export async function cachedSnapshots(
  cacheDir: string | undefined,
  accept: (dir: string) => Promise<boolean>,
): Promise<CachedSnapshot[]> {
  const root = hubCacheDir(cacheDir);
  const repoDirs = (await readdir(root).catch(() => [] as string[])).filter((n) => n.startsWith('models--'));
  const out: CachedSnapshot[] = [];
  for (const repoDir of repoDirs.sort()) {
    const storage = join(root, repoDir);
    const refs = await refsByCommit(join(storage, 'refs'));
    const commits = await readdir(join(storage, 'snapshots')).catch(() => [] as string[]);
    for (const commit of commits.sort()) {
      const dir = join(storage, 'snapshots', commit);
      if (!(await accept(dir))) continue;
      out.push({
        repo: repoDir.slice('models--'.length).replace('--', '/'),
        revision: refs.get(commit) ?? commit,
        dir,
        bytes: await snapshotBytes(dir),
      });
    }
  }
  return out;
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

// API keys: kept only as SHA-256 hashes, compared in constant time, reloadable so that removing a line revokes.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';

export const API_KEY_PREFIX = 'esk_';

export interface ApiKeyEntry {
  name: string;
  /** sha256 of the key's UTF-8 bytes. */
  hash: Buffer;
  admin: boolean;
}

export class ApiKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ApiKeyError';
  }
}

const NAME = /^[A-Za-z0-9._@-]{1,64}$/;
const HASH = /^sha256:([0-9a-f]{64})$/i;
const SCOPES = ['admin'];

export function hashApiKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/** A new random key: the prefix, then 32 random bytes in base64url. */
export function generateApiKey(): string {
  return API_KEY_PREFIX + randomBytes(32).toString('base64url');
}

/** The api-keys file line for a key: `name sha256:<hex> [admin]`. */
export function apiKeyLine(name: string, key: string, admin = false): string {
  if (!NAME.test(name))
    throw new ApiKeyError(`key name "${name}" must be 1-64 characters of A-Z a-z 0-9 . _ @ -`);
  return `${name} sha256:${hashApiKey(key).toString('hex')}${admin ? ' admin' : ''}`;
}

/**
 * The configured keys. From `--api-keys NAME:KEY[:admin],...` (KEY in clear or as sha256:<hex>), or from a file of
 * `name sha256:<hex> [admin]` lines (`#` comments), which reload() re-reads.
 */
export class ApiKeyStore {
  private entries: ApiKeyEntry[];
  private readonly reloadListeners = new Set<() => void>();

  private constructor(
    entries: ApiKeyEntry[],
    /** The file the keys come from, when they do. */
    readonly file?: string,
  ) {
    this.entries = entries;
  }

  static fromList(list: string): ApiKeyStore {
    const entries = list
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '')
      .map((item, i) => parseListItem(item, i + 1));
    return new ApiKeyStore(checkUnique(entries, '--api-keys'));
  }

  static fromFile(file: string): ApiKeyStore {
    return new ApiKeyStore(readKeyFile(file), file);
  }

  /** The --api-keys option value: `@FILE` or a list. */
  static fromOption(value: string): ApiKeyStore {
    return value.startsWith('@') ? ApiKeyStore.fromFile(value.slice(1)) : ApiKeyStore.fromList(value);
  }

  get size(): number {
    return this.entries.length;
  }

  /** The entry whose hash matches; every entry is compared, so timing does not depend on which one. */
  verify(key: string): Omit<ApiKeyEntry, 'hash'> | undefined {
    const hash = hashApiKey(key);
    let match: ApiKeyEntry | undefined;
    for (const e of this.entries) if (timingSafeEqual(e.hash, hash) && !match) match = e;
    return match && { name: match.name, admin: match.admin };
  }

  /**
   * Re-reads the file (a removed key is refused from now on). On a bad file the current keys stay and this
   * throws, so a typo never locks everyone out. Returns the number of keys.
   */
  reload(): number {
    if (this.file === undefined) return this.entries.length;
    this.entries = readKeyFile(this.file);
    for (const listener of this.reloadListeners) listener();
    return this.entries.length;
  }

  /** Called after every successful reload (live streams re-check their key); returns the unsubscribe. */
  onReload(listener: () => void): () => void {
    this.reloadListeners.add(listener);
    return () => this.reloadListeners.delete(listener);
  }

  /**
   * Reloads when the file changes (polled, so editors that replace the file are seen) and on SIGHUP. Returns a
   * function that stops watching.
   */
  watch(report: { reloaded(count: number): void; failed(err: Error): void }, intervalMs = 2000): () => void {
    const file = this.file;
    if (file === undefined) return () => {};
    const reload = () => {
      try {
        report.reloaded(this.reload());
      } catch (err) {
        report.failed(err as Error);
      }
    };
    const onChange = (cur: { mtimeMs: number }, prev: { mtimeMs: number }) => {
      if (cur.mtimeMs !== prev.mtimeMs) reload();
    };
    watchFile(file, { interval: intervalMs, persistent: false }, onChange);
    process.on('SIGHUP', reload);
    return () => {
      unwatchFile(file, onChange);
      process.off('SIGHUP', reload);
    };
  }
}

function parseListItem(item: string, n: number): ApiKeyEntry {
  const parts = item.split(':');
  const admin = parts.length > 2 && SCOPES.includes(parts[parts.length - 1]);
  if (admin) parts.pop();
  const name = parts.shift() ?? '';
  const key = parts.join(':');
  const where = `--api-keys item ${n}`;
  if (!NAME.test(name))
    throw new ApiKeyError(`${where}: expected NAME:KEY with a name of A-Z a-z 0-9 . _ @ -`);
  if (key === '') throw new ApiKeyError(`${where} (${name}): the key is empty`);
  const hashed = HASH.exec(key);
  return { name, hash: hashed ? Buffer.from(hashed[1], 'hex') : hashApiKey(key), admin };
}

function readKeyFile(file: string): ApiKeyEntry[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ApiKeyError(`cannot read the api-keys file ${file}: ${(err as Error).message}`);
  }
  const entries: ApiKeyEntry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') return;
    const where = `${file}:${i + 1}`;
    const [name, hash, ...scopes] = line.split(/\s+/);
    if (!NAME.test(name))
      throw new ApiKeyError(`${where}: the name must be 1-64 characters of A-Z a-z 0-9 . _ @ -`);
    const m = HASH.exec(hash ?? '');
    // Never echo the second column: it may be a key pasted in clear.
    if (!m)
      throw new ApiKeyError(`${where}: expected "name sha256:<64 hex digits> [admin]" (earshot keys create)`);
    const unknown = scopes.filter((s) => !SCOPES.includes(s));
    if (unknown.length) throw new ApiKeyError(`${where}: unknown scope ${unknown.join(' ')} (known: admin)`);
    entries.push({ name, hash: Buffer.from(m[1], 'hex'), admin: scopes.includes('admin') });
  });
  return checkUnique(entries, file);
}

function checkUnique(entries: ApiKeyEntry[], where: string): ApiKeyEntry[] {
  const names = new Set<string>();
  const hashes = new Set<string>();
  for (const e of entries) {
    if (names.has(e.name)) throw new ApiKeyError(`${where}: key name ${e.name} appears twice`);
    const h = e.hash.toString('hex');
    if (hashes.has(h)) throw new ApiKeyError(`${where}: key ${e.name} has the same key as another entry`);
    names.add(e.name);
    hashes.add(h);
  }
  return entries;
}

// `--store`: which transcript store a server runs with.
import { ConfigError } from '../config.js';
import { FileStore, type FileStoreOptions } from './file.js';
import { MemoryStore } from './memory.js';
import { RedisStore } from './redis.js';
import type { TranscriptStore } from './types.js';

export interface StoreConfig {
  /** memory, file, file:DIR, or a redis:// / rediss:// URL. */
  store: string;
  dataDir: string;
  retentionHours: number;
}

/** `log` hears what a store skips rather than fails on (corrupt lines, files a sweep could not handle). */
export function createStore(c: StoreConfig, log?: FileStoreOptions['log']): TranscriptStore {
  if (c.store === 'memory') return new MemoryStore();
  if (/^rediss?:\/\//.test(c.store))
    return new RedisStore({ url: c.store, retentionHours: c.retentionHours });
  const dir = c.store.startsWith('file:') ? c.store.slice('file:'.length) : c.dataDir;
  try {
    return new FileStore({ dir, retentionHours: c.retentionHours, log });
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConfigError(
      `--data-dir ${dir}: cannot create it (${why}); choose a writable --data-dir, or --store memory`,
    );
  }
}

/** Where a store keeps its data, for the startup log (a Redis URL without its credentials). */
export function describeStore(c: StoreConfig): string {
  if (c.store === 'memory') return 'memory (nothing survives a restart)';
  if (/^rediss?:\/\//.test(c.store)) {
    const u = new URL(c.store);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  }
  return `file ${c.store.startsWith('file:') ? c.store.slice('file:'.length) : c.dataDir}`;
}

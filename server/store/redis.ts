// The shared store for several replicas: the session record, its finals and its lease live in Redis, so a stream
// resumed on any replica replays what was acknowledged. A final is acknowledged by Redis before it is sent; while
// Redis is unreachable, appends wait (bounded in time and in count) for it to return, then fail loudly.
import { Redis } from 'ioredis';
import { RedisVoiceprints } from './redis-voiceprints.js';
import {
  StoreUnavailableError,
  TranscriptFullError,
  type RecordPatch,
  type SessionRecord,
  type StoredFinal,
  type TranscriptStore,
} from './types.js';

export interface RedisStoreOptions {
  url: string;
  /** Keys expire this long after the session's last write (0: never). */
  retentionHours: number;
  /** One command's bound; a slower Redis counts as down for that attempt. */
  commandTimeoutMs?: number;
  /** How long a write waits for Redis to come back before the stream is told the store is gone. */
  outageMs?: number;
  /** Writes allowed to wait at once, across every stream (bounds memory during an outage). */
  maxWaiting?: number;
  prefix?: string;
  /** A session's finals stop at this many bytes (TranscriptFullError: the stream ends 1008). */
  maxSessionBytes?: number;
}

// A lease value is `HOLDER CLIENT-ID`: the holder (`replica/connection`) and the Redis client id of its
// connection. Take it if free, ours, held by another connection of our own replica (whose in-process guard has
// ended that one), or still exactly ARGV[4] (a value whose holder was seen dead); then (re)arm its expiry.
const LEASE = `local v = redis.call('GET', KEYS[1])
if v == false or v == ARGV[4] or string.sub(v, 1, #ARGV[1] + 1) == ARGV[1] .. ' '
  or (ARGV[3] ~= '' and string.sub(v, 1, #ARGV[3]) == ARGV[3]) then
  redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. ARGV[5], 'PX', ARGV[2]) return 1 end
return v`;
// A final for an existing session: stored, lastSeq moved, retention re-armed; 0 when the session is unknown, 2
// when it would take the session's finals past ARGV[5] bytes (counted in the record's BYTES field, once per final
// even when a write is retried).
const BYTES = '_bytes';
const APPEND = `if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('ZSCORE', KEYS[2], ARGV[2]) == false then
  if tonumber(redis.call('HGET', KEYS[1], '${BYTES}') or '0') + #ARGV[2] > tonumber(ARGV[5]) then return 2 end
  redis.call('HINCRBY', KEYS[1], '${BYTES}', #ARGV[2])
end
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[1], 'lastSeq', ARGV[3])
if tonumber(ARGV[4]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[4]) redis.call('EXPIRE', KEYS[2], ARGV[4]) end
return 1`;
const RELEASE = `local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1] + 1) == ARGV[1] .. ' ' then return redis.call('DEL', KEYS[1]) end return 0`;

export class RedisStore implements TranscriptStore {
  private readonly redis: Redis;
  private waiting = 0;
  private closed = false;
  private readonly ttlSeconds: number;
  private readonly maxBytes: number;
  /** This connection's Redis client id, written into leases so a contender can tell a dead holder. */
  private clientId: Promise<string> | undefined;
  readonly voiceprints: RedisVoiceprints;

  constructor(private readonly o: RedisStoreOptions) {
    this.ttlSeconds = Math.round(o.retentionHours * 3600);
    this.maxBytes = o.maxSessionBytes ?? 64 * 2 ** 20;
    this.redis = new Redis(o.url, {
      commandTimeout: o.commandTimeoutMs ?? 2000,
      // Commands wait for a (re)connection only briefly (commandTimeout); our write loop decides how long a final
      // may wait for Redis, so ioredis must not retry on its own.
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 2000),
      lazyConnect: false,
    });
    // Connection errors surface through commands and available(); without a listener ioredis logs each one.
    this.redis.on('error', () => undefined);
    this.redis.on('ready', () => (this.clientId = undefined));
    this.voiceprints = new RedisVoiceprints(this.redis, o.prefix ?? 'earshot:');
  }

  /** Whether a new stream can be promised durable finals right now. */
  available(): boolean {
    return this.redis.status === 'ready';
  }

  private key(kind: 'rec' | 'fin' | 'lease', session: string): string {
    // The hash tag keeps one session's keys on one slot of a Redis Cluster.
    return `${this.o.prefix ?? 'earshot:'}${kind}:{${session}}`;
  }

  /** Runs a write until Redis acknowledges it, waiting out an outage up to outageMs. */
  private async write<T>(run: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + (this.o.outageMs ?? 30_000);
    if (this.waiting >= (this.o.maxWaiting ?? 10_000)) {
      throw new StoreUnavailableError('transcript store (Redis) is unreachable and its write buffer is full');
    }
    this.waiting++;
    try {
      for (let delay = 100; ; delay = Math.min(delay * 2, 1000)) {
        try {
          return await run();
        } catch (err) {
          // Closed (shutdown): nothing will come back, and a retry timer would hold the process open.
          if (this.closed) throw new StoreUnavailableError('transcript store (Redis) closed');
          if (Date.now() + delay > deadline) {
            throw new StoreUnavailableError(
              `transcript store (Redis) unreachable for ${Math.round((this.o.outageMs ?? 30_000) / 1000)} s: ${(err as Error).message}`,
            );
          }
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    } finally {
      this.waiting--;
    }
  }

  private expire(m: ReturnType<Redis['multi']>, session: string): void {
    if (this.ttlSeconds > 0) {
      m.expire(this.key('rec', session), this.ttlSeconds);
      m.expire(this.key('fin', session), this.ttlSeconds);
    }
  }

  async open(record: SessionRecord): Promise<void> {
    const existing = await this.get(record.id);
    const fields = existing ? { status: 'live' } : record;
    await this.write(async () => {
      const m = this.redis.multi();
      m.hset(this.key('rec', record.id), encode(fields));
      this.expire(m, record.id);
      check(await m.exec());
    });
  }

  async append(session: string, final: StoredFinal): Promise<void> {
    // One round trip per final, the existence check included; a retried ZADD of the same member changes nothing.
    const stored = await this.write(() =>
      this.redis.eval(
        APPEND,
        2,
        this.key('rec', session),
        this.key('fin', session),
        String(final.seq),
        JSON.stringify(final),
        JSON.stringify(final.seq),
        String(this.ttlSeconds),
        String(this.maxBytes),
      ),
    );
    if (stored === 2) {
      const mib = Math.round(this.maxBytes / 2 ** 20);
      throw new TranscriptFullError(`transcript of session ${session} is full (${mib} MiB)`);
    }
    if (stored !== 1) throw new Error(`unknown session ${session}`);
  }

  async finals(session: string, afterSeq = -1): Promise<StoredFinal[]> {
    const raw = await this.redis.zrangebyscore(this.key('fin', session), `(${afterSeq}`, '+inf');
    return raw.map((r) => JSON.parse(r) as StoredFinal);
  }

  async get(session: string): Promise<SessionRecord | undefined> {
    const h = await this.redis.hgetall(this.key('rec', session));
    if (!h.id) return undefined;
    delete h[BYTES];
    return Object.fromEntries(Object.entries(h).map(([k, v]) => [k, JSON.parse(v)])) as SessionRecord;
  }

  async update(session: string, patch: RecordPatch): Promise<void> {
    if (Object.keys(encode(patch)).length === 0) return;
    await this.write(async () => {
      // Only an existing record is patched (HSET on a missing key would create a record without an id).
      if (!(await this.redis.exists(this.key('rec', session)))) return;
      const m = this.redis.multi();
      m.hset(this.key('rec', session), encode(patch));
      this.expire(m, session);
      check(await m.exec());
    });
  }

  async delete(session: string): Promise<boolean> {
    const n = await this.redis.del(this.key('rec', session), this.key('fin', session));
    return n > 0;
  }

  /**
   * One live connection per session across replicas: taken (or renewed) by its holder (`replica/connection`),
   * expiring ttlMs after the last renewal. A holder whose Redis connection is gone (its process died) is taken over
   * at once rather than after its expiry, so a client that resumes on a survivor is not refused meanwhile.
   */
  async lease(session: string, holder: string, ttlMs: number): Promise<boolean> {
    const key = this.key('lease', session);
    const slash = holder.indexOf('/');
    const replica = slash > 0 ? holder.slice(0, slash + 1) : '';
    const id = await this.ownClientId();
    const take = (stale: string) => this.redis.eval(LEASE, 1, key, holder, String(ttlMs), replica, stale, id);
    const held = await take('');
    if (held === 1) return true;
    const other = String(held).split(' ')[1];
    return !(await this.clientConnected(other)) && (await take(String(held))) === 1;
  }

  async release(session: string, holder: string): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.key('lease', session), holder).catch(() => undefined);
  }

  private ownClientId(): Promise<string> {
    this.clientId ??= this.redis.call('CLIENT', 'ID').then(String, (err: unknown) => {
      this.clientId = undefined;
      throw err;
    });
    return this.clientId;
  }

  /** Whether a Redis client id is still connected (unknown ids, and Redis before 6.2, count as connected). */
  private async clientConnected(id: string | undefined): Promise<boolean> {
    if (!id || !/^\d+$/.test(id)) return true;
    const list = await this.redis.call('CLIENT', 'LIST', 'ID', id).catch(() => 'unknown');
    return String(list).trim() !== '';
  }

  async close(): Promise<void> {
    this.closed = true;
    this.redis.disconnect();
  }
}

/** Hash fields as JSON; an undefined field is left out (JSON.stringify would make it an empty, unreadable value). */
function encode(fields: object): Record<string, string> {
  return Object.fromEntries(
    Object.entries(fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, JSON.stringify(v)]),
  );
}

function check(results: [Error | null, unknown][] | null): void {
  if (!results) throw new Error('Redis transaction aborted');
  for (const [err] of results) if (err) throw err;
}

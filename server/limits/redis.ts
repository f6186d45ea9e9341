// Limit state shared by replicas: token buckets and concurrency slots in Redis, on Redis' own clock (replicas'
// clocks may disagree). A slot is a member of a sorted set scored by its expiry, renewed by the replica holding it
// while it lives: the slots of a replica that died expire on their own and free up within slotTtlMs.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { BucketSpec, LimitStore, TakeResult } from './store.js';

export interface RedisLimitStoreOptions {
  url: string;
  prefix?: string;
  /** A slot not renewed for this long is free again (its replica died); renewed every third of it. */
  slotTtlMs?: number;
  commandTimeoutMs?: number;
}

// KEYS[1] bucket hash {tokens, at}; ARGV: amount, need, capacity, refillPerSecond. Returns {ok, level, retryMs}
// as strings (Lua numbers lose their fraction on the way back).
const TAKE = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local amount, need, cap, rate = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local level = cap
if b[1] then level = math.min(cap, tonumber(b[1]) + math.max(0, now - tonumber(b[2])) / 1000 * rate) end
if level < need then
  local wait = -1
  if rate > 0 then wait = (need - level) / rate * 1000 end
  return {0, tostring(level), tostring(wait)}
end
local tokens = math.min(cap, level - amount)
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
local full = 86400000
if rate > 0 then full = math.ceil((cap - tokens) / rate * 1000) + 1000 end
redis.call('PEXPIRE', KEYS[1], math.max(1000, full))
return {1, tostring(tokens), '0'}`;

// KEYS[1] slot set; ARGV: member, max, ttlMs. Expired slots (dead replicas) are dropped first.
const ACQUIRE = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1`;

// KEYS[1] slot set; ARGV: ttlMs, members... Re-arms the expiry of the slots this replica still holds.
const RENEW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1`;

/**
 * `LimitStore` for several replicas. Choose it when the transcript store is Redis (`--store redis://...`), with
 * the same URL: `new Limiter(config, new RedisLimitStore({ url }))`; call close() at shutdown.
 */
export class RedisLimitStore implements LimitStore {
  private readonly redis: Redis;
  private readonly replica = randomUUID().slice(0, 8);
  private next = 0;
  /** Slots this replica holds, by key: renewed while held, one removed per release(). */
  private readonly held = new Map<string, string[]>();
  private readonly renewal: NodeJS.Timeout;
  private readonly ttlMs: number;

  constructor(private readonly o: RedisLimitStoreOptions) {
    this.ttlMs = o.slotTtlMs ?? 30_000;
    this.redis = new Redis(o.url, { commandTimeout: o.commandTimeoutMs ?? 2000, maxRetriesPerRequest: 1 });
    this.redis.on('error', () => undefined);
    this.renewal = setInterval(() => void this.renew(), this.ttlMs / 3);
    this.renewal.unref();
  }

  private key(kind: 'bucket' | 'slots', key: string): string {
    return `${this.o.prefix ?? 'earshot:limit:'}${kind}:{${key}}`;
  }

  async take(
    key: string,
    amount: number,
    spec: BucketSpec,
    _now: number,
    need = amount,
  ): Promise<TakeResult> {
    const args = [amount, need, spec.capacity, spec.refillPerSecond].map(String);
    const [ok, level, wait] = (await this.redis.eval(TAKE, 1, this.key('bucket', key), ...args)) as [
      number,
      string,
      string,
    ];
    const retryAfterMs = Number(wait) < 0 ? Infinity : Number(wait);
    return { ok: ok === 1, level: Number(level), retryAfterMs };
  }

  async acquire(key: string, max: number): Promise<boolean> {
    const member = `${this.replica}:${++this.next}`;
    const ok = await this.redis.eval(
      ACQUIRE,
      1,
      this.key('slots', key),
      member,
      String(max),
      String(this.ttlMs),
    );
    if (ok !== 1) return false;
    this.held.set(key, [...(this.held.get(key) ?? []), member]);
    return true;
  }

  async release(key: string): Promise<void> {
    const members = this.held.get(key);
    const member = members?.pop();
    if (!member) return;
    if (members!.length === 0) this.held.delete(key);
    await this.redis.zrem(this.key('slots', key), member);
  }

  private async renew(): Promise<void> {
    for (const [key, members] of this.held) {
      await this.redis
        .eval(RENEW, 1, this.key('slots', key), String(this.ttlMs), ...members)
        .catch(() => undefined); // Redis away: the slots expire, which errs on admitting, never on refusing
    }
  }

  async close(): Promise<void> {
    clearInterval(this.renewal);
    this.redis.disconnect();
  }
}

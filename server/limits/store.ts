// Where limit state lives: token buckets and concurrency counters behind one interface, so that a shared store
// (Redis, for several replicas) can replace the in-process one.

export interface BucketSpec {
  /** Most tokens the bucket holds (the burst). */
  capacity: number;
  refillPerSecond: number;
}

export interface TakeResult {
  ok: boolean;
  /** Tokens left after the call (negative: in debt). */
  level: number;
  /** When !ok: milliseconds until the bucket holds `need`. */
  retryAfterMs: number;
}

/**
 * Every method is atomic per key. `now` comes from the caller (one clock for the whole Limiter, fakeable in tests);
 * a shared implementation may use its own clock instead if replicas' clocks disagree.
 */
export interface LimitStore {
  /**
   * If the bucket `key` (full when first seen) holds at least `need` tokens, removes `amount` (which may take it
   * below zero: audio already received is charged in full, and a negative amount gives tokens back). Otherwise
   * changes nothing.
   */
  take(key: string, amount: number, spec: BucketSpec, now: number, need?: number): Promise<TakeResult>;
  /**
   * One more holder of `key` if fewer than `max` hold it. A shared store should expire holders that stop renewing
   * (a replica that crashed), e.g. with a TTL refreshed while the stream lives.
   */
  acquire(key: string, max: number): Promise<boolean>;
  release(key: string): Promise<void>;
}

interface Bucket {
  tokens: number;
  at: number;
  spec: BucketSpec;
}

export function levelAt(b: { tokens: number; at: number }, spec: BucketSpec, now: number): number {
  const elapsed = Math.max(0, now - b.at) / 1000;
  return Math.min(spec.capacity, b.tokens + elapsed * spec.refillPerSecond);
}

/** The in-process store: one replica. Buckets that have refilled completely are forgotten, so memory stays bounded. */
export class MemoryLimitStore implements LimitStore {
  private buckets = new Map<string, Bucket>();
  private holders = new Map<string, number>();
  private ops = 0;

  async take(key: string, amount: number, spec: BucketSpec, now: number, need = amount): Promise<TakeResult> {
    if (++this.ops % 4096 === 0) this.sweep(now);
    const b = this.buckets.get(key);
    const level = b ? levelAt(b, spec, now) : spec.capacity;
    if (level < need) {
      const retryAfterMs =
        spec.refillPerSecond > 0 ? ((need - level) / spec.refillPerSecond) * 1000 : Infinity;
      return { ok: false, level, retryAfterMs };
    }
    const tokens = Math.min(spec.capacity, level - amount);
    this.buckets.set(key, { tokens, at: now, spec });
    return { ok: true, level: tokens, retryAfterMs: 0 };
  }

  async acquire(key: string, max: number): Promise<boolean> {
    const n = this.holders.get(key) ?? 0;
    if (n >= max) return false;
    this.holders.set(key, n + 1);
    return true;
  }

  async release(key: string): Promise<void> {
    const n = (this.holders.get(key) ?? 0) - 1;
    if (n > 0) this.holders.set(key, n);
    else this.holders.delete(key);
  }

  /** Keys currently tracked (for tests and metrics). */
  get size(): number {
    return this.buckets.size + this.holders.size;
  }

  sweep(now: number): void {
    for (const [key, b] of this.buckets)
      if (levelAt(b, b.spec, now) >= b.spec.capacity) this.buckets.delete(key);
  }
}

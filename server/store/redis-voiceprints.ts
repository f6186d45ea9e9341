// The Redis store's voiceprints: one hash per subject (field: name, value: the voiceprint's JSON), no expiry.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { byName } from './memory-voiceprints.js';
import { VoiceprintLimitError, type Voiceprint, type VoiceprintStore } from './types.js';

// Replaces the name's voiceprint, or adds it while the subject holds fewer than ARGV[3]; 0 when full.
const PUT = `if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return 1`;

export class RedisVoiceprints implements VoiceprintStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** The subject's hash; its hash tag keeps it on one slot of a Redis Cluster. */
  private key(subject: string): string {
    return `${this.prefix}vp:{${createHash('sha256').update(subject, 'utf8').digest('hex').slice(0, 32)}}`;
  }

  async put(v: Voiceprint, limit: number): Promise<void> {
    const stored = await this.redis.eval(
      PUT,
      1,
      this.key(v.subject),
      v.name,
      JSON.stringify(v),
      String(limit),
    );
    if (stored !== 1) throw new VoiceprintLimitError(limit);
  }

  async get(subject: string, name: string): Promise<Voiceprint | undefined> {
    const raw = await this.redis.hget(this.key(subject), name);
    const v = raw === null ? undefined : (JSON.parse(raw) as Voiceprint);
    return v?.subject === subject ? v : undefined;
  }

  async list(subject: string | undefined): Promise<Voiceprint[]> {
    const keys = subject === undefined ? await this.allKeys() : [this.key(subject)];
    const out: Voiceprint[] = [];
    for (const k of keys) {
      for (const raw of await this.redis.hvals(k)) {
        const v = JSON.parse(raw) as Voiceprint;
        if (subject === undefined || v.subject === subject) out.push(v);
      }
    }
    return out.sort(byName);
  }

  private async allKeys(): Promise<string[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.redis.scan(cursor, 'MATCH', `${this.prefix}vp:*`, 'COUNT', 500);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    return keys;
  }

  async delete(subject: string, name: string): Promise<boolean> {
    return (await this.redis.hdel(this.key(subject), name)) > 0;
  }
}

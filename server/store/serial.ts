import { createHash } from 'node:crypto';

/**
 * Work queued per key, one at a time in arrival order (a session's appends, a subject's voiceprint writes); a
 * failure does not stop the work queued after it. The map holds only keys with work in flight.
 */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const next = (this.tails.get(key) ?? Promise.resolve()).then(work, work);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    // The last in line removes the entry.
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }
}

/** A file name for client text (ids, names, subjects): a hash, never the text itself. */
export const hashedName = (text: string, length: number): string =>
  createHash('sha256').update(text, 'utf8').digest('hex').slice(0, length);

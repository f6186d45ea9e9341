/** Audio bookkeeping for the stream: ~50 ms chunks, and the sent audio kept for resending after a reconnect. */

/** Regroups PCM bytes of any frame size into chunks of exactly `chunkBytes` (the tail comes out on flush). */
export class Regrouper {
  private pending = new Uint8Array(0);

  constructor(private readonly chunkBytes: number) {}

  push(bytes: Uint8Array): Uint8Array[] {
    const all = this.pending.length ? concatBytes(this.pending, bytes) : bytes;
    const out: Uint8Array[] = [];
    let at = 0;
    for (; at + this.chunkBytes <= all.length; at += this.chunkBytes) {
      out.push(all.slice(at, at + this.chunkBytes));
    }
    this.pending = all.slice(at);
    return out;
  }

  flush(): Uint8Array | null {
    if (this.pending.length === 0) return null;
    const tail = this.pending;
    this.pending = new Uint8Array(0);
    return tail;
  }
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

interface Chunk {
  /** Sample position (per channel) of the chunk's first sample on the session clock. */
  pos: number;
  data: Uint8Array;
}

/**
 * Every chunk of the session's audio by sample position, from the end of the last delivered final onwards.
 * Bounded: past `maxSamples` the oldest audio is dropped (and counted), so a long outage cannot grow memory.
 */
export class ResumeBuffer {
  private chunks: Chunk[] = [];
  /** Position just after the last appended sample. */
  end = 0;
  /** Samples dropped by the bound (lost for resending). */
  dropped = 0;

  constructor(
    /** Bytes per sample frame: 2 x channels (linear16). */
    readonly frameBytes: number,
    private readonly maxSamples: number,
  ) {}

  get start(): number {
    return this.chunks.length ? this.chunks[0].pos : this.end;
  }

  append(data: Uint8Array): void {
    this.chunks.push({ pos: this.end, data });
    this.end += data.length / this.frameBytes;
    while (this.end - this.start > this.maxSamples && this.chunks.length > 1) {
      const c = this.chunks.shift()!;
      this.dropped += c.data.length / this.frameBytes;
    }
  }

  /** Forgets audio before `pos` (it is final now). */
  trimBefore(pos: number): void {
    while (this.chunks.length) {
      const c = this.chunks[0];
      const len = c.data.length / this.frameBytes;
      if (c.pos + len <= pos) {
        this.chunks.shift();
      } else {
        if (c.pos < pos) this.chunks[0] = this.slice(c, pos);
        return;
      }
    }
  }

  /** The audio from `pos` to the next chunk boundary, or null when nothing is buffered at or after `pos`. */
  readFrom(pos: number): { pos: number; data: Uint8Array } | null {
    if (pos >= this.end || this.chunks.length === 0) return null;
    let lo = 0;
    let hi = this.chunks.length - 1;
    // The last chunk whose start is <= pos (or the first chunk, when pos is before the buffer).
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.chunks[mid].pos <= pos) lo = mid;
      else hi = mid - 1;
    }
    const c = this.chunks[lo];
    return c.pos >= pos ? c : this.slice(c, pos);
  }

  private slice(c: Chunk, pos: number): Chunk {
    return { pos, data: c.data.subarray((pos - c.pos) * this.frameBytes) };
  }
}

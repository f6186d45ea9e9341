import { TranscriptFullError, type RecordPatch, type TranscriptStore } from '../store/types.js';

/**
 * What the store holds about one stream as it goes: its committed time (see SessionRecord.committed; only grows)
 * and the record's updates. An update that fails is logged and costs nothing but itself.
 */
export class StreamRecord {
  private value: number;
  private written: number;

  constructor(
    private readonly id: string,
    private readonly store: TranscriptStore,
    private readonly log: { warn(o: object, msg?: string): void },
    /** The committed time the stream starts from (a resumed connection's). */
    offset: number,
  ) {
    this.value = this.written = offset;
  }

  get committed(): number {
    return this.value;
  }
  /** The committed time moved since the store last heard of it. */
  get moved(): boolean {
    return this.value !== this.written;
  }
  /** Silence advances the committed time too; the store hears of it a second at a time. */
  get secondAhead(): boolean {
    return this.value - this.written >= 1;
  }

  advance(committed: number): void {
    this.value = Math.max(this.value, committed);
  }

  /** Resolves true when the store refused because the session's transcript is full. */
  update(patch: RecordPatch): Promise<boolean> {
    if (patch.committed !== undefined) this.written = patch.committed;
    return this.store.update(this.id, patch).then(
      () => false,
      (err: unknown) => {
        this.log.warn({ session: this.id, err: (err as Error).message }, 'transcript store update failed');
        return err instanceof TranscriptFullError;
      },
    );
  }
}

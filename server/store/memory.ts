import type { RecordPatch, SessionRecord, StoredFinal, TranscriptStore } from './types.js';

/** In-process store: tests, and `--store memory` (nothing survives a restart). */
export class MemoryStore implements TranscriptStore {
  private sessions = new Map<string, { record: SessionRecord; finals: StoredFinal[] }>();

  /** Oldest closed sessions are forgotten past this many, so memory stays bounded. */
  constructor(private readonly maxSessions = 10_000) {}

  async open(record: SessionRecord): Promise<void> {
    const existing = this.sessions.get(record.id);
    if (existing) existing.record = { ...existing.record, status: 'live' };
    else this.sessions.set(record.id, { record: { ...record }, finals: [] });
    if (this.sessions.size > this.maxSessions) {
      for (const [id, s] of this.sessions) {
        if (s.record.status === 'closed') {
          this.sessions.delete(id);
          break;
        }
      }
    }
  }

  async append(session: string, final: StoredFinal): Promise<void> {
    const s = this.sessions.get(session);
    if (!s) throw new Error(`unknown session ${session}`);
    s.finals.push(final);
    s.record.lastSeq = final.seq;
  }

  async finals(session: string, afterSeq = -1): Promise<StoredFinal[]> {
    return (this.sessions.get(session)?.finals ?? []).filter((f) => f.seq > afterSeq);
  }

  async get(session: string): Promise<SessionRecord | undefined> {
    const s = this.sessions.get(session);
    return s ? { ...s.record } : undefined;
  }

  async update(session: string, patch: RecordPatch): Promise<void> {
    const s = this.sessions.get(session);
    if (s) Object.assign(s.record, patch);
  }

  async delete(session: string): Promise<boolean> {
    return this.sessions.delete(session);
  }
}

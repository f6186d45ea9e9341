import { MemoryVoiceprints } from './memory-voiceprints.js';
import type { RecordPatch, SessionRecord, StoredFinal, TranscriptStore } from './types.js';

/**
 * In-process store: tests, and `--store memory` (nothing survives a restart). Memory stays bounded by forgetting
 * old closed sessions, and the subject who opens too many pays: past its own cap it loses its own oldest closed
 * session; past the total cap, the subject holding the most does (the opener on a tie). One subject opening
 * sessions by the thousand never evicts another's transcripts while it holds more than they do.
 */
export class MemoryStore implements TranscriptStore {
  private sessions = new Map<string, { record: SessionRecord; finals: StoredFinal[] }>();
  /** Each subject's session ids, oldest first. */
  private bySubject = new Map<string, Set<string>>();
  readonly voiceprints = new MemoryVoiceprints();

  constructor(
    private readonly maxSessions = 10_000,
    private readonly maxPerSubject = maxSessions,
  ) {}

  async open(record: SessionRecord): Promise<void> {
    const existing = this.sessions.get(record.id);
    if (existing) {
      existing.record = { ...existing.record, status: 'live' };
      return;
    }
    this.sessions.set(record.id, { record: { ...record }, finals: [] });
    const own = this.bySubject.get(record.subject) ?? new Set<string>();
    this.bySubject.set(record.subject, own.add(record.id));
    if (own.size > this.maxPerSubject) this.forgetOldestClosed(own);
    if (this.sessions.size > this.maxSessions) this.forgetOldestClosed(this.heaviest(own));
  }

  /** The session ids of the subject holding the most (`own` on a tie). */
  private heaviest(own: Set<string>): Set<string> {
    let most = own;
    for (const ids of this.bySubject.values()) if (ids.size > most.size) most = ids;
    return most;
  }

  private forgetOldestClosed(ids: Set<string>): void {
    for (const id of ids) {
      if (this.sessions.get(id)?.record.status === 'closed') {
        void this.delete(id);
        return;
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
    const s = this.sessions.get(session);
    if (!s) return false;
    this.sessions.delete(session);
    const own = this.bySubject.get(s.record.subject);
    own?.delete(session);
    if (own?.size === 0) this.bySubject.delete(s.record.subject);
    return true;
  }
}

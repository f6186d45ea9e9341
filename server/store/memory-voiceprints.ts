import { VoiceprintLimitError, type Voiceprint, type VoiceprintStore } from './types.js';

/** Voiceprints in process (`--store memory`, tests): gone at a restart, like the transcripts. */
export class MemoryVoiceprints implements VoiceprintStore {
  private readonly bySubject = new Map<string, Map<string, Voiceprint>>();

  async put(v: Voiceprint, limit: number): Promise<void> {
    const own = this.bySubject.get(v.subject) ?? new Map<string, Voiceprint>();
    if (!own.has(v.name) && own.size >= limit) throw new VoiceprintLimitError(limit);
    this.bySubject.set(v.subject, own.set(v.name, structuredClone(v)));
  }

  async get(subject: string, name: string): Promise<Voiceprint | undefined> {
    const v = this.bySubject.get(subject)?.get(name);
    return v && structuredClone(v);
  }

  async list(subject: string | undefined): Promise<Voiceprint[]> {
    const owners = subject === undefined ? [...this.bySubject.values()] : [this.bySubject.get(subject)];
    return owners.flatMap((m) => [...(m?.values() ?? [])].map((v) => structuredClone(v))).sort(byName);
  }

  async delete(subject: string, name: string): Promise<boolean> {
    const own = this.bySubject.get(subject);
    const had = own?.delete(name) ?? false;
    if (own?.size === 0) this.bySubject.delete(subject);
    return had;
  }
}

/** Subject, then name. */
export function byName(a: Voiceprint, b: Voiceprint): number {
  return a.subject === b.subject ? (a.name < b.name ? -1 : 1) : a.subject < b.subject ? -1 : 1;
}

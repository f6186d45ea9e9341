// What each subject used, by UTC day: audio seconds, streams opened, files transcribed (GET /v1/usage).

export interface DayUsage {
  /** UTC date, YYYY-MM-DD. */
  day: string;
  audio_seconds: number;
  streams: number;
  files: number;
}

/** Days kept per subject: a month of history, so memory stays bounded by the number of subjects. */
const KEEP_DAYS = 31;

export class UsageLedger {
  private readonly bySubject = new Map<string, Map<string, DayUsage>>();

  constructor(private readonly now: () => number = Date.now) {}

  stream(subject: string): void {
    this.day(subject).streams++;
  }

  file(subject: string, audioSeconds: number): void {
    const d = this.day(subject);
    d.files++;
    d.audio_seconds += audioSeconds;
  }

  audio(subject: string, seconds: number): void {
    this.day(subject).audio_seconds += seconds;
  }

  /** A subject's days, oldest first, audio seconds rounded to milliseconds. */
  days(subject: string): DayUsage[] {
    const days = [...(this.bySubject.get(subject)?.values() ?? [])];
    return days
      .sort((a, b) => a.day.localeCompare(b.day))
      .map((d) => ({ ...d, audio_seconds: Math.round(d.audio_seconds * 1000) / 1000 }));
  }

  subjects(): string[] {
    return [...this.bySubject.keys()].sort();
  }

  private day(subject: string): DayUsage {
    let days = this.bySubject.get(subject);
    if (!days) this.bySubject.set(subject, (days = new Map()));
    const day = new Date(this.now()).toISOString().slice(0, 10);
    let d = days.get(day);
    if (!d) {
      days.set(day, (d = { day, audio_seconds: 0, streams: 0, files: 0 }));
      // Map iteration is insertion order: the oldest day goes first.
      if (days.size > KEEP_DAYS) days.delete(days.keys().next().value!);
    }
    return d;
  }
}

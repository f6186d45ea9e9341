// The default durable store: one append-only JSON-lines file per session under the data directory. Each final is
// written and fsync'd before the session sends it, so a crash (kill -9, power loss) loses nothing a client saw;
// a torn last line from a crash mid-write is ignored on read.
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { open, readdir, readFile, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { RecordPatch, SessionRecord, StoredFinal, TranscriptStore } from './types.js';

type Line =
  | { type: 'record'; record: SessionRecord }
  | { type: 'final'; final: StoredFinal }
  | { type: 'update'; patch: RecordPatch };

export interface FileStoreOptions {
  dir: string;
  /** Sessions untouched for this long are deleted by the sweeper (0 keeps them forever). */
  retentionHours: number;
  /** How often the sweeper runs. */
  sweepIntervalMs?: number;
}

interface Loaded {
  record: SessionRecord;
  finals: StoredFinal[];
}

export class FileStore implements TranscriptStore {
  private readonly handles = new Map<string, FileHandle>();
  /** Writes to one file are serialised: appends from one session never interleave. */
  private readonly tails = new Map<string, Promise<unknown>>();
  private readonly sweeper: NodeJS.Timeout | null;

  constructor(private readonly o: FileStoreOptions) {
    mkdirSync(o.dir, { recursive: true });
    this.sweeper =
      o.retentionHours > 0
        ? setInterval(() => void this.sweep(), o.sweepIntervalMs ?? 10 * 60_000).unref()
        : null;
  }

  /** Ids are chosen by clients too: the file name is a hash, never the id itself. */
  private path(session: string): string {
    return join(this.o.dir, `${createHash('sha256').update(session).digest('hex').slice(0, 40)}.jsonl`);
  }

  private serial<T>(session: string, work: () => Promise<T>): Promise<T> {
    const next = (this.tails.get(session) ?? Promise.resolve()).then(work, work);
    this.tails.set(
      session,
      next.catch(() => undefined),
    );
    return next;
  }

  private async write(session: string, line: Line, create = false): Promise<void> {
    await this.serial(session, async () => {
      let fh = this.handles.get(session);
      if (!fh) {
        if (!create && !(await this.exists(session))) throw new Error(`unknown session ${session}`);
        fh = await open(this.path(session), 'a+');
        this.handles.set(session, fh);
        // A crash mid-append leaves a torn last line: cut it before appending, so it stays the only loss.
        const text = await readFile(this.path(session));
        const whole = text.lastIndexOf(0x0a) + 1;
        if (whole < text.length) await fh.truncate(whole);
      }
      await fh.appendFile(`${JSON.stringify(line)}\n`);
      await fh.datasync();
    });
  }

  private async exists(session: string): Promise<boolean> {
    return stat(this.path(session)).then(
      () => true,
      () => false,
    );
  }

  private async load(session: string): Promise<Loaded | undefined> {
    const text = await readFile(this.path(session), 'utf8').catch(() => undefined);
    const loaded = text === undefined ? undefined : fold(text, session);
    return loaded?.record.id === session ? loaded : undefined; // else a hash collision: not this session
  }

  async open(record: SessionRecord): Promise<void> {
    const existing = await this.load(record.id);
    if (existing) await this.write(record.id, { type: 'update', patch: { status: 'live' } });
    else await this.write(record.id, { type: 'record', record }, true);
  }

  async append(session: string, final: StoredFinal): Promise<void> {
    await this.write(session, { type: 'final', final });
  }

  async finals(session: string, afterSeq = -1): Promise<StoredFinal[]> {
    return ((await this.load(session))?.finals ?? []).filter((f) => f.seq > afterSeq);
  }

  async get(session: string): Promise<SessionRecord | undefined> {
    return (await this.load(session))?.record;
  }

  async update(session: string, patch: RecordPatch): Promise<void> {
    if (!this.handles.has(session) && !(await this.exists(session))) return;
    await this.write(session, { type: 'update', patch });
    if (patch.status === 'closed') await this.closeHandle(session);
  }

  async delete(session: string): Promise<boolean> {
    return this.serial(session, async () => {
      await this.closeHandle(session, false);
      const had = await this.exists(session);
      await rm(this.path(session), { force: true });
      return had;
    });
  }

  private async closeHandle(session: string, serial = true): Promise<void> {
    const close = async () => {
      const fh = this.handles.get(session);
      this.handles.delete(session);
      await fh?.close();
    };
    if (serial) await this.serial(session, close);
    else await close();
  }

  /** Deletes the files of sessions untouched for longer than the retention. */
  async sweep(now = Date.now()): Promise<number> {
    const cutoff = now - this.o.retentionHours * 3_600_000;
    let removed = 0;
    for (const name of await readdir(this.o.dir)) {
      if (!name.endsWith('.jsonl')) continue;
      const p = join(this.o.dir, name);
      const s = await stat(p).catch(() => null);
      if (!s || s.mtimeMs >= cutoff) continue;
      // A session streaming here right now keeps its file whatever its age; one whose process died ages out.
      const id = fold(await readFile(p, 'utf8').catch(() => ''), name)?.record.id;
      if (id !== undefined && this.handles.has(id)) continue;
      await rm(p, { force: true });
      removed++;
    }
    return removed;
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    await Promise.all([...this.handles.keys()].map((s) => this.closeHandle(s)));
  }
}

/** Replays a session file's lines into its record and finals. */
function fold(text: string, name: string): Loaded | undefined {
  const lines = text.split('\n');
  let loaded: Loaded | undefined;
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]) continue;
    let line: Line;
    try {
      line = JSON.parse(lines[i]) as Line;
    } catch {
      // Only the last line can be torn (a crash mid-append); anything else is corruption worth a loud error.
      if (i >= lines.length - 2) break;
      throw new Error(`transcript file ${name} is corrupt at line ${i + 1}`);
    }
    if (line.type === 'record') loaded = { record: line.record, finals: [] };
    else if (!loaded) continue;
    else if (line.type === 'final') {
      loaded.finals.push(line.final);
      loaded.record.lastSeq = Math.max(loaded.record.lastSeq, line.final.seq);
    } else Object.assign(loaded.record, line.patch);
  }
  return loaded;
}

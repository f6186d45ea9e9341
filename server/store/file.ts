// The default durable store: one append-only JSON-lines file per session under the data directory. Each final is
// written and fsync'd before the session sends it, so a crash (kill -9, power loss) loses nothing a client saw.
// A write that fails (disk full) is cut back to the line's start; a line torn by a crash, or corrupt anywhere, is
// skipped on read (and logged) while the rest of the session loads.
import { mkdirSync } from 'node:fs';
import { open, readdir, readFile, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { FileVoiceprints } from './file-voiceprints.js';
import { hashedName, KeyedQueue } from './serial.js';
import {
  TranscriptFullError,
  type RecordPatch,
  type SessionRecord,
  type StoredFinal,
  type TranscriptStore,
} from './types.js';

type Line =
  | { type: 'record'; record: SessionRecord }
  | { type: 'final'; final: StoredFinal }
  | { type: 'update'; patch: RecordPatch };

interface StoreLog {
  warn(o: object, msg: string): void;
}

export interface FileStoreOptions {
  dir: string;
  /** Sessions untouched for this long are deleted by the sweeper (0 keeps them forever). */
  retentionHours: number;
  /** How often the sweeper runs. */
  sweepIntervalMs?: number;
  /** A session file stops taking finals past this size (TranscriptFullError: the stream ends 1008). */
  maxSessionBytes?: number;
  log?: StoreLog;
  /** Test seam: how a line is appended (a test makes it fail midway, as a full disk does). */
  appendLine?: (fh: FileHandle, text: string) => Promise<void>;
}

const DEFAULT_MAX_SESSION_BYTES = 64 * 2 ** 20;
/** Past the cap, record updates still have this much room, so a full session's closing lines land. */
const UPDATE_HEADROOM_BYTES = 64 * 1024;

interface Loaded {
  record: SessionRecord;
  finals: StoredFinal[];
}

interface OpenFile {
  fh: FileHandle;
  /** Bytes of whole lines: a failed append is cut back to this. */
  size: number;
}

export class FileStore implements TranscriptStore {
  /** Open only while a connection holds the session, or for the one write that comes after it closed. */
  private readonly handles = new Map<string, OpenFile>();
  /** Sessions a connection of this process holds open: their files stay open and the sweeper leaves them alone. */
  private readonly live = new Set<string>();
  /** Writes to one file are serialised: appends from one session never interleave. */
  private readonly queue = new KeyedQueue();
  /** Files whose corrupt lines were logged already (once per process, not per read). */
  private readonly reported = new Set<string>();
  private readonly sweeper: NodeJS.Timeout | null;
  private readonly maxBytes: number;
  /** Under DIR/voiceprints: the sweeper, which looks at DIR's .jsonl files only, never removes them. */
  readonly voiceprints: FileVoiceprints;

  constructor(private readonly o: FileStoreOptions) {
    mkdirSync(o.dir, { recursive: true });
    this.voiceprints = new FileVoiceprints(join(o.dir, 'voiceprints'));
    this.maxBytes = o.maxSessionBytes ?? DEFAULT_MAX_SESSION_BYTES;
    this.sweeper =
      o.retentionHours > 0
        ? setInterval(
            () => void this.sweep().catch((err) => this.warn(err, 'sweep failed')),
            o.sweepIntervalMs ?? 10 * 60_000,
          ).unref()
        : null;
  }

  private warn(err: unknown, msg: string, o: object = {}): void {
    this.o.log?.warn(
      { ...o, dir: this.o.dir, err: (err as Error)?.message ?? String(err) },
      `transcript store: ${msg}`,
    );
  }

  /** Ids are chosen by clients too: the file name is a hash, never the id itself. */
  private path(session: string): string {
    return join(this.o.dir, `${hashedName(session, 40)}.jsonl`);
  }

  private async handle(session: string, create: boolean): Promise<OpenFile> {
    const had = this.handles.get(session);
    if (had) return had;
    if (!create && !(await this.exists(session))) throw new Error(`unknown session ${session}`);
    const fh = await open(this.path(session), 'a+');
    try {
      // A crash mid-append leaves a torn last line: cut it before appending, so it stays the only loss.
      const { size } = await fh.stat();
      const whole = await wholeLinesEnd(fh, size);
      if (whole < size) await fh.truncate(whole);
      const f = { fh, size: whole };
      this.handles.set(session, f);
      return f;
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
  }

  private async write(session: string, line: Line, create = false): Promise<void> {
    await this.queue.run(session, async () => {
      const f = await this.handle(session, create);
      try {
        const text = `${JSON.stringify(line)}\n`;
        const bytes = Buffer.byteLength(text);
        // Finals stop at the cap; record updates have headroom and status changes always land (a few a connection).
        const room = line.type === 'final' ? this.maxBytes : this.maxBytes + UPDATE_HEADROOM_BYTES;
        const statusOnly = line.type === 'update' && line.patch.status !== undefined;
        if (f.size + bytes > room && !statusOnly) {
          throw new TranscriptFullError(
            `transcript of session ${session} is full (${Math.round(this.maxBytes / 2 ** 20)} MiB)`,
          );
        }
        try {
          await (this.o.appendLine ?? appendLine)(f.fh, text);
          await f.fh.datasync();
        } catch (err) {
          // A failed append (disk full) may have written part of the line: cut back to the last whole line, else
          // the next line would be glued to the torn one. If even that fails, the next open cuts it.
          await f.fh.truncate(f.size).catch(() => this.closeNow(session));
          throw err;
        }
        f.size += bytes;
        if (line.type === 'record' || (line.type === 'update' && line.patch.status === 'live')) {
          this.live.add(session);
        }
        if (line.type === 'update' && line.patch.status === 'closed') this.live.delete(session);
      } finally {
        // Whatever the order of the closing update and late finals, a file no connection holds is closed after
        // its write: an open descriptor per dropped client would pin its file past the retention, then run out.
        if (!this.live.has(session)) await this.closeNow(session);
      }
    });
  }

  private async exists(session: string): Promise<boolean> {
    return stat(this.path(session)).then(
      () => true,
      () => false,
    );
  }

  private async load(session: string): Promise<Loaded | undefined> {
    const file = this.path(session);
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    const { loaded, corrupt } = fold(text);
    if (corrupt.length && !this.reported.has(file)) {
      this.reported.add(file);
      this.warn(new Error(`lines ${corrupt.slice(0, 10).join(', ')} unreadable`), 'corrupt lines skipped', {
        file,
        lines: corrupt.length,
      });
    }
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
  }

  async delete(session: string): Promise<boolean> {
    return this.queue.run(session, async () => {
      this.live.delete(session);
      await this.closeNow(session);
      const had = await this.exists(session);
      await rm(this.path(session), { force: true });
      return had;
    });
  }

  /** Within the session's queue. */
  private async closeNow(session: string): Promise<void> {
    const f = this.handles.get(session);
    this.handles.delete(session);
    await f?.fh.close().catch((err: unknown) => this.warn(err, 'close failed', { session }));
  }

  /** Deletes the files of sessions untouched for longer than the retention; a file it cannot handle is logged. */
  async sweep(now = Date.now()): Promise<number> {
    const cutoff = now - this.o.retentionHours * 3_600_000;
    let removed = 0;
    for (const name of await readdir(this.o.dir)) {
      if (!name.endsWith('.jsonl')) continue;
      const p = join(this.o.dir, name);
      try {
        if (!(await olderThan(p, cutoff))) continue;
        const id = fold(await readFile(p, 'utf8')).loaded?.record.id;
        const expired = async () => {
          // A session streaming here right now keeps its file whatever its age; one whose process died ages out.
          if (id !== undefined && (this.live.has(id) || this.handles.has(id))) return false;
          if (!(await olderThan(p, cutoff))) return false; // written meanwhile
          await rm(p, { force: true });
          return true;
        };
        if (await (id === undefined ? expired() : this.queue.run(id, expired))) removed++;
      } catch (err) {
        this.warn(err, 'sweep skipped a file', { file: p });
      }
    }
    return removed;
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    await Promise.all([...this.handles.keys()].map((s) => this.queue.run(s, () => this.closeNow(s))));
  }
}

async function appendLine(fh: FileHandle, text: string): Promise<void> {
  await fh.appendFile(text);
}

async function olderThan(p: string, cutoff: number): Promise<boolean> {
  const s = await stat(p).catch(() => null);
  return s !== null && s.mtimeMs < cutoff;
}

/** Where the file's whole lines end (reading back from its end a block at a time). */
async function wholeLinesEnd(fh: FileHandle, size: number): Promise<number> {
  for (let end = size; end > 0;) {
    const from = Math.max(0, end - 65_536);
    const buf = Buffer.alloc(end - from);
    await fh.read(buf, 0, buf.length, from);
    const nl = buf.lastIndexOf(0x0a);
    if (nl >= 0) return from + nl + 1;
    end = from;
  }
  return 0;
}

/** Replays a session file's lines into its record and finals; unreadable lines are skipped and listed (1-based). */
function fold(text: string): { loaded: Loaded | undefined; corrupt: number[] } {
  const lines = text.split('\n');
  const corrupt: number[] = [];
  let loaded: Loaded | undefined;
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]) continue;
    const line = parseLine(lines[i]);
    if (!line) {
      corrupt.push(i + 1);
      continue;
    }
    if (line.type === 'record') loaded = { record: line.record, finals: [] };
    else if (!loaded) continue;
    else if (line.type === 'final') {
      loaded.finals.push(line.final);
      loaded.record.lastSeq = Math.max(loaded.record.lastSeq, line.final.seq);
    } else Object.assign(loaded.record, line.patch);
  }
  return { loaded, corrupt };
}

/** A line as written, or undefined for anything else (torn, garbled, or valid JSON of the wrong shape). */
function parseLine(text: string): Line | undefined {
  let line: unknown;
  try {
    line = JSON.parse(text);
  } catch {
    return undefined;
  }
  const l = line as Partial<Record<'type' | 'record' | 'final' | 'patch', unknown>> | null;
  const object = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;
  if (!object(l)) return undefined;
  if (l.type === 'record' && object(l.record) && typeof l.record.id === 'string') return l as Line;
  if (l.type === 'final' && object(l.final) && typeof l.final.seq === 'number') return l as Line;
  if (l.type === 'update' && object(l.patch)) return l as Line;
  return undefined;
}

// The file store's voiceprints: one small JSON file per voiceprint under DIR/voiceprints/<subject hash>/, written
// to a temporary file, fsync'd and renamed into place, so a crash leaves the old voiceprint or the new, whole.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { byName } from './memory-voiceprints.js';
import { hashedName, KeyedQueue } from './serial.js';
import { VoiceprintLimitError, type Voiceprint, type VoiceprintStore } from './types.js';

export class FileVoiceprints implements VoiceprintStore {
  /** One subject's writes at a time in this process: the limit is checked and the file written together. */
  private readonly queue = new KeyedQueue();

  constructor(private readonly dir: string) {}

  /** Names and subjects are client text: the paths are hashes, never the text itself. */
  private subjectDir(subject: string): string {
    return join(this.dir, hashedName(subject, 32));
  }

  private file(subject: string, name: string): string {
    return join(this.subjectDir(subject), `${hashedName(name, 40)}.json`);
  }

  async put(v: Voiceprint, limit: number): Promise<void> {
    await this.queue.run(v.subject, async () => {
      const dir = this.subjectDir(v.subject);
      await mkdir(dir, { recursive: true });
      const target = this.file(v.subject, v.name);
      const others = (await readdir(dir)).filter((f) => f.endsWith('.json') && join(dir, f) !== target);
      if (others.length >= limit) throw new VoiceprintLimitError(limit);
      const tmp = join(dir, `.${randomBytes(8).toString('hex')}.tmp`);
      const fh = await open(tmp, 'w');
      try {
        await fh.writeFile(JSON.stringify(v));
        await fh.datasync();
      } finally {
        await fh.close();
      }
      await rename(tmp, target).catch(async (err: unknown) => {
        await rm(tmp, { force: true });
        throw err;
      });
    });
  }

  async get(subject: string, name: string): Promise<Voiceprint | undefined> {
    const v = await readVoiceprint(this.file(subject, name));
    // A hash collision is not this voiceprint.
    return v && v.subject === subject && v.name === name ? v : undefined;
  }

  async list(subject: string | undefined): Promise<Voiceprint[]> {
    const dirs = subject === undefined ? await names(this.dir) : [hashedName(subject, 32)];
    const out: Voiceprint[] = [];
    for (const d of dirs) {
      for (const f of await names(join(this.dir, d))) {
        if (!f.endsWith('.json')) continue;
        const v = await readVoiceprint(join(this.dir, d, f));
        if (v && (subject === undefined || v.subject === subject)) out.push(v);
      }
    }
    return out.sort(byName);
  }

  async delete(subject: string, name: string): Promise<boolean> {
    return this.queue.run(subject, async () => {
      if (!(await this.get(subject, name))) return false;
      await rm(this.file(subject, name), { force: true });
      // The subject's folder goes with its last voiceprint (and stays if another is written meanwhile).
      await rmdir(this.subjectDir(subject)).catch(() => undefined);
      return true;
    });
  }
}

async function names(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

/** A voiceprint file, or undefined for a missing or unreadable one. */
async function readVoiceprint(path: string): Promise<Voiceprint | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text) as Voiceprint;
    return typeof v.name === 'string' && Array.isArray(v.embedding) ? v : undefined;
  } catch {
    return undefined;
  }
}

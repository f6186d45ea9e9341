import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { after, before } from 'node:test';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthesizeWhisper, type SynthOptions } from '../../models/synth/index.js';
import { loadSileroVad, type SileroVad } from '../../models/vad/silero.js';

const made: string[] = [];

/** Builds a synthetic model into a fresh temp dir (micro builds in well under a second); removed at exit. */
export async function synthModel(opts: Partial<SynthOptions> = {}): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-model-'));
  made.push(dir);
  await synthesizeWhisper(dir, { size: 'micro', ...opts });
  return dir;
}

/** A copy of model directory `from` (in a fresh temp dir, removed at exit) broken by `edit`. */
export function brokenModel(from: string, edit: (dir: string) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-broken-'));
  made.push(dir);
  cpSync(from, dir, { recursive: true });
  edit(dir);
  return dir;
}

/** Rewrites a JSON file through `f`. */
export function editJson(file: string, f: (j: Record<string, unknown>) => void): void {
  const j = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  f(j);
  writeFileSync(file, JSON.stringify(j));
}

process.on('exit', () => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** A test file's one Silero VAD: loaded before its tests and released after them; call the getter in a test. */
export function sharedVad(): () => SileroVad {
  let vad: SileroVad | undefined;
  before(async () => {
    vad = await loadSileroVad();
  });
  after(async () => {
    await vad?.release();
  });
  return () => vad!;
}

/**
 * Conversations of real voices (LibriSpeech readers, ../shared/corpus/real) for endpointing benchmarks, with
 * readers held out: `dev` are the corpus' dev-* conversations (for tuning), `test` are made here, deterministically,
 * from readers in no dev-* conversation, into .cache/ by ../shared/tools/make_real_conversations.py (python3, numpy,
 * ffmpeg). Babble comes from a third group of readers, in no conversation of either set.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { decodeWav } from '../../audio/wav.js';
import type { TimeSpan } from '../../audio/span.js';

const REAL = new URL('../../../shared/corpus/real/', import.meta.url).pathname;
const TOOL = new URL('../../../shared/tools/make_real_conversations.py', import.meta.url).pathname;
const CACHE = new URL('../../.cache/boundaries/', import.meta.url).pathname;

export interface Conversation {
  name: string;
  audio: Float32Array;
  segments: TimeSpan[];
  /** Speech of readers in no conversation, for babble. */
  babble: Float32Array[];
}

/** Conversations per test set, readers per conversation, voices per babble. */
const TEST_CONVERSATIONS = 10;
const READERS = 4;
const BABBLE_VOICES = 6;

function readerOf(file: string): string {
  return file.split('-')[0];
}

function decodeFlac(path: string): Float32Array {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-i', path, '-f', 'f32le', '-ac', '1', '-ar', '16000', '-'], {
    maxBuffer: 1 << 28,
  });
  if (r.status !== 0) throw new Error(`ffmpeg could not decode ${path}: ${String(r.stderr)}`);
  const b = r.stdout;
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** Readers in no dev-* conversation, sorted; the first TEST_CONVERSATIONS * READERS speak in the test set. */
function heldOut(): { test: string[][]; babble: string[] } {
  const spec = JSON.parse(readFileSync(`${REAL}conversations/spec.json`, 'utf8')) as Record<
    string,
    { speakers: string[] }
  >;
  const dev = new Set(Object.values(spec).flatMap((s) => s.speakers));
  const files = readdirSync(`${REAL}speakers`).filter((f) => f.endsWith('.flac'));
  const readers = [...new Set(files.map(readerOf))].filter((r) => !dev.has(r)).sort();
  const test = Array.from({ length: TEST_CONVERSATIONS }, (_, i) =>
    readers.slice(i * READERS, (i + 1) * READERS),
  );
  return { test, babble: readers.slice(TEST_CONVERSATIONS * READERS) };
}

/** The test set's recipe: make_real_conversations.py's spec format, speech only (noise is mixed by the bench). */
function testSpec(test: string[][]): Record<string, unknown> {
  return Object.fromEntries(
    test.map((speakers, i) => [
      `test-${i}`,
      { speakers, gaps: [0.2, 0.9], seed: 1000 + i, minutes: 10, enroll: 0, min_pause: 0.15, max_piece: 3.5 },
    ]),
  );
}

/** Makes the test set into .cache/ unless it is there already from the same recipe. */
function ensureTestSet(test: string[][]): string {
  const spec = JSON.stringify(testSpec(test), null, 1);
  const specPath = `${CACHE}spec.json`;
  const made = existsSync(specPath) && readFileSync(specPath, 'utf8') === spec;
  if (!made || !test.every((_, i) => existsSync(`${CACHE}test-${i}.json`))) {
    mkdirSync(CACHE, { recursive: true });
    writeFileSync(`${CACHE}recipe.json`, spec);
    const r = spawnSync('python3', [TOOL, `${REAL}speakers`, '-', CACHE, `${CACHE}recipe.json`], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (r.status !== 0) throw new Error(`${TOOL} failed (needs python3, numpy and ffmpeg)`);
    writeFileSync(specPath, spec);
  }
  return CACHE;
}

function load(dir: string, name: string, babble: Float32Array[]): Conversation {
  const meta = JSON.parse(readFileSync(`${dir}${name}.json`, 'utf8')) as { segments: TimeSpan[] };
  return {
    name,
    audio: decodeWav(readFileSync(`${dir}${name}.wav`)).samples,
    segments: meta.segments,
    babble,
  };
}

/**
 * The conversations of a set. dev: the corpus' dev-* conversations except dev-four-noisy (already noisy, so
 * every condition would be noisier than it says); test: held-out readers' conversations, made on first use.
 */
export function realConversations(set: 'dev' | 'test'): Conversation[] {
  if (!existsSync(`${REAL}speakers`))
    throw new Error(`no corpus at ${REAL}: this benchmark needs ../shared/corpus`);
  const { test, babble } = heldOut();
  const speakerFiles = readdirSync(`${REAL}speakers`).filter((f) => f.endsWith('.flac'));
  const voice = (reader: string) =>
    decodeFlac(`${REAL}speakers/${speakerFiles.find((f) => readerOf(f) === reader)}`);
  const babbleOf = (i: number) =>
    Array.from({ length: BABBLE_VOICES }, (_, k) => voice(babble[(i * BABBLE_VOICES + k) % babble.length]));
  if (set === 'dev') {
    const dir = `${REAL}conversations/`;
    return readdirSync(dir)
      .filter((f) => f.startsWith('dev-') && f.endsWith('.wav') && f !== 'dev-four-noisy.wav')
      .sort()
      .map((f, i) => load(dir, f.replace('.wav', ''), babbleOf(i)));
  }
  const dir = ensureTestSet(test);
  return test.map((_, i) => load(dir, `test-${i}`, babbleOf(i)));
}

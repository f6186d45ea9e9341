import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FileStore } from '../../../server/store/file.js';
import { speechFixture, wav16 } from '../../helpers/audio.js';
import { runCli } from '../../helpers/cli.js';
import { synthModel } from '../../helpers/models.js';
import { startTestServer } from '../../helpers/server.js';

/** `earshot speakers enroll`: into the store of --store/--data-dir, or POSTed to a running server (--url). */

const SR = 16000;
const fx = speechFixture();
const dir = mkdtempSync(join(tmpdir(), 'earshot-enroll-'));
const clip = join(dir, 'ann.wav');
const short = join(dir, 'short.wav');
writeFileSync(clip, wav16(fx.samples.subarray(0.7 * SR, 4.15 * SR)));
writeFileSync(short, wav16(fx.samples.subarray(0.8 * SR, 2.0 * SR)));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('earshot speakers enroll (local store)', () => {
  test('writes the voiceprint into the file store under --subject', async () => {
    const data = join(dir, 'data');
    const r = await runCli([
      'speakers',
      'enroll',
      'Ann',
      clip,
      '--store',
      `file:${data}`,
      '--subject',
      'key:alice',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const printed = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(printed.name, 'Ann');
    assert.equal(printed.embedding, undefined);
    const v = await new FileStore({ dir: data, retentionHours: 0 }).voiceprints.get('key:alice', 'Ann');
    assert.ok(v, 'stored where a server with --store file:DIR finds it');
    assert.equal(v.model, printed.model);
    assert.match(v.model, /^builtin-/);
  });

  test('a clip under 2 s is refused naming the file; nothing is stored', async () => {
    const data = join(dir, 'data2');
    const r = await runCli(['speakers', 'enroll', 'Ann', clip, short, '--store', `file:${data}`]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`${short} lasts 1\\.2 s`));
    assert.deepEqual(await new FileStore({ dir: data, retentionHours: 0 }).voiceprints.list(undefined), []);
  });

  test('--store memory, a bad name or a missing file: usage errors', async () => {
    const memory = await runCli(['speakers', 'enroll', 'Ann', clip, '--store', 'memory']);
    assert.equal(memory.code, 2);
    assert.match(memory.stderr, /--store memory keeps nothing/);
    const name = await runCli(['speakers', 'enroll', 'a,b', clip, '--store', `file:${dir}/x`]);
    assert.equal(name.code, 2);
    assert.match(name.stderr, /NAME must not contain a comma/);
    const missing = await runCli(['speakers', 'enroll', 'Ann', join(dir, 'nope.wav')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nope\.wav: no such file/);
  });
});

describe('earshot speakers enroll --url', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  before(async () => {
    server = await startTestServer({ model: await synthModel() });
  });
  after(() => server?.stop());

  test('posts to the server, which then lists it', async () => {
    const r = await runCli(['speakers', 'enroll', 'Ann', clip, clip, '--url', server.url]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { clips: number }).clips, 2);
    const list = (await (await fetch(`${server.url}/v1/speakers`)).json()) as {
      speakers: { name: string }[];
    };
    assert.deepEqual(
      list.speakers.map((s) => s.name),
      ['Ann'],
    );
  });

  test("the server's refusal, with the clip's file named; an unreachable server", async () => {
    const r = await runCli(['speakers', 'enroll', 'Bo', clip, short, '--url', server.url]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /HTTP 400/);
    assert.match(r.stderr, new RegExp(`${short} lasts 1\\.2 s`));
    const down = await runCli(['speakers', 'enroll', 'Bo', clip, '--url', 'http://127.0.0.1:9']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach http:\/\/127\.0\.0\.1:9/);
  });
});

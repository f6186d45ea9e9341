import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ffmpegAvailable } from '../../../audio/ffmpeg.js';
import { concat, encode, speechFixture, wavHeader } from '../../helpers/audio.js';
import { synthModel } from '../../helpers/models.js';
import { startTestServer } from '../../helpers/server.js';

/** Uploads: slots are taken once the body is in, fields are checked before decoding, audio length is capped. */

const hasFfmpeg = await ffmpegAvailable();
const NO_FFMPEG = 'ffmpeg is NOT installed, so the FLAC reference path is untested: apt-get install ffmpeg';
if (!hasFfmpeg) console.warn(`\n!!! ${NO_FFMPEG}\n`);

const fx = speechFixture();
const pcm = encode(concat(Array.from({ length: 3 }, () => fx.samples)), 'linear16');
const wav = Buffer.concat([wavHeader(pcm.length), pcm]);
const seconds = pcm.length / 2 / 16000;

let server: Awaited<ReturnType<typeof startTestServer>>;
before(async () => {
  const model = await synthModel({ script: '<|0.00|> hello<|1.00|>' });
  server = await startTestServer({
    model,
    admissionTarget: 0,
    maxBatch: 1,
    apiKeys: 'alice:alice-key,bob:bob-key',
    maxAudioSeconds: Math.floor(seconds) - 2,
    bodyTimeoutMs: 3000,
  });
});
after(() => server.stop());

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
const auth = (key: string) => ({ authorization: `Token ${key}` });

function form(parts: Record<string, string | Blob>): FormData {
  const f = new FormData();
  for (const [k, v] of Object.entries(parts)) f.append(k, v);
  return f;
}

/** An upload that sends its head, then 1000 bytes every 50 ms (20 KB/s) until stopped. */
async function trickle(key: string): Promise<{ stop(): void; response: Promise<string> }> {
  const socket = net.connect(server.port, '127.0.0.1');
  socket.on('error', () => {});
  await new Promise((r) => socket.once('connect', r));
  const big = 50 * 1024 * 1024;
  socket.write(
    `POST /v1/listen HTTP/1.1\r\nhost: x\r\nauthorization: Token ${key}\r\ncontent-type: audio/wav\r\ncontent-length: ${big}\r\n\r\n`,
  );
  socket.write(wavHeader(big - 44));
  const timer = setInterval(() => socket.write(Buffer.alloc(1000)), 50);
  let text = '';
  socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
  const response = new Promise<string>((resolve) => socket.once('close', () => resolve(text)));
  return {
    stop: () => {
      clearInterval(timer);
      socket.destroy();
    },
    response,
  };
}

describe('upload slots', () => {
  test('two uploads trickling from one subject hold no file-job slot: another subject gets 200', async () => {
    const slow = [await trickle('alice-key'), await trickle('alice-key')];
    try {
      await delay(300);
      const short = Buffer.concat([wavHeader(64000), pcm.subarray(0, 64000)]);
      const res = await fetch(`${server.url}/v1/listen`, {
        method: 'POST',
        body: short,
        headers: { 'content-type': 'audio/wav', ...auth('bob-key') },
      });
      assert.equal(res.status, 200, await res.clone().text());
    } finally {
      for (const s of slow) s.stop();
    }
  });

  test('a body that does not arrive within --body-timeout is answered 408', async () => {
    const slow = await trickle('alice-key');
    const answer = await Promise.race([slow.response, delay(15_000).then(() => 'no answer')]);
    slow.stop();
    assert.match(answer, /^HTTP\/1\.1 408/);
    assert.match(answer, /did not arrive within 3 s/);
  });
});

describe('checked before decoding', () => {
  test('a bogus response_format is refused before the file is decoded', async () => {
    // A big float WAV whose last sample is NaN: decoding it fails, so a 400 about the file means it was decoded.
    const n = 4_000_000;
    const body = Buffer.alloc(n * 4);
    body.writeFloatLE(NaN, (n - 1) * 4);
    const header = wavHeader(body.length);
    header.writeUInt16LE(3, 20); // IEEE float
    header.writeUInt16LE(32, 34); // bits
    header.writeUInt16LE(4, 32); // block align
    header.writeUInt32LE(16000 * 4, 28); // byte rate
    const res = await fetch(`${server.url}/v1/audio/transcriptions`, {
      method: 'POST',
      headers: auth('alice-key'),
      // The file before the field, as most clients send it.
      body: form({ file: new Blob([header, body]), response_format: 'bogus' }),
    });
    assert.equal(res.status, 400);
    const err = ((await res.json()) as { error: { param: string } }).error;
    assert.equal(err.param, 'response_format');
  });

  test('audio longer than --max-audio-seconds is refused with 400 saying the limit, on both routes', async () => {
    const limit = Math.floor(seconds) - 2;
    const a = await fetch(`${server.url}/v1/listen`, {
      method: 'POST',
      body: wav,
      headers: { 'content-type': 'audio/wav', ...auth('alice-key') },
    });
    assert.equal(a.status, 400);
    assert.match(await a.text(), new RegExp(`more than the ${limit} s this server decodes`));
    const b = await fetch(`${server.url}/v1/audio/transcriptions`, {
      method: 'POST',
      headers: auth('alice-key'),
      body: form({ file: new Blob([wav]) }),
    });
    assert.equal(b.status, 400);
    assert.match(await b.text(), new RegExp(`more than the ${limit} s this server decodes`));
  });

  test('a headerless WAV longer than the limit is refused too (its size says its length)', async () => {
    const unknown = Buffer.from(wav);
    unknown.writeUInt32LE(0xffffffff, 40);
    const res = await fetch(`${server.url}/v1/listen`, {
      method: 'POST',
      body: unknown,
      headers: { 'content-type': 'audio/wav', ...auth('alice-key') },
    });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /this server decodes/);
  });

  test(
    'a 3-hour silent FLAC as a known-speaker reference: 400 naming the field, ffmpeg told to stop early',
    { skip: hasFfmpeg ? false : NO_FFMPEG },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'earshot-flac-'));
      const previous = process.env.EARSHOT_FFMPEG;
      try {
        const flac = join(dir, 'silence.flac');
        execFileSync('ffmpeg', [
          ...['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'anullsrc=r=8000:cl=mono'],
          ...['-t', '10800', '-c:a', 'flac', flac],
        ]);
        // The seam: a wrapper that records every ffmpeg command line.
        const log = join(dir, 'args.log');
        const wrapper = join(dir, 'ffmpeg');
        writeFileSync(wrapper, `#!/bin/sh\necho "$@" >> '${log}'\nexec ffmpeg "$@"\n`);
        chmodSync(wrapper, 0o755);
        writeFileSync(log, '');
        process.env.EARSHOT_FFMPEG = wrapper;
        const res = await fetch(`${server.url}/v1/audio/transcriptions`, {
          method: 'POST',
          headers: auth('alice-key'),
          body: form({
            file: new Blob([wav.subarray(0, 44 + 64000)]),
            'known_speaker_names[]': 'ann',
            'known_speaker_references[]': new Blob([readFileSync(flac)]),
          }),
        });
        const body = (await res.json()) as { error: { param: string; message: string } };
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(body.error.param, 'known_speaker_references[]');
        assert.match(body.error.message, /lasts more than 10 s/);
        const decodes = readFileSync(log, 'utf8')
          .split('\n')
          .filter((l) => l.includes(' -i '));
        assert.equal(decodes.length, 1, decodes.join('\n'));
        const stop = /-t (\S+)/.exec(decodes[0]);
        assert.ok(stop && Number(stop[1]) <= 11, `ffmpeg was not told to stop early: ${decodes[0]}`);
      } finally {
        if (previous === undefined) delete process.env.EARSHOT_FFMPEG;
        else process.env.EARSHOT_FFMPEG = previous;
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

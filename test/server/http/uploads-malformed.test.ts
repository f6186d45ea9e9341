import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { FIXTURES } from '../../helpers/audio.js';
import { synthModel } from '../../helpers/models.js';
import { startTestServer } from '../../helpers/server.js';

/** Every malformed input to the file routes gets a clear 4xx with a JSON message: never a 500 or a stack. */

const MALFORMED = `${FIXTURES}audio/malformed/`;
const wav = readFileSync(`${FIXTURES}vad/two-speakers-10s.wav`);
let server: Awaited<ReturnType<typeof startTestServer>>;
before(async () => {
  const model = await synthModel({ script: '<|0.00|> hello<|1.00|>' });
  server = await startTestServer({ model, admissionTarget: 0, maxBodyBytes: 4 * 1024 * 1024 });
});
after(() => server.stop());

async function expect4xx(res: Response, status: number | RegExp, message: RegExp): Promise<void> {
  const text = await res.text();
  if (typeof status === 'number') assert.equal(res.status, status, text);
  else assert.match(String(res.status), status, text);
  const body = JSON.parse(text) as { error: { message: string } };
  assert.match(body.error.message, message);
  assert.doesNotMatch(text, /\n\s+at /, 'no stack trace');
}

const listen = (body: RequestInit['body'], type = 'audio/wav', query = '') =>
  fetch(`${server.url}/v1/listen${query}`, { method: 'POST', body, headers: { 'content-type': type } });
const transcriptions = (body: RequestInit['body'], type?: string) =>
  fetch(`${server.url}/v1/audio/transcriptions`, {
    method: 'POST',
    body,
    headers: type ? { 'content-type': type } : undefined,
  });

describe('POST /v1/listen with bad input', () => {
  test('an empty body', async () => {
    await expect4xx(await listen(new Uint8Array(0)), 400, /empty/);
  });

  for (const name of readdirSync(MALFORMED).filter((f) => f.endsWith('.wav'))) {
    test(`malformed WAV ${name}`, async () => {
      await expect4xx(await listen(readFileSync(MALFORMED + name)), /^4\d\d$/, /./);
    });
  }

  test('a WAV cut in the middle of its samples says it is truncated', async () => {
    await expect4xx(await listen(wav.subarray(0, wav.length / 2)), 400, /cut short/);
  });

  test('a JSON body (a URL to fetch) is refused', async () => {
    await expect4xx(await listen('{"url":"http://x/a.wav"}', 'application/json'), 400, /request body/);
  });

  test('text that is not audio', async () => {
    await expect4xx(await listen('hello, this is not audio', 'text/plain'), /^4\d\d$/, /audio/);
  });

  test('a body over --max-body-bytes gets 413 (declared, and chunked)', async () => {
    const big = new Uint8Array(5 * 1024 * 1024);
    await expect4xx(await listen(big), 413, /exceeds/);
    const chunked = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 10; i++) c.enqueue(new Uint8Array(1024 * 1024));
        c.close();
      },
    });
    const res = await fetch(`${server.url}/v1/listen`, {
      method: 'POST',
      body: chunked,
      headers: { 'content-type': 'audio/wav' },
      duplex: 'half',
    } as RequestInit).catch((e: Error) => e);
    // The server may close before fetch finished sending; when an answer arrives it is the 413.
    if (!(res instanceof Error)) await expect4xx(res, 413, /exceeds/);
  });
});

describe('POST /v1/audio/transcriptions with bad input', () => {
  const withFile = (fields: Record<string, string>, file: Uint8Array | null = wav) => {
    const f = new FormData();
    for (const [k, v] of Object.entries(fields)) f.append(k, v);
    if (file) f.set('file', new Blob([new Uint8Array(file)], { type: 'audio/wav' }), 'a.wav');
    return f;
  };

  test('not multipart', async () => {
    await expect4xx(await transcriptions(wav, 'audio/wav'), 415, /multipart/);
  });

  test('multipart without a file', async () => {
    await expect4xx(await transcriptions(withFile({ model: 'whisper-1' }, null)), 400, /"file" field/);
  });

  test('multipart without a boundary', async () => {
    await expect4xx(await transcriptions('--x\r\n', 'multipart/form-data'), 400, /multipart/);
  });

  test('a boundary that never appears in the body', async () => {
    const body =
      '--other\r\ncontent-disposition: form-data; name="file"; filename="a.wav"\r\n\r\nxx\r\n--other--\r\n';
    await expect4xx(await transcriptions(body, 'multipart/form-data; boundary=nothere'), 400, /./);
  });

  test('a multipart body cut off in the middle of the file', async () => {
    const full = Buffer.from(await new Response(withFile({})).arrayBuffer());
    const type = new Response(withFile({})).headers.get('content-type')!;
    // Re-encode with a fixed boundary so that the cut is inside the file part.
    const boundary = /boundary=(.*)$/.exec(type)![1];
    const cut = full.subarray(0, full.indexOf(Buffer.from('data')) + 5000);
    await expect4xx(await transcriptions(cut, `multipart/form-data; boundary=${boundary}`), 400, /./);
  });

  test('an unknown response_format', async () => {
    await expect4xx(await transcriptions(withFile({ response_format: 'docx' })), 400, /response_format/);
  });

  test('bad timestamp_granularities[]', async () => {
    await expect4xx(
      await transcriptions(withFile({ 'timestamp_granularities[]': 'phoneme' })),
      400,
      /timestamp_granularities/,
    );
  });

  test('a truncated WAV as the file', async () => {
    await expect4xx(
      await transcriptions(withFile({}, readFileSync(`${MALFORMED}truncated-data.wav`))),
      400,
      /cut short|truncated/,
    );
  });
});

test('huge request headers get 431 with a JSON body', async () => {
  const raw = await new Promise<string>((resolve) => {
    const socket = net.connect(server.port, '127.0.0.1', () =>
      socket.write(
        `POST /v1/listen HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(64 * 1024)}\r\ncontent-length: 0\r\n\r\n`,
      ),
    );
    let got = '';
    socket.on('data', (d) => (got += String(d)));
    socket.on('error', () => {});
    socket.on('close', () => resolve(got));
  });
  assert.match(raw, /^HTTP\/1.1 431/);
  assert.match(raw, /"headers_too_large"/);
});

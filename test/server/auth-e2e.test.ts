import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DeepgramClient } from '@deepgram/sdk';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, UnsecuredJWT, type CryptoKey } from 'jose';
import OpenAI, { toFile } from 'openai';
import { apiKeyLine } from '../../server/auth/api-keys.js';
import { encode, FIXTURES, speechFixture } from '../helpers/audio.js';
import { synthModel } from '../helpers/models.js';
import { collect, connect, sendPaced, startTestServer } from '../helpers/server.js';
import { JwksServer } from './auth/helpers.js';

/**
 * Auth through the real server (auth on: API keys from a file, HS256 JWTs and a JWKS served by the test): every
 * refusal happens before the upgrade and on HTTP, every accepted credential works, and sessions belong to their
 * subject. A scripted model says "hello world" for every utterance.
 */

const SECRET = 'an HS256 secret of at least thirty-two bytes';
const AUD = 'earshot';
const ISS = 'https://issuer.test';
const KEYS = {
  alice: 'alice-secret-key',
  bob: 'bob-secret-key',
  carol: 'carol-secret-key',
  root: 'root-key',
};

const fx = speechFixture();
const pcm = encode(fx.samples, 'linear16');
const dir = mkdtempSync(join(tmpdir(), 'earshot-auth-'));
const keyFile = join(dir, 'keys');
const jwks = new JwksServer();
let rsa: { privateKey: CryptoKey; publicKey: CryptoKey };
let server: Awaited<ReturnType<typeof startTestServer>>;

function writeKeys(names: (keyof typeof KEYS)[]): void {
  writeFileSync(keyFile, names.map((n) => apiKeyLine(n, KEYS[n], n === 'root')).join('\n') + '\n');
}

before(async () => {
  rsa = await generateKeyPair('RS256', { extractable: true });
  jwks.keys = [{ ...(await exportJWK(rsa.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }];
  const jwksUrl = await jwks.start();
  writeKeys(['alice', 'bob', 'carol', 'root']);
  const model = await synthModel({ script: '<|0.00|> hello world<|1.00|>', timestamped: true });
  server = await startTestServer({
    model,
    transport: 'uws',
    admissionTarget: 0, // capacity is not under test: only --max-streams admits
    apiKeysFile: keyFile,
    jwtSecret: SECRET,
    jwksUrl,
    jwtAudience: AUD,
    jwtIssuer: ISS,
  });
});
after(async () => {
  await server?.stop();
  await jwks.stop();
  rmSync(dir, { recursive: true, force: true });
});

const now = () => Math.floor(Date.now() / 1000);

function hs256(claims: Record<string, unknown> = {}, secret: string | Uint8Array = SECRET): Promise<string> {
  const key = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
  return new SignJWT({ sub: 'dave', aud: AUD, iss: ISS, exp: now() + 600, ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .sign(key);
}

function rs256(kid = 'k1', claims: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ sub: 'erin', aud: AUD, iss: ISS, exp: now() + 600, ...claims })
    .setProtectedHeader({ alg: 'RS256', kid })
    .sign(rsa.privateKey);
}

interface Outcome {
  status: number;
  code?: string;
  headers: Record<string, string | string[] | undefined>;
}

/** An authenticated HTTP route (GET /v1/usage) with these headers/query. */
async function viaHttp(headers: Record<string, string>, query = ''): Promise<Outcome> {
  const res = await fetch(`${server.url}/v1/usage${query}`, { headers });
  const body = (await res.json()) as { error?: { code: string } };
  return { status: res.status, code: body.error?.code, headers: Object.fromEntries(res.headers) };
}

/** A /v1/listen upgrade; a refusal's status and code, or 101 (then closed at once). */
async function viaUpgrade(
  headers: Record<string, string>,
  query = '',
  protocols?: string[],
): Promise<Outcome> {
  try {
    const ws = await connect(`${server.ws}/v1/listen${query}`, protocols, headers);
    const protocol = ws.protocol;
    ws.close();
    return { status: 101, headers: { 'sec-websocket-protocol': protocol } };
  } catch (err) {
    const e = err as { status?: number; body?: string; headers?: Record<string, string> };
    if (e.status === undefined) throw err;
    return {
      status: e.status,
      code: (JSON.parse(e.body!) as { error: { code: string } }).error.code,
      headers: e.headers!,
    };
  }
}

describe('refused before the upgrade and on HTTP', () => {
  test('JWKS endpoint down: 503 JWKS_UNAVAILABLE with Retry-After, within the fetch timeout', async () => {
    jwks.hang = true;
    const token = await rs256();
    const started = Date.now();
    const [http, ws] = await Promise.all([
      viaHttp({ authorization: `Bearer ${token}` }),
      viaUpgrade({ authorization: `Bearer ${token}` }),
    ]);
    jwks.hang = false;
    for (const o of [http, ws]) {
      assert.equal(o.status, 503);
      assert.equal(o.code, 'JWKS_UNAVAILABLE');
      assert.equal(o.headers['retry-after'], '5');
    }
    assert.ok(Date.now() - started < 20_000, 'answered, not hung');
  });

  test('unknown kid: the JWKS is refetched once, then refused (no refetch storm)', async () => {
    const before = jwks.fetches;
    const a = await viaHttp({ authorization: `Bearer ${await rs256('nope')}` });
    const b = await viaUpgrade({ authorization: `Bearer ${await rs256('nope-2')}` });
    assert.deepEqual([a.status, a.code, b.status, b.code], [401, 'UNKNOWN_KEY', 401, 'UNKNOWN_KEY']);
    assert.equal(jwks.fetches - before, 1);
    // The known kid is in the fetched set: accepted without another fetch.
    assert.equal((await viaHttp({ authorization: `Bearer ${await rs256()}` })).status, 200);
    assert.equal(jwks.fetches - before, 1);
  });

  const cases: [string, () => Promise<Record<string, string>>, number, string][] = [
    ['no credential', async () => ({}), 401, 'MISSING_CREDENTIAL'],
    ['malformed header', async () => ({ authorization: 'Basic YWxpY2U6cHc=' }), 401, 'MALFORMED_CREDENTIAL'],
    ['unknown key', async () => ({ authorization: 'Token not-a-key' }), 401, 'INVALID_CREDENTIAL'],
    ['expired', async () => bearer(await hs256({ exp: now() - 120 })), 401, 'TOKEN_EXPIRED'],
    ['not yet valid', async () => bearer(await hs256({ nbf: now() + 120 })), 401, 'TOKEN_NOT_YET_VALID'],
    ['wrong audience', async () => bearer(await hs256({ aud: 'other' })), 401, 'WRONG_AUDIENCE'],
    ['wrong issuer', async () => bearer(await hs256({ iss: 'https://evil.test' })), 401, 'WRONG_ISSUER'],
    [
      'bad signature',
      async () => bearer(await hs256({}, 'another secret of at least thirty-two bytes!')),
      401,
      'BAD_SIGNATURE',
    ],
    [
      'alg none',
      async () =>
        bearer(new UnsecuredJWT({ sub: 'dave', aud: AUD, iss: ISS }).setExpirationTime('10m').encode()),
      401,
      'ALGORITHM_NOT_ALLOWED',
    ],
    [
      'HS256 signed with the RSA public key',
      async () => bearer(await hs256({}, new TextEncoder().encode(await exportSPKI(rsa.publicKey)))),
      401,
      'BAD_SIGNATURE',
    ],
  ];
  for (const [name, headers, status, code] of cases) {
    test(name, async () => {
      const h = await headers();
      for (const o of [await viaHttp(h), await viaUpgrade(h)]) {
        assert.deepEqual([o.status, o.code], [status, code]);
        assert.match(String(o.headers['www-authenticate']), /Bearer/);
        assert.match(String(o.headers['dg-error']), new RegExp(code));
      }
    });
  }

  test('revoked key: removed from the file and reloaded (SIGHUP), refused from then on', async () => {
    const h = { authorization: `Token ${KEYS.carol}` };
    assert.equal((await viaHttp(h)).status, 200);
    writeKeys(['alice', 'bob', 'root']);
    process.kill(process.pid, 'SIGHUP');
    await new Promise((r) => setTimeout(r, 50));
    for (const o of [await viaHttp(h), await viaUpgrade(h)])
      assert.deepEqual([o.status, o.code], [401, 'INVALID_CREDENTIAL']);
  });

  test('public routes need no credential; the page carries a strict CSP that admits its own script', async () => {
    for (const path of ['/healthz', '/readyz', '/'])
      assert.equal((await fetch(server.url + path)).status, 200);
    const page = await fetch(server.url + '/');
    const csp = page.headers.get('content-security-policy')!;
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /connect-src 'self'/);
    const script = /<script[^>]*>([\s\S]*?)<\/script>/.exec(await page.text())![1];
    const { createHash } = await import('node:crypto');
    assert.ok(csp.includes(`'sha256-${createHash('sha256').update(script).digest('base64')}'`));
    assert.equal((await fetch(server.url + '/metrics')).status, 401);
  });

  test('OPTIONS without a credential reads nothing: 401, only a real preflight is answered before auth', async () => {
    for (const path of ['/metrics', '/v1/usage', '/v1/sessions/x/transcript']) {
      const res = await fetch(server.url + path, { method: 'OPTIONS' });
      assert.equal(res.status, 401, path);
      assert.doesNotMatch(await res.text(), /earshot_subject_audio_seconds|key:/, path);
    }
    // A browser's preflight from the page's own origin still passes, and a credential gets the router's 204.
    const pre = await fetch(`${server.url}/metrics`, {
      method: 'OPTIONS',
      headers: { origin: server.url, 'access-control-request-method': 'GET' },
    });
    assert.equal(pre.status, 204);
    const options = await fetch(`${server.url}/metrics`, {
      method: 'OPTIONS',
      headers: { authorization: `Token ${KEYS.alice}` },
    });
    assert.deepEqual([options.status, await options.text()], [204, '']);
    const post = await fetch(`${server.url}/metrics`, {
      method: 'POST',
      headers: { authorization: `Token ${KEYS.alice}` },
    });
    assert.equal(post.status, 405);
  });

  test('behind a reverse proxy (auth on): the public Host name it forwards needs no --allowed-hosts', async () => {
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) =>
      request(
        `${server.url}/v1/usage`,
        { headers: { host: 'earshot.example.com', authorization: `Token ${KEYS.alice}` } },
        (res) => resolve(res.resume().statusCode!),
      )
        .on('error', reject)
        .end(),
    );
    assert.equal(status, 200);
  });

  test('a page on another origin: refused on the upgrade, on HTTP and in the preflight', async () => {
    const h = { authorization: `Token ${KEYS.alice}`, origin: 'https://evil.example' };
    for (const o of [await viaHttp(h), await viaUpgrade(h)])
      assert.deepEqual([o.status, o.code], [403, 'ORIGIN_NOT_ALLOWED']);
    const pre = await fetch(`${server.url}/v1/usage`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
    });
    assert.equal(pre.status, 403);
    assert.equal(pre.headers.get('access-control-allow-origin'), null);
    // The page's own origin passes.
    const own = await viaHttp({ authorization: `Token ${KEYS.alice}`, origin: server.url });
    assert.equal(own.status, 200);
    assert.equal(own.headers['access-control-allow-origin'], server.url);
  });
});

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

describe('accepted', () => {
  test('Token key, Bearer key, Bearer JWT (HS256 and JWKS), ?token=, and the token subprotocol (echoed)', async () => {
    const jwt = await hs256();
    const ok: [Record<string, string>, string][] = [
      [{ authorization: `Token ${KEYS.alice}` }, ''],
      [{ authorization: `Bearer ${KEYS.alice}` }, ''],
      [bearer(jwt), ''],
      [bearer(await rs256()), ''],
      [{}, `?token=${KEYS.alice}`],
      [{}, `?token=${jwt}`],
    ];
    for (const [h, q] of ok) {
      assert.equal((await viaHttp(h, q)).status, 200, JSON.stringify([h, q]));
      assert.equal((await viaUpgrade(h, q)).status, 101, JSON.stringify([h, q]));
    }
    const sub = await viaUpgrade({}, '', ['token', jwt]);
    assert.equal(sub.status, 101);
    assert.equal(sub.headers['sec-websocket-protocol'], 'token');
  });

  test('@deepgram/sdk with an API key: live and pre-recorded', async () => {
    const client = new DeepgramClient({
      apiKey: KEYS.alice,
      environment: { base: server.url, production: server.ws, agent: server.ws, agentRest: server.url },
    });
    const conn = await client.listen.v1.connect({
      model: 'nova-3',
      encoding: 'linear16',
      sample_rate: 16000,
      reconnectAttempts: 0,
    } as never);
    const finals: string[] = [];
    conn.on('message', (m) => {
      const r = m as {
        type: string;
        is_final?: boolean;
        channel?: { alternatives: { transcript: string }[] };
      };
      if (r.type === 'Results' && r.is_final) finals.push(r.channel!.alternatives[0].transcript);
    });
    const closed = new Promise<number>((r) => conn.on('close', (e) => r(e.code)));
    conn.connect();
    await conn.waitForOpen();
    for (let i = 0; i < pcm.length; i += 6400) conn.sendMedia(pcm.subarray(i, i + 6400));
    conn.sendCloseStream({ type: 'CloseStream' });
    assert.equal(await closed, 1000);
    assert.ok(finals.includes('hello world'));

    const files = new DeepgramClient({ apiKey: KEYS.alice, baseUrl: server.url });
    const res = (await files.listen.v1.media.transcribeFile(
      readFileSync(`${FIXTURES}vad/two-speakers-10s.wav`),
      {
        model: 'nova-3',
      } as never,
    )) as { results: { channels: { alternatives: { transcript: string }[] }[] } };
    assert.equal(res.results.channels[0].alternatives[0].transcript, 'hello world');
  });

  test('the openai client with an API key', async () => {
    const openai = new OpenAI({ apiKey: KEYS.bob, baseURL: `${server.url}/v1`, maxRetries: 0 });
    const file = await toFile(readFileSync(`${FIXTURES}vad/two-speakers-10s.wav`), 'speech.wav');
    const t = await openai.audio.transcriptions.create({ file, model: 'whisper-1' });
    assert.match(t.text, /hello world/);
    const wrong = new OpenAI({ apiKey: 'sk-wrong', baseURL: `${server.url}/v1`, maxRetries: 0 });
    await assert.rejects(wrong.audio.transcriptions.create({ file, model: 'whisper-1' }), { status: 401 });
  });
});

describe('ownership', () => {
  const alice = { authorization: `Token ${KEYS.alice}` };
  const bob = { authorization: `Token ${KEYS.bob}` };
  const root = { authorization: `Token ${KEYS.root}` };

  async function stream(headers: Record<string, string>, query: string) {
    const ws = await connect(
      `${server.ws}/v1/listen?encoding=linear16&sample_rate=16000${query}`,
      undefined,
      headers,
    );
    const done = collect(ws);
    await sendPaced(ws, [pcm.subarray(0, 32000 * 4)], 32000);
    ws.send(JSON.stringify({ type: 'CloseStream' }));
    return done;
  }

  test('another subject gets 404 for status, transcript, resume and delete; the owner and an admin do not', async () => {
    const talk = await stream(alice, '&session=meeting-1');
    assert.equal(talk.close.code, 1000);
    const meta = talk.messages[0] as { session: string };
    const key = meta.session;
    assert.match(key, /-meeting-1$/, 'the client-chosen id, scoped to its subject');
    const get = (h: Record<string, string>, path: string, method = 'GET') =>
      fetch(`${server.url}/v1/sessions/${path}`, { headers: h, method }).then((r) => r.status);

    for (const id of ['meeting-1', key]) {
      assert.equal(await get(bob, id), 404);
      assert.equal(await get(bob, `${id}/transcript?format=text`), 404);
      assert.equal(await get(bob, id, 'DELETE'), 404);
      const resume = await viaUpgrade(bob, `?session=${id}&resume_from=0`);
      assert.deepEqual([resume.status, resume.code], [404, 'SESSION_NOT_FOUND']);
    }
    assert.equal(await get(alice, 'meeting-1'), 200);
    assert.equal(await get(alice, key), 200);
    const text = await fetch(`${server.url}/v1/sessions/meeting-1/transcript?format=text`, {
      headers: alice,
    });
    assert.match(await text.text(), /hello world/);
    assert.equal(await get(root, key), 200, 'an admin names the full key');
    assert.equal(await get(root, 'meeting-1'), 404, "an admin's own namespace has no meeting-1");

    // Bob's meeting-1 is his own new session, not a continuation of Alice's.
    const bobs = await stream(bob, '&session=meeting-1');
    const bobMeta = bobs.messages[0] as { session: string; resumed: boolean; last_seq: number };
    assert.notEqual(bobMeta.session, key);
    assert.deepEqual([bobMeta.resumed, bobMeta.last_seq], [false, 0]);

    // The owner resumes (finals replayed) and deletes.
    const ws = await connect(`${server.ws}/v1/listen?session=meeting-1&resume_from=0`, undefined, alice);
    const again = collect(ws);
    ws.send(JSON.stringify({ type: 'CloseStream' }));
    const replayed = (await again).messages.filter((m) => m.type === 'Results');
    assert.ok(replayed.length >= 1);
    assert.equal(await get(alice, 'meeting-1', 'DELETE'), 204);
    assert.equal(await get(alice, 'meeting-1'), 404);
  });

  test('server-chosen ids are 128-bit random', async () => {
    const talk = await stream(alice, '');
    const key = (talk.messages[0] as { session: string }).session;
    // `<16-character subject tag>-<id>`: the id is 16 random bytes in base64url.
    assert.match(key, /^[A-Za-z0-9_-]{16}-[A-Za-z0-9_-]{22}$/);
    assert.equal(Buffer.from(key.slice(17), 'base64url').length, 16);
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { encode, speechFixture } from '../helpers/audio.js';
import { synthModel } from '../helpers/models.js';
import { sendPaced, startTestServer } from '../helpers/server.js';

/**
 * Each per-subject and per-address limit crossed once through the real server, with its code; the healthy stream
 * of one subject goes on while another subject is refused. A scripted model says "hello world" per utterance.
 */

const KEYS = { alice: 'alice-key', bob: 'bob-key', root: 'root-key' };
const fx = speechFixture();
const pcm = encode(fx.samples, 'linear16');
const BYTES_PER_SECOND = 32000;
let model: string;

interface Conversation {
  messages: Record<string, unknown>[];
  close: { code: number; reason: string };
}
type Refused = { status: number; code: string; retryAfter?: string };

/** Opens a stream; resolves with the open socket and its whole conversation, or rejects with the refusal. */
function open(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ ws: WebSocket; done: Promise<Conversation> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const messages: Record<string, unknown>[] = [];
    ws.on(
      'message',
      (d, binary) => binary || messages.push(JSON.parse(String(d)) as Record<string, unknown>),
    );
    const done = new Promise<Conversation>((r) =>
      ws.once('close', (code, reason) => r({ messages, close: { code, reason: String(reason) } })),
    );
    ws.once('open', () => resolve({ ws, done }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => {
        const code = (JSON.parse(body) as { error: { code: string } }).error.code;
        reject({
          status: res.statusCode ?? 0,
          code,
          retryAfter: res.headers['retry-after'],
        } satisfies Refused);
      });
    });
    ws.once('error', reject);
  });
}

const finals = (c: Conversation) =>
  c.messages.filter(
    (m) =>
      m.type === 'Results' &&
      m.is_final &&
      (m.channel as never as { alternatives: { transcript: string }[] }).alternatives[0].transcript !== '',
  );

async function wav(seconds: number): Promise<Blob> {
  const data = pcm.subarray(0, seconds * BYTES_PER_SECOND);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(16000, 24);
  header.writeUInt32LE(BYTES_PER_SECOND, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  return new Blob([header, data]);
}

before(async () => {
  model = await synthModel({ script: '<|0.00|> hello world<|1.00|>', timestamped: true });
});

describe('per-subject limits', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  const auth = (name: keyof typeof KEYS) => ({ authorization: `Token ${KEYS[name]}` });
  const listen = () => `${server.ws}/v1/listen?encoding=linear16&sample_rate=16000`;
  before(async () => {
    server = await startTestServer({
      model,
      admissionTarget: 0,
      apiKeys: 'alice:alice-key,bob:bob-key,root:root-key:admin',
      concurrentStreams: 1,
      audioSecondsPerHour: 15,
      requestsPerMinute: 2,
    });
  });
  after(() => server?.stop());

  test('concurrent streams: the second of a subject is refused (429), another subject streams meanwhile', async () => {
    const first = await open(listen(), auth('alice'));
    await assert.rejects(open(listen(), auth('alice')), (e: Refused) => {
      assert.deepEqual([e.status, e.code, e.retryAfter], [429, 'TOO_MANY_STREAMS', '5']);
      return true;
    });
    const bob = await open(listen(), auth('bob'));
    await sendPaced(bob.ws, [pcm], BYTES_PER_SECOND);
    bob.ws.send(JSON.stringify({ type: 'CloseStream' }));
    const talk = await bob.done;
    assert.equal(talk.close.code, 1000);
    assert.equal(finals(talk).length, 3, 'all three utterances');
    first.ws.send(JSON.stringify({ type: 'CloseStream' }));
    assert.equal((await first.done).close.code, 1000);
    // The slot is free again once the stream closed.
    const again = await open(listen(), auth('alice'));
    again.ws.send(JSON.stringify({ type: 'CloseStream' }));
    await again.done;
  });

  test('audio seconds per hour: 1008 mid-stream after the finals so far, then 429 for streams and files', async () => {
    // 10.6 s fit in Alice's 15; the second pass crosses the budget at about 4.4 s, inside its second utterance.
    for (const expected of [1000, 1008]) {
      const a = await open(listen(), auth('alice'));
      await sendPaced(a.ws, [pcm], BYTES_PER_SECOND);
      if (a.ws.readyState === WebSocket.OPEN) a.ws.send(JSON.stringify({ type: 'CloseStream' }));
      const talk = await a.done;
      assert.equal(talk.close.code, expected, talk.close.reason);
      if (expected === 1008) {
        assert.match(talk.close.reason, /^AUDIO_QUOTA_EXCEEDED: over the limit of 15 audio seconds per hour/);
        assert.ok(finals(talk).length >= 1, 'the finals before the limit are delivered');
        assert.equal(talk.messages.at(-1)!.type, 'Metadata');
      }
    }
    await assert.rejects(open(listen(), auth('alice')), (e: Refused) => {
      assert.deepEqual([e.status, e.code], [429, 'AUDIO_QUOTA_EXCEEDED']);
      assert.ok(Number(e.retryAfter) > 0);
      return true;
    });
    const file = await fetch(`${server.url}/v1/listen`, {
      method: 'POST',
      headers: { ...auth('alice'), 'content-type': 'audio/wav' },
      body: await wav(1),
    });
    assert.equal(file.status, 429);
    assert.equal(((await file.json()) as { error: { code: string } }).error.code, 'AUDIO_QUOTA_EXCEEDED');
  });

  test('file requests per minute: the third is refused with 429 and Retry-After', async () => {
    const post = async () =>
      fetch(`${server.url}/v1/listen`, {
        method: 'POST',
        headers: { ...auth('bob'), 'content-type': 'audio/wav' },
        body: await wav(1),
      });
    assert.equal((await post()).status, 200);
    assert.equal((await post()).status, 200);
    const third = await post();
    assert.equal(third.status, 429);
    assert.equal(((await third.json()) as { error: { code: string } }).error.code, 'TOO_MANY_REQUESTS');
    assert.ok(Number(third.headers.get('retry-after')) >= 1);
  });

  test('/v1/usage: the caller by day; an admin sees every subject; /metrics counts refusals by reason', async () => {
    const mine = (await (await fetch(`${server.url}/v1/usage`, { headers: auth('bob') })).json()) as {
      subject: string;
      days: { audio_seconds: number; streams: number; files: number }[];
    };
    assert.equal(mine.subject, 'key:bob');
    assert.equal(mine.days.length, 1);
    assert.deepEqual([mine.days[0].streams, mine.days[0].files], [1, 2]);
    assert.ok(
      Math.abs(mine.days[0].audio_seconds - (fx.duration + 2)) < 0.01,
      String(mine.days[0].audio_seconds),
    );
    const all = (await (await fetch(`${server.url}/v1/usage`, { headers: auth('root') })).json()) as {
      subjects: { subject: string }[];
    };
    assert.deepEqual(
      all.subjects.map((s) => s.subject),
      ['key:alice', 'key:bob'],
    );
    const metrics = await (await fetch(`${server.url}/metrics`, { headers: auth('root') })).text();
    for (const reason of ['TOO_MANY_STREAMS', 'AUDIO_QUOTA_EXCEEDED', 'TOO_MANY_REQUESTS']) {
      assert.match(metrics, new RegExp(`earshot_requests_denied_total\\{reason="${reason}"\\} [1-9]`));
    }
    assert.match(metrics, /earshot_subject_audio_seconds_total\{subject="key:bob"\} 1[0-9.]+/);
  });
});

describe('per-address connections and session length (auth off, loopback)', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  before(async () => {
    server = await startTestServer({
      model,
      admissionTarget: 0,
      connectionsPerSecond: 5,
      maxSessionSeconds: 2,
    });
  });
  after(() => server?.stop());

  test('max session length: 1008 SESSION_TOO_LONG with a closing Metadata', async () => {
    const s = await open(`${server.ws}/v1/listen`);
    const keepAlive = setInterval(() => s.ws.send(JSON.stringify({ type: 'KeepAlive' })), 300);
    const talk = await s.done;
    clearInterval(keepAlive);
    assert.equal(talk.close.code, 1008);
    assert.match(talk.close.reason, /^SESSION_TOO_LONG: streams last at most 2 s/);
    assert.equal(talk.messages.at(-1)!.type, 'Metadata');
  });

  test('new connections per second from one address: 429 TOO_MANY_CONNECTIONS past the burst', async () => {
    await new Promise((r) => setTimeout(r, 1100)); // the bucket refills
    const statuses = await Promise.all(
      Array.from({ length: 12 }, () =>
        fetch(`${server.url}/healthz`).then((r) => [r.status, r.headers.get('retry-after')]),
      ),
    );
    const refused = statuses.filter(([s]) => s === 429);
    assert.ok(refused.length >= 6, JSON.stringify(statuses));
    assert.ok(refused.every(([, retry]) => retry === '1'));
    assert.ok(statuses.filter(([s]) => s === 200).length <= 6);
  });
});

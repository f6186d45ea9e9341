import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FileStore } from '../../../server/store/file.js';
import type { Voiceprint } from '../../../server/store/types.js';
import { speechFixture, wav16, wavHeader } from '../../helpers/audio.js';
import { synthModel } from '../../helpers/models.js';
import { connect, startTestServer } from '../../helpers/server.js';

/**
 * /v1/speakers over the real server (built-in speaker embedding, Silero VAD, a file store): ownership by subject,
 * the admin's view, every kind of bad input refused naming its field with nothing stored, the per-subject limit,
 * and known_speakers refused before any work when a name is unknown or of another speaker model.
 */

const SR = 16000;
const fx = speechFixture();
const cut = (a: number, b: number) => fx.samples.subarray(Math.round(a * SR), Math.round(b * SR));
/** The fixture's two voices: spk1 at 0.8-4.05 s, spk0 at 5.34-7.46 s. */
const ANN = wav16(cut(0.7, 4.15));
const BO = wav16(cut(5.2, 7.6));
const KEYS = {
  alice: 'alice-key-0123456789abcdef0123456789',
  bob: 'bob-key-0123456789abcdef0123456789ab',
  root: 'root-key-0123456789abcdef0123456789a',
};
const dir = mkdtempSync(join(tmpdir(), 'earshot-speakers-'));
let server: Awaited<ReturnType<typeof startTestServer>>;

before(async () => {
  const model = await synthModel({
    script: '<|0.00|> hello world<|1.00|><|1.00|> good morning<|2.50|>',
    timestamped: true,
  });
  server = await startTestServer({
    model,
    admissionTarget: 0,
    store: `file:${dir}`,
    apiKeys: `alice:${KEYS.alice},bob:${KEYS.bob},root:${KEYS.root}:admin`,
  });
});
after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const auth = (who: keyof typeof KEYS) => ({ authorization: `Token ${KEYS[who]}` });

function clips(name: string | null, files: Uint8Array[], field = 'files[]'): FormData {
  const f = new FormData();
  if (name !== null) f.set('name', name);
  files.forEach((b, i) => f.append(field, new Blob([b], { type: 'audio/wav' }), `c${i}.wav`));
  return f;
}

async function enrol(who: keyof typeof KEYS, body: FormData | object): Promise<Response> {
  const json = !(body instanceof FormData);
  return fetch(`${server.url}/v1/speakers`, {
    method: 'POST',
    headers: { ...auth(who), ...(json ? { 'content-type': 'application/json' } : {}) },
    body: json ? JSON.stringify(body) : body,
  });
}

const get = (who: keyof typeof KEYS, path: string, method = 'GET') =>
  fetch(`${server.url}${path}`, { method, headers: auth(who) });

describe('/v1/speakers', () => {
  test('a voiceprint belongs to its subject: others get 404, the admin sees and deletes every one', async () => {
    const res = await enrol('alice', clips('Ann Lee', [ANN]));
    assert.equal(res.status, 201, await res.clone().text());
    const made = (await res.json()) as Record<string, unknown>;
    assert.equal(made.name, 'Ann Lee');
    assert.match(String(made.model), /^builtin-[0-9a-f]{12}$/);
    assert.equal(made.embedding, undefined, 'no vector in the answer');
    assert.ok(Math.abs((made.seconds as number) - 3.45) < 0.01);

    const mine = (await (await get('alice', '/v1/speakers')).json()) as {
      speakers: Record<string, unknown>[];
    };
    assert.deepEqual(
      mine.speakers.map((s) => s.name),
      ['Ann Lee'],
    );
    assert.equal(mine.speakers[0].embedding, undefined, 'the list carries no vectors');
    const one = (await (await get('alice', '/v1/speakers/Ann%20Lee')).json()) as Voiceprint;
    assert.equal(one.embedding.length, one.dim);
    assert.ok(Math.abs(Math.hypot(...one.embedding) - 1) < 1e-4, 'a unit vector');

    assert.deepEqual(await (await get('bob', '/v1/speakers')).json(), { model: made.model, speakers: [] });
    assert.equal((await get('bob', '/v1/speakers/Ann%20Lee')).status, 404);
    assert.equal((await get('bob', '/v1/speakers/Ann%20Lee', 'DELETE')).status, 404);
    assert.equal((await get('bob', '/v1/speakers/Ann%20Lee?subject=key:alice')).status, 404, 'not an admin');

    const all = (await (await get('root', '/v1/speakers')).json()) as { speakers: Record<string, unknown>[] };
    assert.deepEqual(
      all.speakers.map((s) => [s.subject, s.name]),
      [['key:alice', 'Ann Lee']],
    );
    assert.equal((await get('root', '/v1/speakers/Ann%20Lee?subject=key:alice')).status, 200);
    assert.equal((await get('root', '/v1/speakers/Ann%20Lee?subject=key:alice', 'DELETE')).status, 204);
    assert.equal((await get('alice', '/v1/speakers/Ann%20Lee')).status, 404);
    assert.equal((await new FileStore({ dir, retentionHours: 0 }).voiceprints.list(undefined)).length, 0);
  });

  test('enrolment as JSON data URLs; the same name again replaces it; DELETE removes it', async () => {
    const url = `data:audio/wav;base64,${BO.toString('base64')}`;
    assert.equal((await enrol('bob', { name: 'Bo', files: [url] })).status, 201);
    const first = (await (await get('bob', '/v1/speakers/Bo')).json()) as Voiceprint;
    assert.equal((await enrol('bob', { name: 'Bo', files: [url, url] })).status, 201);
    const again = (await (await get('bob', '/v1/speakers/Bo')).json()) as Voiceprint;
    assert.equal(again.clips, 2);
    assert.notEqual(again.created, first.created);
    assert.equal((await get('bob', '/v1/speakers/Bo', 'DELETE')).status, 204);
    assert.equal((await get('bob', '/v1/speakers/Bo')).status, 404);
  });

  const silence = wav16(new Float32Array(3 * SR));
  const tenMinutes = Buffer.concat([wavHeader(600 * 8000 * 2, 8000), Buffer.alloc(600 * 8000 * 2)]);
  const bad: [string, () => FormData | object, number, RegExp][] = [
    ['a clip of silence', () => clips('Ann', [silence]), 400, /files\[0\] holds 0\.0 s of speech/],
    ['a clip under 2 s', () => clips('Ann', [wav16(cut(0.8, 2.3))]), 400, /files\[0\] lasts 1\.5 s/],
    [
      'a second clip that is not audio',
      () => clips('Ann', [ANN, Buffer.from('not audio at all')]),
      400,
      /files\[1\] is not audio/,
    ],
    [
      'a 10-minute clip (from its header)',
      () => clips('Ann', [tenMinutes], 'file'),
      400,
      /files\[0\] lasts 600\.0 s/,
    ],
    [
      'a name with a control character',
      () => clips('Ann\u0007', [ANN]),
      400,
      /name must not contain control/,
    ],
    ['a name of 1 KB', () => clips('x'.repeat(1024), [ANN]), 400, /name must be 1-64 characters, got 1024/],
    ['no name', () => clips(null, [ANN]), 400, /name is missing/],
    ['no clip', () => clips('Ann', []), 400, /files\[\]/],
    [
      'a JSON clip that is not a data URL',
      () => ({ name: 'Ann', files: ['http://x/a.wav'] }),
      400,
      /files\[0\] is not a data URL/,
    ],
    ['JSON that is not an object', () => [1, 2], 400, /body must be a JSON object/],
  ];
  for (const [what, body, status, message] of bad) {
    test(`refused, nothing stored: ${what}`, async () => {
      const res = await enrol('alice', body());
      const text = await res.text();
      assert.equal(res.status, status, text);
      assert.equal((JSON.parse(text) as { error: { code: string } }).error.code, 'INVALID_FIELD');
      assert.match(text, message);
      assert.deepEqual(
        ((await (await get('alice', '/v1/speakers')).json()) as { speakers: [] }).speakers,
        [],
      );
    });
  }

  test('a body that is neither a form nor JSON: 415', async () => {
    const res = await fetch(`${server.url}/v1/speakers`, {
      method: 'POST',
      headers: { ...auth('alice'), 'content-type': 'audio/wav' },
      body: ANN,
    });
    assert.equal(res.status, 415);
  });

  test('1,000 voiceprints per subject: the next new name is refused (429), a replaced one is not', async () => {
    const store = new FileStore({ dir, retentionHours: 0 });
    const v = (name: string): Voiceprint => ({
      subject: 'key:bob',
      name,
      model: 'builtin-x',
      dim: 1,
      embedding: [1],
      seconds: 3,
      clips: 1,
      created: new Date().toISOString(),
    });
    for (let i = 0; i < 1000; i++) await store.voiceprints.put(v(`v${i}`), 1000);
    const res = await enrol('bob', clips('one more', [ANN]));
    assert.equal(res.status, 429, await res.clone().text());
    assert.match(await res.text(), /at most 1000 voiceprints/);
    assert.equal((await enrol('bob', clips('v0', [ANN]))).status, 201);
    for (let i = 0; i < 1000; i++) await store.voiceprints.delete('key:bob', `v${i}`);
  });
});

describe('known_speakers', () => {
  before(async () => {
    assert.equal((await enrol('alice', clips('Ann', [ANN]))).status, 201);
    // A voiceprint another speaker model made (another --speaker-model, or retrained built-in parameters).
    await new FileStore({ dir, retentionHours: 0 }).voiceprints.put(
      {
        subject: 'key:alice',
        name: 'Old',
        model: 'ecapa.onnx-0123456789ab',
        dim: 2,
        embedding: [1, 0],
        seconds: 5,
        clips: 1,
        created: new Date().toISOString(),
      },
      1000,
    );
  });

  const listen = (qs: string) => `${server.ws}/v1/listen?token=${KEYS.alice}&diarize=true&${qs}`;
  const refusedUpgrade = async (qs: string) => {
    const err = (await connect(listen(qs)).then(
      (ws) => (ws.close(), assert.fail('upgraded')),
      (e: unknown) => e,
    )) as { status: number; body: string };
    return err;
  };

  test('live: unknown names are refused before the upgrade, naming them', async () => {
    const err = await refusedUpgrade('known_speakers=Ann,Zoe,Xan');
    assert.equal(err.status, 400);
    const { error } = JSON.parse(err.body) as { error: { code: string; message: string } };
    assert.equal(error.code, 'UNKNOWN_SPEAKER');
    assert.match(error.message, /no voiceprint named "Zoe", "Xan"/);
    assert.doesNotMatch(error.message, /"Ann"/);
  });

  test("another subject's voiceprint is an unknown name", async () => {
    const res = await fetch(`${server.ws.replace('ws', 'http')}/v1/listen?diarize=true&known_speakers=Ann`, {
      method: 'POST',
      headers: { ...auth('bob'), 'content-type': 'audio/wav' },
      body: ANN,
    });
    assert.equal(res.status, 400);
    const { error } = (await res.json()) as { error: { message: string } };
    assert.match(error.message, /no voiceprint named "Ann"/);
  });

  test('a voiceprint of another speaker model: 409 saying so, live and files', async () => {
    const live = await refusedUpgrade('known_speakers=Old');
    assert.equal(live.status, 409);
    assert.match(
      live.body,
      /enrolled with speaker model ecapa\.onnx-0123456789ab.*this server runs builtin-/,
    );
    assert.equal((await refusedUpgrade('known_speakers=all')).status, 409);
    const form = new FormData();
    form.set('file', new Blob([ANN], { type: 'audio/wav' }), 'a.wav');
    form.set('known_speakers', 'Old');
    const res = await fetch(`${server.url}/v1/audio/transcriptions`, {
      method: 'POST',
      headers: auth('alice'),
      body: form,
    });
    assert.equal(res.status, 409);
    const body = (await res.json()) as { error: { param: string; message: string } };
    assert.equal(body.error.param, 'known_speakers');
    assert.match(body.error.message, /enrol it again/);
  });

  test('known_speakers without diarize=true, or with a bad name: 400 naming the parameter', async () => {
    const noDiarize = (await connect(`${server.ws}/v1/listen?token=${KEYS.alice}&known_speakers=Ann`).then(
      (ws) => (ws.close(), assert.fail('upgraded')),
      (e: unknown) => e,
    )) as { status: number; body: string };
    assert.equal(noDiarize.status, 400);
    assert.match(noDiarize.body, /known_speakers needs diarize=true/);
    const badName = await refusedUpgrade(`known_speakers=${encodeURIComponent('a\nb')}`);
    assert.equal(badName.status, 400);
    assert.match(badName.body, /known_speakers: the name/);
  });

  test('files: POST /v1/listen and /v1/audio/transcriptions name the enrolled voice', async () => {
    const del = await get('alice', '/v1/speakers/Old', 'DELETE');
    assert.equal(del.status, 204);
    assert.equal((await enrol('alice', clips('Bo', [BO]))).status, 201);
    const wav = wav16(fx.samples);
    const res = await fetch(`${server.url}/v1/listen?diarize=true&known_speakers=all&utterances=true`, {
      method: 'POST',
      headers: { ...auth('alice'), 'content-type': 'audio/wav' },
      body: wav,
    });
    assert.equal(res.status, 200, await res.clone().text());
    const dg = (await res.json()) as {
      results: { channels: { alternatives: { words: { speaker_name?: string }[] }[] }[] };
    };
    const names = new Set(dg.results.channels[0].alternatives[0].words.map((w) => w.speaker_name));
    assert.ok(names.has('Ann'), `words named ${[...names].join(', ')}`);
    const form = new FormData();
    form.set('file', new Blob([wav], { type: 'audio/wav' }), 'a.wav');
    form.set('known_speakers', 'Ann,Bo');
    form.set('response_format', 'srt');
    const srt = await fetch(`${server.url}/v1/audio/transcriptions`, {
      method: 'POST',
      headers: auth('alice'),
      body: form,
    });
    assert.equal(srt.status, 200);
    assert.match(await srt.text(), /\[Ann\]/);
  });
});

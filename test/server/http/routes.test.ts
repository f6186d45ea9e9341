import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { encode, FIXTURES, randomFrames, speechFixture } from '../../helpers/audio.js';
import { synthModel } from '../../helpers/models.js';
import { collect, connect, sendPaced, startTestServer } from '../../helpers/server.js';

/** OpenAI-compatible transcriptions, session transcripts, and resume, over the real server. */

const fx = speechFixture();
const pcm = encode(fx.samples, 'linear16');
const wav = readFileSync(`${FIXTURES}vad/two-speakers-10s.wav`);
let server: Awaited<ReturnType<typeof startTestServer>>;
before(async () => {
  const model = await synthModel({
    script: '<|0.00|> hello world<|1.00|><|1.00|> good morning<|2.50|>',
    timestamped: true,
  });
  server = await startTestServer({ model, admissionTarget: 0 });
});
after(() => server.stop());

function form(fields: Record<string, string | string[]>, file: Uint8Array | null = wav): FormData {
  const f = new FormData();
  if (file) f.set('file', new Blob([file], { type: 'audio/wav' }), 'speech.wav');
  for (const [k, v] of Object.entries(fields)) for (const x of [v].flat()) f.append(k, x);
  return f;
}
const post = (body: FormData) => fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body });

describe('POST /v1/audio/transcriptions (OpenAI)', () => {
  test('json, text, srt, vtt, verbose_json with word granularity', async () => {
    assert.deepEqual(await (await post(form({ model: 'whisper-1', language: 'en' }))).json(), {
      text: 'hello world good morning',
    });
    assert.equal(await (await post(form({ response_format: 'text' }))).text(), 'hello world good morning\n');
    // The server decodes the speech Silero finds (from its onset, less a 200 ms pad), so the script's times are
    // offset by where the first speech window starts.
    const srt = await (await post(form({ response_format: 'srt' }))).text();
    const cues = [
      ...srt.matchAll(/(\d\d):(\d\d):(\d\d),(\d{3}) --> (\d\d):(\d\d):(\d\d),(\d{3})\n(.*)\n/g),
    ].map((m) => {
      const t = (i: number) =>
        Number(m[i]) * 3600 + Number(m[i + 1]) * 60 + Number(m[i + 2]) + Number(m[i + 3]) / 1000;
      return { start: t(1), end: t(5), text: m[9] };
    });
    assert.deepEqual(
      cues.map((c) => c.text),
      ['hello world', 'good morning'],
    );
    assert.ok(
      cues[0].start > 0.4 && cues[0].start < 0.8,
      `first window starts at the speech: ${cues[0].start}`,
    );
    assert.ok(
      Math.abs(cues[0].end - cues[0].start - 1) < 1e-6 && Math.abs(cues[1].start - cues[0].end) < 1e-6,
    );
    assert.ok(Math.abs(cues[1].end - cues[1].start - 1.5) < 1e-6);
    const vtt = await post(form({ response_format: 'vtt' }));
    assert.match(vtt.headers.get('content-type')!, /text\/vtt/);
    const v = (await (
      await post(form({ response_format: 'verbose_json', 'timestamp_granularities[]': ['word', 'segment'] }))
    ).json()) as {
      duration: number;
      segments: { start: number; end: number; avg_logprob: number }[];
      words: { word: string; start: number; end: number }[];
    };
    assert.equal(v.duration, 10.6);
    assert.equal(v.segments.length, 2);
    assert.deepEqual(
      v.words.map((w) => w.word),
      ['hello', 'world', 'good', 'morning'],
    );
  });

  const bad: [string, () => FormData | string, number, RegExp][] = [
    ['no file', () => form({}, null), 400, /"file" field/],
    [
      'not audio',
      () => form({}, new TextEncoder().encode('hello, this is not audio at all, honest')),
      400,
      /./,
    ],
    ['bad response_format', () => form({ response_format: 'docx' }), 400, /response_format/],
    [
      'bad granularity',
      () => form({ 'timestamp_granularities[]': 'phoneme' }),
      400,
      /timestamp_granularities/,
    ],
    ['bad language', () => form({ language: 'english!' }), 400, /language/],
    ['bad temperature', () => form({ temperature: '7' }), 400, /temperature/],
  ];
  for (const [name, body, status, message] of bad) {
    test(`refuses ${name}`, async () => {
      const res = await post(body() as FormData);
      assert.equal(res.status, status);
      const e = (await res.json()) as { error: { message: string; param: string | null } };
      assert.match(e.error.message, message);
    });
  }

  test('refuses a body that is not multipart', async () => {
    const res = await fetch(`${server.url}/v1/audio/transcriptions`, {
      method: 'POST',
      body: wav,
      headers: { 'content-type': 'audio/wav' },
    });
    assert.equal(res.status, 415);
  });
});

describe('sessions: transcript export and resume', () => {
  test('a finished session exports its finals as json, srt, vtt and text; DELETE removes it', async () => {
    const ws = await connect(`${server.ws}/v1/listen?session=export-1`);
    const done = collect(ws);
    await sendPaced(ws, randomFrames(pcm, 3, 3200, 3201), 32000);
    ws.send(JSON.stringify({ type: 'CloseStream' }));
    await done;
    await new Promise((r) => setTimeout(r, 50));
    const status = (await (await fetch(`${server.url}/v1/sessions/export-1`)).json()) as {
      status: string;
      finals: number;
      duration: number;
    };
    assert.equal(status.status, 'closed');
    assert.equal(status.finals, 3);
    assert.equal(status.duration, 10.6);
    const json = (await (await fetch(`${server.url}/v1/sessions/export-1/transcript`)).json()) as {
      segments: { seq: number }[];
    };
    assert.deepEqual(
      json.segments.map((s) => s.seq),
      [1, 2, 3],
    );
    const srt = await (await fetch(`${server.url}/v1/sessions/export-1/transcript?format=srt`)).text();
    assert.equal(srt.match(/ --> /g)?.length, 3);
    assert.match(
      await (await fetch(`${server.url}/v1/sessions/export-1/transcript?format=vtt`)).text(),
      /^WEBVTT/,
    );
    assert.equal(
      await (await fetch(`${server.url}/v1/sessions/export-1/transcript?format=text`)).text(),
      'hello world good morning hello world good morning hello world good morning\n',
    );
    assert.equal((await fetch(`${server.url}/v1/sessions/export-1/transcript?format=pdf`)).status, 400);
    assert.equal((await fetch(`${server.url}/v1/sessions/export-1`, { method: 'DELETE' })).status, 204);
    assert.equal((await fetch(`${server.url}/v1/sessions/export-1`)).status, 404);
    assert.equal((await fetch(`${server.url}/v1/sessions/nope/transcript`)).status, 404);
  });

  test('resume: finals after resume_from are replayed, times and seq continue', async () => {
    const first = await connect(`${server.ws}/v1/listen?session=resume-1`);
    const a = collect(first);
    // The first utterance and most of the silence after it, then the connection drops.
    await sendPaced(first, randomFrames(pcm.subarray(0, 32000 * 5), 5, 3200, 3201), 32000);
    await new Promise((r) => setTimeout(r, 200));
    first.terminate();
    await a;
    await new Promise((r) => setTimeout(r, 200));
    const live = await connect(`${server.ws}/v1/listen?session=resume-1`);
    const refused = await connect(`${server.ws}/v1/listen?session=resume-1`).catch(
      (e: { status: number }) => e,
    );
    assert.equal((refused as { status: number }).status, 409, 'one live connection per session');
    const b = collect(live);
    await sendPaced(live, randomFrames(pcm.subarray(32000 * 5), 6, 3200, 3201), 32000);
    live.send(JSON.stringify({ type: 'CloseStream' }));
    const { messages } = await b;
    live.close();
    const finals = messages.filter((m) => m.type === 'Results' && m.is_final) as {
      seq: number;
      start: number;
    }[];
    assert.equal(finals.length, 2, 'the two utterances after the resume point');
    assert.deepEqual(
      finals.map((f) => f.seq),
      [2, 3],
    );
    assert.ok(
      Math.abs(finals[0].start - fx.segments[1].start) < 0.15,
      'times continue from the first connection',
    );

    const again = await connect(`${server.ws}/v1/listen?session=resume-1&resume_from=1`);
    const c = collect(again);
    await new Promise((r) => setTimeout(r, 200));
    again.send(JSON.stringify({ type: 'CloseStream' }));
    const replayed = (await c).messages.filter((m) => m.type === 'Results' && m.is_final) as {
      seq: number;
    }[];
    assert.deepEqual(
      replayed.map((f) => f.seq),
      [2, 3],
      'finals after seq 1 are replayed',
    );
    const missing = await connect(`${server.ws}/v1/listen?session=never-seen&resume_from=0`).catch(
      (e: { status: number }) => e,
    );
    assert.equal((missing as { status: number }).status, 404);
  });
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { DeepgramClient } from '@deepgram/sdk';
import OpenAI, { toFile } from 'openai';
import type { TranslationVerbose } from 'openai/resources/audio/translations';
import { encode, FIXTURES, randomFrames, speechFixture } from '../../helpers/audio.js';
import { synthModel } from '../../helpers/models.js';
import { recordPrompts, type PromptLog } from '../../helpers/prompts.js';
import { collect, connect, sendPaced, startTestServer } from '../../helpers/server.js';

/**
 * Translation (OpenAI's /v1/audio/translations, task=translate on /v1/listen, live and files) and language
 * detection (detect_language=true, language=multi) over a real server whose scripted multilingual model says the
 * same words whatever the task: what proves the task is the prompt its decoder is started with.
 */

const wav = readFileSync(`${FIXTURES}vad/two-speakers-10s.wav`);
const pcm = encode(speechFixture().samples, 'linear16');
const SCRIPT = '<|0.00|> hello world<|1.00|><|1.00|> good morning<|2.50|>';
type Server = Awaited<ReturnType<typeof startTestServer>>;

/** Every decode prompt since the last look: which task tokens they hold ('translate', 'transcribe'). */
function tasksSeen(server: Server, prompts: PromptLog): Set<string> {
  const { translate, transcribe } = server.model!.ids;
  const seen = new Set<string>();
  for (const row of prompts.rows()) {
    if (row.includes(translate!)) seen.add('translate');
    if (row.includes(transcribe!)) seen.add('transcribe');
  }
  prompts.clear();
  return seen;
}

const refusal = (e: unknown) => e as { status?: number; headers?: Record<string, string>; body?: string };

describe('translation on a multilingual model', () => {
  let server: Server;
  let prompts: PromptLog;
  let openai: OpenAI;
  before(async () => {
    // The model on the test's thread: what proves the task is the prompt its decoder is started with.
    server = await startTestServer(
      { model: await synthModel({ script: SCRIPT, timestamped: true }) },
      { inlineModel: true },
    );
    prompts = recordPrompts(server.model!);
    openai = new OpenAI({ apiKey: 'unused', baseURL: `${server.url}/v1`, maxRetries: 0 });
  });
  after(() => server.stop());

  test('the OpenAI client: translations.create in every response format, decoded with <|translate|>', async () => {
    const file = () => toFile(wav, 'speech.wav');
    const json = await openai.audio.translations.create({ file: await file(), model: 'whisper-1' });
    assert.deepEqual(json, { text: 'hello world good morning' });
    assert.deepEqual(tasksSeen(server, prompts), new Set(['translate']));
    const text = await openai.audio.translations.create({
      file: await file(),
      model: 'whisper-1',
      response_format: 'text',
    });
    assert.equal(text, 'hello world good morning\n');
    // The client's overloads type srt, vtt and verbose_json answers as json ones: they are what the server says.
    const srt = (await openai.audio.translations.create({
      file: await file(),
      model: 'whisper-1',
      response_format: 'srt',
      temperature: 0.2,
    })) as unknown as string;
    assert.match(
      srt,
      /^1\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\nhello world\n\n2\n.*\ngood morning\n$/,
    );
    const vtt = (await openai.audio.translations.create({
      file: await file(),
      model: 'whisper-1',
      response_format: 'vtt',
    })) as unknown as string;
    assert.match(vtt, /^WEBVTT\n\n.* --> .*\nhello world\n\n.* --> .*\ngood morning\n$/);
    const verbose = (await openai.audio.translations.create({
      file: await file(),
      model: 'whisper-1',
      response_format: 'verbose_json',
    })) as unknown as TranslationVerbose & { task: string };
    assert.equal(verbose.language, 'english', 'the language of the output, as OpenAI says it');
    assert.equal(verbose.task, 'translate');
    assert.equal(verbose.text, 'hello world good morning');
    assert.deepEqual(
      verbose.segments?.map((s) => s.text.trim()),
      ['hello world', 'good morning'],
    );
    assert.deepEqual(tasksSeen(server, prompts), new Set(['translate']));
  });

  test('transcriptions on the same server stay transcriptions', async () => {
    const t = await openai.audio.transcriptions.create({
      file: await toFile(wav, 'speech.wav'),
      model: 'whisper-1',
      response_format: 'verbose_json',
    });
    assert.equal(t.text, 'hello world good morning');
    assert.equal((t as unknown as { task: string }).task, 'transcribe');
    assert.deepEqual(tasksSeen(server, prompts), new Set(['transcribe']));
  });

  test('POST /v1/listen?task=translate translates the file', async () => {
    const res = await fetch(`${server.url}/v1/listen?task=translate&language=de`, {
      method: 'POST',
      headers: { 'content-type': 'audio/wav' },
      body: wav,
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as {
      results: { channels: { alternatives: { transcript: string }[] }[] };
    };
    assert.equal(body.results.channels[0].alternatives[0].transcript, 'hello world good morning');
    assert.deepEqual(tasksSeen(server, prompts), new Set(['translate']));
  });

  test('live task=translate: interims and finals are decoded with <|translate|>', async () => {
    prompts.clear();
    const ws = await connect(`${server.ws}/v1/listen?task=translate&interim_results=true&language=en`);
    const done = collect(ws);
    await sendPaced(ws, randomFrames(pcm, 3, 3200, 3201), 32000, 10);
    ws.send(JSON.stringify({ type: 'CloseStream' }));
    const { messages, close } = await done;
    assert.equal(close.code, 1000);
    const results = messages.filter((m) => m.type === 'Results');
    assert.ok(
      results.some((m) => m.is_final === false),
      'interims were decoded',
    );
    assert.ok(
      results.some((m) => m.is_final === true),
      'finals were decoded',
    );
    assert.deepEqual(tasksSeen(server, prompts), new Set(['translate']));
  });

  test('task=dance is refused naming task: live before the upgrade, files before the body', async () => {
    await assert.rejects(connect(`${server.ws}/v1/listen?task=dance`), (e: unknown) => {
      const r = refusal(e);
      assert.equal(r.status, 400);
      assert.match(r.headers?.['dg-error'] ?? '', /^task: task must be transcribe or translate, got "dance"/);
      assert.match(r.body ?? '', /"code":"INVALID_QUERY_PARAMETER"/);
      return true;
    });
    const file = await fetch(`${server.url}/v1/listen?task=dance`, {
      method: 'POST',
      headers: { 'content-type': 'audio/wav' },
      body: wav,
    });
    assert.equal(file.status, 400);
    assert.match(file.headers.get('dg-error') ?? '', /^task: /);
    assert.match(((await file.json()) as { error: { message: string } }).error.message, /task must be/);
  });
});

describe('language detection', () => {
  let server: Server;
  before(async () => {
    server = await startTestServer({ model: await synthModel({ script: SCRIPT, timestamped: true }) });
  });
  after(() => server.stop());

  type Channel = { detected_language?: string; language_confidence?: number };
  const transcribeFile = async (options: Record<string, unknown>) => {
    const client = new DeepgramClient({ apiKey: 'test-key', baseUrl: server.url });
    const res = (await client.listen.v1.media.transcribeFile(wav, options as never)) as {
      results: { channels: Channel[] };
    };
    return res.results.channels[0];
  };

  test('detect_language=true (the Deepgram SDK): detected_language and a language_confidence in [0, 1]', async () => {
    // The scripted model puts <|en|> right after <|startoftranscript|>, so its language pass is sure of English.
    const channel = await transcribeFile({ detect_language: true });
    assert.equal(channel.detected_language, 'en');
    const p = channel.language_confidence!;
    assert.ok(typeof p === 'number' && p > 0.5 && p <= 1, `language_confidence ${p}`);
    // detect_language detects whatever language says (Deepgram: it transcribes in the language it finds).
    const over = await transcribeFile({ detect_language: true, language: 'de' });
    assert.equal(over.detected_language, 'en');
    assert.equal(over.language_confidence, p);
    const plain = await transcribeFile({ language: 'de' });
    assert.equal(plain.language_confidence, undefined, 'only with detect_language=true');
  });

  test('detect_language=maybe is a 400 naming it', async () => {
    const res = await fetch(`${server.url}/v1/listen?detect_language=maybe`, {
      method: 'POST',
      headers: { 'content-type': 'audio/wav' },
      body: wav,
    });
    assert.equal(res.status, 400);
    assert.match(res.headers.get('dg-error') ?? '', /^detect_language: /);
  });

  test('live language=multi: each final says its language (languages[] on the alternative)', async () => {
    for (const [query, want] of [
      ['language=multi', ['en']],
      ['language=en', undefined],
    ] as const) {
      const ws = await connect(`${server.ws}/v1/listen?${query}`);
      const done = collect(ws);
      await sendPaced(ws, randomFrames(pcm, 4, 3200, 3201), 32000, 10);
      ws.send(JSON.stringify({ type: 'CloseStream' }));
      const { messages } = await done;
      const finals = messages.filter(
        (m) => m.type === 'Results' && m.is_final && (m.channel as Alt).alternatives[0].transcript,
      );
      assert.ok(finals.length > 0, query);
      for (const f of finals) assert.deepEqual((f.channel as Alt).alternatives[0].languages, want, query);
    }
  });
});
type Alt = { alternatives: { transcript: string; languages?: string[] }[] };

describe('an English-only model', () => {
  let server: Server;
  let name: string;
  before(async () => {
    name = await synthModel({ script: SCRIPT, timestamped: true, multilingual: false });
    server = await startTestServer({ model: name });
  });
  after(() => server.stop());

  test('refuses to translate with a 400 naming the model, on every route', async () => {
    const openai = new OpenAI({ apiKey: 'unused', baseURL: `${server.url}/v1`, maxRetries: 0 });
    await assert.rejects(
      openai.audio.translations.create({ file: await toFile(wav, 'speech.wav'), model: 'whisper-1' }),
      (e: unknown) => {
        const err = e as { status: number; message: string; param?: string };
        assert.equal(err.status, 400);
        assert.ok(err.message.includes(`the model ${name} is English-only`), err.message);
        return true;
      },
    );
    await assert.rejects(connect(`${server.ws}/v1/listen?task=translate`), (e: unknown) => {
      const r = refusal(e);
      assert.equal(r.status, 400);
      assert.ok(r.headers?.['dg-error']?.startsWith(`task: the model ${name} is English-only`), r.body);
      return true;
    });
    const file = await fetch(`${server.url}/v1/listen?task=translate`, {
      method: 'POST',
      headers: { 'content-type': 'audio/wav' },
      body: wav,
    });
    assert.equal(file.status, 400);
    assert.ok((await file.text()).includes(`the model ${name} is English-only`));
  });

  test('still transcribes (task=transcribe is its only task)', async () => {
    const res = await fetch(`${server.url}/v1/listen?task=transcribe&detect_language=true`, {
      method: 'POST',
      headers: { 'content-type': 'audio/wav' },
      body: wav,
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as {
      results: {
        channels: ({ alternatives: { transcript: string }[] } & {
          detected_language: string;
          language_confidence: number;
        })[];
      };
    };
    assert.equal(body.results.channels[0].alternatives[0].transcript, 'hello world good morning');
    assert.equal(body.results.channels[0].detected_language, 'en');
    assert.equal(body.results.channels[0].language_confidence, 1);
  });
});

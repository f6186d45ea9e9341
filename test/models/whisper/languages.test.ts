import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { readFileSync } from 'node:fs';
import {
  checkLanguage,
  languageName,
  UnsupportedLanguageError,
  validLanguages,
  WHISPER_LANGUAGES,
} from '../../../models/whisper/languages.js';
import { transcribe } from '../../../models/whisper/transcribe.js';
import { WhisperModel } from '../../../models/whisper/runtime.js';
import { ParamError, parseListenParams } from '../../../server/params.js';
import { FIXTURES } from '../../helpers/audio.js';
import { synthModel } from '../../helpers/models.js';
import { connect, startTestServer } from '../../helpers/server.js';

describe('Whisper languages', () => {
  test('codes map to the lower-case names OpenAI reports', () => {
    assert.equal(WHISPER_LANGUAGES.size, 100);
    assert.equal(languageName('en'), 'english');
    assert.equal(languageName('kn'), 'kannada');
    assert.equal(languageName('yue'), 'cantonese');
  });

  test('checkLanguage normalises codes, detects on aliases and refuses unknown codes naming valid ones', () => {
    assert.equal(checkLanguage('pt-BR'), 'pt');
    assert.equal(checkLanguage('EN'), 'en');
    assert.equal(checkLanguage('multi'), undefined);
    assert.equal(checkLanguage('auto'), undefined);
    assert.equal(checkLanguage(undefined), undefined);
    assert.throws(
      () => checkLanguage('zz'),
      (e: unknown) => e instanceof UnsupportedLanguageError && /"zz".*en, zh, de/.test(e.message),
    );
    assert.throws(() => checkLanguage('de', ['en', 'multi', 'auto']), /use one of en, multi, auto/);
  });

  test('/v1/listen parameters refuse language=zz', () => {
    const parse = (q: string) => parseListenParams(new URLSearchParams(q), { endpointingMs: 500 });
    assert.throws(
      () => parse('language=zz'),
      (e: unknown) => e instanceof ParamError && e.param === 'language' && /use one of/.test(e.message),
    );
    assert.equal(parse('language=de').language, 'de');
    assert.throws(
      () => parseListenParams(new URLSearchParams('language=de'), { endpointingMs: 500, languages: ['en'] }),
      ParamError,
    );
  });

  test('the model layer throws a typed error for a language the model lacks', async () => {
    const audio = new Float32Array(16000);
    const multi = await WhisperModel.load(await synthModel());
    const english = await WhisperModel.load(await synthModel({ multilingual: false }));
    try {
      assert.deepEqual(validLanguages(english.ids), ['en', 'multi', 'auto']);
      assert.ok(validLanguages(multi.ids).includes('de'));
      for (const batchSize of [1, 2]) {
        await assert.rejects(
          transcribe(multi, audio, { language: 'zz', batchSize }),
          UnsupportedLanguageError,
        );
        await assert.rejects(
          transcribe(english, audio, { language: 'de', batchSize }),
          UnsupportedLanguageError,
        );
      }
    } finally {
      await multi.release();
      await english.release();
    }
  });
});

describe('languages over the server', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  const wav = readFileSync(`${FIXTURES}vad/two-speakers-10s.wav`);
  before(async () => {
    const model = await synthModel({ script: '<|0.00|> hello world<|1.00|>' });
    server = await startTestServer({ model, admissionTarget: 0 });
  });
  after(() => server.stop());

  test('language=zz is a 400 naming valid codes on every route, before the upgrade', async () => {
    const listen = await fetch(`${server.url}/v1/listen?language=zz`, {
      method: 'POST',
      headers: { 'content-type': 'audio/wav' },
      body: wav,
    });
    assert.equal(listen.status, 400);
    assert.match(await listen.text(), /use one of en, zh/);
    const form = new FormData();
    form.set('file', new Blob([wav], { type: 'audio/wav' }), 'a.wav');
    form.set('language', 'zz');
    const openai = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
    assert.equal(openai.status, 400);
    assert.match(await openai.text(), /use one of en, zh/);
    await assert.rejects(
      connect(`${server.ws}/v1/listen?language=zz`),
      (e: { status?: number; body?: string }) => e.status === 400 && /use one of/.test(e.body ?? ''),
    );
  });

  test('verbose_json names the language as OpenAI does', async () => {
    const form = new FormData();
    form.set('file', new Blob([wav], { type: 'audio/wav' }), 'a.wav');
    form.set('language', 'en');
    form.set('response_format', 'verbose_json');
    const res = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { language: string }).language, 'english');
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ParamError, parseListenParams } from '../../server/params.js';

const parse = (qs: string) => parseListenParams(new URLSearchParams(qs), { endpointingMs: 500 });

describe('/v1/listen parameters', () => {
  test('defaults follow Deepgram, except endpointing which suits Whisper', () => {
    const p = parse('');
    assert.equal(p.encoding, 'linear16');
    assert.equal(p.sampleRate, 16000);
    assert.equal(p.channels, 1);
    assert.equal(p.interimResults, false);
    assert.equal(p.endpointing, 500);
    assert.equal(p.language, undefined);
  });

  test('values are parsed', () => {
    const p = parse(
      'encoding=mulaw&sample_rate=8000&channels=2&language=pt-BR&interim_results=true&endpointing=300&utterance_end_ms=1000&vad_events=true&punctuate=true&keyterm=earshot&keyterm=LiveKit&keywords=Deepgram:2',
    );
    assert.equal(p.encoding, 'mulaw');
    assert.equal(p.sampleRate, 8000);
    assert.equal(p.channels, 2);
    assert.equal(p.language, 'pt');
    assert.equal(p.interimResults, true);
    assert.equal(p.endpointing, 300);
    assert.equal(p.utteranceEndMs, 1000);
    assert.equal(p.vadEvents, true);
    assert.equal(p.prompt, 'earshot, LiveKit, Deepgram');
    assert.equal(parse('endpointing=false').endpointing, false);
    assert.equal(parse('language=multi').language, undefined);
  });

  test('task (an extension): transcribe by default, translate; detect_language detects whatever language says', () => {
    assert.equal(parse('').task, 'transcribe');
    assert.equal(parse('task=translate').task, 'translate');
    assert.throws(
      () => parse('task=dance'),
      (e: unknown) => e instanceof ParamError && e.param === 'task',
    );
    const english = (qs: string) =>
      parseListenParams(new URLSearchParams(qs), { endpointingMs: 500, englishOnly: 'tiny.en' });
    assert.equal(english('task=transcribe').task, 'transcribe');
    assert.throws(
      () => english('task=translate'),
      (e: unknown) =>
        e instanceof ParamError && e.param === 'task' && /tiny\.en is English-only/.test(e.message),
    );
    const detect = parse('detect_language=true&language=de');
    assert.deepEqual([detect.detectLanguage, detect.language], [true, undefined]);
    assert.equal(parse('language=de').detectLanguage, false);
    assert.ok(!parse('detect_language=true').ignored.includes('detect_language'), 'implemented, not ignored');
  });

  test('multichannel=true takes 2 to 8 channels; without it 1 or 2 are mixed', () => {
    const p = parse('multichannel=true&channels=8');
    assert.deepEqual([p.multichannel, p.channels], [true, 8]);
    assert.deepEqual([parse('channels=2').multichannel, parse('channels=2').channels], [false, 2]);
    assert.ok(!parse('multichannel=true&channels=2').ignored.includes('multichannel'));
    // A pre-recorded container says its own channel count; raw audio must say it.
    const file = (qs: string) =>
      parseListenParams(new URLSearchParams(qs), { endpointingMs: 10, prerecorded: true });
    assert.equal(file('multichannel=true').multichannel, true);
    assert.throws(
      () => file('multichannel=true&encoding=linear16&sample_rate=16000'),
      /channels from 2 to 8/,
    );
  });

  test('Deepgram parameters earshot does not implement are accepted and listed', () => {
    const p = parse('no_delay=true&dictation=true&numerals=true&filler_words=false&mip_opt_out=true&tag=x');
    assert.deepEqual(p.ignored.sort(), [
      'dictation',
      'filler_words',
      'mip_opt_out',
      'no_delay',
      'numerals',
      'tag',
    ]);
  });

  const bad: [string, string][] = [
    ['encoding=opus', 'encoding'],
    ['sample_rate=7999', 'sample_rate'],
    ['sample_rate=48001', 'sample_rate'],
    ['sample_rate=abc', 'sample_rate'],
    ['channels=3', 'channels'],
    ['channels=0', 'channels'],
    ['multichannel=true&channels=9', 'channels'],
    ['multichannel=true&channels=1', 'channels'],
    ['multichannel=true', 'channels'],
    ['multichannel=yes&channels=2', 'multichannel'],
    ['multichannel=true&channels=2&session=abc&resume_from=1', 'resume_from'],
    ['interim_results=maybe', 'interim_results'],
    ['endpointing=-5', 'endpointing'],
    ['endpointing=soon', 'endpointing'],
    ['utterance_end_ms=10', 'utterance_end_ms'],
    ['vad_events=2', 'vad_events'],
    ['language=english!', 'language'],
    ['session=../../etc', 'session'],
    ['resume_from=3', 'resume_from'],
    ['session=abc&resume_from=-1', 'resume_from'],
    [`prompt=${'x'.repeat(2001)}`, 'prompt'],
  ];
  for (const [qs, param] of bad) {
    test(`refuses ${qs.slice(0, 40)} naming ${param}`, () => {
      assert.throws(
        () => parse(qs),
        (e: unknown) => e instanceof ParamError && e.param === param && e.message.length > 10,
      );
    });
  }
});

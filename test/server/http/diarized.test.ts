import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fileDiarizer } from '../../../models/speaker/diarize.js';
import type { FileTranscriber } from '../../../server/http/listen.js';
import { prerecordedHandler } from '../../../server/http/listen.js';
import { transcriptionsHandler } from '../../../server/http/transcriptions.js';
import type { HttpRequest, HttpResponse } from '../../../server/transport/types.js';
import type { VadModel } from '../../../models/vad/silero.js';
import { l2normalize, type SpeakerEmbedder } from '../../../models/speaker/embedding.js';
import type { Segment } from '../../../models/whisper/transcribe.js';
import { concat } from '../../helpers/audio.js';

/**
 * The file routes with speakers, through the real handlers, diarizeFile and formats, on tones standing in for two
 * voices: a VAD that hears any sound and an embedder that tells a low tone from a high one, so the speakers are
 * known exactly (the built-in embedding is measured on speech in bench/diarization.ts).
 */

const SR = 16000;
const tone = (hz: number, seconds: number) =>
  Float32Array.from(
    { length: Math.round(seconds * SR) },
    (_, i) => 0.3 * Math.sin((2 * Math.PI * hz * i) / SR),
  );
const gap = (seconds: number) => new Float32Array(Math.round(seconds * SR));
const LOW = 200;
const HIGH = 1200;

const vad: VadModel = {
  frameSamples: 512,
  createStream: () => ({
    push: async (audio: Float32Array) =>
      Float32Array.from({ length: Math.floor(audio.length / 512) }, (_, f) => {
        let e = 0;
        for (let i = f * 512; i < (f + 1) * 512; i++) e += audio[i] * audio[i];
        return e / 512 > 1e-4 ? 0.95 : 0.01;
      }),
    reset: () => {},
    release: async () => {},
  }),
  release: async () => {},
} as unknown as VadModel;

/** Zero-crossing rate: low tones point one way, high tones the other. */
const embedder: SpeakerEmbedder = {
  name: 'tones',
  dim: 2,
  sameSpeakerThreshold: 0.8,
  spread: { within: 0.05, between: 0.85 },
  minSeconds: 0.5,
  async embed(clips) {
    return clips.map((c) => {
      let z = 0;
      for (let i = 1; i < c.length; i++) if (c[i - 1] < 0 !== c[i] < 0) z++;
      const hz = (z * SR) / 2 / Math.max(1, c.length);
      return l2normalize(Float32Array.of(hz < 600 ? 1 : 0.05, hz < 600 ? 0.05 : 1));
    });
  },
  release: async () => {},
};

/** Low voice 0.5-3.5 s, high 4-7 s, low 7.5-10.5 s; one window of words per turn. */
const audio = concat([gap(0.5), tone(LOW, 3), gap(0.5), tone(HIGH, 3), gap(0.5), tone(LOW, 3), gap(0.5)]);
const SCRIPT: [number, number, string][] = [
  [0.6, 3.4, 'hello there'],
  [4.1, 6.9, 'good morning'],
  [7.6, 10.4, 'see you'],
];

function segment(id: number, [start, end, text]: [number, number, string]): Segment {
  const ws = text.split(' ');
  const step = (end - start) / ws.length;
  return {
    id,
    seek: 0,
    start,
    end,
    text: ` ${text}`,
    tokens: [],
    temperature: 0,
    avg_logprob: -0.1,
    compression_ratio: 1,
    no_speech_prob: 0,
    words: ws.map((w, i) => ({
      word: ` ${w}`,
      start: start + i * step,
      end: start + (i + 1) * step,
      probability: 0.9,
    })),
  };
}

/** Stands in for Whisper: the script, one window per line, reported in time order like the file jobs. */
const transcribe: FileTranscriber = async (a, opts) => {
  const segments = SCRIPT.map((s, i) => segment(i, s));
  segments.forEach((s, i) => opts.onSegments?.([s], { done: i + 1, total: segments.length }));
  return {
    text: segments.map((s) => s.text).join(''),
    language: 'en',
    duration: a.length / SR,
    segments,
    words: opts.wordTimestamps ? segments.flatMap((s) => s.words!) : undefined,
  };
};

/** 16-bit mono WAV. */
function wav(samples: Float32Array): Uint8Array {
  const b = Buffer.alloc(44 + samples.length * 2);
  b.write('RIFF', 0);
  b.writeUInt32LE(36 + samples.length * 2, 4);
  b.write('WAVEfmt ', 8);
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(SR, 24);
  b.writeUInt32LE(SR * 2, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36);
  b.writeUInt32LE(samples.length * 2, 40);
  samples.forEach((x, i) => b.writeInt16LE(Math.round(Math.max(-1, Math.min(1, x)) * 32767), 44 + i * 2));
  return new Uint8Array(b);
}
const dataUrl = (samples: Float32Array) =>
  `data:audio/wav;base64,${Buffer.from(wav(samples)).toString('base64')}`;

async function request(body: Uint8Array | FormData, path: string, query = ''): Promise<HttpRequest> {
  const r = new Response(body);
  const bytes = new Uint8Array(await r.arrayBuffer());
  const type = r.headers.get('content-type') ?? 'audio/wav';
  return {
    method: 'POST',
    path,
    query: new URLSearchParams(query),
    headers: { 'content-type': body instanceof FormData ? type : 'audio/wav' },
    remoteAddress: '127.0.0.1',
    body: async () => Buffer.from(bytes),
    stream: async function* () {
      yield bytes;
    },
    signal: new AbortController().signal,
  };
}

function form(fields: Record<string, string | string[]>): FormData {
  const f = new FormData();
  f.set('file', new Blob([wav(audio)], { type: 'audio/wav' }), 'talk.wav');
  for (const [k, v] of Object.entries(fields)) for (const x of [v].flat()) f.append(k, x);
  return f;
}

const deps = {
  maxBodyBytes: 50e6,
  bodyTimeoutMs: 60_000,
  maxAudioSeconds: 7200,
  gate: { slot: async () => {}, charge: async () => {} },
  transcribe,
  diarize: fileDiarizer(vad, embedder),
};
const openai = async (fields: Record<string, string | string[]>) =>
  transcriptionsHandler(await request(form(fields), '/v1/audio/transcriptions'), deps);

async function text(res: HttpResponse): Promise<string> {
  if (typeof res.body === 'string') return res.body;
  let out = '';
  for await (const c of res.body as AsyncIterable<Uint8Array>) out += new TextDecoder().decode(c);
  return out;
}

describe('diarized file routes', () => {
  test('diarized_json: OpenAI segments with speakers A, B, A', async () => {
    const res = await openai({ response_format: 'diarized_json' });
    assert.equal(res.status, 200, await text(res));
    const body = JSON.parse(await text(res));
    assert.equal(body.task, 'transcribe');
    assert.equal(body.text, 'hello there good morning see you');
    assert.deepEqual(
      body.segments.map((s: { type: string; text: string; speaker: string }) => [s.type, s.text, s.speaker]),
      [
        ['transcript.text.segment', 'hello there', 'A'],
        ['transcript.text.segment', 'good morning', 'B'],
        ['transcript.text.segment', 'see you', 'A'],
      ],
    );
    assert.deepEqual(body.usage, { type: 'duration', seconds: 11 });
  });

  test('known speakers come back by name (data URLs)', async () => {
    const res = await openai({
      response_format: 'diarized_json',
      'known_speaker_names[]': ['bea', 'al'],
      'known_speaker_references[]': [dataUrl(tone(HIGH, 2.5)), dataUrl(tone(LOW, 2.5))],
    });
    const body = JSON.parse(await text(res));
    assert.deepEqual(
      body.segments.map((s: { speaker: string }) => s.speaker),
      ['al', 'bea', 'al'],
    );
  });

  test('SRT and VTT name the speakers', async () => {
    const srt = await text(await openai({ response_format: 'srt', diarize: 'true' }));
    assert.match(srt, /\n\[Speaker 0\] hello there\n/);
    assert.match(srt, /\n\[Speaker 1\] good morning\n/);
    const vtt = await text(
      await openai({
        response_format: 'vtt',
        'known_speaker_names[]': 'al',
        'known_speaker_references[]': dataUrl(tone(LOW, 3)),
      }),
    );
    assert.match(vtt, /\n<v al>hello there\n/);
    assert.match(vtt, /\n<v Speaker 1>good morning\n/);
  });

  test('a one-speaker recording gives one speaker', async () => {
    const one = concat([gap(0.5), tone(LOW, 3), gap(0.5), tone(LOW, 3), gap(0.5), tone(LOW, 3), gap(0.5)]);
    const f = form({ response_format: 'diarized_json' });
    f.set('file', new Blob([wav(one)], { type: 'audio/wav' }), 'one.wav');
    const body = JSON.parse(await text(await transcriptionsHandler(await request(f, '/x'), deps)));
    assert.deepEqual(new Set(body.segments.map((s: { speaker: string }) => s.speaker)), new Set(['A']));
  });

  test('malformed speaker references: 400 naming the problem', async () => {
    const cases: [Record<string, string | string[]>, RegExp][] = [
      [{ 'known_speaker_names[]': 'al', 'known_speaker_references[]': 'http://x/a.wav' }, /not a data URL/],
      [
        { 'known_speaker_names[]': 'al', 'known_speaker_references[]': 'data:audio/wav,abc' },
        /base64 data URL/,
      ],
      [
        {
          'known_speaker_names[]': 'al',
          'known_speaker_references[]': `data:audio/wav;base64,${btoa('nope')}`,
        },
        /not audio earshot can decode/,
      ],
      [
        { 'known_speaker_names[]': ['al', 'bea'], 'known_speaker_references[]': dataUrl(tone(LOW, 3)) },
        /2 entries and known_speaker_references\[\] 1/,
      ],
      [
        { 'known_speaker_names[]': 'al', 'known_speaker_references[]': dataUrl(tone(LOW, 12)) },
        /lasts 12\.0 s/,
      ],
      [{ 'known_speaker_names[]': 'al', 'known_speaker_references[]': dataUrl(tone(LOW, 0.5)) }, /2-10 s/],
      [{ min_speakers: '3', max_speakers: '2', response_format: 'diarized_json' }, /min_speakers/],
    ];
    for (const [fields, message] of cases) {
      const res = await openai(fields);
      assert.equal(res.status, 400, JSON.stringify(fields).slice(0, 80));
      const err = JSON.parse(await text(res)).error;
      assert.match(err.message, message);
      assert.equal(err.type, 'invalid_request_error');
    }
  });

  test('stream=true: a delta per segment in time order, its speaker segment, then done', async () => {
    const res = await openai({ response_format: 'diarized_json', stream: 'true' });
    assert.match(res.headers!['content-type'], /^text\/event-stream/);
    const events = (await text(res))
      .split('\n\n')
      .filter(Boolean)
      .map((e) => {
        assert.ok(e.startsWith('data: '), e);
        return JSON.parse(e.slice(6));
      });
    assert.deepEqual(
      events.map((e) => [e.type, e.delta ?? e.speaker ?? e.text]),
      [
        ['transcript.text.delta', ' hello there'],
        ['transcript.text.segment', 'A'],
        ['transcript.text.delta', ' good morning'],
        ['transcript.text.segment', 'B'],
        ['transcript.text.delta', ' see you'],
        ['transcript.text.segment', 'A'],
        ['transcript.text.done', 'hello there good morning see you'],
      ],
    );
    assert.equal(events[0].segment_id, events[1].id);
    assert.deepEqual(
      events.filter((e) => e.progress !== undefined).map((e) => e.progress),
      [0.333, 0.667, 1],
    );
  });

  test('POST /v1/listen?diarize=true: words[].speaker, utterances and paragraphs by speaker', async () => {
    const res = await prerecordedHandler(
      await request(wav(audio), '/v1/listen', 'diarize=true&paragraphs=true'),
      {
        ...deps,
        endpointingMs: 500,
        model: { uuid: 'u', name: 'm', version: '1', arch: 'whisper' },
      },
    );
    assert.equal(res.status, 200, await text(res));
    const body = JSON.parse(await text(res));
    const alt = body.results.channels[0].alternatives[0];
    assert.deepEqual(
      alt.words.map((w: { word: string; speaker: number }) => `${w.word}:${w.speaker}`),
      ['hello:0', 'there:0', 'good:1', 'morning:1', 'see:0', 'you:0'],
    );
    assert.ok(alt.words.every((w: { speaker_confidence: number }) => w.speaker_confidence > 0.5));
    assert.deepEqual(
      body.results.utterances.map((u: { speaker: number; transcript: string }) => [u.speaker, u.transcript]),
      [
        [0, 'hello there'],
        [1, 'good morning'],
        [0, 'see you'],
      ],
    );
    assert.equal(
      alt.paragraphs.transcript,
      '\nSpeaker 0: hello there\n\nSpeaker 1: good morning\n\nSpeaker 0: see you\n',
    );
  });
});

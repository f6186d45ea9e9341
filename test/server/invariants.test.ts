import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import wavefile from 'wavefile';
import { encode, speechFixture } from '../helpers/audio.js';
import { synthModel } from '../helpers/models.js';
import { collect, connect, sendPaced, startTestServer } from '../helpers/server.js';
import { runCli as run } from '../helpers/cli.js';
import type { TimeSpan } from '../../audio/span.js';

/**
 * Whatever a model says, a transcript is on the audio's timeline: every segment and word lies in [0, duration],
 * starts before it ends, never goes back in time, and its text is valid UTF-8 without control characters. A
 * random-weight model emits arbitrary timestamp tokens (past the end of short windows included) and arbitrary
 * bytes, so it finds every way to break this, on every path that produces transcripts.
 */

const RATE = 16000;
const speech = speechFixture().samples;

function silence(seconds: number): Float32Array {
  return new Float32Array(Math.round(seconds * RATE));
}

/** Bursts of noise shaped like syllables (a few hundred ms, 4 Hz envelope). */
function noiseBursts(seconds: number, seed: number): Float32Array {
  let a = seed;
  const out = new Float32Array(Math.round(seconds * RATE));
  for (let i = 0; i < out.length; i++) {
    a = (a * 1103515245 + 12345) & 0x7fffffff;
    const envelope = Math.max(0, Math.sin((2 * Math.PI * 4 * i) / RATE));
    out[i] = 0.3 * envelope * (a / 0x7fffffff - 0.5);
  }
  return out;
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// Speech regions separated by silence, so batched mode glues several into one window and the sequential seek
// loop crosses 30 s; the last window of each is short.
const INPUTS: Record<string, Float32Array> = {
  'speech, gaps and noise (27 s)': concat([speech, silence(3), speech, silence(2), noiseBursts(1.5, 7)]),
  'four speech regions with gaps (48 s)': concat([
    silence(1),
    speech,
    silence(1.5),
    speech,
    silence(1.5),
    speech,
    silence(1.5),
    speech,
    noiseBursts(0.8, 3),
  ]),
};

const work = mkdtempSync(join(tmpdir(), 'earshot-invariants-'));
function wavFile(name: string, samples: Float32Array): { path: string; bytes: Uint8Array } {
  const w = new wavefile.WaveFile();
  w.fromScratch(
    1,
    RATE,
    '16',
    Int16Array.from(samples, (s) => Math.round(Math.max(-1, Math.min(1, s)) * 32767)),
  );
  const bytes = w.toBuffer();
  const path = join(work, `${name.replace(/\W+/g, '-')}.wav`);
  writeFileSync(path, bytes);
  return { path, bytes };
}

const EPS = 0.0015; // times are rounded to the millisecond

/** In [0, duration], start <= end, and each one starts no earlier than the one before it ended. */
function assertTimeline(spans: readonly TimeSpan[], duration: number, what: string): void {
  let prevEnd = 0;
  spans.forEach((s, i) => {
    const at = `${what} ${i} [${s.start}, ${s.end}] of ${duration} s`;
    assert.ok(s.start >= 0 && s.end <= duration + EPS, `${at}: outside the audio`);
    assert.ok(s.start <= s.end, `${at}: ends before it starts`);
    assert.ok(s.start >= prevEnd - EPS, `${at}: goes back in time (previous ended at ${prevEnd})`);
    prevEnd = s.end;
  });
}

function assertText(text: string, what: string): void {
  assert.doesNotMatch(
    text,
    /[\p{Cc}\uFFFD]/u,
    `${what}: control or replacement character in ${JSON.stringify(text)}`,
  );
  assert.doesNotMatch(text, /\p{Cs}/u, `${what}: lone surrogate in ${JSON.stringify(text)}`);
}

interface VerboseJson {
  duration: number;
  text: string;
  segments: (TimeSpan & { text: string })[];
  words: (TimeSpan & { word: string })[];
}

function assertVerbose(v: VerboseJson, duration: number, what: string): void {
  assert.ok(Math.abs(v.duration - duration) < 0.01, `${what}: duration ${v.duration}`);
  assert.ok(v.segments.length > 0, `${what}: no segments, nothing was checked`);
  assertTimeline(v.segments, duration, `${what} segment`);
  assertTimeline(v.words, duration, `${what} word`);
  assertText(v.text, `${what} text`);
  for (const s of v.segments) assertText(s.text, `${what} segment`);
  for (const w of v.words) assertText(w.word, `${what} word`);
}

let model: string;
before(async () => {
  model = await synthModel({ timestamped: true });
});

describe('transcript invariants with a random-weight model', () => {
  for (const [name, samples] of Object.entries(INPUTS)) {
    const duration = samples.length / RATE;
    const file = wavFile(name, samples);

    for (const batch of ['1', '8']) {
      test(`CLI --batch-size ${batch}: ${name}`, async () => {
        const r = await run([
          'transcribe',
          file.path,
          '--model',
          model,
          '--format',
          'verbose_json',
          '--word-timestamps',
          '--batch-size',
          batch,
        ]);
        assert.equal(r.code, 0, r.stderr);
        assertVerbose(JSON.parse(r.stdout) as VerboseJson, duration, `batch ${batch}`);
      });
    }
  }
});

describe('transcript invariants over the server', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  before(async () => {
    // ws transport: uWS drops an HTTP request unanswered after 10 s, and a 48-s file takes longer on a busy machine.
    server = await startTestServer({ model, admissionTarget: 0, transport: 'ws' });
  });
  after(() => server.stop());

  for (const [name, samples] of Object.entries(INPUTS)) {
    const duration = samples.length / RATE;
    const file = wavFile(`server-${name}`, samples);

    test(`POST /v1/listen: ${name}`, async () => {
      const res = await fetch(`${server.url}/v1/listen`, {
        method: 'POST',
        headers: { 'content-type': 'audio/wav' },
        body: file.bytes,
      });
      assert.equal(res.status, 200, await res.clone().text());
      const body = (await res.json()) as {
        results: {
          channels: {
            alternatives: { transcript: string; words: (TimeSpan & { punctuated_word: string })[] }[];
          }[];
          utterances: (TimeSpan & { transcript: string })[];
        };
      };
      const alt = body.results.channels[0].alternatives[0];
      assert.ok(body.results.utterances.length > 0, 'no utterances, nothing was checked');
      assertTimeline(body.results.utterances, duration, 'utterance');
      assertTimeline(alt.words, duration, 'word');
      assertText(alt.transcript, 'transcript');
      for (const w of alt.words) assertText(w.punctuated_word, 'word');
    });

    test(`POST /v1/audio/transcriptions verbose_json: ${name}`, async () => {
      const form = new FormData();
      form.set('file', new Blob([file.bytes], { type: 'audio/wav' }), 'audio.wav');
      form.set('response_format', 'verbose_json');
      form.append('timestamp_granularities[]', 'segment');
      form.append('timestamp_granularities[]', 'word');
      const res = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
      assert.equal(res.status, 200, await res.clone().text());
      assertVerbose((await res.json()) as VerboseJson, duration, 'openai');
    });

    test(`live finals: ${name}`, async () => {
      const ws = await connect(`${server.ws}/v1/listen?encoding=linear16&sample_rate=16000`);
      const done = collect(ws);
      const pcm = encode(samples, 'linear16');
      const frames = Array.from({ length: Math.ceil(pcm.length / 6400) }, (_, i) =>
        pcm.subarray(i * 6400, (i + 1) * 6400),
      );
      await sendPaced(ws, frames, RATE * 2, 20);
      ws.send(JSON.stringify({ type: 'CloseStream' }));
      const { messages } = await done;
      const finals = messages.filter((m) => m.type === 'Results' && m.is_final) as unknown as {
        start: number;
        duration: number;
        channel: {
          alternatives: { transcript: string; words: (TimeSpan & { punctuated_word: string })[] }[];
        };
      }[];
      assert.ok(finals.length > 0, 'no finals, nothing was checked');
      assertTimeline(
        finals.map((f) => ({ start: f.start, end: f.start + f.duration })),
        duration,
        'final',
      );
      const words = finals.flatMap((f) => f.channel.alternatives[0].words);
      assertTimeline(words, duration, 'final word');
      for (const f of finals) assertText(f.channel.alternatives[0].transcript, 'final');
      for (const w of words) assertText(w.punctuated_word, 'final word');
    });
  }
});

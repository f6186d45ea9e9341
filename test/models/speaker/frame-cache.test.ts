/**
 * Frame analysis made as a live session's audio is heard (frame-cache.ts): a final's clip analysed from it is the
 * clip analysed afresh, bit for bit, however the audio came in; and the live labels are the same with and without
 * it (a poisoned hearing shows that the analysis made ahead is what they use).
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { loadAudioFile } from '../../../audio/load.js';
import { BuiltinEmbedder } from '../../../models/speaker/builtin.js';
import { FrameCache } from '../../../models/speaker/frame-cache.js';
import { LiveDiarizer } from '../../../models/speaker/live.js';
import { type HeardFrames, VoiceAnalyzer } from '../../../models/speaker/voice-stats.js';

const DIR = fileURLToPath(new URL('../../fixtures/speaker/', import.meta.url));
const FIXTURES = readdirSync(DIR).filter((f) => f.endsWith('.wav'));
const SR = 16000;
/** Odd packet sizes, cycled: frames span packets in every way. */
const PIECES = [997, 13, 3001, 160, 1, 4799, 321];

/** `audio` heard from stream sample `at` on, in odd pieces. */
function hear(into: { hear(s: Float32Array, at: number): void }, audio: Float32Array, at = 0): void {
  for (let o = 0, i = 0; o < audio.length; i++) {
    const n = Math.min(PIECES[i % PIECES.length], audio.length - o);
    into.hear(audio.slice(o, o + n), at + o);
    o += n;
  }
}

/** The cache, counting what it served. */
function counted(cache: FrameCache): HeardFrames & { rows: number; pitches: number } {
  const c = {
    rows: 0,
    pitches: 0,
    row: (at: number) => {
      const r = cache.row(at);
      if (r) c.rows++;
      return r;
    },
    pitch: (at: number) => {
      const p = cache.pitch(at);
      if (p !== undefined) c.pitches++;
      return p;
    },
  };
  return c;
}

describe('frame analysis made as the audio is heard', () => {
  test('a clip on the grid analyses bit for bit as afresh, on every fixture', async () => {
    const analyzer = new VoiceAnalyzer();
    for (const name of FIXTURES) {
      const audio = (await loadAudioFile(DIR + name)).samples16k;
      // The stream starts off the grid (a resumed session's numbering): rows stay on the absolute grid.
      const base = 77;
      const cache = new FrameCache();
      hear(cache, audio, base);
      const clips = [
        [320 - base, audio.length], // to the stream's end: the last pitch frame reads past the clip
        [3 * SR + 320 * 3 - base, 3 * SR + 320 * 3 - base + 640 + 5 * 160], // ends where a pitch frame ends
        [1 * SR - base + 640, audio.length - 1234],
      ];
      for (const [a, b] of clips) {
        const clip = audio.slice(a, b);
        assert.equal((a + base) % 320, 0);
        const heard = counted(cache);
        const fresh = analyzer.frames(clip);
        const made = analyzer.frames(clip, heard, a + base);
        assert.deepStrictEqual(made, fresh, `${name} [${a}, ${b})`);
        assert.ok(heard.rows >= fresh.frames - 2 && heard.pitches > 0, `${name}: the heard analysis served`);
      }
      // Off the pitch grid the clip is analysed afresh.
      const off = audio.slice(480 - base, 480 - base + 3 * SR);
      const heard = counted(cache);
      assert.deepStrictEqual(analyzer.frames(off, heard, 480), analyzer.frames(off));
      assert.equal(heard.rows + heard.pitches, 0);
    }
  });

  test("a clip's last pitch frame is its own: frameF0 reads one sample past it", () => {
    // A 59.9 Hz pulse train (period 267 samples, the longest lag searched): the sample after the frame decides
    // whether that lag is a peak.
    const audio = Float32Array.from(
      { length: 2 * SR },
      (_, i) => (i % 267 < 20 ? 0.5 : -0.02) + 0.001 * Math.sin(i),
    );
    const cache = new FrameCache();
    hear(cache, audio);
    const analyzer = new VoiceAnalyzer();
    for (const end of [SR, SR + 320, SR + 640]) {
      const clip = audio.slice(0, end);
      assert.deepStrictEqual(analyzer.frames(clip, cache, 0), analyzer.frames(clip), `clip of ${end}`);
    }
  });

  test('what was not heard yet, or was let go, is computed', async () => {
    const audio = (await loadAudioFile(DIR + FIXTURES[0])).samples16k;
    const analyzer = new VoiceAnalyzer();
    const cache = new FrameCache();
    hear(cache, audio.subarray(0, 2 * SR));
    // A gap: the stream starts afresh at 3 s.
    hear(cache, audio.subarray(3 * SR, 5 * SR), 3 * SR);
    const clip = audio.slice(SR, 6 * SR);
    const heard = counted(cache);
    assert.deepStrictEqual(analyzer.frames(clip, heard, SR), analyzer.frames(clip));
    assert.ok(heard.rows > 100, 'some rows were served');
    cache.forget(4 * SR);
    assert.equal(cache.row(3 * SR), undefined, 'rows before the last final are let go');
    assert.ok(cache.row(4 * SR));
  });

  test('live labels are the same with the session heard; a poisoned hearing changes them', async () => {
    const audio = (await loadAudioFile(DIR + 'librispeech-two-men.wav')).samples16k;
    const finals = [0, 2, 4, 6].map((s) => ({ start: s, end: s + 2 }));
    const run = async (heard?: Float32Array) => {
      const live = new LiveDiarizer(new BuiltinEmbedder(), { maxSpeakers: 4 });
      const out = [];
      let fed = 0;
      for (const f of finals) {
        const end = f.end * SR;
        if (heard) hear(live, heard.subarray(fed, end), fed);
        fed = end;
        const words = [0, 0.5, 1, 1.5].map((o) => ({ start: f.start + o, end: f.start + o + 0.5 }));
        out.push(await live.labelFinal(audio.subarray(f.start * SR, end), f.start, words, f.start * SR));
      }
      return { out, state: live.state };
    };
    const fresh = await run();
    assert.deepStrictEqual(await run(audio), fresh);
    const poisoned = audio.map((x, i) => x + (i % 7 === 0 ? 0.01 : 0));
    assert.notDeepStrictEqual((await run(poisoned)).state, fresh.state, 'the heard analysis is used');
  });
});

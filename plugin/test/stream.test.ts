import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { STT } from '../src/index.js';
import {
  collect,
  finals,
  fixture,
  names,
  pushPaced,
  SCRIPT,
  earshotForThisFile,
  streamTurns,
  T,
  toFrames,
} from './helpers.js';

const fx = fixture();
const server = earshotForThisFile();

describe('stream(): a three-utterance recording', () => {
  for (const rate of [16000, 24000, 48000]) {
    test(`${rate / 1000} kHz: START/END alternate, one END per utterance, finals with word times, usage`, async () => {
      const stt = new STT({ url: server.url, language: 'en' });
      const metrics: { audioDurationMs: number; streamed: boolean }[] = [];
      stt.on('metrics_collected', (m) => metrics.push(m as never));
      const stream = stt.stream();
      stream.startTimeOffset = 100;
      const { evs, seq, turns } = await streamTurns(stream, fx.samples, rate);
      assert.equal(turns.length, 2 * fx.segments.length, `one START and one END per utterance: ${seq}`);

      const fs = finals(evs);
      assert.equal(fs.length, fx.segments.length, seq);
      for (const [i, f] of fs.entries()) {
        assert.equal(f.text, SCRIPT);
        assert.equal(f.language, 'en');
        const truth = fx.segments[i];
        // Times are on the stream's clock (startTimeOffset 100) and inside the utterance's audio.
        assert.ok(
          f.startTime >= 100 + truth.start - 0.6 && f.endTime <= 100 + truth.end + 0.8,
          `${i}: ${f.startTime}-${f.endTime}`,
        );
        assert.deepEqual(
          f.words!.map((w) => w.text),
          ['hello', 'world'],
        );
        for (const w of f.words!) {
          // Inside the utterance's audio (the server pads speech windows by up to 0.3 s), on the stream's clock.
          const inside = w.startTime! >= 100 + truth.start - 0.3 && w.endTime! <= 100 + truth.end + 0.8;
          assert.ok(inside && w.startTime! < w.endTime!, `word ${w.startTime}-${w.endTime} in ${i}`);
          assert.equal(w.startTimeOffset, 100);
        }
      }
      // Usage is reported right after a final, for the audio sent since the last report.
      for (const [i, e] of evs.entries()) {
        if (e.type === T.RECOGNITION_USAGE) assert.equal(evs[i - 1]?.type, T.FINAL_TRANSCRIPT, seq);
      }
      const usage = evs
        .filter((e) => e.type === T.RECOGNITION_USAGE)
        .reduce((s, e) => s + e.recognitionUsage!.audioDuration, 0);
      assert.ok(Math.abs(usage - fx.duration) < 0.01, `usage ${usage} s of ${fx.duration} s`);
      // Each usage event is an stt_metrics of the STT.
      const metered = metrics.reduce((s, m) => s + m.audioDurationMs, 0) / 1000;
      assert.ok(metrics.every((m) => m.streamed) && Math.abs(metered - usage) < 0.01, `metrics ${metered} s`);
      assert.ok(evs.every((e) => e.requestId === stream.sessionId));
    });
  }

  test('flush() mid-utterance: a FINAL arrives before the speaker stops', async () => {
    const stt = new STT({ url: server.url, interimResults: false });
    const stream = stt.stream();
    const events = collect(stream);
    const frames = toFrames(fx.samples, 16000);
    const flushAt = Math.round(2.5 / 0.02); // inside the first utterance (0.8-4.05 s)
    await pushPaced(stream, frames, 10, (i) => {
      if (i === flushAt) stream.flush();
    });
    stream.endInput();
    const evs = await events;
    const first = evs.findIndex((e) => e.type === T.FINAL_TRANSCRIPT);
    const firstEnd = evs.findIndex((e) => e.type === T.END_OF_SPEECH);
    assert.ok(first >= 0 && first < firstEnd, names(evs));
    assert.ok(evs[first].alternatives![0].endTime <= 2.6, `flushed final ends at the flush`);
    assert.equal(finals(evs).length, fx.segments.length + 1, names(evs));
  });
});

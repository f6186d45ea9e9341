import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  UtteranceSegmenter,
  SegmenterOptionsError,
  type SegmentEvent,
  type SegmenterOptions,
} from '../../../models/vad/segmenter.js';

// 0.032 s frames like Silero at 512 samples; expectations are written in frames and compared in seconds.
const FS = 0.032;
const f = (frames: number): number => frames * FS;

/** A probability sequence from runs: [[prob, frames], ...]. */
function seq(...runs: [number, number][]): Float32Array {
  return Float32Array.from(runs.flatMap(([p, n]) => Array<number>(n).fill(p)));
}

function run(opts: Partial<SegmenterOptions>, probs: Float32Array, flush = true): SegmentEvent[] {
  const seg = new UtteranceSegmenter({ frameSeconds: FS, ...opts });
  const events = seg.push(probs);
  return flush ? [...events, ...seg.flush()] : events;
}

/** Rounds event times to frame counts so expectations read in frames and float noise cannot matter. */
function inFrames(events: SegmentEvent[]): (string | number)[][] {
  return events.map((e) => {
    const row: (string | number)[] = [e.type, Math.round(e.time / FS)];
    if (e.type === 'speech_end') row.push(Math.round(e.start / FS));
    if (e.type === 'speech_end' && e.reason) row.push(e.reason);
    return row;
  });
}

const BASE = { speechPadMs: 0, minSpeechMs: 0, endpointingMs: f(10) * 1000 };

describe('UtteranceSegmenter', () => {
  test('a clean utterance: start at the first speech frame, end after the endpointing silence', () => {
    const seg = new UtteranceSegmenter({ frameSeconds: FS, ...BASE });
    assert.deepEqual(inFrames(seg.push(seq([0.1, 20], [0.9, 30])))[0], ['speech_start', 20]);
    assert.equal(seg.inSpeech, true);
    assert.deepEqual(seg.push(seq([0.1, 9])), [], 'not yet: 9 of 10 silent frames');
    assert.deepEqual(inFrames(seg.push(seq([0.1, 1]))), [['speech_end', 50, 20]]);
    assert.equal(seg.inSpeech, false);
    assert.equal(Math.round(seg.time / FS), 60);
  });

  test('hysteresis: between negThreshold and threshold keeps speech but does not start it', () => {
    // 0.4 is below threshold 0.5 but above negThreshold 0.35.
    assert.deepEqual(run(BASE, seq([0.4, 100])), [], '0.4 never starts speech');
    assert.deepEqual(inFrames(run(BASE, seq([0.6, 5], [0.4, 50], [0.1, 10]))), [
      ['speech_start', 0],
      ['speech_end', 55, 0],
    ]);
    // With negThreshold = threshold there is no hysteresis: the same sequence ends after the first 10 frames of 0.4.
    assert.deepEqual(inFrames(run({ ...BASE, negThreshold: 0.5 }, seq([0.6, 5], [0.4, 50], [0.1, 10]))), [
      ['speech_start', 0],
      ['speech_end', 5, 0],
    ]);
    // A custom threshold moves both.
    assert.deepEqual(run({ ...BASE, threshold: 0.95 }, seq([0.9, 50])), []);
  });

  test('min speech: blips shorter than minSpeechMs are dropped, longer ones start speech retroactively', () => {
    const opts = { ...BASE, minSpeechMs: 250 }; // 250 ms = 7.8 -> 8 frames
    assert.deepEqual(run(opts, seq([0.1, 10], [0.9, 7], [0.1, 30], [0.9, 7], [0.1, 30])), []);
    const seg = new UtteranceSegmenter({ frameSeconds: FS, ...opts });
    assert.deepEqual(seg.push(seq([0.1, 10], [0.9, 7])), [], 'undecided after 7 frames');
    assert.equal(seg.inSpeech, false);
    assert.deepEqual(
      inFrames(seg.push(seq([0.9, 1]))),
      [['speech_start', 10]],
      'confirmed at 8, dated at 10',
    );
    // A dip below negThreshold restarts the count.
    assert.deepEqual(run(opts, seq([0.9, 5], [0.2, 1], [0.9, 5], [0.2, 20])), []);
    // Blips never confirmed are dropped at flush too.
    assert.deepEqual(run(opts, seq([0.1, 10], [0.9, 6])), []);
  });

  test('pad: start moves back, end moves forward, never before 0, past the audio or into the previous utterance', () => {
    const opts = { ...BASE, speechPadMs: f(4) * 1000, endpointingMs: f(6) * 1000 };
    assert.deepEqual(inFrames(run(opts, seq([0.1, 20], [0.9, 10], [0.1, 20]))), [
      ['speech_start', 16],
      ['speech_end', 34, 16],
    ]);
    assert.deepEqual(inFrames(run(opts, seq([0.9, 10], [0.1, 20])))[0], ['speech_start', 0], 'clamped at 0');
    // Second utterance 7 frames after the first's speech: its pad would reach frame 37, but the first ended at 40.
    assert.deepEqual(inFrames(run(opts, seq([0.1, 20], [0.9, 16], [0.1, 7], [0.9, 10], [0.1, 20]))), [
      ['speech_start', 16],
      ['speech_end', 40, 16],
      ['speech_start', 40],
      ['speech_end', 57, 40],
    ]);
    // Endpointing shorter than the pad: the end cannot be later than the audio seen when it is decided.
    assert.deepEqual(
      inFrames(run({ ...opts, endpointingMs: f(2) * 1000 }, seq([0.9, 10], [0.1, 2]), false)),
      [
        ['speech_start', 0],
        ['speech_end', 12, 0],
      ],
    );
  });

  test('endpointing splits at pauses of at least endpointingMs and not at shorter ones', () => {
    const probs = seq([0.9, 20], [0.1, 9], [0.9, 20], [0.1, 10], [0.9, 20], [0.1, 40]);
    assert.deepEqual(inFrames(run(BASE, probs)), [
      ['speech_start', 0],
      ['speech_end', 49, 0],
      ['speech_start', 59],
      ['speech_end', 79, 59],
    ]);
    // Deepgram-style 10 ms endpointing rounds up to one frame: every dip ends the utterance.
    assert.equal(run({ ...BASE, endpointingMs: 10 }, seq([0.9, 5], [0.1, 1], [0.9, 5], [0.1, 1])).length, 4);
  });

  test('endpointing=false: silence never ends an utterance, flush does', () => {
    const seg = new UtteranceSegmenter({ frameSeconds: FS, ...BASE, endpointingMs: false });
    const events = seg.push(seq([0.9, 20], [0.1, 300], [0.9, 20], [0.1, 100]));
    assert.deepEqual(inFrames(events), [['speech_start', 0]]);
    assert.equal(seg.inSpeech, true);
    assert.deepEqual(inFrames(seg.flush()), [['speech_end', 340, 0]]);
    assert.equal(seg.inSpeech, false);
    assert.deepEqual(seg.flush(), [], 'a second flush has nothing to close');
  });

  test('default endpointing is 500 ms and default pad 200 ms', () => {
    // 500 ms = 15.6 -> 16 frames; 200 ms = 6.25 -> 6 frames; minSpeech 250 ms -> 8 frames.
    const events = run({}, seq([0.1, 30], [0.9, 40], [0.1, 15]), false);
    assert.deepEqual(inFrames(events), [['speech_start', 24]]);
    assert.deepEqual(inFrames(run({}, seq([0.1, 30], [0.9, 40], [0.1, 16]), false)), [
      ['speech_start', 24],
      ['speech_end', 76, 24],
    ]);
  });

  test('max utterance: cut at the quietest point near the limit; the VAD must start the next utterance', () => {
    const opts = { ...BASE, maxUtteranceSeconds: f(100), splitSearchSeconds: f(20) };
    // Speech from 0; a soft spot (0.45, still speech by hysteresis) at frames 85-86; the limit is frame 100.
    const probs = seq([0.9, 85], [0.45, 2], [0.9, 80], [0.1, 10]);
    assert.deepEqual(inFrames(run(opts, probs)), [
      ['speech_start', 0],
      ['speech_end', 86, 0, 'max_utterance'],
      ['speech_start', 87], // frame 86 (0.45) is under threshold: the replayed tail restarts at 87
      ['speech_end', 167, 87],
    ]);
    // A dip outside the search window is ignored: cut at the limit itself; speech goes on at once.
    const early = seq([0.9, 50], [0.45, 2], [0.9, 200]);
    assert.deepEqual(inFrames(run(opts, early)), [
      ['speech_start', 0],
      ['speech_end', 100, 0, 'max_utterance'],
      ['speech_start', 100],
      ['speech_end', 200, 100, 'max_utterance'],
      ['speech_start', 200],
      ['speech_end', 252, 200],
    ]);
  });

  test('max utterance: a VAD hovering between negThreshold and threshold cannot keep an utterance open', () => {
    const opts = { ...BASE, maxUtteranceSeconds: f(100) };
    // One real onset, then noise the VAD scores 0.4: speech by hysteresis, never enough to start anew.
    const events = run(opts, seq([0.9, 10], [0.4, 500]), false);
    assert.deepEqual(inFrames(events), [
      ['speech_start', 0],
      ['speech_end', 100, 0, 'max_utterance'],
    ]);
  });

  test('forced split during a pause just ends the utterance', () => {
    const opts = { ...BASE, maxUtteranceSeconds: f(100), endpointingMs: false as const };
    const events = run(opts, seq([0.9, 95], [0.1, 30], [0.9, 20]));
    assert.deepEqual(inFrames(events), [
      ['speech_start', 0],
      ['speech_end', 95, 0],
      ['speech_start', 125],
      ['speech_end', 145, 125],
    ]);
  });

  test('invariants hold on random sequences, whatever the chunking', () => {
    let s = 12345;
    const rnd = () => {
      s = (s * 1103515245 + 12345) >>> 0;
      return s / 2 ** 32;
    };
    for (let trial = 0; trial < 200; trial++) {
      // Runs of speech-like and silence-like probabilities with noise, in random lengths.
      const probs: number[] = [];
      while (probs.length < 3000) {
        const speechy = rnd() < 0.5;
        const n = 1 + Math.floor(rnd() * (speechy ? 400 : 60));
        for (let i = 0; i < n; i++) probs.push(speechy ? 0.3 + 0.7 * rnd() : 0.45 * rnd());
      }
      const opts: SegmenterOptions = {
        frameSeconds: [0.032, 0.064, 0.096][trial % 3],
        minSpeechMs: Math.floor(rnd() * 400),
        endpointingMs: rnd() < 0.2 ? false : Math.floor(rnd() * 1200),
        speechPadMs: Math.floor(rnd() * 400),
        maxUtteranceSeconds: 3 + rnd() * 20,
      };
      const all = Float32Array.from(probs);
      const whole = new UtteranceSegmenter(opts);
      const expected = [...whole.push(all), ...whole.flush()];
      const chunked = new UtteranceSegmenter(opts);
      const got: SegmentEvent[] = [];
      for (let pos = 0; pos < all.length;) {
        const n = Math.floor(rnd() * 50);
        got.push(...chunked.push(all.subarray(pos, pos + n)));
        pos += n;
      }
      got.push(...chunked.flush());
      assert.deepEqual(got, expected, 'chunking changed the events');

      const ctx = JSON.stringify(opts);
      let open: number | null = null;
      let last = 0;
      for (const e of expected) {
        const k = e.time / opts.frameSeconds;
        assert.ok(Math.abs(k - Math.round(k)) < 1e-6, `time ${e.time} not a frame multiple ${ctx}`);
        assert.ok(e.time >= last - 1e-9, `time went backwards ${ctx}`);
        assert.ok(e.time <= whole.time + 1e-9);
        if (e.type === 'speech_start') {
          assert.equal(open, null, `speech_start inside an utterance ${ctx}`);
          open = e.time;
        } else if (e.type === 'speech_end') {
          assert.notEqual(open, null, `${e.type} without speech_start ${ctx}`);
          assert.ok(Math.abs(e.start - open!) < 1e-9, `start mismatch ${ctx}`);
          assert.ok(e.time > e.start, `empty piece ${ctx}`);
          assert.ok(e.time - e.start <= opts.maxUtteranceSeconds! + 1e-9, `piece longer than max ${ctx}`);
          open = null;
        }
        last = e.time;
      }
      assert.equal(open, null, 'flush left an utterance open');
    }
  });

  test('pause events: a pause at the pad carries the times its speech_end will have; speech going on resumes', () => {
    const opts = { ...BASE, speechPadMs: f(3) * 1000, pauseEvents: true };
    // Speech, a 5-frame pause (shorter than the 10-frame endpointing), speech, then silence to the endpoint.
    const events = run(opts, seq([0.1, 10], [0.9, 20], [0.1, 5], [0.9, 10], [0.1, 12]), false);
    const rows = events.map((e) => [
      e.type,
      Math.round(e.time / FS),
      'speech' in e ? Math.round(e.speech / FS) : -1,
    ]);
    assert.deepEqual(rows, [
      ['speech_start', 7, 10],
      ['pause', 33, 30], // 3 silent frames: the pad is there
      ['resume', 35, -1], // frame 35 is speech again
      ['pause', 48, 45],
      ['speech_end', 48, 45], // same times as the pause it followed
    ]);
    // Without the option, the same sequence gives only the start and the end.
    assert.deepEqual(
      run(
        { ...opts, pauseEvents: false },
        seq([0.1, 10], [0.9, 20], [0.1, 5], [0.9, 10], [0.1, 12]),
        false,
      ).map((e) => e.type),
      ['speech_start', 'speech_end'],
    );
    // No pause when the endpointing silence is no longer than the pad: the speech_end comes first.
    const short = run({ ...opts, endpointingMs: f(3) * 1000 }, seq([0.9, 10], [0.1, 5]), false);
    assert.deepEqual(
      short.map((e) => e.type),
      ['speech_start', 'speech_end'],
    );
  });

  test('pause events: on random sequences every speech_end that follows a pause without a resume has its times', () => {
    let a = 11;
    let matched = 0;
    const rnd = () => ((a = (a * 1103515245 + 12345) & 0x7fffffff), a / 0x7fffffff);
    for (let trial = 0; trial < 200; trial++) {
      const runs: [number, number][] = [];
      for (let k = 0; k < 30; k++) runs.push([rnd(), 1 + Math.floor(rnd() * 15)]);
      const events = run(
        { frameSeconds: FS, pauseEvents: true, maxUtteranceSeconds: 3, minSpeechMs: 96 },
        seq(...runs),
      );
      let pause: { time: number; speech: number } | null = null;
      let open = false;
      for (const e of events) {
        if (e.type === 'speech_start') {
          assert.equal(open, false);
          open = true;
        } else if (e.type === 'pause') {
          assert.ok(open, 'a pause only inside speech');
          assert.equal(pause, null, 'no second pause before a resume');
          pause = e;
        } else if (e.type === 'resume') {
          assert.ok(pause, 'a resume only after a pause');
          pause = null;
        } else {
          if (pause && !e.reason) {
            assert.equal(e.time, pause.time, `trial ${trial}`);
            assert.equal(e.speech, pause.speech, `trial ${trial}`);
            matched++;
          }
          pause = null;
          open = false;
        }
      }
    }
    assert.ok(matched > 100, `only ${matched} ends followed a pause`);
  });

  test('rejects options that cannot work', () => {
    const bad: Partial<SegmenterOptions>[] = [
      { frameSeconds: 0 },
      { threshold: 1.5 },
      { threshold: 0.5, negThreshold: 0.6 },
      { minSpeechMs: -1 },
      { endpointingMs: Number.NaN },
      { maxUtteranceSeconds: 0.1 },
      { splitSearchSeconds: 30 },
    ];
    for (const b of bad) {
      assert.throws(
        () => new UtteranceSegmenter({ frameSeconds: FS, ...b }),
        SegmenterOptionsError,
        JSON.stringify(b),
      );
    }
  });
});

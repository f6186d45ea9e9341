import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { DgWord } from '../../../server/protocol.js';
import {
  UtteranceTracker,
  type FinalRequest,
  type UtteranceAction,
} from '../../../server/stream/utterances.js';

/** The tracker on a fake clock: `clock.t` is the session time of the audio received. */
function tracker(offset = 0) {
  const clock = { t: offset };
  const u = new UtteranceTracker(
    { offset, earlyCommitSeconds: 8, commitMarginSeconds: 1, interimIntervalMs: 1000 },
    () => clock.t,
  );
  return { u, clock };
}

const word = (w: string, start: number, end: number): DgWord => ({
  word: w,
  start,
  end,
  confidence: 0.9,
  punctuated_word: w,
});
const finalsOf = (a: UtteranceAction[]): FinalRequest[] =>
  a.flatMap((x) => (x.type === 'final' ? [x.final] : []));

describe('utterance tracker (pure, fake clock)', () => {
  test('speech start and end: one speech_final final of the padded audio, reported from the speech onset', () => {
    const { u, clock } = tracker();
    clock.t = 1;
    const started = u.onEvents([{ type: 'speech_start', time: 0.3, speech: 0.5 }]);
    assert.deepEqual(started, [{ type: 'speech_started', at: 0.5 }]);
    assert.equal(u.committed, 0.3);
    clock.t = 3;
    const [f] = finalsOf(u.onEvents([{ type: 'speech_end', time: 2.7, start: 0.3, speech: 2.5 }]));
    assert.deepEqual(f, {
      from: 0.3,
      to: 2.7,
      reportFrom: 0.5,
      reportTo: 2.5,
      speechFinal: true,
      fromFinalize: false,
    });
    assert.equal(u.committed, Infinity);
  });

  test('a speech end forced by the client going away is not speech_final', () => {
    const { u, clock } = tracker();
    clock.t = 2;
    u.onEvents([{ type: 'speech_start', time: 0, speech: 0.2 }]);
    const [f] = finalsOf(u.onEvents([{ type: 'speech_end', time: 2, start: 0, speech: 2 }], true));
    assert.equal(f.speechFinal, false);
  });

  test('times are on the session clock of a resumed connection', () => {
    const { u, clock } = tracker(10);
    clock.t = 12;
    u.onEvents([{ type: 'speech_start', time: 0.5, speech: 0.7 }]);
    const [f] = finalsOf(u.onEvents([{ type: 'speech_end', time: 1.9, start: 0.5, speech: 1.7 }]));
    assert.deepEqual([f.from, f.to, f.reportFrom, f.reportTo], [10.5, 11.9, 10.7, 11.7]);
  });

  test('interims: at the cadence, one in flight at a time, none without interim_results on a short utterance', () => {
    const { u, clock } = tracker();
    assert.equal(u.interimDue({ interimResults: true, backoff: 1 }), null, 'no utterance');
    u.onEvents([{ type: 'speech_start', time: 0, speech: 0.2 }]);
    clock.t = 1;
    assert.equal(u.interimDue({ interimResults: false, backoff: 1 }), null);
    const ask = u.interimDue({ interimResults: true, backoff: 1 });
    assert.deepEqual(ask && { from: ask.from, to: ask.to }, { from: 0, to: 1 });
    clock.t = 2.5;
    assert.equal(u.interimDue({ interimResults: true, backoff: 1 }), null, 'one in flight');
    u.interimDone(ask!);
    assert.equal(u.interimDue({ interimResults: true, backoff: 2 }), null, 'backoff stretches the cadence');
    assert.ok(u.interimDue({ interimResults: true, backoff: 1 }));
  });

  test('LocalAgreement-2: a long utterance commits the agreed prefix, not the words near the edge', () => {
    const { u, clock } = tracker();
    u.onEvents([{ type: 'speech_start', time: 0, speech: 0 }]);
    const words = (n: number) => Array.from({ length: n }, (_, i) => word(`w${i}`, i, i + 1));
    clock.t = 9;
    const a1 = u.interimDue({ interimResults: false, backoff: 1 })!;
    assert.ok(a1, 'long utterances ask for hypotheses even without interim_results');
    const h1 = u.onHypothesis(a1, words(9))!;
    assert.equal(h1.commit, null, 'one hypothesis agrees with nothing yet');
    u.interimDone(a1);
    clock.t = 10;
    const a2 = u.interimDue({ interimResults: false, backoff: 1 })!;
    const h2 = u.onHypothesis(a2, words(10))!;
    // Agreed: w0..w8; w8 ends at 9 = 10 - margin, so it may commit.
    assert.equal(h2.commit!.words!.length, 9);
    assert.deepEqual([h2.commit!.from, h2.commit!.to, h2.commit!.speechFinal], [0, 9, false]);
    assert.equal(h2.from, 9);
    assert.deepEqual(
      h2.rest.map((w) => w.word),
      ['w9'],
    );
    assert.equal(u.committed, 9);
  });

  test('a hypothesis for audio that became final meanwhile is stale', () => {
    const { u, clock } = tracker();
    u.onEvents([{ type: 'speech_start', time: 0, speech: 0 }]);
    clock.t = 1;
    const ask = u.interimDue({ interimResults: true, backoff: 1 })!;
    clock.t = 1.5;
    assert.ok(u.finalizeNow(true, true));
    assert.equal(u.onHypothesis(ask, [word('x', 0, 1)]), null);
  });

  test('finalizeNow: the open utterance becomes final (from_finalize), a new one opens while in speech', () => {
    const { u, clock } = tracker();
    u.onEvents([{ type: 'speech_start', time: 0.2, speech: 0.4 }]);
    clock.t = 2;
    const f = u.finalizeNow(true, true)!;
    assert.deepEqual(f, {
      from: 0.2,
      to: 2,
      reportFrom: 0.4,
      reportTo: 2,
      speechFinal: false,
      fromFinalize: true,
    });
    assert.equal(u.committed, 2);
    clock.t = 2.01;
    const empty = u.finalizeNow(true, false)!;
    assert.deepEqual(empty.words, [], 'nothing to decode: still answered, empty');
    assert.equal(u.finalizeNow(false, false), null, 'end of input with nothing open: no final');
  });

  test('a pause asks for the audio its final will close, and no interim while paused; a resume lifts that', () => {
    const { u, clock } = tracker();
    u.onEvents([{ type: 'speech_start', time: 0.3, speech: 0.5 }]);
    clock.t = 2.5;
    const [pause] = u.onEvents([{ type: 'pause', time: 2.4, speech: 2.2 }]);
    assert.deepEqual(pause, { type: 'pause', ask: { utterance: 1, from: 0.3, to: 2.4 } });
    assert.equal(u.interimDue({ interimResults: true, backoff: 1 }), null, 'paused: the final is decoding');
    assert.deepEqual(u.onEvents([{ type: 'resume', time: 2.6 }]), [{ type: 'resume' }]);
    clock.t = 3;
    assert.equal(
      u.interimDue({ interimResults: true, backoff: 1 }),
      null,
      "the pause's decode was the last one",
    );
    clock.t = 3.5;
    assert.ok(u.interimDue({ interimResults: true, backoff: 1 }), 'speaking again: interims at the cadence');
    const [p2] = u.onEvents([{ type: 'pause', time: 3.4, speech: 3.2 }]);
    clock.t = 3.8;
    const [f] = finalsOf(u.onEvents([{ type: 'speech_end', time: 3.4, start: 0.3, speech: 3.2 }]));
    assert.deepEqual(
      p2,
      { type: 'pause', ask: { utterance: 1, from: f.from, to: f.to } },
      'the final closes what the pause asked for',
    );
  });

  test('an utterance cut at the maximum length is final but not speech_final, and says why', () => {
    const { u, clock } = tracker();
    u.onEvents([{ type: 'speech_start', time: 0, speech: 0.1 }]);
    clock.t = 30.5;
    const [f] = finalsOf(
      u.onEvents([{ type: 'speech_end', time: 30, start: 0, speech: 30, reason: 'max_utterance' }]),
    );
    assert.deepEqual(
      [f.from, f.to, f.reportFrom, f.reportTo, f.speechFinal, f.endReason],
      [0, 30, 0.1, 30, false, 'max_utterance'],
    );
    assert.equal(u.committed, Infinity, 'no utterance stays open: the VAD must start the next');
  });
});

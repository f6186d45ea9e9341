import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  AdmissionController,
  streamDemand,
  type Decision,
  type StreamShape,
} from '../../../server/scheduling/admission.js';

const NO_INTERIMS: StreamShape = { interimResults: false, endpointing: 500 };
const INTERIMS: StreamShape = { interimResults: true, endpointing: 500 };

/**
 * A fake clock and a fake engine: every stream asks for one decode each 1/demand seconds, the first one that long
 * after it joined (its first utterance ended), and each decode keeps the engine busy `decodeSeconds`. The
 * controller samples once a second, as the server's timer does.
 */
function harness(o: { prior?: number; decodeSeconds: number; maxStreams?: number; target?: number }) {
  let now = 0;
  let busy = 0;
  let finalWait = 0;
  let decodes = 0;
  const streams: { every: number; next: number }[] = [];
  const a = new AdmissionController(
    {
      maxStreams: o.maxStreams ?? 100,
      targetUtilisation: o.target,
      priorDecodeSeconds: o.prior,
      now: () => now,
    },
    {
      busyMs: () => busy,
      decodes: () => decodes,
      finalWaitMs: () => finalWait,
      active: () => streams.length,
    },
  );
  a.sample();
  const h = {
    a,
    streams,
    /** A stream asks to join; when admitted its connection opens. */
    join(shape: StreamShape): Decision {
      const d = a.admit(shape);
      const every = 1000 / streamDemand(shape);
      if (d.ok) streams.push({ every, next: now + every });
      return d;
    },
    advance(ms: number) {
      for (let t = 0; t < ms; t += 100) {
        now += 100;
        for (const s of streams) {
          if (now < s.next) continue;
          busy += o.decodeSeconds * 1000;
          decodes++;
          s.next += s.every;
        }
        if (now % 1000 === 0) a.sample();
      }
    },
    leave(n: number) {
      streams.splice(0, n);
    },
    setFinalWait(ms: number) {
      finalWait = ms;
    },
  };
  return h;
}

/** Engine seconds per decode for which the engine's offline throughput fits `n` streams of this shape. */
const costFitting = (n: number, shape: StreamShape) => 1 / (n * streamDemand(shape));

describe('admission control', () => {
  test('interim-free streams are priced lower than interim ones, and so is their admission', () => {
    assert.ok(streamDemand(NO_INTERIMS) < streamDemand(INTERIMS) / 2);
    assert.ok(streamDemand(INTERIMS, 500) > streamDemand(INTERIMS, 1000), 'a faster cadence costs more');
    assert.ok(streamDemand({ interimResults: false, endpointing: false }) > streamDemand(NO_INTERIMS));
    // Four interim streams use 73% of the engine: another interim stream (18%) does not fit, an interim-free one
    // (7%) does.
    const decodeSeconds = costFitting(5.5, INTERIMS);
    const h = harness({ prior: decodeSeconds, decodeSeconds, target: 0.85 });
    for (let i = 0; i < 4; i++) assert.equal(h.join(INTERIMS).ok, true);
    h.advance(10_000);
    const refused = h.a.decide(INTERIMS);
    assert.equal(refused.ok, false);
    assert.match(
      (refused as { reason: string }).reason,
      /^at capacity: 4 streams use 73% of inference, a new one needs about 18%/,
    );
    assert.deepEqual(h.a.decide(NO_INTERIMS), { ok: true });
  });

  test('seven interim-free streams joining 700 ms apart are admitted where 8.4 fit', () => {
    // The issue: a start-up prior that assumed interims and long decodes refused 6 of these 7.
    const decodeSeconds = costFitting(8.4, NO_INTERIMS);
    const h = harness({ prior: decodeSeconds, decodeSeconds });
    const decisions: Decision[] = [];
    for (let i = 0; i < 7; i++) {
      decisions.push(h.join(NO_INTERIMS));
      h.advance(700);
    }
    assert.deepEqual(decisions, Array(7).fill({ ok: true }));
    h.advance(20_000);
    // Measured, they use 7/8.4 = 83% of inference: an eighth would pass the 85% target, and is refused readably.
    const eighth = h.join(NO_INTERIMS);
    assert.deepEqual(eighth, {
      ok: false,
      reason: 'at capacity: 7 streams use 83% of inference, a new one needs about 12%; retry in 5 s',
      retryAfterSeconds: 5,
    });
    h.leave(1);
    assert.equal(h.join(NO_INTERIMS).ok, true, 'a stream left: there is room again');
  });

  test('measurement replaces a pessimistic prior within seconds of speech', () => {
    // The prior says a stream uses half the engine; the streams really use 5% each.
    const h = harness({
      prior: 0.5 / streamDemand(NO_INTERIMS),
      decodeSeconds: costFitting(20, NO_INTERIMS),
    });
    assert.equal(h.join(NO_INTERIMS).ok, true);
    assert.equal(h.join(NO_INTERIMS).ok, false, 'the prior alone fits one more');
    h.advance(8000);
    let admitted = 0;
    for (let i = 0; i < 20; i++, h.advance(500)) if (h.join(NO_INTERIMS).ok) admitted++;
    assert.ok(admitted >= 8, `${admitted} admitted after 8 s of one stream's speech`);
  });

  test('an optimistic prior is corrected too: streams that cost more than it said are refused', () => {
    // The prior says 2% per stream; each really uses 20%.
    const h = harness({ prior: 0.02 / streamDemand(INTERIMS), decodeSeconds: 0.2 / streamDemand(INTERIMS) });
    for (let i = 0; i < 4; i++) assert.equal(h.join(INTERIMS).ok, true);
    h.advance(15_000);
    const d = h.join(INTERIMS);
    assert.equal(d.ok, false);
    assert.match((d as { reason: string }).reason, /^at capacity: 4 streams use (7\d|8\d)% of inference/);
  });

  test('a burst joining an idle server is limited by the prior before anyone has spoken', () => {
    const h = harness({ prior: costFitting(5, INTERIMS), decodeSeconds: costFitting(5, INTERIMS) });
    h.advance(30_000); // idle: nothing measured
    const admitted = Array.from({ length: 8 }, () => h.join(INTERIMS).ok).filter(Boolean).length;
    assert.equal(admitted, 4, 'floor(0.95 * 5)');
  });

  test('finals actually queueing refuse new streams whatever the estimate says', () => {
    const h = harness({ prior: 0.001, decodeSeconds: 0.001 });
    h.join(INTERIMS);
    h.advance(5000);
    h.setFinalWait(2500);
    assert.deepEqual(h.join(NO_INTERIMS), {
      ok: false,
      reason: 'overloaded: finals are waiting 2500 ms for inference; retry in 5 s',
      retryAfterSeconds: 5,
    });
    h.setFinalWait(0);
    assert.equal(h.join(NO_INTERIMS).ok, true);
  });

  test('the hard cap counts streams still upgrading; asking (/readyz) counts nothing', () => {
    const h = harness({ decodeSeconds: 0, maxStreams: 2 });
    for (let i = 0; i < 5; i++) assert.equal(h.a.decide().ok, true, 'decide() alone reserves nothing');
    assert.equal(h.a.admit(INTERIMS).ok, true); // admitted, connection not open yet
    assert.equal(h.join(INTERIMS).ok, true);
    const d = h.join(INTERIMS);
    assert.match((d as { reason: string }).reason, /^at the stream limit: 2 streams \(--max-streams 2\)/);
    h.advance(11_000); // the first upgrade never opened: forgotten
    assert.equal(h.join(INTERIMS).ok, true);
  });

  test('a multichannel stream is priced as one stream per channel, admitted, withdrawn and ended as many', () => {
    const h = harness({ decodeSeconds: 0, maxStreams: 3 });
    const stereo: StreamShape = { ...INTERIMS, multichannel: true, channels: 2 };
    assert.equal(h.a.admit(stereo).ok, true);
    assert.match(
      (h.a.decide(stereo) as { reason: string }).reason,
      /2 streams .* a 2-channel stream counts as 2/,
    );
    assert.equal(h.a.decide(INTERIMS).ok, true, 'a 1-channel stream still fits');
    h.a.withdraw(stereo);
    assert.equal(h.a.admit({ ...stereo, channels: 3 }).ok, true, 'both places came back');
    h.a.withdraw({ ...stereo, channels: 3 });
    // Without multichannel, channels are mixed: one stream.
    assert.equal(h.a.decide({ ...INTERIMS, channels: 2 }).ok, true);
  });

  test('target 0 turns the estimate off: only the cap and queued finals limit', () => {
    const h = harness({ prior: 10, decodeSeconds: 10, target: 0 });
    for (let i = 0; i < 10; i++) assert.equal(h.join(INTERIMS).ok, true);
  });

  test('interims degrade before finals: cadence stretches with load, stops while finals queue', () => {
    const h = harness({ decodeSeconds: 0.3 / streamDemand(INTERIMS) / 2 });
    h.join(INTERIMS);
    h.join(INTERIMS);
    h.advance(12_000);
    assert.equal(h.a.interimBackoff(), 1);
    const g = harness({ decodeSeconds: 0.9 / streamDemand(INTERIMS) / 2 });
    g.join(INTERIMS);
    g.join(INTERIMS);
    g.advance(30_000);
    const stretched = g.a.interimBackoff();
    assert.ok(stretched > 1 && stretched <= 1.8, `${stretched}`);
    g.setFinalWait(800);
    assert.equal(g.a.interimBackoff(), Infinity);
  });
});

/**
 * A fake clock and a fake batching engine: an engine call of n windows costs call + n * perWindow seconds and
 * takes every queued window (up to maxBatch) when it starts; each stream queues a decode every 1/demand seconds,
 * the first that long after it joined. The probe reports what the scheduler reports, the running call included in
 * busyMs() but not in its windows or doneBusyMs().
 */
function batching(o: { call: number; perWindow: number; maxBatch: number }) {
  let now = 0;
  let busyDone = 0;
  let decodes = 0;
  let queued = 0;
  let running: { until: number; size: number; since: number } | null = null;
  const streams: { every: number; next: number }[] = [];
  const a = new AdmissionController(
    {
      maxStreams: 100,
      priorDecodeSeconds: o.perWindow,
      now: () => now,
    },
    {
      busyMs: () => busyDone + (running ? now - running.since : 0),
      doneBusyMs: () => busyDone,
      decodes: () => decodes,
      finalWaitMs: () => 0,
      active: () => streams.length,
    },
  );
  a.sample();
  return {
    a,
    join(shape: StreamShape): Decision {
      const d = a.admit(shape);
      const every = 1000 / streamDemand(shape);
      if (d.ok) streams.push({ every, next: now + every });
      return d;
    },
    advance(ms: number) {
      for (let t = 0; t < ms; t += 10) {
        now += 10;
        for (const s of streams) {
          if (now < s.next) continue;
          queued++;
          s.next += s.every;
        }
        if (running && now >= running.until) {
          busyDone += running.until - running.since;
          decodes += running.size;
          running = null;
        }
        if (!running && queued > 0) {
          const size = Math.min(queued, o.maxBatch);
          queued -= size;
          running = { since: now, until: now + (o.call + size * o.perWindow) * 1000, size };
        }
        if (now % 1000 === 0) a.sample();
      }
    },
  };
}

describe('admission control measures what a decode costs', () => {
  test('a call still running counts as cost only with its windows', () => {
    // One window at a time, 250 ms each, no fixed part: a join while a decode runs saw its busy time without its
    // window and priced every stream up to 3x.
    const h = batching({ call: 0, perWindow: 0.25, maxBatch: 1 });
    const fit = 0.95 / (0.25 * streamDemand(NO_INTERIMS));
    assert.equal(h.join(NO_INTERIMS).ok, true);
    h.advance(2600); // the first decode started at 2.47 s and runs until 2.72 s
    const before = h.a.state().decodeSeconds;
    assert.ok(Math.abs(before - 0.25) < 1e-9, `${before} s per decode while the first one runs`);
    let admitted = 1;
    while (h.join(NO_INTERIMS).ok) admitted++;
    assert.equal(admitted, Math.floor(fit));
  });
});

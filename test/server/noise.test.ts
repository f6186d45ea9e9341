import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { encode, noisySpeechFixture, randomFrames } from '../helpers/audio.js';
import { synthModel } from '../helpers/models.js';
import { collect, connect, sendPaced, startTestServer } from '../helpers/server.js';

// Issue 21: with Silero v4, stationary background noise kept utterances open (no speech_final for minutes).
const fx = noisySpeechFixture(20);
let server: Awaited<ReturnType<typeof startTestServer>>;
before(async () => {
  const model = await synthModel({ script: '<|0.00|> hello world<|1.00|>', timestamped: true });
  server = await startTestServer({ model, transport: 'ws', admissionTarget: 0 });
});
after(() => server.stop());

test('pink noise at 20 dB SNR: one speech_final per utterance, each inside its utterance', async () => {
  const ws = await connect(`${server.ws}/v1/listen?encoding=linear16&sample_rate=16000`);
  const done = collect(ws);
  await sendPaced(ws, randomFrames(encode(fx.samples, 'linear16'), 3, 640, 640), 32000);
  ws.send(JSON.stringify({ type: 'CloseStream' }));
  const { messages, close } = await done;
  assert.equal(close.code, 1000);
  const finals = messages.filter((m) => m.type === 'Results' && m.is_final) as {
    speech_final: boolean;
    start: number;
    duration: number;
  }[];
  const spans = finals.map((f) => `${f.start.toFixed(2)}-${(f.start + f.duration).toFixed(2)}`).join(', ');
  assert.equal(finals.length, fx.segments.length, `finals: ${spans}`);
  assert.ok(
    finals.every((f) => f.speech_final),
    'every final ends its utterance',
  );
  finals.forEach((f, i) => {
    const truth = fx.segments[i];
    assert.ok(
      Math.abs(f.start - truth.start) < 0.3 && Math.abs(f.start + f.duration - truth.end) < 0.3,
      `final ${i} ${spans.split(', ')[i]} against ${truth.start}-${truth.end}`,
    );
  });
});

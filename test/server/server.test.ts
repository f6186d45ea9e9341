import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { encode, median, randomFrames, speechFixture } from '../helpers/audio.js';
import { synthModel } from '../helpers/models.js';
import { collect, connect, sendPaced, startTestServer } from '../helpers/server.js';

/** End to end over both transports: a scripted model, so every utterance's text is known ("hello world"). */

const fx = speechFixture();
const pcm = encode(fx.samples, 'linear16');
let model: string;
before(async () => {
  model = await synthModel({ script: '<|0.00|> hello world<|1.00|>', timestamped: true });
});

type Msg = Record<string, unknown> & {
  type: string;
  is_final?: boolean;
  speech_final?: boolean;
  start?: number;
  duration?: number;
  seq?: number;
  channel?: { alternatives: { transcript: string; words: { word: string; start: number; end: number }[] }[] };
  metadata?: { request_id: string };
};

for (const transport of ['uws', 'ws'] as const) {
  describe(`server over ${transport}`, () => {
    let server: Awaited<ReturnType<typeof startTestServer>>;
    before(async () => {
      // Audio goes in at 20x real time here, which the measured admission estimate would rightly read as a heavy
      // load per stream: these tests exercise the static cap (admission is tested with a clock double).
      server = await startTestServer({
        model,
        transport,
        maxStreams: 3,
        idleTimeoutMs: 2500,
        admissionTarget: 0,
      });
    });
    after(() => server.stop());

    test('/metrics exposes the scheduler and stream metrics', async () => {
      const res = await fetch(`${server.url}/metrics`);
      assert.equal(res.status, 200);
      const text = await res.text();
      for (const name of [
        'earshot_batch_size',
        'earshot_queue_delay_seconds',
        'earshot_inference_seconds',
        'earshot_lag_seconds',
        'earshot_streams_active',
        'earshot_streams_refused_total',
        'earshot_interims_coalesced',
        'earshot_audio_decoded_seconds_total',
        'earshot_realtime_factor',
      ]) {
        assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'));
      }
    });

    test('GET / serves the live captions page', async () => {
      const res = await fetch(`${server.url}/`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type')!, /text\/html/);
      const html = await res.text();
      assert.match(html, /\/v1\/listen\?/);
      assert.match(html, /format=\$\{f\}/, 'links the SRT/VTT export');
    });

    test('health and readiness', async () => {
      assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
      const ready = await fetch(`${server.url}/readyz`);
      assert.equal(ready.status, 200);
      assert.equal(server.app.transportKind, transport);
    });

    test('a conversation: Metadata, interims, one "hello world" final per utterance, Metadata, 1000', async () => {
      const ws = await connect(
        `${server.ws}/v1/listen?encoding=linear16&sample_rate=16000&interim_results=true&punctuate=true&vad_events=true&no_delay=true`,
      );
      const done = collect(ws);
      await sendPaced(ws, randomFrames(pcm, 2, 1600, 3200), 32000);
      ws.send(JSON.stringify({ type: 'CloseStream' }));
      const { messages, close } = await done;
      const m = messages as Msg[];
      assert.equal(close.code, 1000);
      assert.equal(m[0].type, 'Metadata');
      assert.equal(m.at(-1)!.type, 'Metadata');
      const id = m[0].request_id as string;
      const results = m.filter((x) => x.type === 'Results');
      assert.ok(
        results.every((r) => r.metadata?.request_id === id),
        'every Results carries metadata.request_id',
      );
      const finals = results.filter((r) => r.is_final);
      assert.deepEqual(
        finals.map((f) => f.channel!.alternatives[0].transcript),
        ['hello world', 'hello world', 'hello world'],
      );
      assert.ok(finals.every((f) => f.speech_final));
      assert.deepEqual(
        finals.map((f) => f.seq),
        [1, 2, 3],
      );
      assert.ok(
        results.some((r) => !r.is_final),
        'interim results were sent',
      );
      const err = finals.flatMap((f, i) => [
        Math.abs(f.start! - fx.segments[i].start),
        Math.abs(f.start! + f.duration! - fx.segments[i].end),
      ]);
      assert.ok(median(err) <= 0.15, `boundary errors ${err.map((e) => e.toFixed(3))}`);
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      assert.match(metrics, /^earshot_results_total\{kind="final"\} [1-9]/m);
      assert.match(metrics, /^earshot_inference_seconds_count\{stage="encoder"\} [1-9]/m);
      for (const f of finals) {
        for (const w of f.channel!.alternatives[0].words) {
          assert.ok(
            w.start >= f.start! - 0.25 && w.end <= f.start! + f.duration! + 0.25,
            'words lie in their result',
          );
        }
      }
    });

    test('bad parameters are refused before the upgrade: 400, JSON body, dg-error header', async () => {
      for (const [qs, param] of [
        ['encoding=opus', 'encoding'],
        ['sample_rate=100', 'sample_rate'],
        ['channels=5', 'channels'],
        ['interim_results=perhaps', 'interim_results'],
      ]) {
        const err = (await connect(`${server.ws}/v1/listen?${qs}`).catch((e: unknown) => e)) as {
          status: number;
          headers: Record<string, string>;
          body: string;
        };
        assert.equal(err.status, 400, qs);
        assert.match(err.headers['dg-error'], new RegExp(`^${param}: `));
        const body = JSON.parse(err.body) as { error: { code: string; message: string } };
        assert.equal(body.error.code, 'INVALID_QUERY_PARAMETER');
        assert.ok(body.error.message.includes(param));
      }
    });

    test('a frame over the limit closes with 1009', async () => {
      const ws = await connect(`${server.ws}/v1/listen`);
      const done = collect(ws);
      ws.send(new Uint8Array(2 * 1024 * 1024));
      assert.equal((await done).close.code, 1009);
    });

    test('Finalize answers from_finalize and the stream stays open', async () => {
      const ws = await connect(`${server.ws}/v1/listen`);
      const done = collect(ws);
      await sendPaced(ws, randomFrames(pcm.subarray(0, 32000 * 2.5), 4, 3200, 3201), 32000);
      ws.send(JSON.stringify({ type: 'Finalize' }));
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(ws.readyState, WebSocket.OPEN);
      ws.send(JSON.stringify({ type: 'CloseStream' }));
      const m = (await done).messages as Msg[];
      const f = m.filter((x) => x.type === 'Results' && x.is_final);
      assert.equal(f[0].from_finalize, true);
      assert.equal(f[0].channel!.alternatives[0].transcript, 'hello world');
    });

    test('idle streams close with 1011 NET-0001', async () => {
      const ws = await connect(`${server.ws}/v1/listen`);
      const { close } = await collect(ws);
      assert.deepEqual(close, { code: 1011, reason: 'NET-0001' });
    });

    test('browsers authenticate with Sec-WebSocket-Protocol: the token protocol is echoed', async () => {
      const ws = await connect(`${server.ws}/v1/listen`, ['token', 'secret']);
      assert.equal(ws.protocol, 'token');
      ws.close();
    });

    test('pre-recorded POST /v1/listen returns Deepgram JSON', async () => {
      const wav = await import('node:fs').then((fs) =>
        fs.readFileSync(new URL('../fixtures/vad/two-speakers-10s.wav', import.meta.url)),
      );
      const res = await fetch(`${server.url}/v1/listen?punctuate=true`, {
        method: 'POST',
        headers: { 'content-type': 'audio/wav' },
        body: wav,
      });
      assert.equal(res.status, 200);
      const body = (await res.json()) as {
        metadata: { duration: number; request_id: string };
        results: { channels: { alternatives: { transcript: string; words: unknown[] }[] }[] };
      };
      assert.equal(body.metadata.duration, 10.6);
      assert.equal(body.results.channels[0].alternatives[0].transcript, 'hello world');
      const bad = await fetch(`${server.url}/v1/listen`, {
        method: 'POST',
        headers: { 'content-type': 'audio/wav' },
        body: 'RIFF????WAVEjunk',
      });
      assert.equal(bad.status, 400);
      assert.ok(bad.headers.get('dg-error'));
    });

    test('at --max-streams a new stream is refused with 503 and Retry-After; readyz turns false', async () => {
      const open = await Promise.all([1, 2, 3].map(() => connect(`${server.ws}/v1/listen`)));
      const err = (await connect(`${server.ws}/v1/listen`).catch((e: unknown) => e)) as {
        status: number;
        headers: Record<string, string>;
      };
      assert.equal(err.status, 503);
      assert.ok(Number(err.headers['retry-after']) > 0);
      assert.equal((await fetch(`${server.url}/readyz`)).status, 503);
      await Promise.all(
        open.map((w) => {
          const c = collect(w);
          w.close();
          return c;
        }),
      );
      await new Promise((r) => setTimeout(r, 50));
      assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
    });
  });
}

describe('shutdown', () => {
  test('drain finalizes a live stream, delivers its final, closes 1001', async () => {
    const server = await startTestServer({ model, transport: 'uws' });
    const ws = await connect(`${server.ws}/v1/listen`);
    const done = collect(ws);
    // Mid-utterance: 2.5 s of audio, the first utterance still open.
    await sendPaced(ws, randomFrames(pcm.subarray(0, 32000 * 2.5), 4, 3200, 3201), 32000);
    await new Promise((r) => setTimeout(r, 100));
    await server.stop();
    const { messages, close } = await done;
    assert.equal(close.code, 1001);
    const finals = (messages as Msg[]).filter((x) => x.type === 'Results' && x.is_final);
    assert.equal(finals.length, 1);
    assert.equal(finals[0].channel!.alternatives[0].transcript, 'hello world');
    await assert.rejects(fetch(`${server.url}/healthz`));
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DeepgramClient } from '@deepgram/sdk';
import type { EarshotApp } from '../../server/app.js';
import { loadSileroVad, type SileroVad } from '../../models/vad/silero.js';
import { MemoryStore } from '../../server/store/memory.js';
import { interleave, stereoFixture, wavChannels } from '../helpers/audio.js';
import { FakeEngine, sayUtterances } from '../helpers/fake-engine.js';
import { synthModel } from '../helpers/models.js';
import { collect, connect, sendPaced, startAppWithEngine, startTestServer } from '../helpers/server.js';

/**
 * multichannel=true end to end: the Deepgram SDK against the app on an engine double that says each fixture
 * utterance's own words where it is (so a channel's transcript shows which audio it heard), then the real server
 * with a scripted model for admission, refusals and the model path.
 */

const fx = stereoFixture();
const stereo = interleave(fx.channels);
const spoken = (i: number) => fx.segments[i].text.toLowerCase().replace(/[^a-z ]/g, '');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Results {
  type: string;
  is_final?: boolean;
  from_finalize?: boolean;
  channel_index?: [number, number];
  channels?: number;
  session?: string;
  channel?: { alternatives: { transcript: string; words: { word: string; start: number; end: number }[] }[] };
}

describe('multichannel through @deepgram/sdk (engine double)', () => {
  let vad: SileroVad;
  let app: EarshotApp;
  let base: string;
  let http: string;
  before(async () => {
    vad = await loadSileroVad();
    const engine = new FakeEngine();
    engine.words = sayUtterances(fx.segments);
    ({ app, base } = await startAppWithEngine({ vad, engine, store: new MemoryStore() }));
    http = base.replace('ws://', 'http://').replace('/v1/listen', '');
  });
  after(async () => {
    await app.close();
    await vad.release();
  });

  test('live: one transcript per channel, its channel_index, no word of the other; exports label channels', async () => {
    const client = new DeepgramClient({
      apiKey: 'test-key',
      environment: { base: http, production: base.replace('/v1/listen', ''), agent: http, agentRest: http },
    });
    const conn = await client.listen.v1.connect({
      model: 'nova-3',
      encoding: 'linear16',
      sample_rate: 16000,
      channels: 2,
      multichannel: 'true',
      interim_results: 'true',
      reconnectAttempts: 0,
    } as never);
    const messages: Results[] = [];
    conn.on('message', (m) => messages.push(m as never));
    const closed = new Promise<number>((r) => conn.on('close', (e) => r(e.code)));
    conn.connect();
    await conn.waitForOpen();
    for (let i = 0; i < stereo.length; i += 6400) {
      conn.sendMedia(stereo.subarray(i, Math.min(stereo.length, i + 6400)));
      await sleep(5);
    }
    conn.sendCloseStream({ type: 'CloseStream' });
    assert.equal(await closed, 1000);
    const metadata = messages.filter((m) => m.type === 'Metadata');
    assert.equal(metadata.length, 2, 'one opening and one closing Metadata for the socket');
    assert.ok(metadata.every((m) => m.channels === 2));
    const finals = messages.filter((m) => m.type === 'Results' && m.is_final);
    for (const channel of [0, 1]) {
      const mine = finals.filter((m) => m.channel_index![0] === channel);
      assert.ok(mine.every((m) => m.channel_index![1] === 2));
      const words = mine.flatMap((m) => m.channel!.alternatives[0].words.map((w) => w.word));
      assert.equal(words.join(' '), spoken(channel), `channel ${channel}`);
      const own = spoken(channel).split(' ');
      const foreign = spoken(1 - channel)
        .split(' ')
        .filter((w) => !own.includes(w));
      assert.ok(foreign.length > 0 && words.every((w) => !foreign.includes(w)));
    }
    // The session's exports interleave the channels in time, each cue labelled with its channel.
    const id = metadata[0].session!;
    const srt = await (await fetch(`${http}/v1/sessions/${id}/transcript?format=srt`)).text();
    const labels = [...srt.matchAll(/^\[(Channel \d)\] /gm)].map((m) => m[1]);
    assert.deepEqual(labels, ['Channel 0', 'Channel 1']);
    const txt = await (await fetch(`${http}/v1/sessions/${id}/transcript?format=text`)).text();
    assert.equal(txt, `Channel 0: ${spoken(0)}\nChannel 1: ${spoken(1)}\n`);
  });

  test('file: results.channels holds each channel with its own words', async () => {
    const client = new DeepgramClient({ apiKey: 'test-key', baseUrl: http });
    const res = (await client.listen.v1.media.transcribeFile(wavChannels(fx.channels), {
      model: 'nova-3',
      multichannel: true,
    } as never)) as {
      metadata: { channels: number };
      results: {
        channels: { alternatives: { transcript: string; words: { word: string }[] }[] }[];
        utterances: { channel: number; transcript: string }[];
      };
    };
    assert.equal(res.metadata.channels, 2);
    assert.equal(res.results.channels.length, 2);
    res.results.channels.forEach((c, i) => assert.equal(c.alternatives[0].transcript, spoken(i)));
    assert.deepEqual(
      res.results.utterances.map((u) => [u.channel, u.transcript]),
      [
        [0, spoken(0)],
        [1, spoken(1)],
      ],
    );
    // Raw interleaved PCM says its channels; without multichannel the channels are mixed into one transcript.
    const raw = await fetch(
      `${http}/v1/listen?encoding=linear16&sample_rate=16000&channels=2&multichannel=true`,
      {
        method: 'POST',
        body: stereo,
      },
    );
    const rawBody = (await raw.json()) as typeof res;
    assert.deepEqual(
      rawBody.results.channels.map((c) => c.alternatives[0].transcript),
      [spoken(0), spoken(1)],
    );
    const mixed = (await (
      await fetch(`${http}/v1/listen`, { method: 'POST', body: wavChannels(fx.channels) })
    ).json()) as typeof res;
    assert.equal(mixed.results.channels.length, 1);
    assert.equal(mixed.results.channels[0].alternatives[0].transcript, `${spoken(0)} ${spoken(1)}`);
  });
});

describe('multichannel on the server (scripted model)', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  before(async () => {
    const model = await synthModel({ script: '<|0.00|> hello world<|1.00|>', timestamped: true });
    // The static cap only (admission's estimate is tested with a clock double).
    server = await startTestServer({ model, transport: 'uws', maxStreams: 3, admissionTarget: 0 });
  });
  after(() => server.stop());

  const refusal = (url: string) =>
    connect(url).then(
      (ws) => {
        ws.close();
        throw new Error(`${url} was accepted`);
      },
      (e: { status: number; headers: Record<string, string>; body: string }) => e,
    );

  test('a 2-channel stream counts as 2 of --max-streams 3: a second is refused, a 1-channel one fits', async () => {
    const first = await connect(`${server.ws}/v1/listen?multichannel=true&channels=2`);
    const err = await refusal(`${server.ws}/v1/listen?multichannel=true&channels=2`);
    assert.equal(err.status, 503);
    assert.match(JSON.parse(err.body).error.message as string, /a 2-channel stream counts as 2/);
    const single = await connect(`${server.ws}/v1/listen`);
    const open = [first, single];
    await Promise.all(
      open.map((w) => {
        const c = collect(w);
        w.close();
        return c;
      }),
    );
    // Both channels' places come back when the stream ends.
    for (let i = 0; i < 100 && server.app.activeStreams > 0; i++) await sleep(10);
    const again = await connect(`${server.ws}/v1/listen?multichannel=true&channels=3`);
    const done = collect(again);
    again.close();
    await done;
  });

  test('bad channel parameters are refused before any audio: 400 naming channels', async () => {
    for (const qs of [
      'channels=9',
      'multichannel=true&channels=9',
      'multichannel=true&channels=1',
      'multichannel=true',
    ]) {
      const err = await refusal(`${server.ws}/v1/listen?${qs}`);
      assert.equal(err.status, 400, qs);
      assert.match(err.headers['dg-error'], /^channels: /, qs);
      const file = await fetch(`${server.url}/v1/listen?encoding=linear16&sample_rate=16000&${qs}`, {
        method: 'POST',
        body: stereo,
      });
      assert.equal(file.status, 400, qs);
      assert.match(file.headers.get('dg-error')!, /^channels: /, qs);
    }
  });

  test('a multichannel session is not resumed, nor does a multichannel stream resume one', async () => {
    const ws = await connect(`${server.ws}/v1/listen?multichannel=true&channels=2&session=mc-1`);
    const done = collect(ws);
    ws.send(JSON.stringify({ type: 'CloseStream' }));
    await done;
    for (const qs of ['session=mc-1', 'session=mc-1&multichannel=true&channels=2']) {
      const err = await refusal(`${server.ws}/v1/listen?${qs}`);
      assert.equal(err.status, 400, qs);
      assert.match(err.headers['dg-error'], /^session: .*multichannel/, qs);
    }
  });

  test('live through the model: each channel its own finals, inside its own utterance', async () => {
    const ws = await connect(`${server.ws}/v1/listen?multichannel=true&channels=2`);
    const done = collect(ws);
    const frames = Array.from({ length: Math.ceil(stereo.length / 6400) }, (_, i) =>
      stereo.subarray(i * 6400, (i + 1) * 6400),
    );
    await sendPaced(ws, frames, 64000, 20);
    ws.send(JSON.stringify({ type: 'CloseStream' }));
    const { messages, close } = await done;
    assert.equal(close.code, 1000);
    const finals = (messages as unknown as Results[]).filter((m) => m.type === 'Results' && m.is_final);
    for (const channel of [0, 1]) {
      const mine = finals.filter((m) => m.channel_index![0] === channel);
      assert.deepEqual(
        mine.map((m) => m.channel!.alternatives[0].transcript),
        ['hello world'],
      );
      const u = fx.segments[channel];
      const words = mine[0].channel!.alternatives[0].words;
      assert.ok(
        words.every((w) => w.start >= u.start - 0.5 && w.end <= u.end + 0.5),
        JSON.stringify(words),
      );
    }
  });

  test('file through the model: one channel entry each, at its own utterance', async () => {
    const res = await fetch(`${server.url}/v1/listen?multichannel=true`, {
      method: 'POST',
      headers: { 'content-type': 'audio/wav' },
      body: wavChannels(fx.channels),
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as {
      metadata: { channels: number };
      results: {
        channels: { alternatives: { transcript: string; words: { start: number; end: number }[] }[] }[];
      };
    };
    assert.equal(body.metadata.channels, 2);
    body.results.channels.forEach((c, i) => {
      assert.equal(c.alternatives[0].transcript, 'hello world');
      const u = fx.segments[i];
      assert.ok(c.alternatives[0].words.every((w) => w.start >= u.start - 0.5 && w.end <= u.end + 0.5));
    });
  });
});

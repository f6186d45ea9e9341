import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DeepgramClient } from '@deepgram/sdk';
import { initializeLogger, stt as agents } from '@livekit/agents';
import { STT as DeepgramSTT } from '@livekit/agents-plugin-deepgram';
import { AudioFrame, dispose } from '@livekit/rtc-node';
import { encode, speechFixture } from '../helpers/audio.js';
import { synthModel } from '../helpers/models.js';
import { startTestServer } from '../helpers/server.js';

/**
 * Real Deepgram clients pointed at earshot by base URL only: the official JS SDK and LiveKit's own Deepgram STT
 * plugin. A scripted model makes every utterance say "hello world".
 */

const fx = speechFixture();
let server: Awaited<ReturnType<typeof startTestServer>>;
before(async () => {
  const model = await synthModel({ script: '<|0.00|> hello world<|1.00|>', timestamped: true });
  server = await startTestServer({ model, transport: 'uws' });
});
after(async () => {
  await server.stop();
  await dispose();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('@deepgram/sdk', () => {
  test('live: interim and final results, Finalize, CloseStream', async () => {
    const client = new DeepgramClient({
      apiKey: 'test-key',
      environment: { base: server.url, production: server.ws, agent: server.ws, agentRest: server.url },
    });
    const conn = await client.listen.v1.connect({
      model: 'nova-3',
      encoding: 'linear16',
      sample_rate: 16000,
      interim_results: 'true',
      punctuate: 'true',
      reconnectAttempts: 0,
    } as never);
    const messages: {
      type: string;
      is_final?: boolean;
      from_finalize?: boolean;
      channel?: { alternatives: { transcript: string }[] };
    }[] = [];
    conn.on('message', (m) => messages.push(m as never));
    const closed = new Promise<number>((r) => conn.on('close', (e) => r(e.code)));
    conn.connect();
    await conn.waitForOpen();
    const pcm = encode(fx.samples, 'linear16');
    const half = 32000 * 2.5; // inside the first utterance
    for (let i = 0; i < half; i += 3200) {
      conn.sendMedia(pcm.subarray(i, Math.min(half, i + 3200)));
      await sleep(5);
    }
    // Audio goes 20x faster than real time: an interim still decoding when Finalize arrives is stale and dropped.
    for (let t = 0; t < 300 && !messages.some((m) => m.type === 'Results' && !m.is_final); t++)
      await sleep(50);
    conn.sendFinalize({ type: 'Finalize' });
    for (let i = half; i < pcm.length; i += 3200) {
      conn.sendMedia(pcm.subarray(i, Math.min(pcm.length, i + 3200)));
      await sleep(5);
    }
    conn.sendCloseStream({ type: 'CloseStream' });
    assert.equal(await closed, 1000);
    const results = messages.filter((m) => m.type === 'Results');
    assert.ok(
      results.some((m) => !m.is_final),
      'interims',
    );
    const finals = results.filter((m) => m.is_final);
    assert.ok(finals.length >= 3);
    assert.ok(finals.some((m) => m.from_finalize));
    assert.ok(finals.every((m) => m.channel!.alternatives[0].transcript === 'hello world'));
    assert.equal(messages.at(-1)!.type, 'Metadata');
  });

  test('pre-recorded: transcribeFile', async () => {
    const client = new DeepgramClient({ apiKey: 'test-key', baseUrl: server.url });
    const { readFileSync } = await import('node:fs');
    const wav = readFileSync(new URL('../fixtures/vad/two-speakers-10s.wav', import.meta.url));
    const res = (await client.listen.v1.media.transcribeFile(wav, {
      model: 'nova-3',
      punctuate: true,
    } as never)) as {
      results: { channels: { alternatives: { transcript: string }[] }[] };
    };
    assert.equal(res.results.channels[0].alternatives[0].transcript, 'hello world');
  });
});

describe("LiveKit's Deepgram STT plugin (baseUrl)", () => {
  before(() => initializeLogger({ pretty: false, level: 'warn' }));

  function frames(samples: Float32Array): AudioFrame[] {
    const out: AudioFrame[] = [];
    for (let i = 0; i < samples.length; i += 1600) {
      const chunk = samples.subarray(i, i + 1600);
      const data = Int16Array.from(chunk, (v) => Math.round(Math.max(-1, Math.min(1, v)) * 32767));
      out.push(new AudioFrame(data, 16000, 1, data.length));
    }
    return out;
  }

  test('stream(): START, INTERIM, FINAL, END events; flush() is a Finalize', async () => {
    const stt = new DeepgramSTT({
      apiKey: 'test-key',
      baseUrl: server.ws,
      language: 'en-US',
      interimResults: true,
    });
    const stream = stt.stream();
    const events: { type: number; text?: string }[] = [];
    const reading = (async () => {
      for await (const ev of stream) events.push({ type: ev.type, text: ev.alternatives?.[0]?.text });
    })();
    const all = frames(fx.samples);
    const T = agents.SpeechEventType;
    for (const [i, f] of all.entries()) {
      stream.pushFrame(f);
      if (i === 50) stream.flush();
      await sleep(8);
      // Frames go 12x faster than real time: an interim still decoding when its utterance's final is asked for is
      // stale and dropped, so the first utterance waits for one.
      for (let t = 0; i === 15 && t < 300 && !events.some((e) => e.type === T.INTERIM_TRANSCRIPT); t++)
        await sleep(50);
    }
    stream.flush();
    await sleep(300);
    stream.endInput();
    await reading;
    const types = events.map((e) => e.type);
    assert.ok(types.includes(T.START_OF_SPEECH));
    assert.ok(types.includes(T.INTERIM_TRANSCRIPT));
    assert.ok(types.includes(T.END_OF_SPEECH));
    const finals = events.filter((e) => e.type === T.FINAL_TRANSCRIPT);
    assert.ok(finals.length >= 3, `finals: ${JSON.stringify(events)}`);
    assert.ok(finals.every((e) => e.text === 'hello world'));
  });

  test('recognize() goes through pre-recorded POST /v1/listen', async () => {
    const stt = new DeepgramSTT({ apiKey: 'test-key', baseUrl: server.ws, language: 'en-US' });
    const ev = await stt.recognize(frames(fx.samples.subarray(0, 16000 * 4)));
    assert.equal(ev.type, agents.SpeechEventType.FINAL_TRANSCRIPT);
    assert.equal(ev.alternatives?.[0].text, 'hello world');
  });
});

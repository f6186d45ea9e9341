import { initializeLogger, stt as agents } from '@livekit/agents';
import { AudioFrame, dispose } from '@livekit/rtc-node';
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { encode, speechFixture, type SpeechFixture } from '../../test/helpers/audio.js';
import { synthModel } from '../../test/helpers/models.js';
import { startTestServer } from '../../test/helpers/server.js';
import type { ServerConfig } from '../../server/options.js';
import type { StartOptions } from '../../server/serve.js';

/** Test plumbing: a real earshot server with a scripted model, the fixture as LiveKit frames, event capture. */

initializeLogger({ pretty: false, level: process.env.EARSHOT_TEST_LOG ?? 'silent' });

export const T = agents.SpeechEventType;
export const SCRIPT = 'hello world';

export function fixture(): SpeechFixture {
  return speechFixture();
}

export type Earshot = Awaited<ReturnType<typeof startTestServer>>;

/** An earshot server whose model says "hello world" (with aligned word times) for every utterance. */
export async function startEarshot(
  overrides: Partial<ServerConfig> = {},
  opts: StartOptions = {},
): Promise<Earshot> {
  const model = await synthModel({ script: `<|0.00|> ${SCRIPT}<|1.00|>`, timestamped: true });
  return startTestServer({ model, transport: 'ws', ...overrides }, opts);
}

/**
 * One earshot server for the test file that calls this: started before its tests, stopped after them, with
 * LiveKit's native side disposed (it would keep the process alive).
 */
export function earshotForThisFile(): Pick<Earshot, 'url' | 'ws' | 'port'> {
  let server: Earshot | undefined;
  before(async () => {
    server = await startEarshot();
  });
  after(async () => {
    await server?.stop();
    await dispose();
  });
  const live = () => {
    if (!server) throw new Error('earshot is not started yet: use it inside a test');
    return server;
  };
  return {
    get url() {
      return live().url;
    },
    get port() {
      return live().port;
    },
    get ws() {
      return live().ws;
    },
  };
}

/** 16 kHz float samples as linear16 AudioFrames of `ms` at `rate` (room audio comes in 10-20 ms frames). */
export function toFrames(samples16k: Float32Array, rate: number, ms = 20, channels: 1 | 2 = 1): AudioFrame[] {
  const bytes = encode(samples16k, 'linear16', rate, channels);
  const pcm = new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  const per = Math.round((rate * ms) / 1000) * channels;
  const out: AudioFrame[] = [];
  for (let i = 0; i < pcm.length; i += per) {
    const data = pcm.slice(i, Math.min(pcm.length, i + per));
    out.push(new AudioFrame(data, rate, channels, data.length / channels));
  }
  return out;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Pushes frames `speed` times faster than real time, calling `at(i)` before frame i. */
export async function pushPaced(
  stream: agents.SpeechStream,
  frames: AudioFrame[],
  speed = 10,
  at?: (i: number) => void | Promise<void>,
): Promise<void> {
  let due = 0;
  const t0 = Date.now();
  for (const [i, f] of frames.entries()) {
    await at?.(i);
    stream.pushFrame(f);
    due += (f.samplesPerChannel / f.sampleRate / speed) * 1000;
    const wait = t0 + due - Date.now();
    if (wait > 0) await sleep(wait);
  }
}

/** Every event of the stream until it ends. */
export async function collect(stream: agents.SpeechStream): Promise<agents.SpeechEvent[]> {
  const events: agents.SpeechEvent[] = [];
  for await (const ev of stream) events.push(ev);
  return events;
}

export function finals(events: agents.SpeechEvent[]): agents.SpeechData[] {
  return events.filter((e) => e.type === T.FINAL_TRANSCRIPT).map((e) => e.alternatives![0]);
}

/** The event types as short names, for readable assertion messages. */
export function names(events: agents.SpeechEvent[]): string {
  const short = ['START', 'INTERIM', 'FINAL', 'END', 'USAGE', 'PREFLIGHT'];
  return events.map((e) => short[e.type]).join(' ');
}

/**
 * Streams 16 kHz samples (as `rate` frames, paced), ends the input and checks that START and END alternate:
 * the events, their names for messages, and the START/END events.
 */
export async function streamTurns(stream: agents.SpeechStream, samples16k: Float32Array, rate = 16000) {
  const events = collect(stream);
  await pushPaced(stream, toFrames(samples16k, rate), 10);
  stream.endInput();
  const evs = await events;
  const seq = names(evs);
  const turns = evs.filter((e) => e.type === T.START_OF_SPEECH || e.type === T.END_OF_SPEECH);
  turns.forEach((e, i) =>
    assert.equal(e.type, i % 2 === 0 ? T.START_OF_SPEECH : T.END_OF_SPEECH, `alternation: ${seq}`),
  );
  return { evs, seq, turns };
}

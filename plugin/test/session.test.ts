import assert from 'node:assert/strict';
import { ReadableStream, type ReadableStreamDefaultController } from 'node:stream/web';
import { test } from 'node:test';
import { voice } from '@livekit/agents';
import { AudioFrame } from '@livekit/rtc-node';
import { STT } from '../src/index.js';
import { fixture, SCRIPT, sleep, earshotForThisFile, toFrames } from './helpers.js';

/** Room audio without a room: an AudioInput fed from a stream of 24 kHz frames, as room_io would feed it. */
class FramesInput extends voice.AudioInput {
  readonly #controller: ReadableStreamDefaultController<AudioFrame>;
  constructor() {
    super();
    let controller!: ReadableStreamDefaultController<AudioFrame>;
    this.multiStream.addInputStream(new ReadableStream<AudioFrame>({ start: (c) => void (controller = c) }));
    this.#controller = controller;
  }
  push(frame: AudioFrame): void {
    this.#controller.enqueue(frame);
  }
}

const fx = fixture();
const server = earshotForThisFile();

test("inside an AgentSession with no room, the user's transcript reaches the chat history", async () => {
  const session = new voice.AgentSession({
    stt: new STT({ url: server.url, language: 'en' }),
    vad: null,
    llm: new voice.testing.FakeLLM(),
    turnHandling: { turnDetection: 'stt', endpointing: { minDelay: 100, maxDelay: 500 } },
  });
  const transcribed: { transcript: string; isFinal: boolean }[] = [];
  session.on(voice.AgentSessionEventTypes.UserInputTranscribed, (ev) => transcribed.push(ev));
  const agent = new voice.Agent({ instructions: 'Listen.' });
  const input = new FramesInput();
  session.input.audio = input;
  await session.start({ agent });
  // The first utterance and the silence after it, in real time (the session paces nothing itself).
  for (const f of toFrames(fx.samples.subarray(0, 16000 * 5), 24000, 20)) {
    input.push(f);
    await sleep(20);
  }
  for (let i = 0; i < 100 && !transcribed.some((t) => t.isFinal); i++) await sleep(50);
  await sleep(300);
  const users = agent.chatCtx.items
    .filter((item) => item.type === 'message' && item.role === 'user')
    .map((item) => (item as { textContent?: string }).textContent);
  await session.close();
  assert.ok(
    transcribed.some((t) => t.isFinal && t.transcript === SCRIPT),
    JSON.stringify(transcribed),
  );
  assert.deepEqual(users, [SCRIPT]);
});

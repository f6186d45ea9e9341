/**
 * The speaker labelling thread (live-labels.ts LabelThread): one LiveDiarizer per open session, requests handled
 * one at a time in arrival order, so each session's finals are labelled in order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type EmbedderSource, type FromWorker, type ToWorker, makeEmbedder } from './live-labels.js';
import { LiveDiarizer } from './live.js';

const port = parentPort!;
const embedder = makeEmbedder(workerData as EmbedderSource);
const sessions = new Map<number, LiveDiarizer>();
let queue: Promise<void> = Promise.resolve();

async function handle(msg: ToWorker): Promise<void> {
  if (msg.op === 'close') {
    sessions.delete(msg.session);
    return;
  }
  if (msg.op === 'open') {
    sessions.set(msg.session, new LiveDiarizer(await embedder, { maxSpeakers: msg.maxSpeakers }, msg.state));
    return;
  }
  let reply: FromWorker;
  try {
    await embedder; // an embedder that did not load fails every label with its own message
    const live = sessions.get(msg.session);
    if (!live) throw new Error(`speaker labelling: session ${msg.session} is not open`);
    const t0 = performance.now();
    const final = await live.labelFinal(msg.audio, msg.start, msg.words);
    reply = { call: msg.call, final, state: live.state, ms: performance.now() - t0 };
  } catch (err) {
    reply = { call: msg.call, error: (err as Error).message };
  }
  port.postMessage(reply);
}

port.on('message', (msg: ToWorker) => {
  queue = queue
    .then(() => handle(msg))
    .catch((err: unknown) => {
      // An open that failed (the embedder did not load): the session's labels fail with this message.
      console.error('speaker labelling thread:', (err as Error).message);
    });
});

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
/** Ms each session spent on heard audio since its last reply (labelling work too, made ahead). */
const heardMs = new Map<number, number>();
let queue: Promise<void> = Promise.resolve();

async function handle(msg: ToWorker): Promise<void> {
  if (msg.op === 'close') {
    sessions.delete(msg.session);
    heardMs.delete(msg.session);
    return;
  }
  if (msg.op === 'open') {
    sessions.set(msg.session, new LiveDiarizer(await embedder, { maxSpeakers: msg.maxSpeakers }, msg.state));
    return;
  }
  if (msg.op === 'hear') {
    const t0 = performance.now();
    sessions.get(msg.session)?.hear(msg.samples, msg.at);
    heardMs.set(msg.session, (heardMs.get(msg.session) ?? 0) + performance.now() - t0);
    return;
  }
  let reply: FromWorker;
  try {
    await embedder; // an embedder that did not load fails every label with its own message
    const live = sessions.get(msg.session);
    if (!live) throw new Error(`speaker labelling: session ${msg.session} is not open`);
    const t0 = performance.now();
    const final = await live.labelFinal(msg.audio, msg.start, msg.words, msg.at, msg.speech);
    const ms = performance.now() - t0 + (heardMs.get(msg.session) ?? 0);
    heardMs.set(msg.session, 0);
    reply = { call: msg.call, final, state: live.state, ms };
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

/** The inference thread (thread.ts WhisperThread): one model, decodes handled one at a time in arrival order. */
import { parentPort, workerData } from 'node:worker_threads';
import { errorInfo, type FromThread, type ThreadData, type ToThread } from './thread.js';
import { WhisperModel } from './runtime.js';
import { decodeWindows } from './transcribe.js';

const port = parentPort!;
const post = (m: FromThread) => port.postMessage(m);
const { files, opts } = workerData as ThreadData;

async function serve(model: WhisperModel): Promise<void> {
  model.onTiming = (stage, ms, rows) => post({ op: 'timing', stage, ms, rows });
  let queue = Promise.resolve();
  const handle = async (msg: ToThread) => {
    if (msg.op === 'release') {
      await model.release();
      post({ op: 'released' });
      return;
    }
    try {
      post({ op: 'done', call: msg.call, results: await decodeWindows(model, msg.windows, msg.opts) });
    } catch (err) {
      post({ op: 'error', call: msg.call, error: errorInfo(err) });
    }
  };
  port.on('message', (msg: ToThread) => {
    queue = queue.then(() => handle(msg));
  });
  post({ op: 'ready', device: model.device });
}

await WhisperModel.load(files, { ...opts, warn: (message) => post({ op: 'warn', message }) }).then(
  serve,
  (err) => post({ op: 'failed', error: errorInfo(err) }),
);

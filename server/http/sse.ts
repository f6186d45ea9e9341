import type { HttpResponse } from '../transport/types.js';

/**
 * Server-sent events from a producer that pushes events as work completes: `data: JSON` per event (OpenAI's
 * streaming shape: the type is inside the JSON). The producer's promise ending closes the stream; its failure
 * becomes a last `error` event. `signal` (the request's) stops the stream when the client leaves.
 */
export function sseResponse(
  produce: (emit: (event: object) => void) => Promise<void>,
  signal: AbortSignal,
): HttpResponse {
  return {
    status: 200,
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
    },
    body: events(produce, signal),
  };
}

const encoder = new TextEncoder();

async function* events(
  produce: (emit: (event: object) => void) => Promise<void>,
  signal: AbortSignal,
): AsyncGenerator<Uint8Array> {
  const queue: object[] = [];
  let wake: (() => void) | undefined;
  let finished = false;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  const emit = (e: object) => {
    queue.push(e);
    notify();
  };
  const onAbort = () => notify();
  signal.addEventListener('abort', onAbort);
  const running = produce(emit).then(
    () => {},
    (err: unknown) => {
      if (!signal.aborted) emit({ type: 'error', error: { message: errorText(err), type: 'server_error' } });
    },
  );
  void running.finally(() => {
    finished = true;
    notify();
  });
  try {
    for (;;) {
      while (queue.length) yield encoder.encode(`data: ${JSON.stringify(queue.shift())}\n\n`);
      if (finished || signal.aborted) break;
      await new Promise<void>((r) => (wake = r));
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

import { Worker } from 'node:worker_threads';

/**
 * Starts the worker entry `name` (e.g. './live-worker') next to the module `from` (its import.meta.url): TypeScript
 * under tsx (registered in the thread too, as a worker does not inherit the loader), or the build's .js.
 */
export function startWorker(name: string, from: string, workerData: unknown): Worker {
  const ts = from.endsWith('.ts');
  const entry = new URL(`${name}${ts ? '.ts' : '.js'}`, from);
  if (!ts) return new Worker(entry, { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}

/**
 * Calls awaiting a worker thread's replies, by number. The worker holds the process open only while a call is
 * pending: an idle thread does not keep a finished process alive.
 */
export class PendingCalls<T> {
  private next = 0;
  private readonly calls = new Map<number, { resolve(value: T): void; reject(err: Error): void }>();

  /** A new call's number and its reply; `worker` is held open until the reply. */
  open(worker: Worker | null): { call: number; reply: Promise<T> } {
    const call = this.next++;
    const reply = new Promise<T>((resolve, reject) => this.calls.set(call, { resolve, reject }));
    worker?.ref();
    return { call, reply };
  }

  /** The reply to `call` (unknown calls are ignored: they failed when an earlier thread died). */
  settle(worker: Worker, call: number, reply: { value: T } | { error: Error }): void {
    const p = this.calls.get(call);
    if (!p) return;
    this.calls.delete(call);
    if (this.calls.size === 0) worker.unref();
    if ('error' in reply) p.reject(reply.error);
    else p.resolve(reply.value);
  }

  /** The thread died: every pending call fails with `err`. */
  failAll(err: Error): void {
    for (const p of this.calls.values()) p.reject(err);
    this.calls.clear();
  }
}

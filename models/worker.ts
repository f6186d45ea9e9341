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

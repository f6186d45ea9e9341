import { randomUUID } from 'node:crypto';
import { pino, type Logger } from 'pino';
import { loadSileroVad } from '../models/vad.js';
import { InferenceScheduler } from '../models/scheduler.js';
import { resolveModel } from '../models/resolve.js';
import { decodeWindows, transcribe } from '../models/transcribe.js';
import { WhisperModel } from '../models/whisper.js';
import { EarshotApp } from './app.js';
import { ConfigError, configHelp, loadConfig, type ServerConfig } from './config.js';
import { MemoryStore } from './store.js';
import { UsageError } from './cli.js';

/** Everything `earshot serve` starts, for tests and embedding. */
export interface RunningServer {
  app: EarshotApp;
  port: number;
  model: WhisperModel;
  scheduler: InferenceScheduler;
  stop(): Promise<void>;
}

export async function startServer(
  config: ServerConfig,
  log: Logger = pino({ level: config.logLevel }),
): Promise<RunningServer> {
  const dir = await resolveModel(config.model, { dtype: config.dtype, log: (m) => log.info(m) });
  const model = await WhisperModel.load(dir, {
    dtype: config.dtype,
    device: config.device,
    threads: config.threads,
    warn: (m) => log.warn(m),
  });
  const vad = await loadSileroVad({ threads: 1 });
  const scheduler = new InferenceScheduler(
    { decodeWindows: (w, o) => decodeWindows(model, w, o) },
    { maxBatch: config.maxBatch, batchWindowMs: config.batchWindowMs },
  );
  if (config.store !== 'memory')
    throw new ConfigError(`--store ${config.store}: only "memory" is available in this build`);
  const store = new MemoryStore();
  const modelInfo = {
    uuid: randomUUID(),
    name: config.model,
    version: model.files.encoderDtype,
    arch: 'whisper',
  };
  const app = new EarshotApp({
    config,
    log,
    scheduler,
    vad,
    store,
    model: modelInfo,
    encodePrompt: (t) => model.tokenizer.encode(' ' + t.trim()),
    transcribe: (audio, opts) =>
      transcribe(model, audio, opts, (windows, o) =>
        Promise.all(
          windows.map(async (w) => {
            const r = await scheduler.submit({ session: 'file', kind: 'final', window: w, options: o });
            return r!;
          }),
        ),
      ),
  });
  const { port } = await app.start();
  const synthetic = config.model.startsWith('synthetic:');
  log.info(
    {
      model: config.model,
      dir,
      dtype: model.files.encoderDtype,
      device: model.device,
      transport: app.transportKind,
      host: config.host,
      port,
      auth: 'off',
    },
    `earshot listening on ${config.host}:${port} (ws://${config.host}:${port}/v1/listen)`,
  );
  if (synthetic) {
    log.warn(
      `serving ${config.model}: a SYNTHETIC model with random weights, its transcripts are meaningless; pass --model tiny.en (or a model directory) for real speech`,
    );
  }
  log.warn(
    'auth is OFF: anyone who can reach this port can transcribe; configure --api-keys or --jwt-secret',
  );
  return {
    app,
    port,
    model,
    scheduler,
    async stop() {
      await app.drain(config.drainTimeoutMs);
      await scheduler.idle();
      await app.close();
      await model.release();
    },
  };
}

export async function serveCommand(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${configHelp()}\n`);
    return 0;
  }
  let config: ServerConfig;
  try {
    config = loadConfig(args);
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
  const log = pino({ level: config.logLevel });
  const server = await startServer(config, log);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal, streams: server.app.sessions.size }, 'draining: finalizing live streams');
      void server.stop().then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  log.info('stopped');
  return 0;
}

import { randomUUID } from 'node:crypto';
import { pino, type Logger } from 'pino';
import { loadSileroVad } from '../models/vad/silero.js';
import { type EmbedderSource, LabelThread, makeEmbedder } from '../models/speaker/live-labels.js';
import { modelFileId } from '../models/speaker/model-id.js';
import { InferenceScheduler, ridersFor } from './scheduling/scheduler.js';
import { resolveModel, resolveSpeakerModel } from '../models/resolve.js';
import { inlineEngine, type WhisperEngine } from '../models/whisper/engine.js';
import { WhisperModel } from '../models/whisper/runtime.js';
import { WhisperThread } from '../models/whisper/thread.js';
import { canTranslate } from '../models/whisper/tasks.js';
import { AdmissionController, finalBudgetSeconds } from './scheduling/admission.js';
import { calibrate } from './scheduling/calibration.js';
import { EarshotApp } from './app.js';
import { fileTranscriber } from './scheduling/file-jobs.js';
import { Metrics } from './metrics.js';
import { DEFAULT_SESSION_CONFIG } from './stream/config.js';
import { type ServerConfig } from './options.js';
import { createStore, describeStore } from './store/index.js';
import type { TranscriptStore } from './store/types.js';
import { guardFromConfig } from './auth/from-config.js';
import { RedisLimitStore } from './limits/redis.js';

/** Everything `earshot serve` starts, for tests and embedding. */
export interface RunningServer {
  app: EarshotApp;
  port: number;
  engine: WhisperEngine;
  /** The model itself, when it runs on this thread (StartOptions.inlineModel). */
  model?: WhisperModel;
  scheduler: InferenceScheduler;
  stop(): Promise<void>;
}

export interface StartOptions {
  /**
   * Run the model on the calling thread instead of its own (tests that look inside the model): every decode then
   * stalls the event loop for its length (engine.ts).
   */
  inlineModel?: boolean;
}

export async function startServer(
  config: ServerConfig,
  log: Logger = pino({ level: config.logLevel }),
  opts: StartOptions = {},
): Promise<RunningServer> {
  // First, so a data dir that cannot be used stops startup before any model download.
  const store = createStore(config, log);
  return startWithStore(config, log, store, opts).catch(async (err: unknown) => {
    await store.close?.(); // a Redis connection would keep the failed process alive
    throw err;
  });
}

async function startWithStore(
  config: ServerConfig,
  log: Logger,
  store: TranscriptStore,
  opts: StartOptions,
): Promise<RunningServer> {
  // Bad auth settings (an unreadable key file, a short JWT secret) stop startup before the model loads.
  // Limits live in the shared store when there is one, so replicas enforce them together.
  const limitStore = /^rediss?:\/\//.test(config.store)
    ? new RedisLimitStore({ url: config.store })
    : undefined;
  const auth = (() => {
    try {
      return guardFromConfig(config, (code) => metrics.denied.inc({ reason: code }), limitStore);
    } catch (err) {
      void limitStore?.close(); // its connection would keep the refused process alive
      throw err;
    }
  })();
  // One VAD for live streams, file routes and diarization alike; before Whisper, so a bad file fails fast.
  const vad = await loadSileroVad({ threads: 1, model: config.vadModel });
  const dir = await resolveModel(config.model, { dtype: config.dtype, log: (m) => log.info(m) });
  const load = {
    dtype: config.dtype,
    device: config.device,
    threads: config.threads,
    warn: (m: string) => log.warn(m),
  };
  const model = opts.inlineModel ? await WhisperModel.load(dir, load) : undefined;
  const engine = model ? inlineEngine(model) : await WhisperThread.start(dir, load);
  const callCost = await calibrate(engine, config.maxBatch);
  const riders = config.riders ?? ridersFor(callCost, config.maxBatch);
  // The probes below run on scrape or on a timer, after everything here exists.
  const metrics = new Metrics({
    activeStreams: () => app.sessions.size,
    coalesced: () => scheduler.coalesced,
    queued: () => scheduler.queued,
    admission: () => admission.state(),
  });
  engine.onTiming = (stage, ms) => metrics.stage(stage, ms);
  let abandoned = false;
  const scheduler = new InferenceScheduler(
    // After an abandoned drain, queued batches fail at once instead of running: only a batch already on the
    // engine is left to finish.
    {
      decodeWindows: (w, o) =>
        abandoned ? Promise.reject(new Error('server stopped')) : engine.decodeWindows(w, o),
    },
    {
      maxBatch: config.maxBatch,
      riders,
      batchWindowMs: config.batchWindowMs,
      onBatch: (b) => metrics.batch(b),
    },
  );
  const admission = new AdmissionController(
    {
      maxStreams: config.maxStreams,
      targetUtilisation: config.admissionTarget,
      prior: callCost,
      finalBudgetSeconds: finalBudgetSeconds({
        earlyFinals: config.earlyFinals,
        endpointingMs: config.endpointingMs,
        speechPadMs: DEFAULT_SESSION_CONFIG.speechPadMs,
      }),
      maxBatch: config.maxBatch,
      interimIntervalMs: config.interimIntervalMs,
    },
    {
      busyMs: () => scheduler.busyMs(),
      doneBusyMs: () => scheduler.doneBusyMs(),
      decodes: () => scheduler.windowsDone,
      calls: () => scheduler.callsDone,
      finalWaitMs: () => scheduler.oldestWaitMs('final'),
      active: () => app.activeStreams,
    },
  );
  // One embedder source for both: files embed on the main thread between event-loop turns; live finals on a
  // worker thread of their own, so labelling a final never stalls other streams.
  const speakerSource: EmbedderSource = config.speakerModel
    ? { kind: 'onnx', path: await resolveSpeakerModel(config.speakerModel) }
    : { kind: 'builtin' };
  const speakerEmbedder = await makeEmbedder(speakerSource);
  const liveLabels = new LabelThread(speakerSource);
  const app: EarshotApp = new EarshotApp({
    config,
    log,
    scheduler,
    admission,
    metrics,
    vad,
    store,
    model: { uuid: randomUUID(), name: config.model, version: engine.files.encoderDtype, arch: 'whisper' },
    englishOnly: canTranslate(engine.files.ids) ? undefined : config.model,
    encodePrompt: (t) => engine.tokenizer.encode(' ' + t.trim()),
    transcribe: fileTranscriber({ vad, scheduler, inFlight: config.maxBatch }),
    speakerEmbedder,
    liveLabels,
    ...(speakerSource.kind === 'onnx' ? { speakerModelId: modelFileId(speakerSource.path) } : {}),
    guard: auth.guard,
  });
  const sampler = setInterval(() => admission.sample(), 1000);
  sampler.unref();
  admission.sample();
  const { port } = await app.start();
  if (config.model.startsWith('synthetic:')) {
    log.warn(
      `serving ${config.model}: a SYNTHETIC model with random weights, its transcripts are meaningless; pass --model tiny.en (or a model directory) for real speech`,
    );
  }
  if (auth.guard.auth.enabled) log.info(auth.describe);
  else log.warn(auth.describe);
  const stopWatchingKeys = auth.watch({
    reloaded: (n) => log.info({ keys: n }, 'API keys reloaded'),
    failed: (err) => log.error({ err: err.message }, 'API keys file not reloaded: the previous keys stay'),
  });
  log.info(
    {
      model: config.model,
      dir,
      dtype: engine.files.encoderDtype,
      device: engine.device,
      vad: vad.label,
      // What admission starts from: an engine call's fixed cost and its cost per window, ms.
      engineCallMs: Math.round(callCost.call * 1000),
      engineWindowMs: Math.round(callCost.window * 1000),
      // Interims a call of finals carries (0 where each window costs about a call: a CPU).
      riders,
      // Typical streams (interims on) admission expects to hold at that cost (null: admission off): what to size
      // a deployment by; the measured cost under load moves it (earshot_admission_capacity_streams).
      capacity: ((c) => (Number.isFinite(c) ? c : null))(admission.state().capacity),
      transport: app.transportKind,
      host: config.host,
      port,
      auth: auth.guard.auth.enabled ? 'on' : 'off',
      store: describeStore(config),
    },
    `earshot listening on ${config.host}:${port} (ws://${config.host}:${port}/v1/listen)`,
  );
  return {
    app,
    port,
    engine,
    model,
    scheduler,
    async stop() {
      clearInterval(sampler);
      stopWatchingKeys();
      const deadline = Date.now() + config.drainTimeoutMs;
      await app.drain(config.drainTimeoutMs);
      // The drain limit holds: inference still queued or running at the deadline is abandoned, not awaited.
      const idle = await Promise.race([
        scheduler.idle().then(() => true),
        new Promise<false>((r) => setTimeout(r, Math.max(0, deadline - Date.now()), false).unref()),
      ]);
      await app.close();
      // After the drain: the streams' last finals and records are written.
      await store.close?.();
      await limitStore?.close();
      await liveLabels.release();
      if (idle) await engine.release();
      else {
        abandoned = true;
        log.warn({ queued: scheduler.queued }, 'drain limit reached: abandoning queued inference');
      }
    },
  };
}

/** `earshot serve` once its command line is parsed and checked (server/cli.ts): run until SIGTERM/SIGINT. */
export async function serveCommand(config: ServerConfig): Promise<number> {
  const log = pino({ level: config.logLevel });
  const server = await startServer(config, log);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal, streams: server.app.sessions.size }, 'draining: finalizing live streams');
      // A batch already running on the engine cannot be interrupted: past the drain limit the process leaves anyway,
      // so an orchestrator's stop grace (longer than the limit) never has to kill it.
      setTimeout(() => {
        log.warn('drain limit passed with inference still running: exiting');
        process.exit(0);
      }, config.drainTimeoutMs + 2000).unref();
      void server.stop().then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  log.info('stopped');
  return 0;
}

import client from 'prom-client';
import type { AdmissionState } from './scheduling/admission.js';
import type { BatchInfo } from './scheduling/scheduler.js';

/** Label values the per-subject audio counter may have: Prometheus series cost memory per value. */
const SUBJECT_LABELS = 100;

/** Prometheus metrics on one registry per server (tests start several servers in one process). */
export class Metrics {
  readonly registry = new client.Registry();
  readonly batchSize: client.Histogram;
  readonly queueDelay: client.Histogram;
  readonly inference: client.Histogram<'stage'>;
  readonly lag: client.Histogram<'kind'>;
  readonly refused: client.Counter<'reason'>;
  readonly opened: client.Counter;
  readonly results: client.Counter<'kind'>;
  readonly audioReceived: client.Counter;
  readonly audioDecoded: client.Counter;
  readonly engineSeconds: client.Counter;
  readonly speakerLabelling: client.Counter;
  readonly earlyFinals: client.Counter<'outcome'>;
  /** Requests and upgrades refused by auth, origin or a limit, by refusal code (a fixed set). */
  readonly denied: client.Counter<'reason'>;
  private readonly subjectAudio: client.Counter<'subject'>;
  private readonly subjectLabels = new Set<string>();

  constructor(probe: {
    activeStreams(): number;
    coalesced(): number;
    queued(): number;
    /** What admission control estimates now (absent: no admission gauges). */
    admission?(): AdmissionState;
  }) {
    const r = this.registry;
    // Standard names (process_cpu_seconds_total, nodejs_heap_...), as dashboards and alerts for Node expect them.
    client.collectDefaultMetrics({ register: r });
    this.batchSize = new client.Histogram({
      name: 'earshot_batch_size',
      help: 'Windows per inference batch',
      buckets: [1, 2, 3, 4, 6, 8, 12, 16, 32],
      registers: [r],
    });
    this.queueDelay = new client.Histogram({
      name: 'earshot_queue_delay_seconds',
      help: 'Time the oldest job of a batch waited for inference',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
      registers: [r],
    });
    this.inference = new client.Histogram({
      name: 'earshot_inference_seconds',
      help: 'Inference latency by stage: encoder call, decoder step, whole batch',
      labelNames: ['stage'],
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [r],
    });
    this.lag = new client.Histogram({
      name: 'earshot_lag_seconds',
      help: 'Seconds of received audio not yet decoded when a result was sent',
      labelNames: ['kind'],
      buckets: [0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30],
      registers: [r],
    });
    this.refused = new client.Counter({
      name: 'earshot_streams_refused_total',
      help: 'Streams refused by admission control',
      labelNames: ['reason'],
      registers: [r],
    });
    this.opened = new client.Counter({
      name: 'earshot_streams_opened_total',
      help: 'Streams opened',
      registers: [r],
    });
    this.results = new client.Counter({
      name: 'earshot_results_total',
      help: 'Results messages sent',
      labelNames: ['kind'],
      registers: [r],
    });
    this.audioReceived = new client.Counter({
      name: 'earshot_audio_received_seconds_total',
      help: 'Seconds of audio received from clients',
      registers: [r],
    });
    this.audioDecoded = new client.Counter({
      name: 'earshot_audio_decoded_seconds_total',
      help: 'Seconds of audio run through Whisper (interims re-decode audio, so this exceeds speech time)',
      registers: [r],
    });
    this.engineSeconds = new client.Counter({
      name: 'earshot_engine_busy_seconds_total',
      help: 'Seconds the inference engine was busy',
      registers: [r],
    });
    this.speakerLabelling = new client.Counter({
      name: 'earshot_speaker_labelling_seconds_total',
      help: "Seconds the labelling thread spent computing live finals' speaker labels (diarize=true; waiting not counted)",
      registers: [r],
    });
    this.earlyFinals = new client.Counter({
      name: 'earshot_early_finals_total',
      help: 'Finals decoded during the endpointing wait, by outcome: used, interim (speech went on), withdrawn unrun, wasted',
      labelNames: ['outcome'],
      registers: [r],
    });
    this.denied = new client.Counter({
      name: 'earshot_requests_denied_total',
      help: 'Requests and stream upgrades refused by auth, origin checks or per-subject limits, by reason',
      labelNames: ['reason'],
      registers: [r],
    });
    this.subjectAudio = new client.Counter({
      name: 'earshot_subject_audio_seconds_total',
      help: `Seconds of audio received per subject (the first ${SUBJECT_LABELS} subjects seen, the rest as "(other)")`,
      labelNames: ['subject'],
      registers: [r],
    });
    new client.Gauge({
      name: 'earshot_streams_active',
      help: 'Live streams',
      registers: [r],
      collect() {
        this.set(probe.activeStreams());
      },
    });
    new client.Gauge({
      name: 'earshot_queue_depth',
      help: 'Jobs waiting for inference',
      registers: [r],
      collect() {
        this.set(probe.queued());
      },
    });
    new client.Gauge({
      name: 'earshot_interims_coalesced',
      help: 'Queued interims dropped unrun: a newer one of the same stream, or its final, came first, or it closed (cumulative)',
      registers: [r],
      collect() {
        this.set(probe.coalesced());
      },
    });
    // What admission decides by, so an operator sees why streams are refused (or how much room is left) before
    // they are: the engine share the admitted streams are expected to use against what it measures, and what a
    // decode is priced at.
    const admission = probe.admission;
    if (admission) {
      const gauges = (
        [
          [
            'earshot_admission_committed_ratio',
            "Engine time the admitted streams are expected to use, as a fraction (admission's estimate)",
            (s) => s.committed,
          ],
          [
            'earshot_engine_utilisation_ratio',
            'Engine busy fraction measured over the admission window',
            (s) => s.utilisation,
          ],
          [
            'earshot_admission_decode_seconds',
            'Engine seconds admission prices a decode at (the calibrated call cost scaled by measurement)',
            (s) => s.decodeSeconds,
          ],
          [
            'earshot_admission_capacity_streams',
            'Typical streams (interims on) the admission target holds at the current decode price',
            (s) => s.capacity,
          ],
        ] as const satisfies readonly (readonly [string, string, (s: AdmissionState) => number])[]
      ).map(([name, help, value], i) => ({
        value,
        // One estimate per scrape: the first gauge (collected first, in registration order) sets them all.
        gauge: new client.Gauge({
          name,
          help,
          registers: [r],
          ...(i === 0
            ? {
                collect() {
                  const state = admission();
                  for (const g of gauges) g.gauge.set(g.value(state));
                },
              }
            : {}),
        }),
      }));
    }
    const engine = this.engineSeconds;
    const decoded = this.audioDecoded;
    new client.Gauge({
      name: 'earshot_realtime_factor',
      help: 'Engine seconds per second of audio decoded (below 1 is faster than real time)',
      registers: [r],
      async collect() {
        const e = (await engine.get()).values[0]?.value ?? 0;
        const a = (await decoded.get()).values[0]?.value ?? 0;
        this.set(a > 0 ? e / a : 0);
      },
    });
  }

  batch(info: BatchInfo): void {
    this.batchSize.observe(info.size);
    this.queueDelay.observe(info.queueDelayMs / 1000);
    this.inference.observe({ stage: 'batch' }, info.serviceMs / 1000);
    this.audioDecoded.inc(info.audioSeconds);
    this.engineSeconds.inc(info.serviceMs / 1000);
  }

  stage(stage: 'encoder' | 'decoder_step', ms: number): void {
    this.inference.observe({ stage }, ms / 1000);
  }

  result(kind: 'final' | 'interim', lag: number): void {
    this.results.inc({ kind });
    this.lag.observe({ kind }, lag);
  }

  /** Audio seconds of a subject ('' is the anonymous one), with a bounded number of label values. */
  subjectAudioSeconds(subject: string, seconds: number): void {
    let label = subject === '' ? '(anonymous)' : subject;
    if (!this.subjectLabels.has(label)) {
      if (this.subjectLabels.size < SUBJECT_LABELS) this.subjectLabels.add(label);
      else label = '(other)';
    }
    this.subjectAudio.inc({ subject: label }, seconds);
  }

  async render(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}

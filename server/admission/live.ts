// The live /v1/listen streams: each open connection's session (made here), the audio it is charged for, and the
// bounds that stop it while it lives (the subject's audio budget, the max session length, a credential that no
// longer holds). A stopped stream delivers its finals, then closes with the error table's code for why.

import type { Logger } from 'pino';
import { pcmSeconds } from '../../audio/pcm.js';
import type { SpeakerEmbedder } from '../../models/speaker/embedding.js';
import { inProcessLabels, type LiveLabellers } from '../../models/speaker/live-labels.js';
import type { VadModel } from '../../models/vad/silero.js';
import type { Guard } from '../auth/guard.js';
import { closeCode, endsStreams, streamStop, type StreamStop } from '../errors.js';
import type { UsageLedger } from '../limits/usage.js';
import type { Metrics } from '../metrics.js';
import type { ModelInfo } from '../protocol.js';
import { streamCount, type AdmissionController } from '../scheduling/admission.js';
import type { InferenceScheduler } from '../scheduling/scheduler.js';
import type { TranscriptStore } from '../store/types.js';
import { openStream, type LiveStream } from '../stream/channels.js';
import type { SessionConfig } from '../stream/session.js';
import type { WsConnection } from '../transport/types.js';
import type { StreamContext } from './context.js';
import type { StreamAdmission } from './upgrade.js';

export interface LiveDeps {
  log: Logger;
  metrics: Metrics;
  store: TranscriptStore;
  admission: AdmissionController;
  streams: StreamAdmission;
  guard: Guard;
  usage: UsageLedger;
  sessionConfig: SessionConfig;
  model: ModelInfo;
  vad: VadModel;
  scheduler: InferenceScheduler;
  encodePrompt?: (text: string) => number[];
  speakerEmbedder?: SpeakerEmbedder;
  /** Where live labels are computed (the server: a worker thread); default: in-process with speakerEmbedder. */
  liveLabels?: LiveLabellers;
}

/** How often live streams' credentials are checked again (revoked keys, expired tokens). */
const CREDENTIAL_RECHECK_MS = 30_000;

export class LiveStreams {
  /** Live sessions by store key, until their decoding is done. */
  readonly sessions = new Map<string, LiveStream>();
  /**
   * Streams holding a --max-streams slot: open, or closed with their audio still decoding. A stream leaves once
   * its decoding is done, before its closing frame when it closes after its finals.
   */
  private readonly holding = new Map<LiveStream, StreamContext>();
  private recheckTimer?: NodeJS.Timeout;
  private stopRecheckOnReload?: () => void;

  private readonly labels?: LiveLabellers;

  constructor(private readonly d: LiveDeps) {
    this.labels = d.liveLabels ?? (d.speakerEmbedder && inProcessLabels(d.speakerEmbedder));
  }

  /** Streams counted against --max-streams (admission's probe): a multichannel stream counts once per channel. */
  get holdingSlots(): number {
    let n = 0;
    for (const ctx of this.holding.values()) n += streamCount(ctx.params);
    return n;
  }

  open(conn: WsConnection, ctx: StreamContext): void {
    const { log } = this.d;
    const session = this.newSession(conn, ctx);
    ctx.session = session;
    this.sessions.set(session.id, session);
    this.holding.set(session, ctx);
    this.d.metrics.opened.inc();
    this.d.usage.stream(ctx.principal.subject);
    this.armDeadline(ctx);
    this.d.streams.holdSession(ctx, (o, msg) => log.warn(o, msg));
    const stored = this.d.store.open({
      id: session.id,
      subject: ctx.principal.subject,
      created: ctx.resumed?.created ?? new Date().toISOString(),
      status: 'live',
      duration: ctx.resumed?.duration ?? 0,
      streamed: ctx.resumed?.streamed ?? 0,
      committed: ctx.resumed?.committed ?? 0,
      lastSeq: ctx.resumed?.lastSeq ?? 0,
      params: { ...ctx.params },
      speakers: ctx.resumed?.speakers,
    });
    stored.catch((err: unknown) => {
      log.error({ session: session.id, err: (err as Error).message }, 'transcript store: session not opened');
      conn.close(closeCode('STORE_UNAVAILABLE'), 'transcript store unavailable');
    });
    const p = ctx.params;
    log.info(
      {
        session: session.id,
        encoding: p.encoding,
        sample_rate: p.sampleRate,
        channels: p.channels,
        multichannel: p.multichannel,
        language: p.language ?? 'auto',
        task: p.task,
        interim_results: p.interimResults,
        endpointing: p.endpointing,
        ignored: p.ignored,
        resumed_from: p.resumeFrom,
      },
      'stream opened',
    );
    session.start();
    session.replay(ctx.replay);
  }

  message(ctx: StreamContext, data: string | ArrayBuffer, isBinary: boolean): void {
    if (!ctx.session) return;
    if (!isBinary) ctx.session.onText(data as string);
    else if (!ctx.stop) {
      const bytes = new Uint8Array(data as ArrayBuffer);
      this.charge(ctx, bytes.length);
      ctx.session.onAudio(bytes);
    }
  }

  close(ctx: StreamContext): void {
    clearTimeout(ctx.deadline);
    // The stream's slot is freed once its audio is decoded (the session says when), not here.
    if (!ctx.session) void ctx.lease.release();
    else this.recordStreamed(ctx);
    ctx.session?.onClientClose();
  }

  /** SIGTERM: every live stream finalizes and delivers its finals by `deadline` (epoch ms), then closes 1001. */
  async drain(deadline: number): Promise<void> {
    await Promise.all([...this.sessions.values()].map((s) => s.drain(deadline)));
  }

  private newSession(conn: WsConnection, ctx: StreamContext): LiveStream {
    const d = this.d;
    const session: LiveStream = openStream({
      id: ctx.id,
      params: ctx.params,
      config: d.sessionConfig,
      model: d.model,
      vad: d.vad,
      store: d.store,
      scheduler: d.scheduler,
      encodePrompt: d.encodePrompt,
      labels: this.labels,
      knownSpeakers: ctx.knownSpeakers,
      interimBackoff: () => d.admission.interimBackoff(),
      observe: {
        result: (kind, lag) => d.metrics.result(kind, lag),
        audio: (seconds) => d.metrics.audioReceived.inc(seconds),
        labelled: (seconds) => d.metrics.speakerLabelling.inc(seconds),
        earlyFinal: (outcome) => d.metrics.earlyFinals.inc({ outcome }),
      },
      send: (msg) => conn.send(JSON.stringify(msg), false),
      bufferedAmount: () => conn.bufferedAmount(),
      close: (code, reason) => conn.close(code, reason),
      log: d.log,
      onDecoded: (): Promise<void> => this.freeSlots(session, ctx),
      onEnd: (s) => {
        d.streams.releaseSession(ctx);
        if (this.sessions.get(s.id) === s) this.sessions.delete(s.id);
      },
      // A resumed session continues its seq numbering, and its clock from the committed time: the client
      // re-sends its audio from there (committed_until in the opening Metadata).
      timeOffset: ctx.resumed?.committed,
      // Past the stored lastSeq when the client saw later (empty) finals, whose seq is not written at once.
      seqStart: ctx.resumed && Math.max(ctx.resumed.lastSeq, ctx.params.resumeFrom ?? 0),
      speakers: ctx.resumed?.speakers,
      resumed: ctx.resumed !== undefined,
    });
    return session;
  }

  /**
   * Audio seconds of a chunk: charged to the subject's budget (a crossed limit stops the stream) and counted. Each
   * channel of a multichannel stream is transcribed, so each is charged.
   */
  private charge(ctx: StreamContext, bytes: number): void {
    const seconds = pcmSeconds(bytes, ctx.params) * streamCount(ctx.params);
    const subject = ctx.principal.subject;
    this.d.usage.audio(subject, seconds);
    this.d.metrics.subjectAudioSeconds(subject, seconds);
    void ctx.lease.addAudio(seconds).then((stop) => stop && this.stop(ctx, stop));
  }

  /** The stream's decoding is done: its --max-streams place and the subject's stream slot are free. */
  private async freeSlots(session: LiveStream, ctx: StreamContext): Promise<void> {
    if (!this.holding.delete(session)) return;
    this.d.admission.ended(session.params);
    await ctx.lease.release();
  }

  /** The connection's length, its earlier ones included: a resume continues the max session duration from it. */
  private recordStreamed(ctx: StreamContext): void {
    const streamed = Math.round(ctx.lease.elapsedSeconds() * 1000) / 1000;
    this.d.store.update(ctx.id, { streamed }).catch((err: unknown) => {
      this.d.log.warn({ session: ctx.id, err: (err as Error).message }, 'session length not stored');
    });
  }

  /**
   * Credentials are re-checked while streams live: every CREDENTIAL_RECHECK_MS and when the API keys file is
   * reloaded (a change, SIGHUP). A revoked key or an expired token stops its streams like a limit does.
   */
  watchCredentials(): void {
    this.recheckTimer = setInterval(() => void this.recheckCredentials(), CREDENTIAL_RECHECK_MS);
    this.recheckTimer.unref();
    this.stopRecheckOnReload = this.d.guard.auth.keys?.onReload(() => void this.recheckCredentials());
  }

  stopWatching(): void {
    clearInterval(this.recheckTimer);
    this.stopRecheckOnReload?.();
  }

  /** Stops every live stream whose credential no longer holds: its finals so far, Metadata, then 1008 and why. */
  private async recheckCredentials(): Promise<void> {
    await Promise.all(
      [...this.holding.values()].map(async (ctx) => {
        if (ctx.stop || !ctx.recheck) return;
        const r = await ctx.recheck().catch(() => undefined);
        // A refused credential ends the stream; a JWKS that cannot be fetched says nothing about it (no close).
        if (!r) return;
        const code = r.code === 'INVALID_CREDENTIAL' ? 'CREDENTIAL_REVOKED' : r.code;
        if (endsStreams(code)) this.stop(ctx, streamStop(code, r.message));
      }),
    );
  }

  /** The max session duration: a timer that stops the stream once the lease says it is over. */
  private armDeadline(ctx: StreamContext): void {
    const ms = ctx.lease.msUntilDeadline();
    if (!Number.isFinite(ms)) return;
    ctx.deadline = setTimeout(() => {
      const stop = ctx.lease.checkDeadline();
      if (stop) this.stop(ctx, stop);
      else this.armDeadline(ctx);
    }, ms);
  }

  /** A limit crossed mid-stream: no more audio is taken, the finals so far are delivered, then the stop's code. */
  private stop(ctx: StreamContext, stop: StreamStop): void {
    if (ctx.stop || !ctx.session) return;
    ctx.stop = stop;
    this.d.guard.count(stop.reason.split(':')[0]);
    this.d.log.info({ session: ctx.id, reason: stop.reason }, 'stream stopped by a limit');
    ctx.session.stop(stop.code, stop.reason);
  }
}

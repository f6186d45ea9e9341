// A /v1/listen upgrade's way in: the guard (connection rate, Host, Origin, credential), the parameters, admission
// control, the session (resume, one live connection per session across replicas), and the subject's limits.
// What passes becomes the StreamContext of the connection; a refusal is the error table's answer.

import { randomUUID } from 'node:crypto';
import type { Guard } from '../auth/guard.js';
import { canAccess, newSessionId, sessionKey } from '../auth/ownership.js';
import type { Principal } from '../auth/types.js';
import { ApiError, type Refusal } from '../errors.js';
import { errorResponse } from '../error-response.js';
import type { Metrics } from '../metrics.js';
import { parseListenParams, type ListenParams } from '../params.js';
import type { AdmissionController, Decision } from '../scheduling/admission.js';
import type { TranscriptStore } from '../store/types.js';
import type { LiveStream } from '../stream/channels.js';
import type { HttpRequest, UpgradeDecision } from '../transport/types.js';
import type { StreamContext } from './context.js';
import type { KnownSpeaker } from '../../models/speaker/cluster.js';
import { knownVoiceprints } from '../voiceprints/known.js';
import type { KnownSpeakersRequest } from '../voiceprints/names.js';

export interface UpgradeDeps {
  guard: Guard;
  admission: AdmissionController;
  metrics: Metrics;
  store: TranscriptStore;
  endpointingMs: number;
  /** The model's name when it is English-only (task=translate is refused before the upgrade). */
  englishOnly?: string;
  /** The speaker embedder's model id (voiceprints are checked against it); absent: no speaker embedder. */
  speakerModelId?: string;
  /** The live session under a store key (a reconnect waits for its previous connection). */
  live(key: string): LiveStream | undefined;
}

/** A shared store's session lease lives this long without renewal (a holder seen dead is taken over at once). */
const SESSION_LEASE_MS = 15_000;
/** How long a reconnecting client's upgrade waits for its previous connection to finish flushing. */
const RESUME_WAIT_MS = 10_000;

export class StreamAdmission {
  private draining = false;
  /** This process among the replicas sharing a store: the prefix of the session leases it holds. */
  private readonly replica = randomUUID().slice(0, 8);

  constructor(private readonly d: UpgradeDeps) {}

  /** From now on every stream and file job is refused (SIGTERM). */
  drain(): void {
    this.draining = true;
  }

  /**
   * Capacity check: draining, then admission control (the stream cap, queued finals, the load priced by each
   * stream's parameters). With a joining stream's parameters it is counted; without (/readyz) it is only asked.
   */
  admit(params?: ListenParams): Decision {
    if (this.draining) return { ok: false, reason: 'server is draining', retryAfterSeconds: 5 };
    return params ? this.d.admission.admit(params) : this.d.admission.decide();
  }

  /** Not ready for a new stream while the store could not keep its finals (Redis unreachable). */
  storeDown(): ApiError | undefined {
    if (this.d.store.available?.() !== false) return undefined;
    const why = 'transcript store unavailable (Redis unreachable): new streams are refused until it returns';
    return new ApiError('STORE_UNAVAILABLE', why, { retryAfterSeconds: 5 });
  }

  async upgrade(req: HttpRequest): Promise<UpgradeDecision<StreamContext>> {
    const requestId = randomUUID();
    // Refusals before the upgrade: the error table's JSON body and dg-error, plus Deepgram's dg-request-id.
    const refuse = (err: unknown) => ({
      accept: false as const,
      response: errorResponse(err, { 'dg-request-id': requestId }),
    });
    const who = await this.d.guard.upgrade(req, { 'dg-request-id': requestId });
    if (!who.ok) return { accept: false as const, response: who.response };
    let params: ListenParams;
    try {
      params = parseListenParams(req.query, {
        endpointingMs: this.d.endpointingMs,
        englishOnly: this.d.englishOnly,
      });
    } catch (err) {
      return refuse(err);
    }
    // known_speakers: the subject's voiceprints, refused (unknown names, another speaker model) before admission.
    let known: KnownSpeaker[] | undefined;
    try {
      known = params.knownSpeakers && (await this.knownSpeakers(who.principal, params.knownSpeakers));
    } catch (err) {
      return refuse(err);
    }
    const admission = this.admit(params);
    if (!admission.ok) {
      this.d.metrics.refused.inc({ reason: admission.reason.split(/[:(]/)[0].trim() });
      return refuse(
        new ApiError('OVERLOADED', admission.reason, { retryAfterSeconds: admission.retryAfterSeconds }),
      );
    }
    // Admitted: a later refusal (or an upgrade that never opens) gives the place back at once.
    const withdraw = () => this.d.admission.withdraw(params);
    const decision = await this.admitted(req, requestId, who, params, known).catch((err: unknown) => {
      withdraw();
      throw err;
    });
    if (!decision.accept || req.signal.aborted) withdraw();
    else req.signal.addEventListener('abort', withdraw, { once: true });
    return decision;
  }

  /** The upgrade's checks after admission control: the session (resume, claim) and the subject's limits. */
  private async admitted(
    req: HttpRequest,
    requestId: string,
    who: { principal: Principal; protocol?: string; recheck?: () => Promise<Refusal | undefined> },
    params: ListenParams,
    knownSpeakers: KnownSpeaker[] | undefined,
  ): Promise<UpgradeDecision<StreamContext>> {
    const refuse = (err: unknown) => ({
      accept: false as const,
      response: errorResponse(err, { 'dg-request-id': requestId }),
    });
    const { principal } = who;
    // Client-chosen ids live in the subject's own namespace; the server picks 128 random bits.
    const key = sessionKey(principal.subject, params.session ?? newSessionId());
    if (params.session && !(await this.previousConnectionDone(key))) {
      const message = `session ${params.session} is still streaming on another connection`;
      return refuse(new ApiError('SESSION_LIVE', message, { dgError: `session: ${message}` }));
    }
    if (this.draining)
      return refuse(
        new ApiError(
          'SHUTTING_DOWN',
          'server is draining: reconnect (a sticky balancer sends you to another replica)',
        ),
      );
    const storeDown = this.storeDown();
    if (storeDown) return refuse(storeDown);
    const found = params.session ? await this.d.store.get(key) : undefined;
    // Another subject's session is not found, whatever its id (never confirm that it exists).
    const resumed = found && canAccess(principal, found) ? found : undefined;
    if ((params.resumeFrom !== undefined || found) && !resumed) {
      const message = `no session ${params.session} to resume`;
      return refuse(new ApiError('SESSION_NOT_FOUND', message, { dgError: `session: ${message}` }));
    }
    // A multichannel session's channels commit apart: one committed time cannot say where to re-send from.
    if (resumed && (params.multichannel || resumed.params.multichannel)) {
      const message = params.multichannel
        ? 'a multichannel stream cannot resume a session: start a new one'
        : `session ${params.session} is multichannel: it cannot be resumed`;
      return refuse(new ApiError('INVALID_QUERY_PARAMETER', message, { dgError: `session: ${message}` }));
    }
    const replay =
      resumed && params.resumeFrom !== undefined ? await this.d.store.finals(key, params.resumeFrom) : [];
    // The subject's stream slot, then the session's claim: the lease is released when the stream's decoding is
    // done, if the claim fails, or if the upgrade never opens. A resume continues the session's length.
    const lease = await this.d.guard.limiter.openStream(principal.subject, resumed?.streamed ?? 0);
    if (!('release' in lease)) {
      return {
        accept: false as const,
        response: this.d.guard.deny(lease, { 'dg-request-id': requestId }).response,
      };
    }
    const holder = `${this.replica}/${requestId}`;
    const claimed = await this.claimSession(key, holder);
    if (claimed) {
      void lease.release();
      return refuse(claimed);
    }
    if (req.signal.aborted) void lease.release();
    else req.signal.addEventListener('abort', () => void lease.release(), { once: true });
    const context: StreamContext = {
      id: key,
      principal,
      lease,
      recheck: who.recheck,
      params,
      resumed,
      replay,
      holder,
      knownSpeakers,
    };
    return { accept: true as const, protocol: who.protocol, context };
  }

  private knownSpeakers(principal: Principal, request: KnownSpeakersRequest): Promise<KnownSpeaker[]> {
    if (this.d.speakerModelId === undefined) {
      const why = 'speaker diarization is not available on this server';
      throw new ApiError('INVALID_QUERY_PARAMETER', why, { dgError: `known_speakers: ${why}` });
    }
    return knownVoiceprints(this.d.store.voiceprints, principal.subject, request, this.d.speakerModelId);
  }

  /**
   * A client that dropped and reconnected at once finds its previous connection still flushing (decoding what it
   * received into the store): wait for that, bounded, so the resume sees every final. A live one answers at once.
   */
  private async previousConnectionDone(id: string): Promise<boolean> {
    const previous = this.d.live(id);
    if (!previous) return true;
    if (!previous.flushing) return false;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      previous.whenDone(),
      new Promise((r) => (timer = setTimeout(r, RESUME_WAIT_MS))),
    ]).finally(() => clearTimeout(timer));
    return !this.d.live(id);
  }

  /** One live connection per session across replicas (stores shared by replicas): the refusal, or none. */
  private async claimSession(key: string, holder: string): Promise<ApiError | undefined> {
    const ok = await this.d.store.lease?.(key, holder, SESSION_LEASE_MS).catch(() => 'down' as const);
    if (ok === 'down')
      return this.storeDown() ?? new ApiError('STORE_UNAVAILABLE', 'transcript store unavailable');
    if (ok !== false) return undefined;
    const message = `session ${key} is streaming on another replica`;
    return new ApiError('SESSION_LIVE', message, { dgError: `session: ${message}` });
  }

  /** Keeps the session's lease while it lives (decoding after the client left included), then frees it. */
  holdSession(ctx: StreamContext, warn: (o: object, msg: string) => void): void {
    const { store } = this.d;
    if (!store.lease) return;
    ctx.renewal = setInterval(() => {
      void store.lease!(ctx.id, ctx.holder, SESSION_LEASE_MS).then(
        (ok) => ok || warn({ session: ctx.id }, 'session lease taken by another replica'),
        () => undefined, // Redis away: the lease outlives a short outage; a longer one ends the stream anyway
      );
    }, SESSION_LEASE_MS / 3);
    ctx.renewal.unref();
  }

  releaseSession(ctx: StreamContext): void {
    clearInterval(ctx.renewal);
    void this.d.store.release?.(ctx.id, ctx.holder);
  }
}

import { type KnownSpeaker, OnlineClusterer, type OnlineClusterState } from '../../models/speaker/cluster.js';
import type { LiveLabellers, LiveLabels } from '../../models/speaker/live-labels.js';
import type { DgWord } from '../protocol.js';
import { LiveSpeakerNames } from './speaker-names.js';

const r3 = (x: number) => Math.round(x * 1000) / 1000;

/**
 * Live speaker labels of one session (diarize=true): each final's words get `speaker` (0-based, stable for the
 * session and across resume through `state`) and `speaker_confidence`; a turn change inside a final splits them.
 */
export class SpeakerLabeler {
  private readonly live: LiveLabels;
  private readonly naming?: LiveSpeakerNames;
  /** Wall time spent labelling, ms, and finals labelled (for the log line at the end). */
  readonly cost = { ms: 0, finals: 0 };

  constructor(
    labellers: LiveLabellers,
    maxSpeakers: number | undefined,
    state?: OnlineClusterState,
    /** Seconds each final's labels took (the metric). */
    private readonly onCost?: (seconds: number) => void,
    /** known_speakers: voiceprints whose names matching speakers take. */
    known?: readonly KnownSpeaker[],
  ) {
    this.live = labellers.open({ maxSpeakers }, state);
    if (known?.length) this.naming = new LiveSpeakerNames(known);
  }

  /** Plain JSON for the session record (undefined until a fresh session's first labels). */
  get state(): OnlineClusterState | undefined {
    return this.live.state;
  }

  /** The session ended: its clustering is let go. */
  close(): void {
    this.live.close();
  }

  /** `audio` (16 kHz) starts at session time `start` and covers the words. */
  async label(audio: Float32Array, start: number, words: readonly DgWord[]): Promise<DgWord[]> {
    if (words.length === 0 || audio.length === 0) return [...words];
    const t0 = performance.now();
    const r = await this.live.labelFinal(audio, start, words);
    const ms = performance.now() - t0;
    this.cost.ms += ms;
    this.onCost?.(ms / 1000);
    this.cost.finals++;
    const state = this.live.state;
    const names = state && this.naming?.names(state);
    return words.map((w, i) => {
      const name = names?.get(r.words[i].speaker);
      return {
        ...w,
        speaker: r.words[i].speaker,
        speaker_confidence: r3(r.words[i].confidence),
        ...(name === undefined ? {} : { speaker_name: name }),
      };
    });
  }

  /** The log line at the end of a stream: what labelling cost. */
  logCost(session: string, log: { info(o: object, msg?: string): void }): void {
    const { ms, finals } = this.cost;
    if (!finals) return;
    log.info(
      { session, finals, labelMs: Math.round(ms), perFinalMs: r3(ms / finals) },
      'speaker labelling cost',
    );
  }
}

/** diarize=true with an embedder; a stored state that does not load starts the labels afresh. */
export function speakerLabeler(d: {
  id: string;
  params: { diarize: boolean; maxSpeakers?: number };
  labels?: LiveLabellers;
  /** The stored clustering (resume). */
  speakers?: unknown;
  knownSpeakers?: readonly KnownSpeaker[];
  observe?: { labelled?(seconds: number): void };
  log: { warn(o: object, msg?: string): void };
}): SpeakerLabeler | null {
  const { params, labels, speakers, observe } = d;
  if (!params.diarize || !labels) return null;
  const onCost = observe?.labelled?.bind(observe);
  let state: OnlineClusterState | undefined;
  if (speakers !== undefined) {
    try {
      // Checked here: the labelling thread could only refuse it later, final by final.
      new OnlineClusterer({ threshold: 0 }, speakers as OnlineClusterState);
      state = speakers as OnlineClusterState;
    } catch (err) {
      d.log.warn({ session: d.id, err: (err as Error).message }, 'speaker state not restored');
    }
  }
  return new SpeakerLabeler(labels, params.maxSpeakers, state, onCost, d.knownSpeakers);
}

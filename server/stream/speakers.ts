import { type KnownSpeaker, OnlineClusterer, type OnlineClusterState } from '../../models/speaker/cluster.js';
import type { LiveLabellers, LiveLabels } from '../../models/speaker/live-labels.js';
import type { LabeledFinal } from '../../models/speaker/live.js';
import { turnAt } from '../../models/speaker/turns.js';
import type { TimeSpan } from '../../audio/span.js';
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
  /** Time spent computing labels (not waiting for the labelling thread), ms, and finals labelled (the log line). */
  readonly cost = { ms: 0, finals: 0 };

  constructor(
    labellers: LiveLabellers,
    maxSpeakers: number | undefined,
    state?: OnlineClusterState,
    /** Seconds each final's labels took to compute (the metric). */
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

  /**
   * The stream's audio from sample `at` on (16 kHz, the session's AudioRing numbering), as it arrives: the labeller
   * analyses what it can ahead of the finals, so that a final's labels are ready sooner after its endpoint.
   */
  hear(samples: Float32Array, at: number): void {
    this.live.hear(samples, at);
  }

  /**
   * Starts labelling a final's audio (16 kHz, from session time `start`, stream sample `at` as hear() counts)
   * now, while its words are still being decoded: the labels need only the audio, and finals are labelled in the
   * order this is called. `speech`: the final's speech regions (session time), where its chunks are cut.
   */
  begin(
    audio: Float32Array,
    start: number,
    at?: number,
    speech?: readonly TimeSpan[],
  ): Promise<LabeledFinal> {
    return this.live.labelFinal(audio, start, [], at, speech).then((r) => {
      // Finals are labelled one after the other: what the work total grew by since the last is this one's.
      const ms = this.live.workMs - this.cost.ms;
      this.cost.ms += ms;
      this.onCost?.(ms / 1000);
      this.cost.finals++;
      return r;
    });
  }

  /** The words of a final, each with the speaker of the turn it falls in (begin() gave the turns). */
  label(labels: LabeledFinal, words: readonly DgWord[]): DgWord[] {
    const state = this.live.state;
    const names = state && this.naming?.names(state);
    return words.map((w) => {
      const t = turnAt(labels.turns, w.start, w.end)!;
      const name = names?.get(t.speaker);
      return {
        ...w,
        speaker: t.speaker,
        speaker_confidence: r3(t.confidence),
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

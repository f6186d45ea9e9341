/**
 * Names for a live session's speakers (known_speakers): after each final, the session's speakers (their running
 * sums of chunk embeddings, the diarizer's resume state) are matched against the voiceprints by cluster.ts
 * nameClusters: each name goes to at most one speaker, only at the embedder's same-speaker similarity (the clustering's threshold), so a voice
 * that is not listed never takes a listed name. Recomputed every final, as the sums grow.
 */
import { type KnownSpeaker, type OnlineClusterState, nameClusters } from '../../models/speaker/cluster.js';

export class LiveSpeakerNames {
  constructor(private readonly known: readonly KnownSpeaker[]) {}

  /** Speaker number to name, for the speakers that match a voiceprint. */
  names(state: OnlineClusterState): Map<number, string> {
    const out = new Map<number, string>();
    if (this.known.length === 0 || state.speakers.length === 0) return out;
    // nameClusters compares by cosine, so the sums serve as centroids as they are.
    const sums = state.speakers.map((s) => Float32Array.from(s.sum));
    nameClusters(sums, this.known, state.threshold).forEach((name, i) => {
      if (name !== undefined) out.set(state.speakers[i].id, name);
    });
    return out;
  }
}

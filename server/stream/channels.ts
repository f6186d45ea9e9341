import { PcmSplitter } from '../../audio/pcm.js';
import type { ListenParams } from '../params.js';
import type { RecordPatch, StoredFinal, TranscriptStore } from '../store/types.js';
import { parseControl } from './control.js';
import type { SessionDeps } from './deps.js';
import { StreamSession } from './session.js';

/** A live /v1/listen stream as the server drives it: one StreamSession, or a multichannel stream of them. */
export interface LiveStream {
  readonly id: string;
  /** What the client asked for (admission prices the stream by it). */
  readonly params: ListenParams;
  readonly receivedSeconds: number;
  /** The socket is gone or closing, and the stream is only finishing its decoding. */
  readonly flushing: boolean;
  start(): void;
  replay(finals: readonly StoredFinal[]): void;
  onAudio(bytes: Uint8Array): void;
  onText(text: string): void;
  onClientClose(): void;
  stop(code: number, reason: string): void;
  drain(deadline: number): Promise<void>;
  whenDone(): Promise<void>;
}

/** The stream for a connection's parameters: multichannel=true fans out to one session per channel. */
export function openStream(d: SessionDeps): LiveStream {
  return d.params.multichannel ? new MultichannelStream(d) : new StreamSession(d);
}

type Metadata = { type: 'Metadata'; duration: number; last_seq: number; committed_until: number };

/**
 * A multichannel stream (multichannel=true, channels=N): one socket whose interleaved PCM is split into N channel
 * sessions, each the whole live pipeline (its own VAD, utterances, finals) with its decodes in the shared
 * scheduler. Their Results carry channel_index [i, N]; their finals go to the stream's one store record (tagged
 * with the channel, one seq counter). The socket gets one opening and one closing Metadata, and control messages
 * reach every channel. Ending with the finals (CloseStream, a limit, shutdown) waits for every channel's finals;
 * one channel ending so (a backlog bound) ends the others too; a channel failing closes the socket at once, and the
 * others decode what they received into the store.
 */
class MultichannelStream implements LiveStream {
  readonly id: string;
  readonly params: ListenParams;
  private readonly channels: StreamSession[];
  private readonly splitter: PcmSplitter;
  /** Each channel's last Metadata (the opening one, then its closing one), and its close after a closing one. */
  private readonly metadata: (Metadata | undefined)[];
  private readonly closingSent: boolean[];
  private readonly ended: ({ code: number; reason: string } | undefined)[];
  private started = false;
  private socketClosed = false;
  private decodedCount = 0;
  private endedCount = 0;

  constructor(private readonly d: SessionDeps) {
    this.id = d.id;
    this.params = d.params;
    const count = d.params.channels;
    this.splitter = new PcmSplitter(d.params.encoding, count);
    this.metadata = Array.from({ length: count }, () => undefined);
    this.closingSent = Array.from({ length: count }, () => false);
    this.ended = Array.from({ length: count }, () => undefined);
    let seq = d.seqStart ?? 0;
    const record = new ChannelRecord(d.store, count);
    this.channels = Array.from(
      { length: count },
      (_, index) =>
        new StreamSession({
          ...d,
          params: { ...d.params, channels: 1, multichannel: false },
          channel: { index, count },
          nextSeq: () => ++seq,
          store: record.channel(index),
          send: (msg) => this.send(index, msg as { type?: string }),
          close: (code, reason) => this.closed(index, code, reason),
          onDecoded: () => this.decoded(),
          onEnd: () => this.channelEnded(),
        }),
    );
  }

  get receivedSeconds(): number {
    return Math.max(...this.channels.map((c) => c.receivedSeconds));
  }

  get flushing(): boolean {
    return this.channels.every((c) => c.flushing);
  }

  start(): void {
    for (const c of this.channels) c.start();
    this.started = true;
    this.d.send(this.merged());
  }

  replay(finals: readonly StoredFinal[]): void {
    this.channels.forEach((c, i) => c.replay(finals.filter((f) => (f.channel ?? 0) === i)));
  }

  onAudio(bytes: Uint8Array): void {
    // Deepgram's legacy end-of-stream signal (an empty frame) reaches every channel as it is.
    if (bytes.length === 0) return this.channels.forEach((c) => c.onAudio(bytes));
    const parts = this.splitter.push(bytes);
    // Not one whole frame yet: an empty part would read as the end-of-stream signal.
    if (parts[0].length === 0) return;
    // Audio while ending is refused (and counted) by the first channel alone, so the client is told once.
    if (this.channels[0].flushing) return this.channels[0].onAudio(parts[0]);
    this.channels.forEach((c, i) => c.onAudio(parts[i]));
  }

  onText(text: string): void {
    // An invalid message gets its Error once (from the first channel); a control message reaches them all.
    const [first, ...rest] = this.channels;
    first.onText(text);
    if ('type' in parseControl(text)) for (const c of rest) c.onText(text);
  }

  onClientClose(): void {
    for (const c of this.channels) c.onClientClose();
  }

  stop(code: number, reason: string): void {
    for (const c of this.channels) c.stop(code, reason);
  }

  async drain(deadline: number): Promise<void> {
    await Promise.all(this.channels.map((c) => c.drain(deadline)));
  }

  async whenDone(): Promise<void> {
    await Promise.all(this.channels.map((c) => c.whenDone()));
  }

  /** A channel's message: its Metadata is the stream's to send (merged); the rest goes out as it is. */
  private send(index: number, msg: { type?: string }): 'ok' | 'backpressure' | 'dropped' {
    if (msg.type !== 'Metadata') return this.d.send(msg);
    this.metadata[index] = msg as Metadata;
    if (this.started) this.closingSent[index] = true;
    return 'ok';
  }

  /** The stream's Metadata from its channels': the audio of the longest, the last seq, the least committed. */
  private merged(): object {
    const all = this.metadata.filter((m) => m !== undefined);
    return {
      ...all[0],
      channels: this.channels.length,
      duration: Math.max(...all.map((m) => m.duration)),
      last_seq: Math.max(...all.map((m) => m.last_seq)),
      committed_until: Math.min(...all.map((m) => m.committed_until)),
    };
  }

  /**
   * A channel's socket close. After its closing Metadata it ended with its finals: the socket closes (with one
   * Metadata) once every channel has, and a channel still live is stopped the same way. Without one it failed:
   * the socket closes now, and the other channels only finish decoding into the store.
   */
  private closed(index: number, code: number, reason: string): void {
    if (this.socketClosed) return;
    if (!this.closingSent[index]) return this.fail(code, reason);
    this.ended[index] = { code, reason };
    this.channels.forEach((c, i) => {
      if (!this.ended[i] && !c.flushing) c.stop(code, reason);
    });
    if (this.ended.some((e) => e === undefined)) return;
    const close = this.ended.find((e) => e!.code !== 1000) ?? this.ended[0]!;
    this.socketClosed = true;
    this.d.send(this.merged());
    this.d.close(close.code, close.reason);
  }

  private fail(code: number, reason: string): void {
    this.socketClosed = true;
    this.d.close(code, reason);
    for (const c of this.channels) c.onClientClose();
  }

  /** Every channel's decoding is done: the stream's slots are free (the last channel waits for it). */
  private decoded(): Promise<void> | void {
    if (++this.decodedCount === this.channels.length) return this.d.onDecoded?.();
  }

  private channelEnded(): void {
    if (++this.endedCount === this.channels.length) this.d.onEnd?.(this);
  }
}

/**
 * One store record for a multichannel stream's channels: finals are appended tagged with their channel; the
 * record's committed time is the least of the channels' (every channel is final before it), its duration and last
 * seq the most. Speaker state is not kept (a multichannel stream is not resumed).
 */
class ChannelRecord {
  private readonly committed: number[];
  private lastSeq = 0;
  private duration = 0;

  constructor(
    private readonly store: TranscriptStore,
    count: number,
  ) {
    this.committed = new Array<number>(count).fill(0);
  }

  channel(index: number): TranscriptStore {
    const s = this.store;
    return {
      open: (r) => s.open(r),
      append: (session, final) => s.append(session, { ...final, channel: index }),
      finals: (session, after) => s.finals(session, after),
      get: (session) => s.get(session),
      update: (session, patch) => this.update(session, index, patch),
      delete: (session) => s.delete(session),
      voiceprints: s.voiceprints,
    };
  }

  private update(session: string, index: number, patch: RecordPatch): Promise<void> {
    const out: RecordPatch = {};
    if (patch.status !== undefined) out.status = patch.status;
    if (patch.streamed !== undefined) out.streamed = patch.streamed;
    if (patch.committed !== undefined) {
      this.committed[index] = Math.max(this.committed[index], patch.committed);
      out.committed = Math.min(...this.committed);
    }
    if (patch.lastSeq !== undefined) out.lastSeq = this.lastSeq = Math.max(this.lastSeq, patch.lastSeq);
    if (patch.duration !== undefined) out.duration = this.duration = Math.max(this.duration, patch.duration);
    return Object.keys(out).length ? this.store.update(session, out) : Promise.resolve();
  }
}

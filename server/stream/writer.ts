import { closeCode } from '../errors.js';
import { mostSpoken } from '../../models/speaker/turns.js';
import type { ListenParams } from '../params.js';
import {
  errorMessage,
  metadataMessage,
  resultsMessage,
  speechStartedMessage,
  utteranceEndMessage,
  type DgWord,
  type EndReason,
  type ModelInfo,
  type ResultsMessage,
} from '../protocol.js';
import type { StoredFinal } from '../store/types.js';
import type { StreamState } from './state.js';
import { clampWords } from './words.js';

/** A Results with the speaker of most of its words when they are labelled (diarize=true); additive to Deepgram's. */
type LabelledResults = ResultsMessage & { speaker?: number; speaker_name?: string };

export interface WriterDeps {
  id: string;
  model: ModelInfo;
  params: ListenParams;
  /** The transport: 'dropped' when it would not queue the message. */
  send(message: object): 'ok' | 'backpressure' | 'dropped';
  bufferedAmount(): number;
  /** Above this the socket's buffer drops interims (finals never). */
  maxSendBufferBytes: number;
  /** Nothing is sent once closed; a client that does not read is closed here. */
  state: StreamState;
  /** A multichannel stream's channel: [index, count] in Results, SpeechStarted and UtteranceEnd. */
  channel?: [number, number];
}

/** Where a session stands, for the resume fields of Metadata. */
export interface ResumeFields {
  resumed: boolean;
  lastSeq: number;
  committedUntil: number;
}

export interface ResultsFields {
  start: number;
  end: number;
  isFinal: boolean;
  speechFinal: boolean;
  fromFinalize: boolean;
  words: readonly DgWord[];
  seq?: number;
  lag: number;
  endReason?: EndReason;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** Words fitted to the span a Results reports, as resultsMessage rounds its start and duration. */
export function fitToReport(words: readonly DgWord[], from: number, to: number): DgWord[] {
  const start = round3(from);
  return clampWords(words, start, start + round3(Math.max(0, to - from)));
}

/**
 * The Deepgram messages of one live stream, and its send-buffer policy: interims are dropped while the socket
 * buffers more than maxSendBufferBytes; a message the transport refuses past that means the client does not read,
 * and the stream closes 1008 (its finals are stored for a resume).
 */
export class StreamWriter {
  private readonly created = new Date();

  constructor(private readonly d: WriterDeps) {}

  /** The one Results builder of a live stream (finals, interims, replayed finals). */
  results(f: ResultsFields): LabelledResults {
    const msg: LabelledResults = resultsMessage({
      requestId: this.d.id,
      model: this.d.model,
      start: f.start,
      end: f.end,
      isFinal: f.isFinal,
      speechFinal: f.speechFinal,
      fromFinalize: f.fromFinalize,
      words: [...f.words],
      punctuated: this.d.params.punctuate || this.d.params.smartFormat,
      seq: f.seq,
      lag: f.lag,
      endReason: f.endReason,
      channel: this.d.channel,
    });
    const speaker = mostSpoken(f.words);
    if (speaker !== undefined) msg.speaker = speaker;
    const name = f.words.find((w) => w.speaker === speaker && w.speaker_name !== undefined)?.speaker_name;
    if (name !== undefined) msg.speaker_name = name;
    return msg;
  }

  /** Resume: the stored finals after the client's last seen seq, as they were sent. */
  replay(finals: readonly StoredFinal[]): void {
    for (const f of finals) {
      this.send(
        this.results({
          start: f.start,
          end: f.end,
          isFinal: true,
          speechFinal: f.speech_final,
          fromFinalize: f.from_finalize,
          words: f.words,
          seq: f.seq,
          lag: 0,
          endReason: f.end_reason,
        }),
      );
    }
  }

  /** Whether an interim may be sent now (false: the client is behind; a newer interim will come). */
  roomForInterims(): boolean {
    return this.d.bufferedAmount() <= this.d.maxSendBufferBytes;
  }

  metadata(duration: number, resume: ResumeFields): boolean {
    return this.send(
      metadataMessage({
        requestId: this.d.id,
        model: this.d.model,
        created: this.created,
        duration,
        channels: this.d.params.channels,
        resume: { session: this.d.id, ...resume },
      }),
    );
  }

  speechStarted(at: number): void {
    if (this.d.params.vadEvents) this.send(speechStartedMessage(at, this.d.channel));
  }

  utteranceEnd(lastWordEnd: number): void {
    this.send(utteranceEndMessage(lastWordEnd, this.d.channel));
  }

  error(code: string, description: string): void {
    this.send(errorMessage(code, description));
  }

  /** A final: the client was handed it unless the send failed (its seq is then where a resume starts). */
  final(msg: ResultsMessage, seq: number): void {
    if (this.send(msg)) this.d.state.handed(seq);
  }

  /**
   * Sends unless closed; true when the client was handed the message. A message the transport would not queue
   * (its buffer is far past where interims stop) means the client does not read.
   */
  send(msg: object): boolean {
    const { state } = this.d;
    if (state.closed) return false;
    const result = this.d.send(msg);
    if (result === 'ok') return true;
    const buffered = this.d.bufferedAmount();
    // 'dropped' with nothing buffered: the socket is gone and its close handler is on its way.
    if (buffered > this.d.maxSendBufferBytes) {
      const mib = (buffered / 2 ** 20).toFixed(1);
      state.fail(
        closeCode('CLIENT_NOT_READING'),
        state.resumeReason(`client is not reading (${mib} MiB unsent)`),
      );
    }
    return result === 'backpressure';
  }
}

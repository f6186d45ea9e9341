export type AudioDecodeErrorCode =
  | 'empty'
  | 'truncated'
  | 'not_audio'
  | 'bad_header'
  | 'unsupported'
  | 'ffmpeg_missing'
  | 'ffmpeg_failed'
  | 'odd_length'
  /** Longer than the caller's limit (known from the header, or met while decoding). */
  | 'too_long';

/**
 * Audio a user sent that cannot be decoded. The message is one line saying what is wrong and what to do;
 * `code` lets callers map it (HTTP 400 vs 415, Deepgram's DATA-0000 close) without parsing the text.
 */
export class AudioDecodeError extends Error {
  readonly code: AudioDecodeErrorCode;
  /** 'too_long': the audio's length when the header said it. */
  readonly seconds?: number;

  constructor(code: AudioDecodeErrorCode, message: string, options?: { cause?: unknown; seconds?: number }) {
    super(message, options);
    this.name = 'AudioDecodeError';
    this.code = code;
    this.seconds = options?.seconds;
  }
}

/** A stretch of audio, in seconds on some timeline (a recording's, a stream's, a window's). */
export interface TimeSpan {
  start: number;
  end: number;
}

export const seconds = (s: TimeSpan): number => s.end - s.start;

/** An invalid synthesis request (bad options or script); the message says what to change. */
export class SynthError extends Error {
  override name = 'SynthError';
}

/** A model directory that cannot be used. The message is one line: what is wrong and what to do. */
export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
  constructor(
    message: string,
    readonly path?: string,
  ) {
    super(message);
  }
}

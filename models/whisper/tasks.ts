/** What Whisper does with speech: write it down in its language, or translate it into English. */
export type Task = 'transcribe' | 'translate';

export const TASKS: readonly Task[] = ['transcribe', 'translate'];

/**
 * A task a request cannot have: not a task at all, or translate on a model without the <|translate|> token (an
 * English-only `.en` model), named when the caller knows its name.
 */
export class UnsupportedTaskError extends Error {
  override name = 'UnsupportedTaskError';
  constructor(
    readonly task: string,
    readonly model?: string,
  ) {
    super(
      TASKS.includes(task as Task)
        ? `${model ? `the model ${model}` : 'this model'} is English-only and cannot translate: use a multilingual model (tiny, base, small, large-v3, ...)`
        : `task must be transcribe or translate, got "${task}"`,
    );
  }
}

/** Whether a model can translate: multilingual vocabularies have <|translate|>, English-only ones do not. */
export function canTranslate(ids: { isMultilingual: boolean; translate?: number }): boolean {
  return ids.isMultilingual && ids.translate !== undefined;
}

/**
 * Checks a requested task (absent or empty: transcribe) against what the model can do; `englishOnly` is the
 * model's name when it cannot translate.
 */
export function checkTask(requested: string | undefined, englishOnly?: string): Task {
  if (requested === undefined || requested === '') return 'transcribe';
  if (!TASKS.includes(requested as Task)) throw new UnsupportedTaskError(requested);
  if (requested === 'translate' && englishOnly !== undefined) {
    throw new UnsupportedTaskError(requested, englishOnly);
  }
  return requested as Task;
}

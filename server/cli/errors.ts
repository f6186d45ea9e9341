import { CommanderError } from 'commander';
import { AudioDecodeError } from '../../audio/errors.js';
import { ModelLoadError } from '../../models/errors.js';
import { HubError } from '../../models/hub/client.js';
import { UnsupportedLanguageError } from '../../models/whisper/languages.js';
import { UnsupportedTaskError } from '../../models/whisper/tasks.js';
import { SynthError } from '../../models/synth/index.js';
import { TokenizerError } from '../../models/whisper/tokenizer.js';
import { commanderMessage, ConfigError } from '../config.js';
import { ListenError, TransportUnavailableError } from '../transport/types.js';
import { ServiceError, UsageError } from '../errors.js';

/** Errors whose message already says what to change in the command line, its files or its configuration. */
const USAGE: (abstract new (...args: never[]) => Error)[] = [
  UsageError,
  ConfigError,
  AudioDecodeError,
  SynthError,
  UnsupportedLanguageError,
  UnsupportedTaskError,
  ListenError,
  TransportUnavailableError,
];
/** Expected failures of the environment (a model that cannot be fetched or read): one line, exit 1. */
const EXPECTED: (abstract new (...args: never[]) => Error)[] = [
  ModelLoadError,
  HubError,
  TokenizerError,
  ServiceError,
];

function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' ').trim();
}

/**
 * One line on stderr and the exit code: 0 after --help or --version, 2 for what the user can fix in the input,
 * 1 for expected failures; anything else is a bug, reported with its stack.
 */
export function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // Commander has already printed help (or the version); help shown for a missing command is an error.
    if (err.exitCode === 0) return 0;
    if (err.code === 'commander.help') return 2;
    process.stderr.write(`earshot: ${commanderMessage(err)}\n`);
    return 2;
  }
  const e = err as Error;
  if (USAGE.some((c) => e instanceof c)) {
    process.stderr.write(`earshot: ${oneLine(e.message)}\n`);
    return 2;
  }
  if (EXPECTED.some((c) => e instanceof c)) {
    process.stderr.write(`earshot: ${oneLine(e.message)}\n`);
    return 1;
  }
  process.stderr.write(`earshot: ${e?.stack ?? String(err)}\n`);
  return 1;
}

// `earshot keys create NAME [--admin]`: a new API key, printed once, and the line for the api-keys file.

import { Command } from 'commander';
import { UsageError } from '../errors.js';
import { ApiKeyError, apiKeyLine, generateApiKey } from './api-keys.js';

export interface CreatedKey {
  key: string;
  /** `name sha256:<hex> [admin]`, for --api-keys-file. */
  line: string;
}

export function createKey(name: string, admin = false): CreatedKey {
  const key = generateApiKey();
  return { key, line: apiKeyLine(name, key, admin) };
}

export function formatCreatedKey(name: string, created: CreatedKey): string {
  return [
    `API key for ${name} (shown once; earshot keeps only its hash):`,
    '',
    `  ${created.key}`,
    '',
    'Add this line to the --api-keys-file (the server reloads it on change or SIGHUP):',
    '',
    `  ${created.line}`,
    '',
  ].join('\n');
}

/** The `keys` command for the CLI: `program.addCommand(keysCommand())`. */
export function keysCommand(write: (text: string) => void = (t) => process.stdout.write(t)): Command {
  const keys = new Command('keys').description('manage API keys');
  keys
    .command('create')
    .description('print a new random API key and the api-keys file line that accepts it')
    .argument('<name>', 'a name for the key (A-Z a-z 0-9 . _ @ -); the principal becomes key:NAME')
    .option('--admin', 'the key may see and delete every subject’s sessions', false)
    .action((name: string, opts: { admin: boolean }) => {
      let created: CreatedKey;
      try {
        created = createKey(name, opts.admin);
      } catch (err) {
        // A bad name is the command line's fault: one line and exit 2, not a stack.
        if (err instanceof ApiKeyError) throw new UsageError(err.message);
        throw err;
      }
      write(formatCreatedKey(name, created));
    });
  return keys;
}

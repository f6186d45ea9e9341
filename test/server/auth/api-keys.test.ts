import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  API_KEY_PREFIX,
  apiKeyLine,
  ApiKeyStore,
  generateApiKey,
  hashApiKey,
} from '../../../server/auth/api-keys.js';
import { Authenticator } from '../../../server/auth/authenticator.js';
import { createKey, formatCreatedKey, keysCommand } from '../../../server/auth/keys-command.js';
import { request } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'earshot-keys-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('ApiKeyStore', () => {
  test('a list of NAME:KEY, in clear or as sha256:, with an optional admin scope', () => {
    const hashed = `sha256:${hashApiKey('esk_two').toString('hex')}`;
    const s = ApiKeyStore.fromList(`one:esk_one, two:${hashed}:admin`);
    assert.deepEqual(s.verify('esk_one'), { name: 'one', admin: false });
    assert.deepEqual(s.verify('esk_two'), { name: 'two', admin: true });
    assert.equal(s.verify('esk_three'), undefined);
    assert.equal(s.verify(''), undefined);
  });

  test('bad lists are refused with the item, never the key', () => {
    assert.throws(() => ApiKeyStore.fromList('nokey'), /item 1/);
    assert.throws(() => ApiKeyStore.fromList('a:esk_x,a:esk_y'), /a appears twice/);
    assert.throws(() => ApiKeyStore.fromList('a:esk_x,b:esk_x'), /same key/);
    assert.throws(
      () => ApiKeyStore.fromList('bad name:esk_secret'),
      (e: Error) => !e.message.includes('esk_secret'),
    );
  });

  test('a key file: hashes, comments, scopes; a key in clear is refused without echoing it', () => {
    const file = join(dir, 'keys-format');
    writeFileSync(
      file,
      `# team keys\n${apiKeyLine('ci', 'esk_ci')}\n\n${apiKeyLine('ops', 'esk_ops', true)} # on call\n`,
    );
    const s = ApiKeyStore.fromOption(`@${file}`);
    assert.equal(s.size, 2);
    assert.deepEqual(s.verify('esk_ci'), { name: 'ci', admin: false });
    assert.deepEqual(s.verify('esk_ops'), { name: 'ops', admin: true });

    writeFileSync(file, 'ci esk_plaintext_key\n');
    assert.throws(
      () => ApiKeyStore.fromFile(file),
      (e: Error) =>
        /keys-format:1: expected "name sha256/.test(e.message) && !e.message.includes('esk_plaintext'),
    );
    writeFileSync(file, `${apiKeyLine('ci', 'esk_ci')} superuser\n`);
    assert.throws(() => ApiKeyStore.fromFile(file), /unknown scope superuser/);
    assert.throws(() => ApiKeyStore.fromFile(join(dir, 'missing')), /cannot read the api-keys file/);
  });

  test('reload(): a key removed from the file is refused; a broken file keeps the current keys', async () => {
    const file = join(dir, 'keys-reload');
    writeFileSync(file, `${apiKeyLine('ci', 'esk_ci')}\n${apiKeyLine('old', 'esk_old')}\n`);
    const auth = Authenticator.fromConfig({ apiKeysFile: file });
    const withKey = (k: string) => auth.authenticate(request({ headers: { authorization: `Token ${k}` } }));
    assert.ok((await withKey('esk_old')).ok);

    writeFileSync(file, `${apiKeyLine('ci', 'esk_ci')}\n`);
    assert.equal(auth.keys!.reload(), 1);
    const revoked = await withKey('esk_old');
    assert.ok(!revoked.ok && revoked.refusal.status === 401 && revoked.refusal.code === 'INVALID_CREDENTIAL');
    assert.ok((await withKey('esk_ci')).ok);

    writeFileSync(file, 'garbage\n');
    assert.throws(() => auth.keys!.reload(), /keys-reload:1/);
    assert.ok((await withKey('esk_ci')).ok, 'the previous keys still work');
  });

  test('watch(): SIGHUP reloads, and stop() stops it', () => {
    const file = join(dir, 'keys-watch');
    writeFileSync(file, `${apiKeyLine('a', 'esk_a')}\n`);
    const s = ApiKeyStore.fromFile(file);
    const counts: number[] = [];
    const stop = s.watch({ reloaded: (n) => counts.push(n), failed: (e) => assert.fail(e) }, 60_000);
    writeFileSync(file, `${apiKeyLine('a', 'esk_a')}\n${apiKeyLine('b', 'esk_b')}\n`);
    process.emit('SIGHUP', 'SIGHUP');
    assert.deepEqual(counts, [2]);
    assert.deepEqual(s.verify('esk_b'), { name: 'b', admin: false });
    stop();
    process.emit('SIGHUP', 'SIGHUP');
    assert.deepEqual(counts, [2]);
  });
});

describe('earshot keys create', () => {
  test('a random prefixed key of 32 bytes, and the file line that accepts it', () => {
    const { key, line } = createKey('ci');
    assert.ok(key.startsWith(API_KEY_PREFIX));
    assert.equal(Buffer.from(key.slice(API_KEY_PREFIX.length), 'base64url').length, 32);
    assert.notEqual(generateApiKey(), generateApiKey());
    assert.ok(!line.includes(key));
    const file = join(dir, 'keys-created');
    writeFileSync(file, `${line}\n${createKey('root', true).line}\n`);
    const s = ApiKeyStore.fromFile(file);
    assert.deepEqual(s.verify(key), { name: 'ci', admin: false });
    assert.match(formatCreatedKey('ci', { key, line }), new RegExp(`${key}[\\s\\S]*${line}`));
  });

  test('the commander command prints the key once and the line', async () => {
    let out = '';
    await keysCommand((t) => (out += t)).parseAsync(['create', 'ops', '--admin'], { from: 'user' });
    const key = /esk_[A-Za-z0-9_-]{43}/.exec(out)?.[0];
    assert.ok(key, out);
    assert.equal(out.split(key).length, 2, 'the key appears once');
    assert.match(out, /^ {2}ops sha256:[0-9a-f]{64} admin$/m);
    assert.throws(() => createKey('bad name'), /key name/);
  });
});

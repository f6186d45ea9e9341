import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canAccess, findOwnedSession, newSessionId, sessionKey } from '../../../server/auth/ownership.js';
import type { Principal } from '../../../server/auth/types.js';

const alice: Principal = { subject: 'alice', admin: false };
const bob: Principal = { subject: 'bob', admin: false };
const root: Principal = { subject: 'key:root', admin: true, keyName: 'root' };

test('server-chosen ids: 128 random bits in base64url, valid as ?session=', () => {
  const ids = new Set(Array.from({ length: 1000 }, newSessionId));
  assert.equal(ids.size, 1000);
  for (const id of ids) {
    assert.match(id, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(Buffer.from(id, 'base64url').length, 16);
  }
});

test('client-chosen ids are scoped to the subject; anonymous keeps bare ids', () => {
  assert.notEqual(sessionKey('alice', 'meeting-1'), sessionKey('bob', 'meeting-1'));
  assert.equal(sessionKey('alice', 'meeting-1'), sessionKey('alice', 'meeting-1'));
  assert.ok(!sessionKey('alice', 'meeting-1').includes('alice'));
  assert.equal(sessionKey('', 'meeting-1'), 'meeting-1');
});

test('canAccess: the owner and admins only', () => {
  const rec = { subject: 'alice' };
  assert.ok(canAccess(alice, rec));
  assert.ok(!canAccess(bob, rec));
  assert.ok(canAccess(root, rec));
});

test('findOwnedSession: another subject gets not-found, an admin finds it by store key', async () => {
  const store = new Map<string, { subject: string; id: string }>();
  const key = sessionKey('alice', 'm1');
  store.set(key, { subject: 'alice', id: key });
  const get = async (k: string) => store.get(k);
  assert.equal((await findOwnedSession(alice, 'm1', get))?.subject, 'alice');
  assert.equal(await findOwnedSession(bob, 'm1', get), undefined);
  assert.equal(await findOwnedSession(bob, key, get), undefined, 'the store key does not help a non-admin');
  assert.equal((await findOwnedSession(root, key, get))?.subject, 'alice');
  // A record under the principal's key but owned by someone else (a store bug) is still not served.
  store.set(sessionKey('bob', 'm2'), { subject: 'alice', id: 'x' });
  assert.equal(await findOwnedSession(bob, 'm2', get), undefined);
});

// Sessions belong to a subject: ids are scoped to it in the store, and another subject is told "not found".

import { createHash, randomBytes } from 'node:crypto';
import type { Principal } from './types.js';

/** A server-chosen session id: 128 random bits, base64url (22 characters, valid as ?session=). */
export function newSessionId(): string {
  return randomBytes(16).toString('base64url');
}

/** A short stable tag for a subject, so that store keys neither reveal nor collide on subject names. */
export function subjectTag(subject: string): string {
  return createHash('sha256').update(subject, 'utf8').digest('base64url').slice(0, 16);
}

/**
 * The store key of session `id` owned by `subject`: `<subject tag>-<id>`, so two subjects may both name a session
 * "meeting-1" without meeting. The key is what the stream reports as its session id (its opening Metadata), and it
 * is valid as ?session= (the tag is base64url), so a key of the subject's own maps to itself. The anonymous subject
 * ('' when auth is off) keeps bare ids.
 */
export function sessionKey(subject: string, id: string): string {
  if (subject === '') return id;
  const prefix = `${subjectTag(subject)}-`;
  return id.startsWith(prefix) ? id : prefix + id;
}

/** Whether principal may read or delete a record owned by record.subject. */
export function canAccess(principal: Principal, record: { subject: string }): boolean {
  return principal.admin || record.subject === principal.subject;
}

/**
 * The record for a session id as the principal names it, or undefined, which the route answers with 404 (never
 * 403: another subject's session ids must not be discoverable). An admin may also name a full store key.
 */
export async function findOwnedSession<R extends { subject: string }>(
  principal: Principal,
  id: string,
  get: (key: string) => Promise<R | undefined>,
): Promise<R | undefined> {
  const own = await get(sessionKey(principal.subject, id));
  if (own && canAccess(principal, own)) return own;
  if (!principal.admin) return undefined;
  return get(id);
}

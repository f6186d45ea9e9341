import type { Principal } from '../auth/types.js';
import type { UsageLedger } from '../limits/usage.js';
import { ApiError } from '../errors.js';
import { errorResponse } from '../error-response.js';
import type { HttpRequest, HttpResponse } from '../transport/types.js';

/**
 * GET /v1/usage: the caller's audio seconds, streams and files by UTC day. An admin gets every subject, or one with
 * ?subject=. The anonymous subject (auth off) is reported as "".
 */
export function usageHandler(req: HttpRequest, principal: Principal, ledger: UsageLedger): HttpResponse {
  if (req.method !== 'GET' && req.method !== 'HEAD')
    return errorResponse(new ApiError('METHOD', 'GET /v1/usage'));
  const asked = req.query.get('subject');
  if (!principal.admin) {
    return json({ subject: principal.subject, days: ledger.days(principal.subject) });
  }
  const subjects = asked !== null ? [asked] : ledger.subjects();
  return json({ subjects: subjects.map((subject) => ({ subject, days: ledger.days(subject) })) });
}

function json(body: unknown): HttpResponse {
  return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

// What authentication decides: who is asking, or why they are refused.

import type { HttpRequest } from '../transport/types.js';

/** The parts of a request that authentication reads. */
export type AuthRequest = Pick<HttpRequest, 'headers' | 'query' | 'remoteAddress'>;

export interface Principal {
  /** Owner of sessions: the JWT `sub`, `key:NAME` for an API key, '' for the anonymous principal (auth off). */
  subject: string;
  /** Sees and manages every subject's sessions. */
  admin: boolean;
  /** The API key's name (for logs and metrics; never the key). */
  keyName?: string;
}

export const ANONYMOUS: Principal = Object.freeze({ subject: '', admin: false });

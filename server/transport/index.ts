// Picks the transport: uWebSockets.js when its native binding loads, else (or on request) ws + node:http.

import { loadUwsBinding, UwsTransport } from './uws.js';
import { WsTransport } from './ws.js';
import {
  TransportUnavailableError,
  type Transport,
  type TransportLog,
  type TransportOptions,
} from './types.js';
import { defaultLog, errorMessage } from './base.js';

export * from './types.js';

export type TransportKind = 'uws' | 'ws' | 'auto';

/**
 * 'auto' resolves to 'uws', or to 'ws' with one warning when the binding cannot load; an explicit 'uws' with a
 * broken binding throws TransportUnavailableError. load is injectable for tests.
 */
export function resolveTransportKind(
  kind: TransportKind,
  log: TransportLog = defaultLog,
  load: () => unknown = loadUwsBinding,
): 'uws' | 'ws' {
  if (kind === 'ws') return 'ws';
  if (kind === 'uws') {
    load();
    return 'uws';
  }
  try {
    load();
    return 'uws';
  } catch (err) {
    const detail = err instanceof TransportUnavailableError ? err.detail : errorMessage(err);
    log.warn(`uWebSockets.js is unavailable (${detail}); using the slower ws transport`);
    return 'ws';
  }
}

export async function createTransport<C>(
  kind: TransportKind,
  opts: TransportOptions<C>,
  log: TransportLog = defaultLog,
): Promise<Transport> {
  return resolveTransportKind(kind, log) === 'uws' ? new UwsTransport(opts, log) : new WsTransport(opts, log);
}

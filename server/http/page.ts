// GET /: the captions page, one self-contained HTML file (microphone -> AudioWorklet -> /v1/listen).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { HttpResponse } from '../transport/types.js';

const INDEX_HTML = readFileSync(new URL('./static/index.html', import.meta.url));

/** 'sha256-...' sources for the page's inline blocks: only these exact scripts and styles may run. */
function inlineHashes(html: string, tag: 'script' | 'style'): string {
  const blocks = [...html.matchAll(new RegExp(`<${tag}[^>]*>([\\s\\S]*?)</${tag}>`, 'g'))];
  return blocks.map((m) => `'sha256-${createHash('sha256').update(m[1]).digest('base64')}'`).join(' ');
}

/**
 * A strict Content-Security-Policy: nothing loads from elsewhere, the page connects only to its own origin (the
 * WebSocket included), and only its own inline script (plus the AudioWorklet it builds as a blob) runs.
 */
const CSP = [
  "default-src 'none'",
  `script-src ${inlineHashes(INDEX_HTML.toString('utf8'), 'script')} blob:`,
  `style-src ${inlineHashes(INDEX_HTML.toString('utf8'), 'style')}`,
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export function pageResponse(): HttpResponse {
  return {
    status: 200,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    },
    body: INDEX_HTML,
  };
}

// GET /: the captions page, one self-contained HTML file (microphone -> AudioWorklet -> /v1/listen).
import { readFileSync } from 'node:fs';
import type { HttpResponse } from '../transport/types.js';

const INDEX_HTML = readFileSync(new URL('./static/index.html', import.meta.url));

export function pageResponse(): HttpResponse {
  return { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: INDEX_HTML };
}

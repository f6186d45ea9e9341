import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Metrics } from '../../server/metrics.js';

/** The names in the Prometheus exposition, one per metric family. */
function families(body: string): string[] {
  return [...body.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]);
}

test('/metrics names: process and Node metrics under their standard names, earshot_ for ours', async () => {
  const metrics = new Metrics({ activeStreams: () => 2, coalesced: () => 0, queued: () => 1 });
  const names = families((await metrics.render()).body);
  for (const standard of [
    'process_cpu_user_seconds_total',
    'process_cpu_seconds_total',
    'process_resident_memory_bytes',
    'nodejs_eventloop_lag_seconds',
  ]) {
    assert.ok(names.includes(standard), `${standard} in ${names.join(', ')}`);
  }
  for (const name of names) {
    assert.match(name, /^(earshot_|process_|nodejs_)/);
    assert.doesNotMatch(name, /process_process_|^earshot_(process|nodejs)_/, 'one prefix, not two');
  }
  assert.ok(names.includes('earshot_streams_active'));
});

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

test("/metrics: admission's estimate as gauges (committed share, utilisation, decode price, capacity)", async () => {
  const state = {
    active: 3,
    utilisation: 0.42,
    committed: 0.61,
    decodeSeconds: 0.235,
    capacity: 4,
    finalWaitMs: 0,
  };
  const metrics = new Metrics({
    activeStreams: () => 3,
    coalesced: () => 0,
    queued: () => 0,
    admission: () => state,
  });
  const value = async (name: string) => {
    const line = (await metrics.render()).body.split('\n').find((l) => l.startsWith(`${name} `));
    return Number(line?.split(' ')[1]);
  };
  assert.equal(await value('earshot_admission_committed_ratio'), 0.61);
  assert.equal(await value('earshot_engine_utilisation_ratio'), 0.42);
  assert.equal(await value('earshot_admission_decode_seconds'), 0.235);
  assert.equal(await value('earshot_admission_capacity_streams'), 4);
  state.committed = 0.8; // read at each scrape, not at start-up
  assert.equal(await value('earshot_admission_committed_ratio'), 0.8);
  const without = new Metrics({ activeStreams: () => 0, coalesced: () => 0, queued: () => 0 });
  assert.doesNotMatch((await without.render()).body, /earshot_admission_/);
});

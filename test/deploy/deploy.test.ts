// deploy/ checked with the real tools, no Docker: kustomize renders both overlays and every object validates against
// the Kubernetes schemas; nginx accepts its config; promtool accepts earshot's /metrics; and the ports, probe paths
// and environment names in every deployment file are ones server/config.ts knows.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { DEFAULTS, OPTIONS } from '../../server/options.js';
import { synthModel } from '../helpers/models.js';
import { startTestServer } from '../helpers/server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');

/** A tool from Debian's packages (or the image): absent means skip, loudly, with how to get it. */
function tool(name: string, pkg: string): string | false {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
  if (found) return found;
  const reason = `SKIPPED: ${name} is not installed (apt-get install ${pkg}; .ci/run installs it)`;
  console.warn(`\n*** ${reason} ***\n`);
  return false;
}

function render(overlay: string): Record<string, unknown>[] {
  const out = execFileSync('kubectl', ['kustomize', join(DEPLOY, 'k8s', 'overlays', overlay)], {
    encoding: 'utf8',
  });
  return parseAllDocuments(out).map((d) => d.toJS() as Record<string, unknown>);
}

/** The kubernetes-models class for an object's apiVersion and kind (core group: kubernetes-models/v1). */
async function modelFor(apiVersion: string, kind: string) {
  const mod = (await import(`kubernetes-models/${apiVersion}`)) as Record<
    string,
    new (o: unknown) => { validate(): void }
  >;
  const cls = mod[kind];
  assert.ok(cls, `no schema for ${apiVersion} ${kind}`);
  return cls;
}

const kubectl = tool('kubectl', 'kubectl (on the image; Debian kubernetes-client is older)');

describe('kubernetes manifests', { skip: !kubectl }, () => {
  for (const overlay of ['cpu', 'gpu']) {
    test(`${overlay} overlay renders and every object validates against its schema`, async () => {
      const objects = render(overlay);
      const kinds = objects.map((o) => o.kind).sort();
      for (const k of [
        'ConfigMap',
        'Deployment',
        'HorizontalPodAutoscaler',
        'Ingress',
        'PodDisruptionBudget',
      ]) {
        assert.ok(kinds.includes(k), `${overlay}: no ${k} in ${kinds.join(', ')}`);
      }
      for (const o of objects) {
        const Model = await modelFor(String(o.apiVersion), String(o.kind));
        assert.doesNotThrow(() => new Model(o).validate(), `${o.kind} ${JSON.stringify(o.metadata)}`);
      }
    });
  }

  test('a schema violation is caught (the validation is not a no-op)', async () => {
    const dep = render('cpu').find((o) => o.kind === 'Deployment')!;
    const broken = structuredClone(dep) as { spec: { replicas: unknown } };
    broken.spec.replicas = 'two';
    const Model = await modelFor('apps/v1', 'Deployment');
    assert.throws(() => new Model(broken).validate());
  });

  test('the pod drains within its grace period, probes the real routes, and the gpu overlay asks for a GPU', () => {
    const cpu = render('cpu');
    const config = cpu.find((o) => o.kind === 'ConfigMap')!.data as Record<string, string>;
    const dep = cpu.find((o) => o.kind === 'Deployment') as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    const pod = dep.spec.template.spec;
    const c = pod.containers[0];
    const preStop = Number(c.lifecycle.preStop.exec.command[1]);
    assert.ok(
      pod.terminationGracePeriodSeconds > preStop + Number(config.EARSHOT_DRAIN_TIMEOUT_MS) / 1000,
      'terminationGracePeriodSeconds must exceed preStop + drain limit',
    );
    assert.equal(c.readinessProbe.httpGet.path, '/readyz');
    assert.equal(c.livenessProbe.httpGet.path, '/healthz');
    assert.equal(c.ports[0].containerPort, Number(config.EARSHOT_PORT));
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(pod.securityContext.runAsNonRoot, true);
    const gpu = render('gpu');
    const gpuPod = (gpu.find((o) => o.kind === 'Deployment') as any).spec.template.spec; // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.equal(String(gpuPod.containers[0].resources.limits['nvidia.com/gpu']), '1');
    assert.equal(
      (gpu.find((o) => o.kind === 'ConfigMap')!.data as Record<string, string>).EARSHOT_DEVICE,
      'cuda',
    );
  });
});

const nginx = tool('nginx', 'nginx');

test('nginx accepts the sticky-session config', { skip: !nginx }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'earshot-nginx-'));
  // The compose service names resolve only inside compose: point them at loopback for the syntax check.
  const conf = readFileSync(join(DEPLOY, 'nginx', 'nginx.conf'), 'utf8').replace(/earshot-\d/g, '127.0.0.1');
  assert.match(conf, /hash \$earshot_affinity consistent/);
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const r = spawnSync(nginx as string, ['-t', '-p', dir, '-c', join(dir, 'nginx.conf')], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /test is successful/);
});

const promtool = tool('promtool', 'prometheus');

describe('/metrics', { skip: !promtool }, () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  before(async () => {
    server = await startTestServer({ model: await synthModel() });
  });
  after(() => server?.stop());

  test('promtool check metrics accepts the exposition', async () => {
    const body = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(body, /earshot_streams_active/);
    const r = spawnSync(promtool as string, ['check', 'metrics'], { input: body, encoding: 'utf8' });
    // Exit 1 is a parse error; 3 means lint findings. prom-client's default Node gauges are named
    // nodejs_active_*_total, which the linter flags; earshot's own metrics must lint clean.
    assert.notEqual(r.status, 1, `${r.stdout}${r.stderr}`);
    const findings = `${r.stdout}${r.stderr}`
      .split('\n')
      .filter((l) => l.trim() && !/nodejs_active_(handles|requests|resources)_total /.test(l));
    assert.deepEqual(findings, []);
  });

  test('every metric the Grafana dashboard queries is one the server exports', async () => {
    const body = await (await fetch(`${server.url}/metrics`)).text();
    const exported = new Set([...body.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    const dashboard = readFileSync(join(DEPLOY, 'grafana', 'dashboards', 'earshot.json'), 'utf8');
    const queried = new Set(
      [...dashboard.matchAll(/\b(earshot_[a-z_]+?)(?:_bucket|_sum|_count)?\b/g)].map((m) => m[1]),
    );
    assert.ok(queried.has('earshot_admission_committed_ratio'), [...queried].join(', '));
    assert.deepEqual(
      [...queried].filter((name) => !exported.has(name)),
      [],
    );
  });

  test('the probe paths the manifests use answer', async () => {
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
  });
});

test('every EARSHOT_* name and port in deploy/ and the Dockerfiles is one the server knows', () => {
  const known = new Set<string>(Object.values(OPTIONS).map((o) => o.env));
  // Read outside the options table: the model cache (models/hub) and the file store's default home.
  for (const extra of ['EARSHOT_CACHE_DIR', 'EARSHOT_DATA_DIR']) known.add(extra);
  const files = [
    join(ROOT, 'Dockerfile'),
    join(ROOT, 'Dockerfile.gpu'),
    join(ROOT, 'docker-compose.yml'),
    join(DEPLOY, 'docker-compose.yml'),
    ...readdirSync(join(DEPLOY, 'k8s', 'base')).map((f) => join(DEPLOY, 'k8s', 'base', f)),
    join(DEPLOY, 'k8s', 'overlays', 'gpu', 'kustomization.yaml'),
  ];
  const unknown: string[] = [];
  for (const f of files) {
    for (const m of readFileSync(f, 'utf8').matchAll(/EARSHOT_[A-Z0-9_]+/g)) {
      if (!known.has(m[0])) unknown.push(`${f.slice(ROOT.length)}: ${m[0]}`);
    }
  }
  assert.deepEqual(unknown, []);
  const ports = ['nginx/nginx.conf', 'prometheus/prometheus.yml'].flatMap(
    (f) => readFileSync(join(DEPLOY, f), 'utf8').match(/earshot-\d:\d+/g) ?? [],
  );
  assert.equal(ports.length, 4, 'nginx and prometheus each name both replicas');
  for (const p of ports) assert.equal(Number(p.split(':')[1]), DEFAULTS.port);
});

test('the image build: tsc compiles the server and the compiled entry runs without tsx', () => {
  execFileSync('npm', ['run', 'build:server', '--silent'], { cwd: ROOT, stdio: 'pipe' });
  const out = execFileSync(process.execPath, [join(ROOT, 'dist', 'server', 'main.js'), 'serve', '--help'], {
    encoding: 'utf8',
  });
  assert.match(out, /Usage: earshot serve/);
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  assert.match(dockerfile, /RUN npm run build:server\n/);
  assert.match(dockerfile, /node", "dist\/server\/main\.js"/);
});
